"""Record torchsynth 1.0.2's own control signals for a few fixed patches of its default
``Voice``: the fixture ``tests/data/torchsynth_controls.npz`` of
``tests/modular/test_torchsynth_wiring.py`` (torchddsp's ``DefaultVoice`` against these).

Runs inside torchsynth's own virtual environment (never torchddsp's). To regenerate::

    # once (about a minute): torchsynth's environment in benchmarks/.peers/torchsynth
    python -c "import sys; sys.path.insert(0, 'benchmarks'); import torchsynth_env as e; \
print(e.ensure_torchsynth_env(e.DEFAULT_TORCHSYNTH_ENV, True))"
    benchmarks/.peers/torchsynth/bin/python benchmarks/peers/torchsynth_controls.py

(the recipe of that environment is in ``benchmarks/torchsynth_env.py`` and DATA.md). The
output is deterministic: fixed hand-set patches plus the first patches of
``voice.randomize(seed=0)`` (batch 256) that pass the filters below.

Context: ``SynthConfig(batch_size=n, sample_rate=16000, buffer_size_seconds=1.0,
control_rate=400, reproducible=False)``: 400 control frames, frame ``i`` at ``i / 400`` s (the
control rate differs from the default 441 Hz on purpose, so a hard-coded rate shows).

Every signal is torchsynth's own, obtained by calling the ``Voice``'s submodules exactly as
``Voice.output`` does (checked: the audio recomposed from these calls equals
``voice.output()`` bit for bit), all ``(n_patches, 400)`` float32 at control rate:

- ``midi_f0``, ``duration`` ``(n_patches,)``: ``voice.keyboard()``;
- the six envelopes ``adsr_1``, ``adsr_2``, ``lfo_{1,2}_amp_adsr``, ``lfo_{1,2}_rate_adsr``;
- ``lfo_{k}_rate``: the LFO's instantaneous rate in Hz (``LFO.make_control``, clamped at 0);
  ``lfo_{k}_raw``: ``voice.lfo_k(rate envelope)``; ``lfo_{k}``: that times its amplitude
  envelope (``voice.control_vca``), as the modulation mixer receives it;
- the modulation mixer's outputs ``vco_1_pitch``, ``vco_1_amp``, ``vco_2_pitch``,
  ``vco_2_amp``, ``noise_amp``;
- ``vco_{k}_hz``: ``voice.vco_k.make_control_as_frequency(midi_f0, pitch modulation)`` at
  control rate (``Voice.output`` applies it to the modulation upsampled to audio rate, a
  pointwise map of a linear interpolation: the first and last frames are checked equal);
- ``vco_1_gain``, ``vco_2_gain``, ``noise_gain``: the amplitude modulation times the audio
  mixer's level (torchsynth applies them one after the other at audio rate).

Also ``patch`` ``(n_patches, 78)``: the normalised parameters in ``voice.parameters()``
order (the order ``Voice.forward`` returns), ``human`` the same in torchsynth's units
(``module.p(name)``), ``names`` ``"module.parameter"``, ``labels`` one line per patch, and the
versions of torch and torchsynth.

Patches: hand-set ones (each modulation route with its own depth, every envelope through
attack, decay, sustain and release within the second; one with notes released during attacks
and decays) and random ones kept only where torchddsp's documented differences cannot show
at control rate: no LFO rate below 0 (torchsynth clamps it), no VCO pitch outside MIDI 0-127
(torchsynth clamps it), and every envelope's first frame below 1e-4 (torchsynth's ramps add
1e-6 before the curve exponent, so an attack starts at ``(1e-6 (1 + 1 / (A r)))^alpha``,
not 0: up to 0.25 for ``alpha = 0.1``). Notes cut short (released during attack or decay) are
kept: the test maps them explicitly.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
CONTROL_RATE = 400
SECONDS = 1.0
RANDOM_SEED = 0
RANDOM_BATCH = 256
N_RANDOM = 3
FIRST_FRAME_LIMIT = 1e-4
ENVELOPES = ("adsr_1", "adsr_2", "lfo_1_amp_adsr", "lfo_2_amp_adsr", "lfo_1_rate_adsr", "lfo_2_rate_adsr")
TARGETS = ("vco_1_pitch", "vco_1_amp", "vco_2_pitch", "vco_2_amp", "noise_amp")
SOURCES = ("adsr_1", "adsr_2", "lfo_1", "lfo_2")
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "torchsynth_controls.npz"


def _adsr(a: float, d: float, s: float, r: float, alpha: float) -> dict[str, float]:
    return {"attack": a, "decay": d, "sustain": s, "release": r, "alpha": alpha}


def _lfo(frequency: float, depth: float, phase: float, weights: tuple[float, ...]) -> dict[str, float]:
    return {
        "frequency": frequency,
        "mod_depth": depth,
        "initial_phase": phase,
        **dict(zip(("sin", "tri", "saw", "rsaw", "sqr"), weights)),
    }


def _routes(depths: list[list[float]]) -> dict[str, float]:
    """Modulation-mixer depths, ``depths[source][target]`` in SOURCES x TARGETS order."""
    return {f"{s}->{t}": depths[i][j] for i, s in enumerate(SOURCES) for j, t in enumerate(TARGETS)}


def hand_patches() -> list[tuple[str, dict[str, dict[str, float]]]]:
    """Hand-set patches in torchsynth's units: ``(label, {module: {parameter: value}})``."""
    # Every route its own depth (no two equal, none zero), every envelope different and
    # complete before note-off (A + D < duration) and silent again before the second ends.
    dense = {
        "keyboard": {"midi_f0": 57.0, "duration": 0.55},
        "adsr_1": _adsr(0.05, 0.10, 0.60, 0.20, 1.0),
        "adsr_2": _adsr(0.10, 0.20, 0.30, 0.30, 2.0),
        "lfo_1": _lfo(3.0, 4.0, 0.3, (0.9, 0.2, 0.1, 0.05, 0.0)),
        "lfo_2": _lfo(7.5, 2.5, -1.2, (0.1, 0.8, 0.3, 0.2, 0.05)),
        "lfo_1_amp_adsr": _adsr(0.15, 0.15, 0.80, 0.25, 0.8),
        "lfo_2_amp_adsr": _adsr(0.08, 0.25, 0.50, 0.35, 3.0),
        "lfo_1_rate_adsr": _adsr(0.12, 0.10, 0.40, 0.15, 1.5),
        "lfo_2_rate_adsr": _adsr(0.20, 0.05, 0.70, 0.40, 0.9),
        "mod_matrix": _routes(
            [
                [0.90, 0.70, 0.35, 0.15, 0.55],
                [0.25, 0.45, 0.80, 0.60, 0.10],
                [0.65, 0.20, 0.05, 0.40, 0.30],
                [0.12, 0.85, 0.50, 0.22, 0.75],
            ]
        ),
        "vco_1": {"tuning": 0.0, "mod_depth": 7.0, "initial_phase": 0.5},
        "vco_2": {"tuning": 7.0, "mod_depth": -5.0, "initial_phase": -2.0, "shape": 0.4},
        "mixer": {"vco_1": 0.8, "vco_2": 0.6, "noise": 0.3},
    }
    # Each target fed by one source (a permutation-like matrix): a swapped route moves a whole
    # signal, not a share of a sum. Different rates, shapes (square and saw included), phases.
    sparse = {
        "keyboard": {"midi_f0": 64.0, "duration": 0.6},
        "adsr_1": _adsr(0.02, 0.25, 0.45, 0.30, 1.2),
        "adsr_2": _adsr(0.18, 0.12, 0.75, 0.20, 0.7),
        "lfo_1": _lfo(5.0, -3.0, -2.5, (0.0, 0.1, 0.9, 0.0, 0.6)),
        "lfo_2": _lfo(1.5, 8.0, 2.0, (0.3, 0.0, 0.0, 0.9, 0.2)),
        "lfo_1_amp_adsr": _adsr(0.05, 0.30, 0.65, 0.10, 1.0),
        "lfo_2_amp_adsr": _adsr(0.25, 0.10, 0.90, 0.30, 2.5),
        "lfo_1_rate_adsr": _adsr(0.30, 0.15, 0.20, 0.25, 1.0),
        "lfo_2_rate_adsr": _adsr(0.01, 0.40, 0.55, 0.35, 4.0),
        "mod_matrix": _routes(
            [
                [0.0, 0.95, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 0.0, 0.85],
                [0.75, 0.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.60, 0.40, 0.0],
            ]
        ),
        "vco_1": {"tuning": -12.0, "mod_depth": 12.0, "initial_phase": 2.5},
        "vco_2": {"tuning": 5.0, "mod_depth": 3.0, "initial_phase": 1.0, "shape": 0.9},
        "mixer": {"vco_1": 0.5, "vco_2": 0.9, "noise": 0.7},
    }
    # A short note: released during the attack (adsr_1, lfo_1_amp_adsr, lfo_2_rate_adsr) or
    # the decay (adsr_2, lfo_2_amp_adsr, lfo_1_rate_adsr) of every envelope.
    early = {
        "keyboard": {"midi_f0": 45.0, "duration": 0.2},
        "adsr_1": _adsr(0.35, 0.10, 0.50, 0.30, 1.0),
        "adsr_2": _adsr(0.05, 0.40, 0.20, 0.25, 2.0),
        "lfo_1": _lfo(4.0, 6.0, 1.0, (0.7, 0.5, 0.0, 0.3, 0.1)),
        "lfo_2": _lfo(9.0, 3.0, -0.4, (0.2, 0.9, 0.4, 0.0, 0.0)),
        "lfo_1_amp_adsr": _adsr(0.50, 0.20, 0.70, 0.40, 1.5),
        "lfo_2_amp_adsr": _adsr(0.10, 0.30, 0.40, 0.20, 0.8),
        "lfo_1_rate_adsr": _adsr(0.15, 0.20, 0.30, 0.30, 1.0),
        "lfo_2_rate_adsr": _adsr(0.25, 0.05, 0.60, 0.50, 2.0),
        "mod_matrix": _routes(
            [
                [0.80, 0.30, 0.15, 0.55, 0.40],
                [0.20, 0.70, 0.60, 0.10, 0.35],
                [0.45, 0.10, 0.25, 0.65, 0.05],
                [0.05, 0.50, 0.90, 0.30, 0.60],
            ]
        ),
        "vco_1": {"tuning": 3.0, "mod_depth": -9.0, "initial_phase": -1.0},
        "vco_2": {"tuning": -4.0, "mod_depth": 10.0, "initial_phase": 0.0, "shape": 0.1},
        "mixer": {"vco_1": 0.7, "vco_2": 0.4, "noise": 0.5},
    }
    return [
        ("hand: every route its own depth, complete envelopes", dense),
        ("hand: one source per target, complete envelopes", sparse),
        ("hand: note released during attacks and decays", early),
    ]


def import_torchsynth():
    """torch and torchsynth's SynthConfig and Voice, quietly (pkg_resources and Lightning warnings)."""
    warnings.filterwarnings("ignore")
    import torch  # noqa: PLC0415
    import torchsynth  # noqa: PLC0415
    from torchsynth.config import SynthConfig  # noqa: PLC0415
    from torchsynth.synth import Voice  # noqa: PLC0415

    return torch, torchsynth, SynthConfig, Voice


def make_voice(batch_size: int):
    """torchsynth's default Voice at the short context."""
    torch, _, SynthConfig, Voice = import_torchsynth()
    config = SynthConfig(
        batch_size=batch_size,
        sample_rate=SAMPLE_RATE,
        buffer_size_seconds=SECONDS,
        control_rate=CONTROL_RATE,
        reproducible=False,
    )
    return Voice(config)


def parameter_names(voice) -> list[str]:
    """``"module.parameter"`` in ``voice.parameters()`` order."""
    return [name.replace(".torchparameters.", ".") for name, _ in voice.named_parameters()]


def normalised(voice):
    """``(batch, 78)`` normalised parameters, as ``Voice.forward`` returns them."""
    import torch  # noqa: PLC0415

    return torch.stack([p.data for p in voice.parameters()], dim=1)


def set_normalised(voice, patch) -> None:
    for parameter, column in zip(voice.parameters(), patch.T):
        parameter.data = column.clone()


def human_to_normalised(voice, human: dict[str, dict[str, float]]):
    """One patch in torchsynth's units -> ``(78,)`` normalised, by torchsynth's own ranges."""
    import torch  # noqa: PLC0415

    values = []
    for name in parameter_names(voice):
        module, parameter = name.split(".", 1)
        value = torch.tensor([float(human[module][parameter])])
        values.append(getattr(voice, module).get_parameter(parameter).parameter_range.to_0to1(value)[0])
    return torch.stack(values)


def controls(voice) -> dict:
    """Every control signal, by calling the submodules exactly as ``Voice.output`` does."""
    import torch  # noqa: PLC0415

    with torch.no_grad():
        midi_f0, duration = voice.keyboard()
        env = {name: getattr(voice, name)(duration) for name in ENVELOPES}
        out = {"midi_f0": midi_f0, "duration": duration, **env}
        for k in (1, 2):
            lfo = getattr(voice, f"lfo_{k}")
            out[f"lfo_{k}_rate"] = lfo.make_control(env[f"lfo_{k}_rate_adsr"])
            out[f"lfo_{k}_raw"] = lfo(env[f"lfo_{k}_rate_adsr"])
            out[f"lfo_{k}"] = voice.control_vca(out[f"lfo_{k}_raw"], env[f"lfo_{k}_amp_adsr"])
        mods = voice.mod_matrix(out["adsr_1"], out["adsr_2"], out["lfo_1"], out["lfo_2"])
        out.update(zip(TARGETS, mods))
        for k in (1, 2):
            out[f"vco_{k}_hz"] = getattr(voice, f"vco_{k}").make_control_as_frequency(midi_f0, out[f"vco_{k}_pitch"])
            out[f"vco_{k}_gain"] = voice.mixer.p(f"vco_{k}")[:, None] * out[f"vco_{k}_amp"]
        out["noise_gain"] = voice.mixer.p("noise")[:, None] * out["noise_amp"]
    return {k: torch.as_tensor(v).clone() for k, v in out.items()}


def check_recomposition(voice, signals: dict) -> None:
    """The audio rebuilt from the recorded modulation equals ``voice.output()`` exactly, and
    the audio-rate VCO frequency equals the control-rate one at the first and last frames."""
    import torch  # noqa: PLC0415

    with torch.no_grad():
        up = voice.control_upsample
        parts = [
            voice.vca(
                getattr(voice, f"vco_{k}")(signals["midi_f0"], up(signals[f"vco_{k}_pitch"])),
                up(signals[f"vco_{k}_amp"]),
            )
            for k in (1, 2)
        ]
        parts.append(voice.vca(voice.noise(), up(signals["noise_amp"])))
        rebuilt, reference = voice.mixer(*parts), voice.output()
        if not torch.equal(rebuilt, reference):
            raise RuntimeError(
                f"recomposed audio differs from Voice.output() by {float((rebuilt - reference).abs().max())}"
            )
        for k in (1, 2):
            audio_hz = getattr(voice, f"vco_{k}").make_control_as_frequency(
                signals["midi_f0"], up(signals[f"vco_{k}_pitch"])
            )
            control_hz = signals[f"vco_{k}_hz"]
            ends = torch.stack([audio_hz[:, 0] - control_hz[:, 0], audio_hz[:, -1] - control_hz[:, -1]])
            if float(ends.abs().max()) > 1e-3 * float(control_hz.abs().max()):
                raise RuntimeError(f"vco_{k}: audio-rate and control-rate frequencies differ at the ends")


def comparable(voice, signals: dict):
    """``(batch,)`` bool: rows where torchddsp's documented differences cannot show at
    control rate (module docstring)."""
    import torch  # noqa: PLC0415

    ok = torch.ones(signals["midi_f0"].shape[0], dtype=torch.bool)
    for k in (1, 2):
        lfo = getattr(voice, f"lfo_{k}")
        unclamped = lfo.p("frequency")[:, None] + lfo.p("mod_depth")[:, None] * signals[f"lfo_{k}_rate_adsr"]
        ok &= (unclamped >= 0).all(dim=1)
        vco = getattr(voice, f"vco_{k}")
        pitch = (signals["midi_f0"] + vco.p("tuning"))[:, None] + vco.p("mod_depth")[:, None] * signals[
            f"vco_{k}_pitch"
        ]
        ok &= ((pitch >= 0) & (pitch <= 127)).all(dim=1)
    for name in ENVELOPES:
        ok &= signals[name][:, 0] < FIRST_FRAME_LIMIT
    return ok


def random_patches(n: int):
    """The first ``n`` comparable rows of ``voice.randomize(seed=RANDOM_SEED)`` (batch
    RANDOM_BATCH): ``(patches (n, 78), row indices)``."""
    voice = make_voice(RANDOM_BATCH)
    voice.randomize(seed=RANDOM_SEED)
    rows = comparable(voice, controls(voice)).nonzero()[:, 0][:n]
    if len(rows) < n:
        raise RuntimeError(f"only {len(rows)} of {RANDOM_BATCH} random patches are comparable")
    return normalised(voice)[rows], [int(r) for r in rows]


def record() -> dict[str, np.ndarray]:
    """Build the voice with every patch, record its signals, check them; the fixture's arrays."""
    torch, torchsynth, _, _ = import_torchsynth()
    hand = hand_patches()
    randoms, rows = random_patches(N_RANDOM)
    scratch = make_voice(1)
    patch = torch.cat([torch.stack([human_to_normalised(scratch, h) for _, h in hand]), randoms])
    labels = [label for label, _ in hand] + [
        f"random: voice.randomize(seed={RANDOM_SEED}), batch {RANDOM_BATCH}, row {r}" for r in rows
    ]
    voice = make_voice(len(labels))
    set_normalised(voice, patch)
    signals = controls(voice)
    check_recomposition(voice, signals)
    if not bool(comparable(voice, signals).all()):
        raise RuntimeError("a hand-set patch clamps an LFO rate or a VCO pitch, or starts an envelope above 0")
    names = parameter_names(voice)
    human = torch.stack([getattr(voice, n.split(".")[0]).p(n.split(".", 1)[1]) for n in names], dim=1).detach()
    return {
        **{k: v.numpy().astype(np.float32) for k, v in signals.items()},
        "patch": patch.numpy().astype(np.float32),
        "human": human.numpy().astype(np.float32),
        "names": np.array(names),
        "labels": np.array(labels),
        "sample_rate": np.float64(SAMPLE_RATE),
        "control_rate": np.float64(CONTROL_RATE),
        "duration_s": np.float64(SECONDS),
        "torch_version": np.array(torch.__version__),
        "torchsynth_version": np.array(torchsynth.__version__),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    arrays = record()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB): {len(arrays['labels'])} patches, "
        f"{arrays['adsr_1'].shape[1]} frames, torch {arrays['torch_version']}, "
        f"torchsynth {arrays['torchsynth_version']}"
    )
    for label in arrays["labels"]:
        print("  ", label)


if __name__ == "__main__":
    main()
