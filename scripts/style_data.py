"""Make the style-transfer data: short speech and music recordings at 16 kHz (not committed).

Speech: espeak-ng (GPL-3.0 program; its output is not covered by its licence) reading
sentences written for this script (released with torchddsp, public domain in spirit: anyone
may reuse them), three or four sentences a recording, in several voices and variants
(``en-us``, ``en-gb``, ``en-gb-scotland``, ``en-gb-x-rp``, ``en-029``, ``en-us-nyc`` with the
``+m1 +m3 +f1 +f2 +f3 +f4 +klatt`` variants), speed 130-190 words per minute, pitch 30-70.
The last quarter of the sentences is used by the held-out split only.

Music: melodies from ``scripts/render_training_data.py``'s ``MelodyPool`` (Bach chorales,
Essen folksongs, fiddle tunes in the music21 corpus; see that script for their sources and
licences) performed by its ``perform`` and rendered by fluidsynth with FluidR3_GM (MIT) on
several General MIDI instruments (piano, electric piano, marimba, organ, nylon guitar, violin,
cello, trumpet, alto sax, clarinet, flute), at most ``MAX_S`` seconds a recording. Held-out
recordings use melodies never used in training.

Every recording is scaled to an RMS of -23 dBFS (the style chain's gain does the rest).
Writes ``OUT/{train,eval}/{speech,music}_NNN.wav`` and ``OUT/manifest.json``.

Usage::

    python scripts/style_data.py [--out data/style] [--train 100] [--eval 25] [--seed 0]

On 2 busy cores the default run takes a few minutes (music21 parses each melody).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from midi_render import render_mono  # noqa: E402  (scripts/midi_render.py)
from render_training_data import FilePlan  # noqa: E402
from render_training_data import Instrument  # noqa: E402
from render_training_data import MelodyPool  # noqa: E402
from render_training_data import file_midi  # noqa: E402
from render_training_data import perform  # noqa: E402

from torchddsp.io import read_audio  # noqa: E402

SAMPLE_RATE = 16000
RMS_DB = -23.0
MAX_S = 10.0

SENTENCES = [
    "The kettle on the stove began to whistle just as the rain stopped.",
    "Seven small boats drifted slowly past the harbour wall at dawn.",
    "Please bring the blue folder and two pencils to the meeting room.",
    "A cold wind swept across the fields and rattled the old barn door.",
    "She counted the steps twice before she trusted the map again.",
    "Our train leaves at a quarter past nine from platform four.",
    "The garden smelled of mint, wet soil and freshly cut grass.",
    "He tuned the guitar carefully, one string at a time.",
    "Nobody expected the tiny library to hold so many rare books.",
    "Turn left at the bakery and walk until you see the fountain.",
    "The children built a tower of blocks taller than the table.",
    "Clouds gathered over the hills while the farmers packed their tools.",
    "I would like a cup of tea with lemon and a slice of toast.",
    "The lighthouse keeper wrote every storm into his leather journal.",
    "Bright lanterns hung from the branches along the narrow street.",
    "Measure the flour, warm the milk and stir until it thickens.",
    "The old clock in the hallway chimed eleven times at midnight.",
    "They painted the fence yellow because the neighbours asked nicely.",
    "A fox crossed the snowy road and vanished into the pines.",
    "Every morning the baker sang while the ovens warmed up.",
    "The museum opens late on Thursdays for visitors who work.",
    "Heavy trucks rumbled over the bridge until the sun went down.",
    "My sister found a silver coin buried under the apple tree.",
    "The radio played a slow song about rivers and distant towns.",
    "Quiet footsteps echoed down the long marble corridor.",
    "We packed sandwiches, water and a warm blanket for the trip.",
    "The teacher drew a circle on the board and asked for its area.",
    "Pigeons gathered on the square whenever the market closed.",
    "Thunder rolled across the valley and the lights flickered twice.",
    "He forgot his umbrella again and arrived soaked to the bone.",
    "The recipe calls for three eggs, a pinch of salt and some butter.",
    "Across the lake, a small cabin glowed with yellow light.",
    "The engineer checked each bolt before the bridge was opened.",
    "Fresh bread cooled on the windowsill beside a jar of honey.",
    "Our neighbour plays the piano every evening after dinner.",
    "The astronaut described the earth as a fragile blue marble.",
    "Mountains rose sharply behind the village, capped with snow.",
    "Please speak clearly into the microphone and wait for the tone.",
    "The orchestra tuned their instruments while the hall filled up.",
    "Dry leaves swirled around the bench where the old man sat.",
    "A sudden gust lifted the kite high above the crowded beach.",
    "The shop on the corner sells maps, stamps and postcards.",
    "Long shadows stretched across the courtyard in the late afternoon.",
    "She whispered the answer so that only her brother could hear.",
    "The ferry rocked gently as it pulled away from the pier.",
    "Bees hummed among the lavender bushes near the stone wall.",
    "Write your name at the top of the page before you begin.",
    "The candle flickered and the room grew suddenly quiet.",
    "Two owls called to each other across the dark meadow.",
    "The mechanic wiped his hands and said the car was ready.",
    "Snow fell all night and covered the road by the morning.",
    "His grandmother kept every letter in a painted wooden box.",
    "The river was wide and calm where the herons fished.",
    "We watched the fireworks from the roof of the tall hotel.",
    "A small dog barked at the postman and then wagged its tail.",
    "The scientist recorded the temperature every ten minutes.",
    "Warm soup and crusty rolls were waiting on the kitchen table.",
    "The path climbed steeply through the forest to a hidden lake.",
    "Rain tapped softly against the window of the empty classroom.",
    "They laughed so loudly that the waiter dropped a spoon.",
]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc"]
VARIANTS = ["", "+m1", "+m3", "+f1", "+f2", "+f3", "+f4", "+klatt"]
INSTRUMENTS = [
    Instrument("piano", 0, low=48, high=88, centre=(62, 74)),
    Instrument("electric_piano", 4, low=48, high=88, centre=(62, 74)),
    Instrument("marimba", 12, low=53, high=89, centre=(65, 77)),
    Instrument("organ", 19, low=48, high=88, centre=(60, 72)),
    Instrument("nylon_guitar", 24, low=40, high=79, centre=(55, 67)),
    Instrument("violin", 40, low=55, high=88, centre=(67, 76), release_timecents=-2400),
    Instrument("cello", 42, low=36, high=72, centre=(48, 60)),
    Instrument("trumpet", 56, low=55, high=82, centre=(64, 72)),
    Instrument("alto_sax", 65, low=49, high=80, centre=(60, 70)),
    Instrument("clarinet", 71, low=50, high=89, centre=(62, 74)),
    Instrument("flute", 73, low=60, high=96, centre=(72, 81)),
]


def level(audio: np.ndarray) -> np.ndarray:
    """Scale to ``RMS_DB`` RMS."""
    rms = float(np.sqrt(np.mean(audio**2)))
    if rms == 0.0:
        raise SystemExit("a recording is silent")
    return audio * (10 ** (RMS_DB / 20) / rms)


def speech(sentences: list[str], rng: random.Random, folder: Path) -> tuple[np.ndarray, dict]:
    """Three or four sentences read by one random voice, 16 kHz."""
    voice = rng.choice(VOICES) + rng.choice(VARIANTS)
    speed, pitch = rng.randint(130, 190), rng.randint(30, 70)
    text = " ".join(rng.sample(sentences, rng.randint(3, 4)))
    path = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text], check=True)
    audio = read_audio(path, SAMPLE_RATE).numpy().astype(np.float64)[: round(MAX_S * SAMPLE_RATE)]
    return audio, {"voice": voice, "speed_wpm": speed, "pitch": pitch, "text": text}


def music(pool: MelodyPool, rng: random.Random, seed: int) -> tuple[np.ndarray, dict]:
    """One melody on one random instrument, at most ``MAX_S`` seconds, 16 kHz."""
    inst = rng.choice(INSTRUMENTS)
    melody = pool.draw()
    performance = perform(melody, inst, seed)
    plan = FilePlan("style", [performance], [0.3], 0.3 + performance.duration)
    audio = render_mono(file_midi(plan, inst), SAMPLE_RATE)
    audio = audio[: round(min(MAX_S, 0.3 + performance.duration + 0.5) * SAMPLE_RATE)]
    fade = round(0.02 * SAMPLE_RATE)
    audio[-fade:] *= np.linspace(1.0, 0.0, fade)
    return audio, {"instrument": inst.name, "program": inst.program, "melody": melody.title, "source": melody.source}


def make_split(split: str, count: int, sentences: list[str], pool: MelodyPool, out: Path, seed: int) -> list[dict]:
    rng = random.Random(f"style:{split}:{seed}")
    records = []
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            for kind in ("speech", "music"):
                audio, info = (
                    speech(sentences, rng, Path(tmp)) if kind == "speech" else music(pool, rng, seed * 1000 + i)
                )
                name = f"{kind}_{i:03d}.wav"
                sf.write(folder / name, level(audio).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
                records.append({"file": f"{split}/{name}", "kind": kind, "seconds": len(audio) / SAMPLE_RATE, **info})
            print(f"{split} {i + 1}/{count}", flush=True)
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/style"))
    parser.add_argument("--train", type=int, default=100, help="recordings of each kind (speech, music)")
    parser.add_argument("--eval", type=int, default=25, help="held-out recordings of each kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cut = len(SENTENCES) * 3 // 4
    pool = MelodyPool(args.seed)
    records = make_split("eval", args.eval, SENTENCES[cut:], pool, args.out, args.seed)
    records += make_split("train", args.train, SENTENCES[:cut], pool, args.out, args.seed)
    manifest = {"sample_rate": SAMPLE_RATE, "rms_db": RMS_DB, "seed": args.seed, "recordings": records}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(records)} recordings to {args.out}")


if __name__ == "__main__":
    main()
