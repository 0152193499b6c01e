"""torchddsp.validation: structural checks (type, rank, shape, device) always run and never
read tensor values; data checks (NaN, ranges) are switchable and skipped under torch.compile;
a wrong type is a TypeError, a wrong shape or value an InputError (a ValueError)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchddsp as td
import torchddsp.functional as F
import torchddsp.validation as v
from torchddsp.validation import InputError

nan = float("nan")


@pytest.fixture(autouse=True)
def checks_on():
    """Every test starts with data checks on and leaves them as it found them."""
    previous = v.set_validation(True)
    yield
    v.set_validation(previous)


def test_the_switch_and_the_context_are_exported_beside_the_module():
    # `torchddsp.validation` stays the module: a function of that name would shadow it.
    assert td.validation is v
    assert td.set_validation is v.set_validation and td.data_checks is v.data_checks
    assert td.InputError is InputError and issubclass(InputError, ValueError)
    assert not issubclass(InputError, TypeError)


def test_switching_off_skips_data_checks_but_keeps_structural_ones():
    f0 = torch.full((1, 4, 1), nan)
    amplitudes = torch.ones(1, 4, 1)
    with pytest.raises(InputError, match="frequencies_hz must be finite"):
        F.oscillator_bank(f0, amplitudes, 16000)
    assert v.set_validation(False) is True
    assert not v.data_checks_enabled()
    assert torch.isnan(F.oscillator_bank(f0, amplitudes, 16000)).all()  # NaN in, NaN out
    assert torch.equal(v.check_range("q", torch.tensor([-1.0]), 0.0, low_open=True), torch.tensor([-1.0]))
    # Rank, shape, type and Python numbers are still checked.
    with pytest.raises(InputError, match="frequencies_hz must have shape"):
        F.oscillator_bank(torch.ones(4, 1), torch.ones(4, 1), 16000)
    with pytest.raises(InputError, match="zi must have shape"):
        v.check_shape("zi", torch.zeros(2, 3), (2, 2))
    with pytest.raises(InputError, match="sample_rate must be a positive"):
        F.oscillator_bank(torch.ones(1, 4, 1), amplitudes, 0)
    with pytest.raises(InputError, match=r"q must be > 0, found -1"):
        v.check_range("q", -1.0, 0.0, low_open=True)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        v.check_finite("x", [nan])
    assert v.set_validation(True) is False


def test_the_context_restores_the_previous_setting_even_on_an_exception():
    with pytest.raises(RuntimeError, match="inside"):
        with v.data_checks(False):
            assert not v.data_checks_enabled()
            raise RuntimeError("inside")
    assert v.data_checks_enabled()
    v.set_validation(False)
    with v.data_checks(True):  # nested the other way: back to off, not to the default
        assert v.data_checks_enabled()
        with v.data_checks(False):
            assert not v.data_checks_enabled()
        assert v.data_checks_enabled()
    assert not v.data_checks_enabled()

    @v.data_checks(False)
    def trusted(x):
        return F.midi_to_hz(x)

    v.set_validation(True)
    assert torch.isnan(trusted(torch.tensor([nan]))).all()
    assert v.data_checks_enabled()


def test_the_switch_takes_only_a_bool():
    # bool("false") is True: a string would silently turn the checks on.
    with pytest.raises(TypeError, match="enabled must be True or False"):
        v.set_validation("false")  # type: ignore[arg-type]
    assert v.data_checks_enabled()


# torch.compile's first use in a process costs 1.5-4 s on 2 cores (importing and warming dynamo).
@pytest.mark.slow
def test_a_compiled_op_skips_data_checks_and_keeps_structural_ones():
    # fullgraph=True: a data-dependent branch (bool(tensor), .item()) would be an error, not a
    # silent graph break. The eager backend keeps the test to a second (dynamo tracing only).
    torch._dynamo.reset()
    compiled = torch.compile(F.oscillator_bank, fullgraph=True, backend="eager")
    f0, amplitudes = torch.full((1, 4, 2), 200.0), torch.ones(1, 4, 2)
    expected = F.oscillator_bank(f0, amplitudes, 16000)
    torch.testing.assert_close(compiled(f0, amplitudes, 16000), expected, rtol=0, atol=0)
    f0[0, 1, 0] = nan
    assert torch.isnan(compiled(f0, amplitudes, 16000)).any()  # not checked under compile
    with pytest.raises(InputError, match="frequencies_hz must be finite"):
        F.oscillator_bank(f0, amplitudes, 16000)  # eager still checks
    torch._dynamo.reset()


@pytest.mark.slow
def test_a_compiled_op_still_raises_structural_errors():
    # Without fullgraph the error reaches the caller as itself (dynamo falls back to eager at
    # the raise; with fullgraph=True dynamo reports its own "Observed exception" instead).
    torch._dynamo.reset()
    compiled = torch.compile(F.oscillator_bank, backend="eager")
    with pytest.raises(InputError, match="amplitudes must have shape"):
        compiled(torch.ones(1, 4, 2), torch.ones(1, 4), 16000)
    torch._dynamo.reset()


SYNC = "a host sync"


@pytest.fixture
def no_host_sync(monkeypatch):
    """Reading a tensor's value on the host fails: what a CUDA sync or a graph break would be."""

    def refuse(*args, **kwargs):
        raise AssertionError(SYNC)

    for name in ("__bool__", "item", "tolist", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)


def test_with_data_checks_off_no_check_reads_a_tensor_value(no_host_sync):
    bad = torch.tensor([[nan, 2.0, -3.0]])
    with v.data_checks(False):
        v.check_finite("x", bad)
        v.check_range("x", bad, 0.0, 1.0)
        v.check_rank("x", bad, 2, "(batch, n)")
        v.check_shape("x", bad, (1, "n"))
        v.check_same_batch(("x", "y"), (bad, bad))
        v.check_same_device(("x", "y"), (bad, bad))
        v.as_tensor_like("x", bad, bad)
        # A size or a rate given as a tensor would need .item(): refused, not read.
        with pytest.raises(TypeError, match="found a tensor"):
            v.check_positive_int("n", torch.tensor(3))
        with pytest.raises(TypeError, match="found a tensor"):
            v.check_positive("rate", torch.tensor(3.0))
    with pytest.raises(AssertionError, match=SYNC):  # the fixture does catch a read
        v.check_finite("x", bad)


OK = torch.ones(2, 3)
TYPE_ERRORS = [
    ("check_tensor list", lambda: v.check_tensor("x", [1.0]), "x must be a torch.Tensor, found list"),
    ("check_tensor integer dtype", lambda: v.check_tensor("x", torch.ones(2, dtype=torch.int64)), "floating-point"),
    ("check_rank list", lambda: v.check_rank("x", [[1.0]], 2, "(batch, n)"), "x must be a torch.Tensor"),
    ("check_shape list", lambda: v.check_shape("x", [[1.0]], (1, 1)), "x must be a torch.Tensor"),
    ("check_finite list", lambda: v.check_finite("x", [1.0]), "x must be a torch.Tensor"),
    ("check_positive string", lambda: v.check_positive("rate", "16000"), "rate must be a positive number, found str"),
    ("check_positive None", lambda: v.check_positive("rate", None), "rate must be a positive number, found NoneType"),
    ("check_positive bool", lambda: v.check_positive("rate", True), "found bool"),
    ("check_positive tensor", lambda: v.check_positive("rate", torch.tensor(1.0)), "found a tensor"),
    ("check_positive_int string", lambda: v.check_positive_int("n", "3"), "n must be an integer >= 1, found str"),
    ("check_positive_int bool", lambda: v.check_positive_int("n", True), "found bool"),
    ("check_positive_int tensor", lambda: v.check_positive_int("n", torch.tensor(3)), "found a tensor"),
    ("check_range string", lambda: v.check_range("q", "1", 0.0), "q must be a number >= 0"),
    ("as_tensor_like string", lambda: v.as_tensor_like("bias", "0.1", OK), "bias must be a number or a tensor"),
    ("as_tensor_like integer tensor", lambda: v.as_tensor_like("bias", torch.tensor(1), OK), "floating-point"),
]
VALUE_ERRORS = [
    (
        "check_rank",
        lambda: v.check_rank("x", OK, 3, "(batch, n, c)"),
        r"x must have shape \(batch, n, c\) \(3 dimensions\), found shape \(2, 3\)",
    ),
    (
        "check_shape",
        lambda: v.check_shape("x", OK, (2, 4), ("batch", 3, 1)),
        r"x must have shape \(2, 4\) or \(batch, 3, 1\), found \(2, 3\)",
    ),
    (
        "check_shape one dimension",
        lambda: v.check_shape("w", torch.ones(3), (4,)),
        r"w must have shape \(4,\), found \(3,\)",
    ),
    (
        "check_same_batch",
        lambda: v.check_same_batch(("a", "b"), (OK, torch.ones(3, 3))),
        r"batch sizes must match \(a: 2, b: 3\)",
    ),
    (
        "check_same_device",
        lambda: v.check_same_device(("a", "b"), (OK, torch.ones(2, 3, device="meta"))),
        r"tensors must be on one device \(a: cpu, b: meta\)",
    ),
    (
        "check_choice",
        lambda: v.check_choice("mode", "fuzz", ("a", "b")),
        r"mode must be one of \['a', 'b'\], found 'fuzz'",
    ),
    ("check_finite", lambda: v.check_finite("x", torch.tensor([1.0, float("inf")])), "x must be finite"),
    ("check_positive zero", lambda: v.check_positive("rate", 0), "rate must be a positive finite number, found 0"),
    ("check_positive nan", lambda: v.check_positive("rate", nan), "found nan"),
    ("check_positive inf", lambda: v.check_positive("rate", float("inf")), "found inf"),
    ("check_positive_int fraction", lambda: v.check_positive_int("n", 2.5), "n must be an integer >= 1, found 2.5"),
    (
        "check_positive_int too small",
        lambda: v.check_positive_int("n", 1, minimum=2),
        "n must be an integer >= 2, found 1",
    ),
    ("check_range number", lambda: v.check_range("s", 1.5, 0.0, 1.0), r"s must be in \[0, 1\], found 1.5"),
    (
        "check_range open end",
        lambda: v.check_range("r", 1.0, 0.0, 1.0, high_open=True),
        r"r must be in \[0, 1\), found 1.0",
    ),
    ("check_range nan number", lambda: v.check_range("s", nan, 0.0, 1.0), "found nan"),
    (
        "check_range tensor",
        lambda: v.check_range("s", torch.tensor([0.5, 2.0, -1.0]), 0.0, 1.0),
        r"s must be in \[0, 1\], found values from -1 to 2",
    ),
    ("check_range nan tensor", lambda: v.check_range("s", torch.tensor([0.5, nan]), 0.0), "s must be >= 0, found NaN"),
    (
        "check_range upper bound",
        lambda: v.check_range("g", torch.tensor([1.0]), high=1.0, high_open=True),
        r"g must be < 1, found values from 1 to 1",
    ),
]


@pytest.mark.parametrize("name,call,message", TYPE_ERRORS, ids=[r[0] for r in TYPE_ERRORS])
def test_a_wrong_type_is_a_type_error(name, call, message):
    with pytest.raises(TypeError, match=message) as error:
        call()
    assert not isinstance(error.value, ValueError)  # the CLI would print it as a user's mistake


@pytest.mark.parametrize("name,call,message", VALUE_ERRORS, ids=[r[0] for r in VALUE_ERRORS])
def test_a_wrong_shape_or_value_is_an_input_error(name, call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_numbers_of_every_ordinary_kind_pass():
    assert v.check_positive("rate", np.float32(2.5)) == 2.5 and v.check_positive("rate", 16000) == 16000.0
    assert v.check_positive_int("n", np.int64(3)) == 3 and v.check_positive_int("n", 640.0) == 640
    assert v.check_positive_int("n", np.float32(64.0)) == 64 and v.check_positive_int("n", 0, minimum=0) == 0
    assert v.check_range("s", np.float64(1.0), 0.0, 1.0) == 1.0
    x = torch.tensor([0.0, 1.0])
    assert v.check_range("s", x, 0.0, 1.0) is x and v.check_finite("x", x) is x
    assert v.check_range("s", torch.empty(0), 0.0, 1.0).numel() == 0
    assert v.check_same_device(("a", "b"), (x, torch.tensor(2.0))) == torch.device("cpu")
    # A 0-d CPU tensor goes with any device, as torch reads it as a number.
    on_meta = torch.ones(2, device="meta")
    assert v.check_same_device(("a", "b"), (on_meta, torch.tensor(2.0))) == torch.device("meta")
    half = torch.ones(1, 2, dtype=torch.float16)
    assert v.as_tensor_like("b", 0.5, half).dtype == torch.float16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_no_check_syncs_while_data_checks_are_off():
    x = torch.ones(2, 3, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with v.data_checks(False):
            v.check_finite("x", x)
            v.check_range("x", x, 0.0, 1.0)
            v.check_rank("x", x, 2, "(batch, n)")
            v.check_shape("x", x, (2, 3))
            v.check_same_device(("x", "y"), (x, x))
        with pytest.raises(RuntimeError, match="synchroniz"):  # the detector works
            v.check_finite("x", x)
    finally:
        torch.cuda.set_sync_debug_mode(0)
