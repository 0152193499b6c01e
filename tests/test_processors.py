import numpy as np
import pytest
import torch

import torchddsp as td


def _inputs(rng, batch=2, n_frames=20):
    return {
        "amps": torch.tensor(rng.standard_normal((batch, n_frames, 1)), dtype=torch.float32),
        "dist": torch.tensor(rng.standard_normal((batch, n_frames, 12)), dtype=torch.float32),
        "f0": torch.tensor(rng.uniform(100, 800, (batch, n_frames, 1)), dtype=torch.float32),
        "mags": torch.tensor(rng.standard_normal((batch, n_frames, 17)), dtype=torch.float32),
    }


def _group(**kwargs):
    return td.ProcessorGroup(
        [
            ("harmonic", td.Harmonic(16000), ["amps", "dist", "f0"]),
            ("noise", td.FilteredNoise(), {"magnitudes": "mags"}),
            ("add", td.Add(), ["harmonic", "noise"]),
        ],
        **kwargs,
    )


def test_group_equals_the_processors_called_by_hand(rng):
    inputs = _inputs(rng)
    group = _group()
    assert group.input_names == ("amps", "dist", "f0", "mags")
    out = group(inputs, n_samples=640, generator=torch.Generator().manual_seed(3))
    harmonic = td.Harmonic(16000)(inputs["amps"], inputs["dist"], inputs["f0"], n_samples=640)
    noise = td.FilteredNoise()(inputs["mags"], n_samples=640, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(out.numpy(), (harmonic + noise).numpy(), atol=1e-6)


def test_group_run_exposes_signals_and_controls(rng):
    values = _group().run(_inputs(rng), n_samples=640, generator=torch.Generator().manual_seed(0))
    for key in [
        "harmonic",
        "noise",
        "add",
        "harmonic/amplitudes",
        "harmonic/harmonic_distribution",
        "noise/magnitudes",
    ]:
        assert key in values
    distribution = values["harmonic/harmonic_distribution"]
    np.testing.assert_allclose(distribution.sum(-1).numpy(), 1.0, rtol=1e-5)  # normalised controls


def test_group_nodes_in_any_order_and_control_sources(rng):
    inputs = _inputs(rng)
    group = td.ProcessorGroup(
        [
            ("add", td.Add(), ["harmonic", "again"]),
            (
                "again",
                td.Harmonic(16000, scale_fn=None),
                ["harmonic/amplitudes", "harmonic/harmonic_distribution", "f0"],
            ),
            ("harmonic", td.Harmonic(16000), ["amps", "dist", "f0"]),
        ],
        output="add",
    )
    assert group.order.index("harmonic") < group.order.index("again") < group.order.index("add")
    values = group.run(inputs, n_samples=640)
    np.testing.assert_allclose(values["add"].numpy(), 2 * values["harmonic"].numpy(), atol=1e-5)


def test_group_is_reproducible_with_a_generator(rng):
    inputs, group = _inputs(rng), _group()
    a = group(inputs, n_samples=640, generator=torch.Generator().manual_seed(5))
    b = group(inputs, n_samples=640, generator=torch.Generator().manual_seed(5))
    c = group(inputs, n_samples=640, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_group_gradients_reach_every_input_and_parameter(rng):
    inputs = {k: v.requires_grad_() for k, v in _inputs(rng).items()}
    group = td.ProcessorGroup(
        [
            ("harmonic", td.Harmonic(16000), ["amps", "dist", "f0"]),
            ("noise", td.FilteredNoise(), ["mags"]),
            ("add", td.Add(), ["harmonic", "noise"]),
            ("reverb", td.Reverb(trainable=True, reverb_length=256), ["add"]),
        ]
    )
    group(inputs, n_samples=640, generator=torch.Generator().manual_seed(0)).pow(2).sum().backward()
    for name, tensor in inputs.items():
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0, name
    assert group.processors["reverb"].ir.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "nodes,match",
    [
        ([("a", td.Add(), ["b", "x"]), ("b", td.Add(), ["a", "x"])], "cycle"),
        ([("a", td.Add(), ["x"])], "ports"),
        ([("a", td.Add(), {"signal_one": "x", "bogus": "y"})], "unknown"),
        ([("a", td.Add(), ["x", "y"]), ("a", td.Add(), ["x", "y"])], "unique"),
        ([("a/b", td.Add(), ["x", "y"])], "names"),
        ([], "at least one"),
        ([("a", td.Add(), ["x", "ghost/signal"])], "names no node"),
    ],
)
def test_group_rejects_bad_graphs(nodes, match):
    with pytest.raises(ValueError, match=match):
        td.ProcessorGroup(nodes)


def test_group_reports_missing_inputs_and_unknown_options(rng):
    group = _group()
    with pytest.raises(ValueError, match="missing graph inputs"):
        group.run({"amps": torch.zeros(1, 2, 1)}, n_samples=128)
    with pytest.raises(ValueError, match="render options"):
        group.run(_inputs(rng), n_samples=640, bogus=1)
    with pytest.raises(ValueError, match="output"):
        _group(output="nowhere")


def test_group_rejects_ambiguous_inputs(rng):
    inputs, group = _inputs(rng), _group()
    with pytest.raises(ValueError, match="names of nodes"):
        group.run({**inputs, "noise": torch.zeros(2, 640)}, n_samples=640)
    with pytest.raises(ValueError, match="positional"):
        group(*inputs.values(), torch.zeros(1), n_samples=640)
    bad_control = td.ProcessorGroup(
        [
            ("harmonic", td.Harmonic(16000), ["amps", "dist", "f0"]),
            ("again", td.Harmonic(16000), ["harmonic/nope", "dist", "f0"]),
        ]
    )
    with pytest.raises(ValueError, match="has no control 'nope'"):
        bad_control(inputs, n_samples=640)
    # A mapping plus keywords works.
    mapping = {k: v for k, v in inputs.items() if k != "mags"}
    out = group(mapping, mags=inputs["mags"], n_samples=640, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 640)


def test_add_and_mix():
    one, two = torch.ones(2, 100), torch.zeros(2, 100)
    assert torch.equal(td.Add()(one, two), one)
    with pytest.raises(ValueError, match="same shape"):
        td.Add()(one, torch.zeros(2, 99))
    mix = torch.tensor([[[1.0], [0.0]]]).expand(2, 2, 1)
    y = td.Mix(scale_fn=None)(one, two, mix)
    # Frame 0 (mix 1) at sample 0, frame 1 (mix 0) at sample 50, then held.
    np.testing.assert_allclose(y[0, :50].numpy(), 1 - np.arange(50) / 50, atol=1e-6)
    assert y[0, -1].item() == 0.0
    raw = td.Mix()(one, two, torch.zeros(2, 3, 1))
    np.testing.assert_allclose(raw.numpy(), 0.5, atol=1e-7)
    with pytest.raises(ValueError, match="mix must have shape"):
        td.Mix()(one, two, torch.zeros(2, 3, 2))


def test_group_seeds_its_noise_nodes_with_seed(rng):
    # Bug: a group passing only the options of a fixed list (which left out ``seed``), so a
    # seeded group drew from the global RNG.
    inputs = _inputs(rng)
    group = _group()
    assert group.render_options == ("n_samples", "generator", "seed", "noise_offset")
    harmonic = td.Harmonic(16000)(inputs["amps"], inputs["dist"], inputs["f0"], n_samples=640)
    noise = td.FilteredNoise()(inputs["mags"], n_samples=640, seed=7)
    torch.manual_seed(0)
    first = group(inputs, n_samples=640, seed=7)
    torch.manual_seed(1)
    again = group(inputs, n_samples=640, seed=7)
    torch.testing.assert_close(first, harmonic + noise, atol=1e-6, rtol=0)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    assert float((group(inputs, n_samples=640, seed=8) - first).abs().max()) > 1e-4


PROCESSORS = [
    td.Harmonic,
    td.FilteredNoise,
    td.Sinusoidal,
    td.Wavetable,
    td.FM,
    td.Add,
    td.Mix,
    td.Reverb,
    td.ExpDecayReverb,
    td.FilteredNoiseReverb,
    td.FIRFilter,
    td.ModDelay,
    td.ParametricEQ,
    td.Compressor,
    td.FDNReverb,
    td.Waveshaper,
    td.Phaser,
    td.ProcessorGroup,
]


@pytest.mark.parametrize("cls", PROCESSORS, ids=[c.__name__ for c in PROCESSORS])
def test_processors_write_controls_and_render_only_and_default_to_not_trainable(cls):
    # Bugs: a processor re-implementing forward (and drifting from controls + render), a
    # processor learning by default while the others take their controls.
    import inspect

    assert "forward" not in vars(cls), f"{cls.__name__} re-implements forward"
    trainable = inspect.signature(cls.__init__).parameters.get("trainable")
    assert trainable is None or trainable.default is False


def test_learned_controls_keep_their_parameter_names_and_shapes():
    # Bug: a learned control stored under its port's name or shape, so checkpoints of trained
    # models no longer load.
    assert {k: tuple(v.shape) for k, v in td.ParametricEQ(n_peaks=1, trainable=True).named_parameters()} == {
        "frequency_raw": (3,),
        "gain_raw": (3,),
        "q_raw": (3,),
    }
    assert {k: tuple(v.shape) for k, v in td.Reverb(trainable=True, reverb_length=5).named_parameters()} == {"ir": (5,)}
    assert dict(td.Reverb(reverb_length=5).named_parameters()) == {}
    assert td.Reverb(trainable=True).input_names == ("audio",)
    assert td.Reverb().input_names == ("audio", "ir")


def test_a_trainable_processor_in_a_group_is_wired_by_its_inputs_only(rng):
    # Bug: a learned control left among the ports, so the group asks for an ``ir`` input.
    group = td.ProcessorGroup([("reverb", td.Reverb(trainable=True, reverb_length=4), ["audio"])])
    audio = torch.tensor(rng.standard_normal((2, 16)), dtype=torch.float32)
    ir = torch.tensor([9.0, 0.5, -0.25, 0.125])  # the first tap is ignored (the dry path is added)
    with torch.no_grad():
        group.processors["reverb"].ir.copy_(ir)
    expected = audio.clone()
    for k in range(1, 4):
        expected[:, k:] += ir[k] * audio[:, :-k]
    torch.testing.assert_close(group(audio), expected, atol=1e-6, rtol=0)
