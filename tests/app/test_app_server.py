"""The web app's routes through FastAPI's TestClient (no network): the page, a transfer, the
synthesizer, the limits and the refusals the page shows as messages."""

from __future__ import annotations

import io
import re

import pytest
import soundfile as sf
from app_support import EXCERPT_OUTPUT_SAMPLES

pytest.importorskip("fastapi", reason="needs the app extra: pip install 'torchddsp[app]'")
from fastapi.testclient import TestClient  # noqa: E402

from torchddsp import cli  # noqa: E402
from torchddsp.app.catalog import ModelCatalog  # noqa: E402
from torchddsp.app.server import PAGE_FILES  # noqa: E402
from torchddsp.app.server import create_app  # noqa: E402

PAGE_IDS = ("audio-file", "record", "model", "pitch_shift", "loudness_shift", "quiet_db", "run-transfer")
PAGE_IDS += ("transfer-audio", "transfer-download", "transfer-figure", "transfer-error", "tab-synth", "synth-sliders")


@pytest.fixture(scope="module")
def catalog() -> ModelCatalog:
    return ModelCatalog()


@pytest.fixture(scope="module")
def client(catalog) -> TestClient:
    return TestClient(create_app(catalog, max_duration_s=10.0, allowed_hosts=["testserver"]))


@pytest.fixture(scope="module")
def upload(flute_excerpt_flac) -> bytes:
    return flute_excerpt_flac.read_bytes()


def _transfer(client: TestClient, data: bytes, **fields: str):
    return client.post("/api/transfer", params={"model": "violin", "f0_method": "yin", **fields}, content=data)


def test_page_has_its_controls_and_loads_nothing_from_elsewhere(client):
    # Bugs caught: a control missing from the page; a script, style or font from a CDN
    # (nothing outside the machine can be assumed reachable).
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in PAGE_IDS:
        assert f'id="{name}"' in page.text, name
    for name in PAGE_FILES:
        text = client.get("/" if name == "index.html" else f"/page/{name}").text
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), name
    assert "default-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path", ["/page/server.py", "/page/..%2Fserver.py", "/page/index.html%00", "/api/results/x/y.wav"]
)
def test_only_the_page_files_and_results_are_served(client, path):
    # Bug caught: a route that serves any file of the package (or of the disk) by name.
    assert client.get(path).status_code == 404


@pytest.mark.slow  # a transfer with its figures, or a fresh interpreter: over 2 s
def test_transfer_route_serves_wav_and_figure(client, upload):
    # Bugs caught: the served WAV at another rate or length than the model's render; the
    # figure missing or not a PNG; a result fetched under another id.
    answer = _transfer(client, upload)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["summary"]["model"] == "violin"
    wav = client.get(result["audio_url"])
    assert wav.headers["content-type"] == "audio/wav"
    info = sf.info(io.BytesIO(wav.content))
    assert (info.samplerate, info.frames, info.channels) == (16000, EXCERPT_OUTPUT_SAMPLES, 1)
    figure = client.get(result["figure_url"])
    assert figure.headers["content-type"] == "image/png" and figure.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["id"] in result["audio_url"] and result["id"] in result["figure_url"]


@pytest.mark.slow  # a transfer with its figures, or a fresh interpreter: over 2 s
def test_transfer_route_passes_the_shifts_on(client, upload):
    # Bug caught: the route dropping the page's pitch or loudness shift (the sliders do nothing).
    base = _transfer(client, upload).json()["summary"]
    shifted = _transfer(client, upload, pitch_shift="7", loudness_shift="-5", quiet_db="30").json()["summary"]
    ratio = shifted["model_f0_median_hz"] / base["model_f0_median_hz"]
    assert ratio == pytest.approx(2 ** (7 / 12), rel=1e-5)
    assert shifted["adjustments"]["manual_loudness_shift_db"] == -5.0
    assert shifted["adjustments"]["quiet_db"] == 30.0


@pytest.mark.parametrize(
    ("data", "fields", "message"),
    [
        (b"GIF89a not a sound", {}, "not audio that can be read"),
        (None, {"model": "../../etc"}, "model must be one of"),
        (None, {"pitch_shift": "inf"}, "pitch_shift must lie in"),
        (b"", {}, "the uploaded file is empty"),
    ],
)
def test_transfer_route_answers_bad_requests_with_a_message(client, upload, data, fields, message):
    # Bug caught: a traceback (500) where the page needs a sentence to show.
    answer = _transfer(client, upload if data is None else data, **fields)
    assert answer.status_code == 400
    assert re.search(message, answer.json()["error"]), answer.json()


def test_upload_limits(catalog, upload):
    # Bugs caught: no size limit (a huge upload read into memory); no length limit.
    small = TestClient(create_app(catalog, max_upload_bytes=len(upload) - 1, allowed_hosts=["testserver"]))
    answer = _transfer(small, upload)
    assert answer.status_code == 413 and "limit" in answer.json()["error"]
    short = TestClient(create_app(catalog, max_duration_s=1.0, allowed_hosts=["testserver"]))
    answer = _transfer(short, upload)
    assert answer.status_code == 400 and "at most 1 s" in answer.json()["error"]


def test_unknown_hosts_are_refused(catalog):
    # Bug caught: a local server answering any Host (another site's page could drive it by a
    # DNS name that resolves to 127.0.0.1).
    local = TestClient(create_app(catalog))  # the default: loopback names only
    assert local.get("/api/info", headers={"host": "evil.example"}).status_code == 400
    assert local.get("/api/info", headers={"host": "127.0.0.1:8000"}).json()["models"] == ["flute", "violin"]


def test_synth_route_renders_at_44k(client):
    # Bug caught: the length or rate of the synthesizer's WAV off; a bad slider accepted.
    answer = client.post("/api/synth", params={"voice": "rich", "length_s": "1.5", "cutoff": "60"})
    assert answer.status_code == 200, answer.text
    info = sf.info(io.BytesIO(client.get(answer.json()["audio_url"]).content))
    assert (info.samplerate, info.frames) == (44100, 66150)
    assert answer.json()["summary"]["values"]["cutoff"] == 60.0
    bad = client.post("/api/synth", params={"voice": "default", "pitch": "x"})
    assert bad.status_code == 400 and "pitch must be a number" in bad.json()["error"]


def test_info_lists_models_sliders_and_limits(client):
    info = client.get("/api/info").json()
    assert info["models"] == ["flute", "violin"] and info["max_duration_s"] == 10.0
    assert {s["key"] for s in info["synth"]["voices"]["default"]} >= {"pitch", "note_length", "vibrato_rate"}
    assert info["transfer_fields"]["pitch_shift"] == [0.0, -48.0, 48.0]


@pytest.fixture
def served(monkeypatch) -> dict:
    """uvicorn.run replaced: what ``torchddsp app`` would serve, without serving it."""
    import uvicorn

    calls: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.update(app=app, **options))
    return calls


def test_cli_app_serves_this_machine_only_by_default(served):
    # Bugs caught: the server bound to every interface by default; the limits not passed on.
    assert cli.main(["app", "--max-upload-mb", "1"]) == 0
    assert (served["host"], served["port"]) == ("127.0.0.1", 8000)
    client = TestClient(served["app"], base_url="http://127.0.0.1:8000")
    assert client.get("/api/info").json()["max_upload_bytes"] == 2**20
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400


def test_cli_app_refuses_a_folder_without_a_model(tmp_path, capsys, served):
    # Bug caught: a bad --models folder found only when the page first asks for it.
    (tmp_path / "notes").mkdir()
    assert cli.main(["app", "--models", str(tmp_path / "notes")]) == 2
    assert "notes" in capsys.readouterr().err and not served
