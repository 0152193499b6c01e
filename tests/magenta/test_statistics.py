"""Magenta's dataset_statistics.pkl read by a restricted unpickler (torchddsp.magenta.statistics),
against what plain ``pickle.load`` gave in Magenta's environment (fixtures written by
benchmarks/peers/magenta_checkpoint_fixture.py: Magenta's compute_dataset_statistics on a small
synthetic dataset, pickled as its Colab does, and the same with scikit-learn's transformer).

Bugs caught: an unpickler that runs what a pickle names (os.system, eval, a lookalike module,
a dotted name through an allowed module), a stand-in that drops or mangles the fitted arrays,
statistics read wrongly (numpy scalars, both numpy module spellings), the transform's uniform
map or its inverse off Magenta's, and the conversion to torchddsp's statistics reading the
wrong key or quantiles.
"""

from __future__ import annotations

import os
import pickle
import posix
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from torchddsp.magenta.statistics import QuantileTransform
from torchddsp.magenta.statistics import read_dataset_statistics
from torchddsp.magenta.statistics import to_feature_statistics
from torchddsp.training.data import QUANTILES
from torchddsp.transfer.adjust import plan_adjustment
from torchddsp.validation import InputError

DATA = Path(__file__).resolve().parents[1] / "data" / "magenta" / "statistics"


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "dataset_statistics_expected.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize(
    "name,fitted_by", [("dataset_statistics", "magenta"), ("dataset_statistics_sklearn", "sklearn")]
)
def test_statistics_equal_what_pickle_loaded_in_magentas_environment(expected, name, fitted_by):
    stats = read_dataset_statistics(DATA / f"{name}.pkl")
    scalars = {key[len("stat_") :]: expected[key].item() for key in expected if key.startswith("stat_")}
    assert {key: value for key, value in stats.items() if key != "quantile_transform"} == scalars
    assert all(type(stats[key]) is float for key in scalars)  # plain numbers, not numpy scalars
    assert len(scalars) == 36  # {mean,max,min,mean_max,mean_min,std} x {pitch,power,loudness}{,_note}
    transform = stats["quantile_transform"]
    assert isinstance(transform, QuantileTransform)
    assert transform.quantiles.tobytes() == expected[f"{fitted_by}_quantiles_"].astype(np.float64).tobytes()
    assert transform.references.tobytes() == expected[f"{fitted_by}_references_"].tobytes()
    assert transform.n_quantiles == int(expected[f"{fitted_by}_n_quantiles"])
    assert transform.quantiles.shape == (int(expected[f"{fitted_by}_n_quantiles_"]), 1)
    assert transform.output_distribution == "uniform"


@pytest.mark.parametrize("fitted_by", ["magenta", "sklearn"])
def test_the_stand_in_transforms_as_magentas_transformer(expected, fitted_by):
    name = "dataset_statistics" if fitted_by == "magenta" else "dataset_statistics_sklearn"
    transform = read_dataset_statistics(DATA / f"{name}.pkl")["quantile_transform"]
    probe = expected[f"{fitted_by}_probe"]
    np.testing.assert_array_equal(transform.transform(probe), expected[f"{fitted_by}_transform"])
    levels = np.linspace(0.0, 1.0, 41)[:, None]
    np.testing.assert_array_equal(transform.inverse_transform(levels), expected[f"{fitted_by}_inverse"])


def test_repeated_quantiles_map_to_the_middle_of_their_levels():
    # Closed form: values -50 at levels 0.25..0.75 -> (0.25 + 0.75) / 2; the ends exactly 0 and 1.
    transform = QuantileTransform([[-60.0], [-50.0], [-50.0], [-50.0], [-10.0]], np.linspace(0, 1, 5))
    out = transform.transform(np.array([[-60.0], [-50.0], [-30.0], [-10.0], [5.0]]))
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 0.875, 1.0, 1.0], rtol=0, atol=1e-15)


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)
        return 0


def test_the_hostile_fixture_is_refused_and_nothing_runs(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(posix, "system", recorder)  # what the pickle names (os.system on POSIX)
    monkeypatch.setattr(os, "system", recorder)
    with pytest.raises(InputError, match=r"refused the global posix\.system: a pickle is code"):
        read_dataset_statistics(DATA / "hostile.pkl")
    assert recorder.calls == []
    # The fixture is live: an unrestricted unpickler does call it.
    pickle.loads((DATA / "hostile.pkl").read_bytes())
    assert recorder.calls == [("echo a pickle is code",)]


def hostile_pickles() -> dict[str, bytes]:
    """Hand-written protocol-0/2/4 pickles naming globals a statistics file must not reach."""
    return {
        "builtins.eval": b"cbuiltins\neval\n(S'1+1'\ntR.",
        "os.system": b"cos\nsystem\n(S'true'\ntR.",
        # A lookalike: the quantile transformer's module with another name.
        "ddsp.training.postprocessing.detect_notes": b"cddsp.training.postprocessing\ndetect_notes\n(tR.",
        # Protocol 4 dotted names resolve attributes through an allowed module.
        "numpy.ctypeslib.load_library": b"\x80\x04\x8c\x05numpy\x8c\x16ctypeslib.load_library\x93.",
        "builtins.getattr": b"\x80\x02cbuiltins\ngetattr\n.",
    }


@pytest.mark.parametrize("name", list(hostile_pickles()))
def test_other_globals_are_refused_by_name(tmp_path, name):
    path = tmp_path / "stats.pkl"
    path.write_bytes(hostile_pickles()[name])
    module, _, attribute = name.rpartition(".")
    if name == "numpy.ctypeslib.load_library":
        module, attribute = "numpy", "ctypeslib.load_library"
    with pytest.raises(InputError, match=f"refused the global {module}.{attribute}:"):
        read_dataset_statistics(path)


def test_the_stand_in_keeps_no_state_but_the_fitted_arrays(tmp_path):
    # A transformer whose __dict__ carries something more: the stand-in must not keep it.
    path = tmp_path / "stats.pkl"
    state = {"quantiles_": np.zeros((2, 1)), "references_": np.array([0.0, 1.0]), "payload": "x"}
    # NEWOBJ of the allowed class, then BUILD with the state (what pickle writes for an object).
    body = pickle.dumps(state, protocol=2)[2:-1]
    path.write_bytes(b"\x80\x02cddsp.training.postprocessing\nQuantileTransformer\n)\x81" + body + b"b.")
    transform = read_dataset_statistics_any(path)
    assert isinstance(transform, QuantileTransform) and not hasattr(transform, "payload")


def test_protocol_0_transformers_load_and_other_classes_are_refused(tmp_path, monkeypatch):
    # Older pickles (protocol 0/1) rebuild objects by copyreg._reconstructor(cls, object, None).
    module = types.ModuleType("sklearn.preprocessing._data")

    class QuantileTransformer:  # what scikit-learn's class pickles as
        pass

    QuantileTransformer.__module__ = module.__name__
    QuantileTransformer.__qualname__ = "QuantileTransformer"
    module.QuantileTransformer = QuantileTransformer
    for name in ("sklearn", "sklearn.preprocessing"):  # parents pickle imports (stubs, this test only)
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    fitted = QuantileTransformer()
    fitted.__dict__.update(quantiles_=np.array([[-50.0], [-20.0]]), references_=np.array([0.0, 1.0]), n_quantiles=7)
    path = tmp_path / "stats.pkl"
    data = pickle.dumps({"mean_pitch": 60.0, "quantile_transform": fitted}, protocol=0)
    assert b"copy_reg\n_reconstructor" in data
    path.write_bytes(data)
    transform = read_dataset_statistics(path)["quantile_transform"]
    assert transform.n_quantiles == 7 and transform.quantiles[:, 0].tolist() == [-50.0, -20.0]
    # The same call on another allowed class must be refused, not run.
    path.write_bytes(b"ccopy_reg\n_reconstructor\n(ccollections\nOrderedDict\nc__builtin__\nobject\nNtR.")
    with pytest.raises(InputError, match="refused copyreg._reconstructor"):
        read_dataset_statistics(path)


def read_dataset_statistics_any(path: Path):
    """The restricted loader on a pickle whose top level is not a dict (reaching its guts)."""
    from torchddsp.magenta.statistics import _RestrictedUnpickler  # noqa: PLC0415

    with path.open("rb") as file:
        return _RestrictedUnpickler(file).load()


def test_numpy_2_pickles_of_this_environment_load_too(tmp_path):
    # torchddsp's numpy may be 2.x (numpy._core...), Magenta's fixture is numpy 1.x (numpy.core...).
    stats = {"mean_pitch": np.float64(60.5), "std_pitch": np.float32(2.0), "counts": np.arange(3), "nested": [{1, 2}]}
    path = tmp_path / "stats.pkl"
    for protocol in (2, 4, 5):
        path.write_bytes(pickle.dumps(stats, protocol=protocol))
        loaded = read_dataset_statistics(path)
        assert loaded["mean_pitch"] == 60.5 and loaded["std_pitch"] == 2.0 and loaded["nested"] == [{1, 2}]
        np.testing.assert_array_equal(loaded["counts"], np.arange(3))


def test_non_dict_truncated_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "stats.pkl"
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(InputError, match="not a dict"):
        read_dataset_statistics(path)
    path.write_bytes((DATA / "dataset_statistics.pkl").read_bytes()[:500])
    with pytest.raises(InputError, match="not a readable statistics pickle"):
        read_dataset_statistics(path)
    with pytest.raises(InputError, match="does not exist"):
        read_dataset_statistics(tmp_path / "missing.pkl")


def test_conversion_to_torchddsp_statistics(expected):
    stats = read_dataset_statistics(DATA / "dataset_statistics.pkl")
    out = to_feature_statistics(stats)
    # Magenta's Colab shifts toward mean_pitch; the loudness map is its inverse transform.
    assert out["mean_pitch_midi"] == expected["stat_mean_pitch"].item()
    assert out["mean_loudness_db"] == expected["stat_mean_loudness_note"].item()
    assert out["quantile_levels"] == list(QUANTILES)
    levels = np.asarray(QUANTILES)[:, None]
    np.testing.assert_allclose(
        out["loudness_db_quantiles"], stats["quantile_transform"].inverse_transform(levels)[:, 0], rtol=0, atol=1e-12
    )
    quantiles = expected["magenta_quantiles_"][:, 0]
    assert out["loudness_db_quantiles"][0] == quantiles[0] and out["loudness_db_quantiles"][-1] == quantiles[-1]
    assert out["pitched_frames"] == len(quantiles)
    # torchddsp's auto-adjust takes it as a model's statistics.
    plan = plan_adjustment(out, {**out, "mean_pitch_midi": out["mean_pitch_midi"] - 24.0})
    assert plan.octave_semitones == 24.0
    with pytest.raises(InputError, match="mean_pitch"):
        to_feature_statistics({"quantile_transform": stats["quantile_transform"]})
