"""Do the tests catch real bugs? Plant each bug of a curated list in a copy of the project and
run the tests that exist to catch it.

Usage (from the repository root, after ``make install``)::

    .venv/bin/python scripts/check_tests_bite.py [--only NAME,...] [--keep] [--dry]

``--dry`` runs no test: it only checks that each bug's text occurs exactly once in the working
tree and that its test files exist (the first thing to fix after code moves).

The working tree's files (tracked, and untracked ones git does not ignore: a module split off
but not yet committed) are copied to a temporary folder once; for each bug in
``BUGS`` the copy gets that one edit (an exact text replacement that must match exactly
once), the named tests run against the copy (``PYTHONPATH`` puts the copy's ``src`` first),
and the edit is undone. A bug is **caught** when pytest reports failing tests (exit status
1); a collection or usage error (status 2-4) is reported as **error**, never as caught,
since a test that cannot even run proves nothing; exit status 0 is **missed**. Prints one
line per bug and a summary; exits with status 1 unless every bug is caught.

Each entry says which area it belongs to and why the bug is plausible: the list is meant to
grow with every test written to catch a bug.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bug:
    name: str
    area: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest node ids or files
    why: str


BUGS: list[Bug] = [
    # functional -----------------------------------------------------------------------------
    Bug(
        "harmonic-kernel-nyquist",
        "functional",
        "src/torchddsp/functional/engine/harmonic.py",
        "a = a if limit[r] > k else zero",
        "a = a if limit[r] >= k else zero",
        ("tests/functional/test_oscillators.py",),
        "off by one in the compiled pass's Nyquist mask: the harmonic just below Nyquist goes silent",
    ),
    Bug(
        "harmonic-kernel-f0-gradient",
        "functional",
        "src/torchddsp/functional/engine/harmonic.py",
        "g_f_a += g_theta * (r + 1)",
        "g_f_a += g_theta * r",
        ("tests/functional/test_oscillators.py",),
        "the compiled adjoint drops the first step of the phase's dependence on f0: f0 gradients slightly wrong",
    ),
    Bug(
        "lfilter-fir-off-by-one",
        "functional",
        "src/torchddsp/functional/iir.py",
        "out = out + b[..., k] * extended[:, n_b - 1 - k : n_b - 1 - k + n_samples]",
        "out = out + b[..., k] * extended[:, n_b - k : n_b - k + n_samples]",
        ("tests/functional/test_iir.py",),
        "the FIR half of lfilter reads every input one sample late",
    ),
    Bug(
        "allpole-kernel-wrong-tap",
        "functional",
        "src/torchddsp/functional/engine/recurrence.py",
        "past = y[b, n - k] if n >= k else zi[b, k - n - 1]\n                acc -= a[item, step, lead + k - 1] * inv * past",
        "past = y[b, n - k + (k > 1)] if n >= k else zi[b, k - n - 1]\n                acc -= a[item, step, lead + k - 1] * inv * past",
        ("tests/functional/test_allpole.py",),
        "the compiled recursion pairs coefficient k with the wrong past output",
    ),
    # features -------------------------------------------------------------------------------
    Bug(
        "loudness-bins-summed",
        "features",
        "src/torchddsp/features/loudness.py",
        "return power_to_db((power * weighting).mean(-1), ref_db=ref_db",
        "return power_to_db((power * weighting).sum(-1), ref_db=ref_db",
        ("tests/features/test_loudness.py",),
        "A-weighted power summed over bins, not averaged (+24 dB at n_fft 512)",
    ),
    Bug(
        "loudness-ref-sign",
        "features",
        "src/torchddsp/features/loudness.py",
        "return power_to_db((power * weighting).mean(-1), ref_db=ref_db",
        "return power_to_db((power * weighting).mean(-1), ref_db=-ref_db",
        ("tests/features/test_loudness.py",),
        "the reference level added instead of subtracted",
    ),
    Bug(
        "a-weighting-rounded",
        "features",
        "src/torchddsp/features/loudness.py",
        "_A_POLES_HZ = (20.598997, 107.65265, 737.86223, 12194.217)",
        "_A_POLES_HZ = (20.6, 107.7, 737.9, 12194.0)",
        ("tests/features/test_loudness.py",),
        "the often-quoted rounded A-weighting poles (0.005 dB off)",
    ),
    Bug(
        "yin-keeps-a-graph",
        "features",
        "src/torchddsp/features/yin.py",
        "with torch.no_grad():\n        return _yin(",
        "if True:\n        return _yin(",
        ("tests/test_autograd.py::test_feature_gradients[yin]",),
        "yin's f0 carries a meaningless autograd graph (an argmin is not differentiable)",
    ),
    Bug(
        "power-spectrogram-backward-sign",
        "features",
        "src/torchddsp/features/fourier.py",
        "scale = 2.0 * grad_output",
        "scale = -2.0 * grad_output",
        ("tests/test_autograd.py::test_feature_gradients[power_spectrogram]",),
        "sign error in the power spectrogram's hand-written backward",
    ),
    # losses -----------------------------------------------------------------------------------
    Bug(
        "convergence-per-item",
        "losses",
        "src/torchddsp/losses/spectral.py",
        'if self.convergence_over_batch and self.reduction != "none":',
        'if False and self.convergence_over_batch and self.reduction != "none":',
        ("tests/test_losses.py",),
        "auraloss's spectral convergence averaged per item instead of over the batch",
    ),
    # synths -----------------------------------------------------------------------------------
    Bug(
        "harmonic-upper-partials-lost",
        "synths",
        "src/torchddsp/synths.py",
        "\n        nyquist_rate = self.sample_rate if self.normalize_below_nyquist else None\n",
        "\n        harmonic_distribution = harmonic_distribution * (torch.arange(harmonic_distribution.shape[-1]) < 4)"
        "\n        nyquist_rate = self.sample_rate if self.normalize_below_nyquist else None\n",
        ("tests/test_bundled_models.py::test_bundled_model_sounds_like_its_own_instrument_and_the_others_do_not",),
        "the synth drops every harmonic above the 4th (a timbre bug a pitch or loudness test cannot see)",
    ),
    # effects ----------------------------------------------------------------------------------
    Bug(
        "fdn-ignores-rt60",
        "effects",
        "src/torchddsp/effects/fdn.py",
        "ir = self.impulse_response(rt60_s).to(audio.dtype)",
        "ir = self.impulse_response().to(audio.dtype)",
        ("tests/effects/test_eq_dynamics_fdn.py::test_fdn_reverb_render_uses_the_reverberation_times_it_is_given",),
        "FDNReverb.render takes reverberation times and ignores them",
    ),
    Bug(
        "compressor-attack-release-swapped",
        "effects",
        "src/torchddsp/functional/engine/compressor.py",
        "            if use:\n                alpha = attack[b * attack_item, n * attack_step]",
        "            if not use:\n                alpha = attack[b * attack_item, n * attack_step]",
        ("tests/functional/test_dynamics.py", "tests/effects/test_eq_dynamics_fdn.py"),
        "the compressor's compiled ballistics use the release time where the attack belongs",
    ),
    # modular ----------------------------------------------------------------------------------
    Bug(
        "vco-pitch-routes-swapped",
        "modular",
        "src/torchddsp/modular/voices.py",
        '"vco_1": (mods["vco_1_pitch"], mods["vco_1_amp"]),',
        '"vco_1": (mods["vco_2_pitch"], mods["vco_1_amp"]),',
        ("tests/modular/test_torchsynth_wiring.py",),
        "vco_1 follows the modulation meant for vco_2's pitch",
    ),
    Bug(
        "lfos-swapped",
        "modular",
        "src/torchddsp/modular/voices.py",
        '"lfo_1": lfos["lfo_1"] * env["lfo_1_amp_adsr"],\n            "lfo_2": lfos["lfo_2"] * env["lfo_2_amp_adsr"],',
        '"lfo_1": lfos["lfo_2"] * env["lfo_1_amp_adsr"],\n            "lfo_2": lfos["lfo_1"] * env["lfo_2_amp_adsr"],',
        ("tests/modular/test_torchsynth_wiring.py",),
        "the two LFOs feed each other's modulation-mixer inputs",
    ),
    Bug(
        "mixer-sources-reversed",
        "modular",
        "src/torchddsp/modular/modulation.py",
        "stacked = torch.stack([inputs[s] for s in self.sources], dim=1)",
        "stacked = torch.stack([inputs[s] for s in reversed(self.sources)], dim=1)",
        ("tests/modular/test_torchsynth_wiring.py",),
        "the modulation mixer reads its sources in the wrong order",
    ),
    Bug(
        "drive-scaled-back",
        "modular",
        "src/torchddsp/modular/processing.py",
        'wet = waveshape(audio, "tanh", drive, oversampling=self.oversampling)\n',
        'wet = waveshape(audio, "tanh", drive, oversampling=self.oversampling) / 10 ** (drive / 20)\n',
        ("tests/modular/test_drive.py",),
        "Drive divides its wet signal by the drive (what its old docstring said)",
    ),
    # training ---------------------------------------------------------------------------------
    Bug(
        "optimizer-never-steps",
        "training",
        "src/torchddsp/training/trainer.py",
        "optimizer.step()",
        "pass",
        (
            "tests/training/test_train.py::test_training_learns",
            "tests/training/test_train.py::test_resume_continues_exactly",
        ),
        "the optimizer never steps: training runs, logs and checkpoints, and learns nothing",
    ),
    Bug(
        "schedule-restarts-on-resume",
        "training",
        "src/torchddsp/training/trainer.py",
        "set_learning_rate(run.optimizer, run.config.train, step)",
        "set_learning_rate(run.optimizer, run.config.train, step - run.start_step)",
        ("tests/training/test_train.py::test_resume_continues_exactly",),
        "a resumed run restarts its learning-rate schedule (warm-up again) from step 0",
    ),
    Bug(
        "optimizer-state-not-resumed",
        "training",
        "src/torchddsp/training/trainer.py",
        'start_step = int(load_checkpoint(checkpoint, model, optimizer)["step"])',
        'start_step = int(load_checkpoint(checkpoint, model)["step"])',
        ("tests/training/test_train.py::test_resume_continues_exactly",),
        "Adam's moments are not restored on resume",
    ),
    # transfer ---------------------------------------------------------------------------------
    Bug(
        "bundled-violin-is-the-flute",
        "transfer",
        "src/torchddsp/transfer/in_memory.py",
        "path = PRETRAINED_DIR / str(name_or_path)\n",
        'path = PRETRAINED_DIR / str(name_or_path).replace("violin", "flute")\n',
        ("tests/test_bundled_models.py::test_bundled_model_sounds_like_its_own_instrument_and_the_others_do_not",),
        "load_model('violin') loads the flute's weights",
    ),
    Bug(
        "report-restates-manual-shift",
        "transfer",
        "src/torchddsp/transfer/adjust.py",
        '"median_loudness_shift_db": float(\n            np.median(loudness_out',
        '"median_loudness_shift_db": plan.loudness_shift + 0 * float(\n            np.median(loudness_out',
        ("tests/test_transfer_report.py",),
        "the transfer report restates the manual loudness shift, not the applied map",
    ),
    Bug(
        "weights-never-loaded",
        "transfer",
        "src/torchddsp/transfer/in_memory.py",
        "    load_checkpoint(checkpoint, model)\n",
        "    pass\n",
        (
            "tests/test_transfer.py::test_a_trained_run_renders_its_training_audio_closer_than_its_initial_weights",
            "tests/test_cli.py::test_evaluate_tells_a_trained_run_from_its_initial_weights",
        ),
        "load_model builds the model and never loads the trained weights",
    ),
    # reliability (issue 12) -------------------------------------------------------------------
    Bug(
        "run-folder-unchecked",
        "reliability",
        "src/torchddsp/training/trainer.py",
        "to_remove = check_run_folder(run_dir, resume, overwrite)",
        "to_remove = []",
        ("tests/reliability/test_run_folders.py",),
        "a new run into a run folder is accepted: its checkpoints are pruned as they are written",
    ),
    Bug(
        "prune-by-name",
        "reliability",
        "src/torchddsp/training/checkpoints.py",
        "order = [p.name for p in checkpoint_history(run_dir) if p.name != final.name] + [final.name]",
        "order = sorted([p.name for p in checkpoint_history(run_dir) if p.name != final.name] + [final.name])",
        ("tests/reliability/test_checkpoints.py",),
        "checkpoints pruned by step name instead of write order",
    ),
    Bug(
        "checksum-not-verified",
        "reliability",
        "src/torchddsp/training/checkpoints.py",
        'if hashlib.sha256(data).hexdigest() != recorded["sha256"]:',
        "if False:",
        ("tests/reliability/test_checkpoints.py",),
        "damaged weights load silently",
    ),
    Bug(
        "overwrite-deletes-user-files",
        "reliability",
        "src/torchddsp/training/run_folder.py",
        "run_files = [p for p in present if is_run_file(p)]",
        "run_files = present",
        ("tests/reliability/test_run_folders.py",),
        "--overwrite deletes the user's unrelated files",
    ),
    Bug(
        "resume-ignores-config",
        "reliability",
        "src/torchddsp/training/trainer.py",
        "    if different and not allow_config_change:\n",
        "    if False:\n",
        ("tests/reliability/test_run_folders.py",),
        "--resume silently ignores a different config",
    ),
    Bug(
        "yaml-exponent-as-text",
        "reliability",
        "src/torchddsp/configs/__init__.py",
        'ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))',
        "pass",
        ("tests/training/test_config.py",),
        "PyYAML's YAML 1.1 reads learning_rate: 2e-3 as text",
    ),
    Bug(
        "config-int-coerced",
        "reliability",
        "src/torchddsp/configs/__init__.py",
        'raise InputError(f"{where} must be a whole number, found {value!r}")',
        "pass",
        ("tests/training/test_config.py",),
        "batch_size: 2.5 accepted, failing later inside the trainer",
    ),
    Bug(
        "evaluate-output-unchecked",
        "reliability",
        "src/torchddsp/cli.py",
        '    check_output(output, inputs=[args.dataset_dir], option="--output")  # a link, a missing or read-only folder',
        "    return output",
        ("tests/reliability/test_cli_errors.py",),
        "evaluate writes over its inputs or fails after the work",
    ),
    Bug(
        "output-inside-input-folder",
        "reliability",
        "src/torchddsp/io.py",
        "if source.is_dir() and source.resolve() in path.resolve().parents:",
        "if False:",
        ("tests/reliability/test_cli_errors.py",),
        "an output inside the dataset replaces dataset.json",
    ),
    Bug(
        "evaluate-nan-as-perfect",
        "reliability",
        "src/torchddsp/training/metrics.py",
        'pitched = totals["pitched_frames"] or math.nan',
        'pitched = max(totals["pitched_frames"], 1.0)',
        ("tests/reliability/test_cli_errors.py",),
        "f0 metrics read 0.0 (perfect) when nothing is pitched",
    ),
    Bug(
        "cli-oserror-traceback",
        "reliability",
        "src/torchddsp/cli.py",
        "    except OSError as error:  # a full disk, a read-only folder, a file that vanished",
        "    except ZeroDivisionError as error:",
        ("tests/reliability/test_cli_errors.py",),
        "a full disk prints a traceback instead of one line naming the file",
    ),
    Bug(
        "modular-count-locked",
        "reliability",
        "src/torchddsp/modular/dataset.py",
        'held = min((last + 1) * shard_size, int(previous["count"]))',
        'held = int(previous["count"])',
        ("tests/reliability/test_modular_render.py",),
        "a mistaken huge count locks the folder forever",
    ),
    Bug(
        "modular-stale-temporary",
        "reliability",
        "src/torchddsp/modular/dataset.py",
        "remove_stale_temporaries(out_dir, max_age_s=0.0)",
        "pass",
        ("tests/reliability/test_modular_render.py",),
        "a kill during the NPZ write leaves its temporary file forever",
    ),
    Bug(
        "prepare-not-atomic",
        "reliability",
        "src/torchddsp/training/data.py",
        "    with atomic_folder(dataset_dir) as folder:",
        '    with __import__("contextlib").nullcontext(dataset_dir) as folder:',
        ("tests/reliability/test_prepare.py",),
        "a full disk while preparing leaves new arrays beside the old dataset.json",
    ),
    Bug(
        "prepare-stats-per-chunk",
        "reliability",
        "src/torchddsp/training/data.py",
        "        midi.append(hz_to_midi(torch.from_numpy(f0[pitched]).double()).numpy())",
        "        midi = [hz_to_midi(torch.from_numpy(f0[pitched]).double()).numpy()]",
        ("tests/reliability/test_prepare.py",),
        "pitch statistics of the last block only",
    ),
    Bug(
        "features-no-right-context",
        "reliability",
        "src/torchddsp/features/recording.py",
        "stop = min(n_samples, (stop_frame - 1) * hop + after)",
        "stop = min(n_samples, stop_frame * hop)",
        ("tests/reliability/test_long_recordings.py",),
        "chunked analysis misses the audio right of a chunk",
    ),
    Bug(
        "resampler-state-dropped",
        "reliability",
        "src/torchddsp/functional/resampling.py",
        "kept = block if kept is None else torch.cat([kept, block], dim=-1)",
        "kept = block",
        ("tests/reliability/test_long_recordings.py",),
        "the streaming resampler forgets the previous block",
    ),
    Bug(
        "chunked-gru-reset",
        "reliability",
        "src/torchddsp/models/chunked.py",
        "hidden=state.hidden, return_state=True",
        "hidden=None, return_state=True",
        ("tests/reliability/test_chunked_render.py",),
        "the decoder's GRU restarts at every chunk",
    ),
    Bug(
        "chunked-reverb-tail-dropped",
        "reliability",
        "src/torchddsp/models/chunked.py",
        "partition_size=REVERB_PARTITION, state=state.reverb, return_state=True",
        "partition_size=REVERB_PARTITION, state=None, return_state=True",
        ("tests/reliability/test_chunked_render.py",),
        "the reverb tail is cut at every chunk edge",
    ),
    Bug(
        "transfer-over-input",
        "reliability",
        "src/torchddsp/transfer/files.py",
        "    wav, png, summary = check_transfer_outputs(output_path, protected, figure, create_parent=True)",
        "    wav, png, summary = check_transfer_outputs(output_path, (), figure, create_parent=True)",
        ("tests/reliability/test_transfer_outputs.py",),
        "transfer IN -o IN overwrites the recording",
    ),
    Bug(
        "transfer-peak-per-chunk",
        "reliability",
        "src/torchddsp/transfer/files.py",
        "handle.write(file_samples(audio, peak).numpy())",
        "handle.write(file_samples(audio, float(audio.abs().max())).numpy())",
        ("tests/reliability/test_transfer_outputs.py",),
        "each chunk normalised to its own peak",
    ),
    Bug(
        "half-reaches-numba",
        "reliability",
        "src/torchddsp/validation.py",
        "return value.float() if isinstance(value, Tensor) and value.dtype in HALF_DTYPES else value",
        "return value",
        ("tests/reliability/test_edge_inputs.py",),
        "float16 into the recursive filters: NotImplementedError from numba",
    ),
    Bug(
        "yin-block-drops-a-frame",
        "reliability",
        "src/torchddsp/features/yin.py",
        "cut[..., i : i + FRAMES_PER_BLOCK, :]",
        "cut[..., i + 1 : i + FRAMES_PER_BLOCK, :]",
        ("tests/features/test_pitch.py",),
        "YIN's blocks of frames skip one frame each",
    ),
    Bug(
        "compress-empty-index",
        "reliability",
        "src/torchddsp/functional/dynamics.py",
        "return gain_db[:, 0] if n_samples else gain_db.new_zeros(batch)",
        "return gain_db[:, 0]",
        ("tests/reliability/test_edge_inputs.py",),
        "compress of an empty block: IndexError",
    ),
    Bug(
        "stream-gru-state-dropped",
        "streaming",
        "src/torchddsp/models/chunked.py",
        "hidden=state.hidden, return_state=True",
        "hidden=None, return_state=True",
        ("tests/streaming/test_transfer_stream.py",),
        "the decoder's GRU restarts at every block of a stream: the streamed transfer drifts from the offline one",
    ),
    Bug(
        "stream-features-one-sample-late",
        "streaming",
        "src/torchddsp/streaming/features.py",
        "stop = _ready_stop(first, n_total - plan.after, settings)",
        "stop = _ready_stop(first, n_total - plan.after - 1, settings)",
        ("tests/streaming/test_features.py",),
        "a streamed frame comes out one sample later than its stated latency",
    ),
    Bug(
        "partitioned-head-missing",
        "streaming",
        "src/torchddsp/functional/partitioned.py",
        "wet = _head(inputs[:, size + fill - (head_size - 1) :], ir[:, :head_size])",
        "wet = 0 * _head(inputs[:, size + fill - (head_size - 1) :], ir[:, :head_size])",
        ("tests/effects/test_streaming_convolution.py",),
        "the streamed reverb loses its first partition (the direct-form head)",
    ),
    Bug(
        "stream-latency-understated",
        "streaming",
        "src/torchddsp/streaming/transfer.py",
        "+ hop - 1 + render_lag",
        "+ hop - 2 + render_lag",
        ("tests/streaming/test_transfer_stream.py",),
        "the stream states one sample less latency than it has: a block ending inside a hop underflows",
    ),
    Bug(
        "spectral-cumsum-over-time",
        "losses",
        "src/torchddsp/losses/spectral_terms.py",
        "torch.cumsum(magnitude, dim=2)",
        "torch.cumsum(magnitude, dim=1)",
        ("tests/losses/test_spectral_loss_terms.py",),
        "Magenta's cumsum_freq term summed over frames instead of frequency bins",
    ),
    Bug(
        "spectral-cosine-unnormalised",
        "losses",
        "src/torchddsp/losses/spectral_terms.py",
        "distance = 1.0 - (target * value).sum(-1) * norms",
        "distance = 1.0 - (target * value).sum(-1)",
        ("tests/losses/test_spectral_loss_terms.py",),
        "the cosine loss type without normalising the spectra",
    ),
    Bug(
        "spectral-loudness-frame-count",
        "losses",
        "src/torchddsp/losses/spectral_terms.py",
        "n_frames = math.floor(n_samples * frame_rate / sample_rate) + 1",
        "n_frames = math.floor(n_samples * frame_rate / sample_rate)",
        ("tests/losses/test_spectral_loss_terms.py",),
        "the loudness term with one frame fewer than Magenta's",
    ),
    # magenta formats ------------------------------------------------------------------------
    Bug(
        "crc32c-mask-rotation",
        "magenta",
        "src/torchddsp/magenta/crc32c.py",
        "(crc >> 15) | (crc << 17)",
        "(crc >> 17) | (crc << 15)",
        ("tests/magenta/test_wire.py",),
        "the masked CRC rotated the wrong way: every TFRecord and checkpoint looks corrupt",
    ),
    Bug(
        "protobuf-fixed-widths-swapped",
        "magenta",
        "src/torchddsp/magenta/protobuf.py",
        "_FIXED_SIZES = {1: 8, 5: 4}",
        "_FIXED_SIZES = {1: 4, 5: 8}",
        ("tests/magenta/test_wire.py",),
        "64-bit and 32-bit wire types swapped: doubles and floats misread",
    ),
    Bug(
        "checkpoint-shared-key-prefix",
        "magenta",
        "src/torchddsp/magenta/sstable.py",
        "        key = key[:shared] + block[pos : pos + non_shared]",
        "        key = block[pos : pos + non_shared]",
        ("tests/magenta/test_checkpoint.py",),
        "the SSTable reader drops the shared key prefix: checkpoint keys misread",
    ),
    Bug(
        "statistics-unrestricted-unpickler",
        "magenta",
        "src/torchddsp/magenta/statistics.py",
        "        if (module, name) not in _ALLOWED:",
        "        if (module, name) not in _ALLOWED:\n            return super().find_class(module, name)\n        if False:",
        ("tests/magenta/test_statistics.py",),
        "dataset_statistics.pkl read by an unrestricted unpickler: a hostile pickle runs code",
    ),
    Bug(
        "tfrecord-data-crc-unchecked",
        "magenta",
        "src/torchddsp/magenta/tfrecord.py",
        "        if masked_crc32c(data) != data_crc:",
        "        if False:",
        ("tests/magenta/test_tfrecord.py",),
        "a TFRecord's data checksum is not checked: corrupt records pass silently",
    ),
    Bug(
        "tfrecord-loudness-alignment",
        "magenta",
        "src/torchddsp/magenta/dataset.py",
        'shifts = {"f0_hz": crepe, "f0_confidence": crepe, "loudness_db": loudness}',
        'shifts = {"f0_hz": crepe, "f0_confidence": crepe, "loudness_db": crepe}',
        ("tests/magenta/test_tfrecord.py",),
        "Magenta's loudness frames realigned by CREPE's window instead of the loudness window",
    ),
    Bug(
        "yin-rounding-floor-removed",
        "streaming",
        "src/torchddsp/features/yin.py",
        "return torch.where(difference > floor, difference, torch.zeros_like(difference))",
        "return difference.clamp_min(0.0)",
        ("tests/streaming/test_export.py::test_violin_onnx_step_equals_the_eager_step_on_a_voice",),
        "YIN picks lags by FFT rounding noise on silent spans: the ONNX step leaves the eager one",
    ),
    Bug(
        "export-pitch-ratio-float32",
        "streaming",
        "src/torchddsp/streaming/step.py",
        "* self.ratio).to(f0_hz.dtype)",
        "* 2.0 ** (plan.semitones / 12.0)).to(f0_hz.dtype)",
        ("tests/streaming/test_export.py::test_onnx_file_in_onnxruntime_equals_the_step_over_many_blocks",),
        "the pitch ratio as a Python number, which the ONNX exporter stores as float32",
    ),
    Bug(
        "crepe-sigmoid-float32",
        "streaming",
        "src/torchddsp/features/crepe.py",
        "return torch.sigmoid(logits.double()).to(logits.dtype)",
        "return torch.sigmoid(logits)",
        ("tests/streaming/test_features.py",),
        "CREPE's float32 sigmoid rounds a frame by its place in the call: streamed f0 leaves offline",
    ),
    Bug(
        "recurrence-no-subnormal-flush",
        "functional",
        "src/torchddsp/functional/engine/recurrence.py",
        "p1, p2, q1, q2 = flushed(p1, tiny), flushed(p2, tiny), flushed(q1, tiny), flushed(q2, tiny)",
        "p1, p2, q1, q2 = p1, p2, q1, q2",
        ("tests/functional/test_subnormal_state.py",),
        "the order-2 filter kernel keeps subnormal state: a decaying tail runs 2-3x slower",
    ),
]


def copy_project(target: Path) -> None:
    """Copy the working tree's tracked and not-ignored untracked files (current contents)."""
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listing, cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    environment = {**os.environ, "PYTHONPATH": str(copy / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    done = subprocess.run(command, cwd=copy, env=environment, capture_output=True, text=True, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines[-1] if lines else " ".join(done.stderr.strip().splitlines()[-1:])


def dry_check(bug: Bug) -> str:
    """Why ``bug`` cannot be planted in the working tree ("" when it can)."""
    path = ROOT / bug.path
    if not path.is_file():
        return f"{bug.path} does not exist"
    count = path.read_text().count(bug.old)
    if count != 1:
        return f"the text to replace occurs {count} times in {bug.path}"
    missing = [t for t in bug.tests if not (ROOT / t.split("::")[0]).exists()]
    return f"no such test file: {' '.join(missing)}" if missing else ""


def check(copy: Path, bug: Bug) -> tuple[str, str]:
    path = copy / bug.path
    original = path.read_text()
    count = original.count(bug.old)
    if count != 1:
        return "error", f"the text to replace occurs {count} times in {bug.path}"
    path.write_text(original.replace(bug.old, bug.new))
    try:
        status, summary = run_tests(copy, bug.tests)
    finally:
        path.write_text(original)
    outcome = {0: "MISSED", 1: "caught"}.get(status, "error")
    return outcome, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated bug names")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument("--dry", action="store_true", help="only check that every bug can be planted")
    args = parser.parse_args(argv)
    bugs = [b for b in BUGS if not args.only or b.name in args.only.split(",")]
    if args.dry:
        problems = [(b.name, dry_check(b)) for b in bugs]
        for name, problem in problems:
            print(f"{'ok' if not problem else 'error':7s} {name}{': ' + problem if problem else ''}")
        return 1 if any(problem for _, problem in problems) else 0
    folder = Path(tempfile.mkdtemp(prefix="torchddsp-bite-"))
    started = time.time()
    results = []
    try:
        copy_project(folder)
        # The unmodified copy must pass the tests first: otherwise "caught" means nothing.
        for tests in dict.fromkeys(b.tests for b in bugs):
            status, summary = run_tests(folder, tests)
            if status != 0:
                print(f"the unmodified project fails {' '.join(tests)}: {summary}")
                return 2
        for bug in bugs:
            outcome, summary = check(folder, bug)
            results.append(outcome)
            print(f"{outcome:7s} {bug.area:10s} {bug.name}: {bug.why} -- {summary}", flush=True)
    finally:
        if args.keep:
            print(f"copy kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    caught = results.count("caught")
    print(f"\n{caught} of {len(results)} planted bugs caught ({time.time() - started:.0f} s)")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
