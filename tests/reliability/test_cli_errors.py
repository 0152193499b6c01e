"""The command line under user mistakes: one line naming the option or file, checked before the
work, exit code 2; outputs that were promised exist; a library bug keeps its traceback."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import torchddsp.io
from torchddsp.cli import main
from torchddsp.io import check_output


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def test_evaluate_writes_where_it_says_or_fails_before_the_work(dataset_dir, tmp_path, capsys, monkeypatch):
    # Was: exit 0 and "wrote no/such/dir/m.json", nothing written.
    assert main(["evaluate", "violin", str(dataset_dir), "--output", str(tmp_path / "no" / "m.json")]) == 2
    err = one_line_error(capsys)
    assert "--output" in err and "the folder" in err and "does not exist" in err
    assert main(["evaluate", "violin", str(dataset_dir), "--output", str(tmp_path / "m.wav")]) == 2
    assert "expected a .json file name" in one_line_error(capsys)
    # Was: "wrote violin/evaluation_eval.json" for a bundled name, nothing written.
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "violin", str(dataset_dir), "--max-examples", "2"]) == 0
    out = capsys.readouterr().out
    written = tmp_path / "evaluation_violin_eval.json"
    assert f"wrote {written.name}" in out and json.loads(written.read_text())["examples"] == 2


def test_evaluate_json_is_valid_when_no_frame_is_pitched(dataset_dir, tmp_path, capsys, monkeypatch):
    # Was: f0 metrics 0.0 (perfect) with no pitched frame; NaN is not JSON, so null and "n/a".
    import torchddsp.training.metrics as metrics  # noqa: PLC0415

    monkeypatch.setattr(metrics, "CONFIDENCE_THRESHOLD", 2.0)  # no frame reaches it
    output = tmp_path / "m.json"
    assert main(["evaluate", "violin", str(dataset_dir), "--max-examples", "2", "--output", str(output)]) == 0
    result = json.loads(output.read_text())  # strict JSON: NaN would not parse back as null
    assert result["f0_l1_semitones"] is None and result["f0_outlier_ratio"] is None
    assert result["pitched_frames"] == 0 and result["loudness_l1_db"] > 0
    assert "| f0_l1_semitones | n/a |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["evaluate", "violin", "DS", "--max-examples", "-1"], "argument --max-examples: expected a whole number >= 1"),
        (
            ["transfer", "IN.wav", "--model", "violin", "-o", "o.wav", "--pitch-shift", "nan"],
            "argument --pitch-shift: expected a finite number, found 'nan'",
        ),
        (
            ["transfer", "IN.wav", "--model", "violin", "-o", "o.wav", "--loudness-shift", "loud"],
            "argument --loudness-shift: expected a number, found 'loud'",
        ),
        (["train", "cpu_small", "DS", "RUN", "--steps", "0"], "argument --steps: expected a whole number >= 1"),
        (["train", "cpu_small", "DS", "RUN", "--resume", "--overwrite"], "not allowed with argument"),
        (["modular", "render", "--count", "0", "--output", "X"], "argument --count: expected a whole number >= 1"),
        (
            ["modular", "render", "--count", "2", "--output", "X", "--duration-s", "inf"],
            "argument --duration-s: expected a finite number",
        ),
    ],
)
def test_bad_options_are_named_as_the_user_typed_them(argv, message, capsys):
    # Was: NaN options reported with internal argument names, or a traceback.
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_file_system_failure_is_one_line_naming_the_file(dataset_dir, tmp_path, capsys, monkeypatch):
    target = tmp_path / "m.json"

    def disk_full(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(torchddsp.io, "write_text_atomic", disk_full)
    assert main(["evaluate", "violin", str(dataset_dir), "--max-examples", "1", "--output", str(target)]) == 2
    err = one_line_error(capsys)
    assert str(target) in err and "No space left on device" in err


@pytest.mark.parametrize("error", [ValueError, TypeError, RuntimeError, IndexError])
def test_a_library_bug_keeps_its_traceback(error, dataset_dir, tmp_path, monkeypatch, capsys):
    # Only an InputError is the user's mistake: a plain ValueError or TypeError raised deep in
    # the model is the library calling something wrongly, and printed as one line of "bad
    # input" it would send the user hunting in their files.
    from torchddsp.models import Autoencoder  # noqa: PLC0415

    def bug(*args, **kwargs):
        raise error("a bug in the library")

    monkeypatch.setattr(Autoencoder, "forward", bug)
    with pytest.raises(error, match="a bug in the library"):
        main(["evaluate", "violin", str(dataset_dir), "--max-examples", "1", "--output", str(tmp_path / "m.json")])
    assert "error:" not in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_a_bad_input_found_deep_in_the_work_is_one_line(tmp_path, capsys):
    # A file that is not audio: AudioFileError (an InputError subclass) from the reader, raised
    # after the model has loaded.
    garbage = tmp_path / "song.wav"
    garbage.write_bytes(b"not a wave file" * 100)
    assert (
        main(
            [
                "transfer",
                str(garbage),
                "--model",
                "violin",
                "-o",
                str(tmp_path / "out.wav"),
                "--f0-method",
                "yin",
                "--quiet",
            ]
        )
        == 2
    )
    err = one_line_error(capsys)
    assert err.startswith("torchddsp transfer: error: ") and "song.wav: cannot read audio" in err
    assert not (tmp_path / "out.wav").exists()


def test_a_diverging_training_is_one_line(tmp_path, capsys, monkeypatch):
    # Not a bug but a setting to change (the learning rate): the trainer's message, no traceback.
    import torchddsp.training.trainer as trainer  # noqa: PLC0415

    def diverge(*args, **kwargs):
        raise FloatingPointError("the loss became nan at step 3; lower the learning rate")

    monkeypatch.setattr(trainer, "train", diverge)
    assert main(["train", "cpu_small", str(tmp_path / "ds"), str(tmp_path / "run"), "--quiet"]) == 2
    assert one_line_error(capsys) == "torchddsp train: error: the loss became nan at step 3; lower the learning rate"


def test_a_read_only_output_folder_is_refused_before_the_work():
    # Root writes anywhere, so the check runs as an unprivileged user in a child process (the
    # project's CI runs as root); the dataset and model are unreadable to that user, so only a
    # check made before the work can give this message.
    # The child may not read the project's files as that user (a checkout in a private
    # folder): everything the command imports before its check is imported here first.
    import torchddsp.training.data  # noqa: F401, PLC0415
    import torchddsp.training.metrics  # noqa: F401, PLC0415
    import torchddsp.transfer  # noqa: F401, PLC0415

    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        (folder / "ro").mkdir(mode=0o555)
        (folder / "ro").chmod(0o555)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read)
            try:
                os.chdir(folder)  # a working folder that user may read
                if os.getuid() == 0:
                    os.setgid(65534)
                    os.setuid(65534)
                import contextlib  # noqa: PLC0415
                import io  # noqa: PLC0415

                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    code = main(
                        ["evaluate", "violin", str(folder / "no_dataset"), "--output", str(folder / "ro" / "m.json")]
                    )
                os.write(write, f"{code}|{err.getvalue()}".encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as stream:
            reply = stream.read()
        os.waitpid(pid, 0)
        code, err = reply.split("|", 1)
        assert code == "2" and "is not writable" in err, reply
        with pytest.raises(ValueError, match="is a symbolic link"):
            (folder / "link.json").symlink_to(folder / "ro" / "m.json")
            check_output(folder / "link.json", option="--output")
    finally:
        (folder / "ro").chmod(0o755)
        import shutil  # noqa: PLC0415

        shutil.rmtree(folder)


def test_outputs_never_land_inside_what_the_command_reads(trained_run, dataset_dir, tmp_path, capsys, monkeypatch):
    # Was: `evaluate --output DS/dataset.json` (or a checkpoint's state.json) replaced the input
    # with metrics, and `transfer -o CHECKPOINT/state.wav` replaced state.json with its summary.
    from training_support import DATA  # noqa: PLC0415

    from torchddsp.training import latest_checkpoint  # noqa: PLC0415

    data = tmp_path / "data"
    shutil.copytree(dataset_dir, data)
    checkpoint = latest_checkpoint(trained_run)
    before = {p: p.read_bytes() for p in (data / "dataset.json", checkpoint / "state.json")}
    for output in (data / "dataset.json", checkpoint / "state.json", data / "train" / "m.json"):
        assert main(["evaluate", str(trained_run), str(data), "--output", str(output)]) == 2
        assert "which this command reads" in one_line_error(capsys)
    assert (
        main(
            [
                "transfer",
                str(DATA / "flute.flac"),
                "--model",
                str(trained_run),
                "-o",
                str(checkpoint / "state.wav"),
                "--f0-method",
                "yin",
            ]
        )
        == 2
    )
    assert "which this command reads" in one_line_error(capsys)
    assert all(path.read_bytes() == content for path, content in before.items())
    # A checkpoint folder given as the model: the default evaluation goes to the current folder
    # (inside the checkpoint it would be refused, as above).
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(checkpoint), str(data), "--max-examples", "1"]) == 0
    assert (tmp_path / f"evaluation_{checkpoint.name}_eval.json").is_file()


def test_a_negative_attenuation_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["transfer", "IN.wav", "--model", "violin", "-o", "o.wav", "--quiet-db", "-5"])
    assert "argument --quiet-db: expected a number >= 0, found '-5'" in capsys.readouterr().err


def test_a_warning_about_a_users_file_is_one_line(tmp_path, capsys):
    # A truncated WAV is used with a warning; the CLI shows it as one line, not Python's
    # "file:line: Category" with a source line of the library.
    import soundfile as sf  # noqa: PLC0415
    from training_support import DATA  # noqa: PLC0415
    from training_support import tiny_config  # noqa: PLC0415

    from torchddsp.training import save_config  # noqa: PLC0415

    audio = tmp_path / "audio"
    audio.mkdir()
    mono, _ = sf.read(DATA / "violin.flac", dtype="float32")
    sf.write(audio / "violin.wav", mono, 16000, subtype="PCM_16")
    data = (audio / "violin.wav").read_bytes()
    (audio / "violin.wav").write_bytes(data[: len(data) - 32000])
    save_config(tiny_config(), tmp_path / "tiny.yaml")
    assert main(["prepare", str(audio), str(tmp_path / "ds"), "--config", str(tmp_path / "tiny.yaml"), "--quiet"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("torchddsp prepare: warning: ") and "violin.wav is truncated" in err
    assert "\n" not in err and "Warning" not in err
