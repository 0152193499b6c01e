"""Parity of a converted Magenta checkpoint with what Magenta computed, from the committed
fixture (``tests/data/magenta/convert/``, made by ``magenta_checkpoint.py``); no TensorFlow.

    .venv/bin/python benchmarks/peers/magenta_checkpoint_compare.py

Prints max |torchddsp - Magenta| / max |Magenta| for the scaled inputs, the decoder's raw
outputs, the synthesizer controls, the reverb impulse response and the audio; the harmonic
audio against Magenta's ``use_angular_cumsum=True`` render and, for scale, Magenta's own two
renders against torchddsp's float64 render (Magenta's float32 phase error).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from torchddsp.functional import frequency_filter
from torchddsp.magenta.convert import convert_magenta
from torchddsp.transfer import load_model

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "data" / "magenta" / "convert"
N_SAMPLES = 8000
NOISE_SEED = 7  # the peer script's white noise: RandomState(7).uniform(-1, 1, (1, 8000))
NOISE_LAG = 2  # torchddsp's filtered noise comes 2 samples before Magenta's (its crop)


def relative(actual, expected) -> float:
    actual, expected = (torch.as_tensor(np.asarray(x), dtype=torch.float64) for x in (actual, expected))
    return float((actual - expected).abs().max() / expected.abs().max())


def main() -> None:
    ref = dict(np.load(FIXTURE / "reference.npz"))
    with tempfile.TemporaryDirectory() as folder:
        model = load_model(convert_magenta(FIXTURE / "solo_small", Path(folder) / "model")).model
    f0_hz, loudness_db = (torch.from_numpy(ref[key]) for key in ("f0_hz", "loudness_db"))
    rows = []
    with torch.no_grad():
        f0_scaled, ld_scaled = model.preprocessor(f0_hz, loudness_db)
        rows += [
            ("f0_scaled", relative(f0_scaled, ref["f0_scaled"])),
            ("ld_scaled", relative(ld_scaled, ref["ld_scaled"])),
        ]
        raw = model.decode(f0_hz, loudness_db)
        for name in ("amplitudes", "harmonic_distribution", "noise_magnitudes"):
            rows.append((f"decoder raw {name}", relative(raw[name], ref[f"raw_{name.replace('amplitudes', 'amps')}"])))
        harmonic, noise = model.synthesizer.processors["harmonic"], model.synthesizer.processors["noise"]
        controls = harmonic.controls(raw["amplitudes"], raw["harmonic_distribution"], f0_hz.unsqueeze(-1))
        magnitudes = noise.controls(raw["noise_magnitudes"])["magnitudes"]
        for name in ("amplitudes", "harmonic_distribution"):
            rows.append((f"controls {name}", relative(controls[name], ref[name])))
        rows.append(("controls noise_magnitudes", relative(magnitudes, ref["noise_magnitudes"])))
        exact = torch.equal(model.impulse_response, torch.from_numpy(ref["ir"]))
        rows.append(
            (
                "reverb impulse response (bit-exact)" if exact else "reverb impulse response",
                relative(model.impulse_response, ref["ir"]),
            )
        )
        args = (controls["amplitudes"], controls["harmonic_distribution"], f0_hz.unsqueeze(-1))
        tonal = harmonic.render(*args, n_samples=N_SAMPLES)
        tonal64 = harmonic.render(*(x.double() for x in args), n_samples=N_SAMPLES)
        rows.append(("harmonic audio vs Magenta angular-cumsum render", relative(tonal, ref["harmonic"])))
        rows.append(("  Magenta angular render vs torchddsp float64", relative(ref["harmonic"], tonal64)))
        rows.append(
            ("  Magenta default render vs torchddsp float64", relative(ref["model_audio_dry_harmonic"], tonal64))
        )
        rows.append(("  torchddsp float32 vs its float64", relative(tonal, tonal64)))
        white = torch.from_numpy(np.random.RandomState(NOISE_SEED).uniform(-1, 1, (1, N_SAMPLES)).astype(np.float32))
        filtered = frequency_filter(white, magnitudes)
        lagged = relative(filtered[:, :-NOISE_LAG], ref["noise"][:, NOISE_LAG:])
        rows.append((f"filtered noise, {NOISE_LAG} samples later", lagged))
        rows.append(("reverb of Magenta's dry mix", relative(model.reverb(torch.from_numpy(ref["dry"])), ref["audio"])))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:.2g}")


if __name__ == "__main__":
    main()
