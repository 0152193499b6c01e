"""The web app end to end in a real headless browser: Debian's ``chromium`` driven by
Playwright, against ``torchddsp app`` started as a user starts it (a subprocess, 127.0.0.1).

Skipped, saying why, where chromium or Playwright is absent; ``.ci/run`` installs chromium so
that CI runs it. Playwright's own browser downloads are not used (nothing can be downloaded).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from app_support import EXCERPT_OUTPUT_SAMPLES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (pip install 'torchddsp[app]')")
pytest.importorskip("fastapi", reason="needs the app extra: pip install 'torchddsp[app]'")

# In the page: fetch the <audio> element's WAV and decode it with WebAudio at `rate` (no
# resampling when the WAV is at that rate): its length, or the decoder's error.
DECODE = """async ([selector, rate]) => {
  const data = await (await fetch(document.querySelector(selector).src)).arrayBuffer();
  const decoded = await new OfflineAudioContext(1, 1, rate).decodeAudioData(data);
  return {length: decoded.length, duration: decoded.duration};
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``torchddsp app`` on a free port; its URL once it answers."""
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torchddsp", "app", "--port", str(port), "--max-duration-s", "20"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "api/info", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"torchddsp app did not start: {process.communicate(timeout=5)[0]}")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        # A fake microphone (a beep) and no permission prompt: the recording path runs too.
        arguments = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=arguments)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    """The app's page, ready; fails the test if it requested anything from another origin."""
    context = browser.new_context()
    opened = context.new_page()
    requested: list[str] = []
    opened.on("request", lambda request: requested.append(request.url))
    opened.goto(server)
    opened.wait_for_selector("body[data-ready=true]", timeout=30_000)
    yield opened
    context.close()
    assert [url for url in requested if not url.startswith((server, "blob:", "data:"))] == []


def _wait_for_result(page, prefix: str) -> None:
    page.wait_for_selector(f"#{prefix}-result:not([hidden])", timeout=120_000)
    page.wait_for_function(f"() => document.querySelector('#{prefix}-figure').naturalWidth > 0", timeout=30_000)
    page.wait_for_function(f"() => document.querySelector('#{prefix}-audio').readyState >= 1", timeout=30_000)


def test_transfer_in_the_browser(page, flute_excerpt_flac):
    # Bugs caught: the page not sending the file or the settings; the audio element or the
    # figure not shown; a WAV the browser cannot decode, or of the wrong rate or length.
    page.set_input_files("#audio-file", str(flute_excerpt_flac))
    page.select_option("#model", "violin")
    page.select_option("#f0_method", "yin")
    page.fill("#pitch_shift", "2")
    page.click("#run-transfer")
    _wait_for_result(page, "transfer")
    assert page.locator("#transfer-error").is_hidden()
    decoded = page.evaluate(DECODE, ["#transfer-audio", 16000])
    assert decoded["length"] == EXCERPT_OUTPUT_SAMPLES
    assert page.evaluate("document.querySelector('#transfer-audio').duration") == pytest.approx(2.0, abs=1e-3)
    assert page.get_attribute("#transfer-download", "href").endswith("/audio.wav")
    assert '"manual_pitch_shift_semitones": 2' in page.text_content("#transfer-summary")


def test_a_bad_file_shows_a_message(page, tmp_path):
    # Bug caught: a refused upload leaving the page silent (or showing a traceback).
    bad = tmp_path / "notes.wav"
    bad.write_text("these are not samples")
    page.set_input_files("#audio-file", str(bad))
    page.click("#run-transfer")
    page.wait_for_selector("#transfer-error:not([hidden])", timeout=30_000)
    assert "not audio that can be read" in page.text_content("#transfer-error")
    assert page.locator("#transfer-result").is_hidden()


def test_synth_tab_in_the_browser(page):
    # Bugs caught: the second tab not showing; the sliders not sent; the render not playable.
    page.click("#tab-synth")
    assert page.locator("#panel-synth").is_visible() and page.locator("#panel-transfer").is_hidden()
    page.select_option("#voice", "default")
    page.fill("#slider-pitch", "72")
    page.select_option("#length_s", "1")
    page.click("#run-synth")
    _wait_for_result(page, "synth")
    assert page.evaluate(DECODE, ["#synth-audio", 44100])["length"] == 44100


def test_recording_from_the_microphone(page):
    # The fake microphone's beep, recorded by MediaRecorder, decoded and sent as a WAV.
    page.click("#record")
    page.wait_for_function("() => document.querySelector('#record').textContent === 'Stop'", timeout=10_000)
    page.wait_for_timeout(1500)
    page.click("#record")
    page.wait_for_function(
        "() => document.querySelector('#record-status').textContent.startsWith('recorded')", timeout=10_000
    )
    page.select_option("#f0_method", "yin")
    page.click("#run-transfer")
    _wait_for_result(page, "transfer")
    seconds = float(page.text_content("#record-status").split()[1])
    decoded = page.evaluate(DECODE, ["#transfer-audio", 16000])
    assert 1.0 < seconds < 3.0 and abs(decoded["length"] - 16000 * seconds) < 64 + 16000 * 0.05
