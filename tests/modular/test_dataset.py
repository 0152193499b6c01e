"""``torchddsp modular render``: shards of FLAC files and parameters, equal to rendering the
sounds directly, and resumable after an interruption without duplicated or lost sounds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.cli import main
from torchddsp.modular import DefaultVoice
from torchddsp.modular import RenderContext
from torchddsp.modular.dataset import render_dataset

ARGS = ["--sample-rate", "16000", "--duration-s", "0.25", "--frame-rate", "400"]
CONTEXT = RenderContext(16000.0, 0.25, 400.0)


def read_dataset(folder):
    sounds = {}
    parameters = {}
    for shard in sorted(folder.glob("shard_*.npz")):
        with np.load(shard) as stored:
            for i, k in enumerate(stored["indices"]):
                assert int(k) not in parameters, f"sound {k} twice"
                parameters[int(k)] = (stored["patch"][i], bool(stored["is_train"][i]))
    for path in sorted(folder.glob("shard_*/sound_*.flac")):
        k = int(path.stem.split("_")[1])
        assert k not in sounds, f"sound {k} twice"
        sounds[k], rate = sf.read(path, dtype="float32")
        assert rate == 16000
    return sounds, parameters


def test_cli_renders_shards_equal_to_the_voice(tmp_path, capsys):
    out = tmp_path / "sounds"
    assert (
        main(
            [
                "modular",
                "render",
                "--voice",
                "default",
                "--count",
                "7",
                "--seed",
                "4",
                "--output",
                str(out),
                "--shard-size",
                "3",
                "--batch-size",
                "2",
                "--quiet",
                *ARGS,
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "rendered": 7,
        "kept": 0,
        "shards": 3,
        "count": 7,
    }
    sounds, parameters = read_dataset(out)
    assert sorted(sounds) == sorted(parameters) == list(range(7))
    direct = DefaultVoice(CONTEXT).render_sounds(torch.arange(7), seed=4)
    for k in range(7):
        # 24-bit FLAC, and float rounding: PyTorch's vectorised CPU kernels may round an element's
        # last bit differently by where it falls in a batch (the CLI renders in batches of 2),
        # and a frequency's last bit drifts the phase (measured 9.5e-7 on one CPU, 0 on another).
        np.testing.assert_allclose(sounds[k], direct["audio"][k].numpy(), atol=5e-6)
        np.testing.assert_allclose(parameters[k][0], direct["patch"][k].numpy())
        assert parameters[k][1] == bool(direct["is_train"][k])
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["voice"] == "default" and manifest["count"] == 7 and len(manifest["parameter_names"]) == 78


def test_an_interrupted_render_resumes_without_duplicates_or_losses(tmp_path):
    out = tmp_path / "sounds"
    render_dataset("default", 9, 1, out, shard_size=3, batch_size=2, context=CONTEXT, show_progress=False)
    reference, reference_parameters = read_dataset(out)
    # Simulate an interruption inside shard 1 (its parameters never written, one FLAC missing)
    # and one during shard 2's first file.
    (out / "shard_00001.npz").unlink()
    (out / "shard_00001" / "sound_00000004.flac").unlink()
    (out / "shard_00002.npz").unlink()
    for path in (out / "shard_00002").iterdir():
        path.write_bytes(b"partial")
    summary = render_dataset("default", 9, 1, out, shard_size=3, batch_size=2, context=CONTEXT, show_progress=False)
    assert summary == {"rendered": 6, "kept": 3, "shards": 3, "count": 9}
    sounds, parameters = read_dataset(out)
    assert sorted(sounds) == list(range(9))
    for k in range(9):
        np.testing.assert_array_equal(sounds[k], reference[k])
        np.testing.assert_array_equal(parameters[k][0], reference_parameters[k][0])
    # Growing the dataset renders only the new sounds (and the short last shard again).
    summary = render_dataset("default", 11, 1, out, shard_size=3, batch_size=4, context=CONTEXT, show_progress=False)
    assert summary["kept"] == 9 and summary["rendered"] == 2
    assert sorted(read_dataset(out)[0]) == list(range(11))


def test_other_settings_in_the_same_folder_are_an_error(tmp_path):
    out = tmp_path / "sounds"
    render_dataset("default", 2, 1, out, shard_size=2, context=CONTEXT, show_progress=False)
    with pytest.raises(ValueError, match="seed"):
        render_dataset("default", 2, 2, out, shard_size=2, context=CONTEXT, show_progress=False)
    with pytest.raises(ValueError, match="count must be at least 2"):
        render_dataset("default", 1, 1, out, shard_size=2, context=CONTEXT, show_progress=False)
    assert (
        main(
            [
                "modular",
                "render",
                "--voice",
                "rich",
                "--count",
                "2",
                "--seed",
                "1",
                "--output",
                str(out),
                "--shard-size",
                "2",
                "--quiet",
                *ARGS,
            ]
        )
        == 2
    )


def test_curves_command_writes_json_that_render_accepts(tmp_path, capsys):
    curves = tmp_path / "curves.json"
    assert main(["modular", "curves", "--voice", "rich", "--output", str(curves), *ARGS]) == 0
    data = json.loads(curves.read_text())
    assert data["name"] == "rich" and "vcf.cutoff" in data["parameters"]
    data["parameters"]["vcf.cutoff"]["maximum"] = 100.0
    curves.write_text(json.dumps(data))
    out = tmp_path / "rich"
    assert (
        main(
            [
                "modular",
                "render",
                "--voice",
                "rich",
                "--count",
                "2",
                "--seed",
                "0",
                "--output",
                str(out),
                "--curves",
                str(curves),
                "--quiet",
                *ARGS,
            ]
        )
        == 0
    )
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["curves"]["vcf.cutoff"]["maximum"] == 100.0
