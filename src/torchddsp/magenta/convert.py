"""Convert a Magenta DDSP solo-instrument checkpoint into a torchddsp model folder.

:func:`convert_magenta` reads a Magenta training folder (``ckpt-N.index`` +
``ckpt-N.data-*``, ``operative_config-N.gin``, optionally ``dataset_statistics.pkl``) without
TensorFlow and writes ``model.safetensors`` + ``state.json`` (+ ``config.yaml``), the layout
``torchddsp transfer --model``, ``evaluate`` and the streaming renderers load.

From the gin config (:func:`model_from_gin`): the decoder's sizes (``RnnFcDecoder.ch`` ->
``hidden_size``, ``rnn_channels`` -> ``rnn_size``, ``layers_per_stack``), its inputs
(``ld_scaled`` and ``f0_scaled`` in either order; a ``z`` encoder is refused), its output splits
(in any order, matched to the synthesizers through ``ProcessorGroup.dag``), the harmonics and
noise bands, the reverb (``Reverb.trainable``, ``reverb_length``), the sample rate and frame rate
(``Harmonic.n_samples / F0LoudnessPreprocessor.time_steps`` samples a frame) and
``FilteredNoise.initial_bias``. Settings torchddsp's model cannot follow (another scale_fn, an
LSTM, ``normalize_below_nyquist=False``, ...) are refused with the binding named. Magenta's
constants that gin does not record are set in the model's config: ``loudness_range_db = 80``
(``ld_scaled = loudness_db / 80 + 1``) and ``layer_norm_eps = 1e-3`` (Keras's LayerNormalization).

Weights (:func:`convert_variables`): Dense kernels ``(in, out)`` are transposed to Linear's
``(out, in)``; LayerNorm ``gamma``/``beta`` become ``weight``/``bias``; the GRU's Keras gate
blocks ``z, r, h`` are reordered to torch's ``r, z, n``, and Keras's ``reset_after`` bias
``(2, 3 * units)`` splits into ``bias_ih`` (row 0) and ``bias_hh`` (row 1); the trainable
reverb's ``ir`` is copied.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
import yaml

from ..configs import AutoencoderConfig
from ..configs import ExperimentConfig
from ..io import atomic_folder
from ..validation import InputError
from .gin import GinConfig
from .gin import Reference
from .gin import read_gin

__all__ = ["MagentaModel", "model_from_gin", "convert_variables", "convert_magenta", "MAGENTA_DB_RANGE"]

#: Magenta's ``spectral_ops.DB_RANGE``: ``ld_scaled = loudness_db / DB_RANGE + 1``.
MAGENTA_DB_RANGE = 80.0
#: Keras's ``LayerNormalization`` epsilon (Magenta's ``nn.Fc``).
KERAS_LAYER_NORM_EPS = 1e-3
_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
_DECODER = "model/decoder"
_REVERB_IR = "model/processor_group/reverb/ir" + _VALUE
_INPUT_ORDER = ("ld_scaled", "f0_scaled")  # torchddsp's decoder inputs: loudness, then f0
_SYNTH_INPUTS = {  # torchddsp control <- (Magenta processor, position in its dag input list)
    "amplitudes": ("Harmonic", 0),
    "harmonic_distribution": ("Harmonic", 1),
    "noise_magnitudes": ("FilteredNoise", 0),
}


@dataclass(frozen=True)
class MagentaModel:
    """What a Magenta gin config says about its model: the matching torchddsp ``config``, the
    decoder's ``input_keys`` and ``output_splits`` (Magenta's order), and ``split_of``: the
    Magenta split feeding each torchddsp control (``"amplitudes"`` -> ``"amps"`` ...)."""

    config: AutoencoderConfig
    input_keys: tuple[str, ...]
    output_splits: tuple[tuple[str, int], ...]
    split_of: dict[str, str]


def _refuse(binding: str, value: Any, why: str) -> InputError:
    return InputError(f"operative config: {binding} = {value!r} is not supported ({why})")


def _scoped(gin: GinConfig, reference: Reference, param: str, default: Any) -> Any:
    """``param`` of a referenced configurable: its scope's binding, else the unscoped one."""
    scope = reference.name.rpartition("/")[0] or None
    if scope is not None and gin.find(reference.configurable, param, scope):
        return gin.get(reference.configurable, param, scope=scope)
    return gin.get(reference.configurable, param, default)


def _dag(gin: GinConfig) -> dict[str, tuple[Reference, list[str]]]:
    """``ProcessorGroup.dag`` as configurable name -> (reference, input names)."""
    dag = gin.get("ProcessorGroup", "dag")
    if not isinstance(dag, (list, tuple)) or not dag:
        raise InputError("operative config: no ProcessorGroup.dag (not a Magenta autoencoder config)")
    nodes: dict[str, tuple[Reference, list[str]]] = {}
    for node in dag:
        if not (isinstance(node, (list, tuple)) and len(node) == 2 and isinstance(node[0], Reference)):
            raise _refuse("ProcessorGroup.dag", node, "expected (@Processor(), [inputs]) nodes")
        name = node[0].configurable
        if name not in ("Harmonic", "FilteredNoise", "Add", "Reverb"):
            raise _refuse(
                "ProcessorGroup.dag", name, "torchddsp's autoencoder has Harmonic, FilteredNoise, Add, Reverb"
            )
        nodes[name] = (node[0], list(node[1]))
    missing = {"Harmonic", "FilteredNoise", "Add"} - set(nodes)
    if missing:
        raise _refuse("ProcessorGroup.dag", sorted(nodes), f"it lacks {sorted(missing)}")
    return nodes


def _check_scale_fn(gin: GinConfig, reference: Reference) -> None:
    """Only ``core.exp_sigmoid`` with its default settings (torchddsp's synthesizers' scale_fn)."""
    binding = f"{reference.configurable}.scale_fn"
    scale_fn = _scoped(gin, reference, "scale_fn", Reference("core.exp_sigmoid"))
    if not (isinstance(scale_fn, Reference) and scale_fn.configurable == "exp_sigmoid" and not scale_fn.evaluate):
        raise _refuse(binding, scale_fn, "torchddsp's synthesizers scale with exp_sigmoid")
    for param, default in (("exponent", 10.0), ("max_value", 2.0), ("threshold", 1e-7)):
        value = gin.get("exp_sigmoid", param, default)
        if value != default:
            raise _refuse(f"exp_sigmoid.{param}", value, f"torchddsp's exp_sigmoid uses {default}")


def _decoder(gin: GinConfig) -> dict[str, Any]:
    """The RnnFcDecoder's settings (Magenta's defaults where unbound), checked."""
    for configurable, expected in (("decoder", "RnnFcDecoder"), ("preprocessor", "F0LoudnessPreprocessor")):
        value = gin.get("Autoencoder", configurable)
        if not (isinstance(value, Reference) and value.configurable == expected):
            raise _refuse(f"Autoencoder.{configurable}", value, f"torchddsp converts {expected} models")
    if gin.get("Autoencoder", "encoder") is not None:
        raise _refuse("Autoencoder.encoder", gin.get("Autoencoder", "encoder"), "z encoders are not converted")
    rnn_type = gin.get("RnnFcDecoder", "rnn_type", "gru")
    if rnn_type != "gru":
        raise _refuse("RnnFcDecoder.rnn_type", rnn_type, "torchddsp's decoder has a GRU")
    input_keys = tuple(gin.get("RnnFcDecoder", "input_keys", ("ld_scaled", "f0_scaled", "z")))
    if sorted(input_keys) != sorted(_INPUT_ORDER):
        raise _refuse("RnnFcDecoder.input_keys", input_keys, "the inputs must be ld_scaled and f0_scaled")
    splits = tuple((str(name), int(size)) for name, size in gin.get("RnnFcDecoder", "output_splits", ()))
    sizes = {
        name: gin.get("RnnFcDecoder", key, default)
        for name, key, default in (
            ("hidden", "ch", 512),
            ("rnn", "rnn_channels", 512),
            ("layers", "layers_per_stack", 3),
        )
    }
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _refuse(f"RnnFcDecoder ({name} size)", value, "sizes must be whole numbers >= 1")
    return {"input_keys": input_keys, "output_splits": splits, **sizes}


def _synths(gin: GinConfig, nodes: dict[str, tuple[Reference, list[str]]]) -> dict[str, Any]:
    """Sample rate, frame rate, noise bias and reverb length from the synthesizers' bindings."""
    harmonic, noise = nodes["Harmonic"][0], nodes["FilteredNoise"][0]
    for reference in (harmonic, noise):
        _check_scale_fn(gin, reference)
    for param, expected in (("normalize_below_nyquist", True), ("amp_resample_method", "window")):
        value = _scoped(gin, harmonic, param, expected)
        if value != expected:
            raise _refuse(f"Harmonic.{param}", value, f"torchddsp's autoencoder uses {expected!r}")
    sample_rate = _scoped(gin, harmonic, "sample_rate", 16000)
    n_samples = _scoped(gin, harmonic, "n_samples", 64000)
    time_steps = gin.get("F0LoudnessPreprocessor", "time_steps", 1000)
    if not all(isinstance(v, int) and v > 0 for v in (sample_rate, n_samples, time_steps)) or n_samples % time_steps:
        raise _refuse("Harmonic.n_samples / F0LoudnessPreprocessor.time_steps", (n_samples, time_steps), "no whole hop")
    hop = n_samples // time_steps
    if sample_rate % hop:
        raise _refuse("Harmonic.sample_rate", sample_rate, f"not a whole number of {hop}-sample frames a second")
    reverb_length = 0
    if "Reverb" in nodes:
        reference = nodes["Reverb"][0]
        for param in ("trainable", "add_dry"):
            if _scoped(gin, reference, param, param == "add_dry") is not True:
                raise _refuse(f"Reverb.{param}", _scoped(gin, reference, param, None), "must be True")
        reverb_length = int(_scoped(gin, reference, "reverb_length", 48000))
    return {
        "sample_rate": sample_rate,
        "frame_rate": sample_rate // hop,
        "noise_initial_bias": float(_scoped(gin, noise, "initial_bias", -5.0)),
        "noise_window_size": _scoped(gin, noise, "window_size", 257),
        "reverb_length": reverb_length,
    }


def model_from_gin(gin: GinConfig) -> MagentaModel:
    """The torchddsp model matching a Magenta operative config (see the module docstring).

    Example:
        >>> from torchddsp.magenta.gin import parse_gin
        >>> model = model_from_gin(parse_gin('''
        ... Autoencoder.decoder = @decoders.RnnFcDecoder()
        ... Autoencoder.preprocessor = @preprocessing.F0LoudnessPreprocessor()
        ... Autoencoder.encoder = None
        ... RnnFcDecoder.input_keys = ('ld_scaled', 'f0_scaled')
        ... RnnFcDecoder.output_splits = (('amps', 1), ('harmonic_distribution', 60), ('noise_magnitudes', 65))
        ... ProcessorGroup.dag = [(@synths.Harmonic(), ['amps', 'harmonic_distribution', 'f0_hz']),
        ...     (@synths.FilteredNoise(), ['noise_magnitudes']), (@processors.Add(), ['a', 'b']),
        ...     (@effects.Reverb(), ['add/signal'])]
        ... Reverb.trainable = True
        ... '''))
        >>> c = model.config
        >>> c.hidden_size, c.n_harmonics, c.n_noise_bands, c.reverb_s * c.sample_rate, c.frame_rate, c.loudness_range_db
        (512, 60, 65, 48000.0, 250, 80.0)
    """
    nodes = _dag(gin)
    decoder = _decoder(gin)
    synths = _synths(gin, nodes)
    splits = dict(decoder["output_splits"])
    split_of = {}
    for control, (processor, position) in _SYNTH_INPUTS.items():
        names = nodes[processor][1]
        name = names[position] if len(names) > position else None
        if not isinstance(name, str) or name not in splits:
            raise _refuse(f"ProcessorGroup.dag ({processor})", names, f"input {position} is not a decoder output")
        split_of[control] = name
    if splits[split_of["amplitudes"]] != 1 or len(splits) != 3:
        raise _refuse("RnnFcDecoder.output_splits", decoder["output_splits"], "expected amps (1), harmonics, noise")
    n_bands = splits[split_of["noise_magnitudes"]]
    window = synths["noise_window_size"]
    if not (isinstance(window, int) and (window <= 0 or window >= 2 * (n_bands - 1))):
        raise _refuse("FilteredNoise.window_size", window, f"torchddsp uses all {2 * (n_bands - 1)} filter taps")
    config = AutoencoderConfig(
        sample_rate=synths["sample_rate"],
        frame_rate=synths["frame_rate"],
        n_harmonics=splits[split_of["harmonic_distribution"]],
        n_noise_bands=n_bands,
        reverb_s=synths["reverb_length"] / synths["sample_rate"],
        hidden_size=decoder["hidden"],
        rnn_size=decoder["rnn"],
        layers_per_stack=decoder["layers"],
        noise_initial_bias=synths["noise_initial_bias"],
        loudness_range_db=MAGENTA_DB_RANGE,
        layer_norm_eps=KERAS_LAYER_NORM_EPS,
    )
    config.validate()
    return MagentaModel(config, decoder["input_keys"], decoder["output_splits"], split_of)


def _variable(variables: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """``variables[key + _VALUE]`` as float32, checked against ``shape``."""
    full = key if key.endswith(_VALUE) else key + _VALUE
    if full not in variables:
        raise InputError(f"checkpoint: no variable {full} (not a Magenta RnnFcDecoder checkpoint, or another layout)")
    value = np.asarray(variables[full])
    if value.shape != shape:
        raise InputError(f"checkpoint: {full} is {value.shape}, the operative config implies {shape}")
    return torch.from_numpy(np.array(value, dtype=np.float32))


_LAYER = re.compile(r"layer_with_weights-(\d+)")


def _stack_layers(variables: Mapping[str, np.ndarray], prefix: str) -> list[str]:
    """The Keras layers under ``prefix`` that hold weights, in order: ``prefix/.../layer_with_weights-i``
    paths (a stack of ``Fc`` blocks nests them two deep; older flat stacks, one deep)."""
    paths = set()
    for key in variables:
        if key.startswith(prefix + "/") and key.endswith(_VALUE):
            path = key[len(prefix) + 1 : -len(_VALUE)].rsplit("/", 1)[0]
            if all(_LAYER.fullmatch(part) for part in path.split("/")):
                paths.add(path)
    order = lambda path: [int(n) for n in _LAYER.findall(path)]  # noqa: E731
    return [f"{prefix}/{path}" for path in sorted(paths, key=order)]


def _fc_stack(variables: Mapping[str, np.ndarray], prefix: str, target: str, sizes: list[int]) -> dict[str, Any]:
    """A Magenta ``FcStack`` (Dense -> LayerNorm -> leaky ReLU per layer) as torchddsp's
    ``fc_stack`` (``nn.Sequential``: Linear at 3i, LayerNorm at 3i + 1). ``sizes``: input
    size of each layer, then the width."""
    layers = _stack_layers(variables, prefix)
    if len(layers) != 2 * (len(sizes) - 1):
        raise InputError(f"checkpoint: {prefix} has {len(layers)} weighted layers, expected {2 * (len(sizes) - 1)}")
    out = {}
    for i in range(len(sizes) - 1):
        dense, norm = layers[2 * i], layers[2 * i + 1]
        out[f"{target}.{3 * i}.weight"] = _variable(variables, f"{dense}/kernel", (sizes[i], sizes[i + 1])).T
        out[f"{target}.{3 * i}.bias"] = _variable(variables, f"{dense}/bias", (sizes[i + 1],))
        out[f"{target}.{3 * i + 1}.weight"] = _variable(variables, f"{norm}/gamma", (sizes[i + 1],))
        out[f"{target}.{3 * i + 1}.bias"] = _variable(variables, f"{norm}/beta", (sizes[i + 1],))
    return out


def _gru_gates(weight: torch.Tensor) -> torch.Tensor:
    """Keras's gate blocks ``[z, r, h]`` along the last axis -> torch's ``[r, z, n]``."""
    z, r, h = weight.chunk(3, dim=-1)
    return torch.cat([r, z, h], dim=-1)


def _rows(n_inputs: int, hidden: int, order: list[int], tail: int = 0) -> torch.Tensor:
    """Row indices that put Magenta's per-input feature blocks (``hidden`` rows each) in
    torchddsp's input order (``order[i]``: the Magenta input at torchddsp position i), followed
    by ``tail`` rows kept in place (the GRU output in the output stack's input)."""
    blocks = [torch.arange(m * hidden, (m + 1) * hidden) for m in order]
    return torch.cat(blocks + [torch.arange(n_inputs * hidden, n_inputs * hidden + tail)])


def convert_variables(variables: Mapping[str, np.ndarray], model: MagentaModel) -> dict[str, torch.Tensor]:
    """A Magenta checkpoint's variables (keys as TensorFlow stores them) -> the state dict of
    ``Autoencoder(model.config)``; optimizer slots and other objects are ignored.

    Shape: Dense ``kernel (in, out)`` -> ``weight (out, in)``; GRU ``kernel (in, 3u)``,
    ``recurrent_kernel (u, 3u)``, ``bias (2, 3u)`` -> ``weight_ih (3u, in)``, ``weight_hh
    (3u, u)``, ``bias_ih``, ``bias_hh (3u,)``; reverb ``ir (reverb_length,)`` as is.
    """
    c = model.config
    h, u, n_in = c.hidden_size, c.rnn_size, len(model.input_keys)
    order = [model.input_keys.index(key) for key in _INPUT_ORDER]
    state: dict[str, torch.Tensor] = {}
    for position, magenta in enumerate(order):
        prefix = f"{_DECODER}/input_stacks/{magenta}"
        state |= _fc_stack(variables, prefix, f"decoder.input_stacks.{position}", [1] + [h] * c.layers_per_stack)
    rows = _rows(n_in, h, order)
    kernel = _variable(variables, f"{_DECODER}/rnn/rnn/cell/kernel", (n_in * h, 3 * u))[rows]
    recurrent = _variable(variables, f"{_DECODER}/rnn/rnn/cell/recurrent_kernel", (u, 3 * u))
    bias = _variable(variables, f"{_DECODER}/rnn/rnn/cell/bias", (2, 3 * u))
    state["decoder.rnn.weight_ih_l0"] = _gru_gates(kernel).T
    state["decoder.rnn.weight_hh_l0"] = _gru_gates(recurrent).T
    state["decoder.rnn.bias_ih_l0"] = _gru_gates(bias[0])
    state["decoder.rnn.bias_hh_l0"] = _gru_gates(bias[1])
    out = _fc_stack(
        variables, f"{_DECODER}/out_stack", "decoder.output_stack", [n_in * h + u] + [h] * c.layers_per_stack
    )
    first = "decoder.output_stack.0.weight"
    out[first] = out[first][:, _rows(n_in, h, order, tail=u)]
    state |= out
    n_out = sum(size for _, size in model.output_splits)
    kernel = _variable(variables, f"{_DECODER}/dense_out/kernel", (h, n_out))
    bias = _variable(variables, f"{_DECODER}/dense_out/bias", (n_out,))
    starts = dict(zip((n for n, _ in model.output_splits), np.cumsum([0] + [s for _, s in model.output_splits])))
    sizes = dict(model.output_splits)
    columns = torch.cat(
        [torch.arange(starts[s], starts[s] + sizes[s]) for s in (model.split_of[k] for k in _SYNTH_INPUTS)]
    )
    state["decoder.output_layer.weight"] = kernel[:, columns].T
    state["decoder.output_layer.bias"] = bias[columns]
    if c.reverb_s > 0:
        state["reverb.ir"] = _variable(variables, _REVERB_IR, (round(c.reverb_s * c.sample_rate),))
    return {name: value.contiguous() for name, value in state.items()}


def _operative_config(directory: Path) -> Path:
    """The newest ``operative_config-N.gin`` of a Magenta training folder."""
    numbered = [(int(m[1]), p) for p in directory.glob("operative_config-*.gin") if (m := _GIN_NAME.fullmatch(p.name))]
    if not numbered:
        raise InputError(f"{directory} has no operative_config-N.gin: is it a Magenta training folder?")
    return max(numbered)[1]


_GIN_NAME = re.compile(r"operative_config-(\d+)\.gin")
_CKPT_STEP = re.compile(r".*-(\d+)")


def _statistics(directory: Path) -> dict[str, Any]:
    """torchddsp's auto-adjust statistics from ``dataset_statistics.pkl``, or {} without one."""
    from .statistics import read_dataset_statistics  # noqa: PLC0415
    from .statistics import to_feature_statistics  # noqa: PLC0415

    path = directory / "dataset_statistics.pkl"
    return to_feature_statistics(read_dataset_statistics(path)) if path.is_file() else {}


def _write_folder(out_dir: Path, state_dict: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """``model.safetensors`` + ``state.json`` (with the weights' SHA-256, as training
    checkpoints record it) + ``config.yaml``, written as one folder (atomically)."""
    blob = safetensors.torch.save(state_dict)
    state = {**state, "files": {"model.safetensors": {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}}}
    with atomic_folder(out_dir) as temporary:
        (temporary / "model.safetensors").write_bytes(blob)
        (temporary / "state.json").write_text(json.dumps(state, indent=1))
        (temporary / "config.yaml").write_text(yaml.safe_dump(state["config"], sort_keys=False))


def convert_magenta(
    checkpoint_dir: str | Path, out_dir: str | Path, variables: Mapping[str, np.ndarray] | None = None
) -> Path:
    """Convert a Magenta solo-instrument checkpoint into a torchddsp model folder ``out_dir``.

    Args:
        checkpoint_dir: a Magenta training folder (``ckpt-N.index``, ``ckpt-N.data-*``,
            ``operative_config-N.gin``, optional ``dataset_statistics.pkl``) or a checkpoint
            prefix in one (``run/ckpt-40000``).
        out_dir: the folder to write (replaced whole if it exists): ``model.safetensors``,
            ``state.json`` (step, config, auto-adjust statistics, source), ``config.yaml``.
        variables: the checkpoint's variables, if already read (keys as TensorFlow stores
            them); default: read from ``checkpoint_dir`` without TensorFlow.

    Returns ``out_dir``, which :func:`torchddsp.transfer.load_model` loads.

    Raises:
        InputError: no checkpoint or operative config there, a config torchddsp's model cannot
            follow (named), or variables missing or of other shapes than the config implies.
    """
    from .checkpoint import checkpoint_prefix  # noqa: PLC0415
    from .checkpoint import read_checkpoint  # noqa: PLC0415

    prefix = checkpoint_prefix(checkpoint_dir)
    directory = prefix.parent
    gin_path = _operative_config(directory)
    model = model_from_gin(read_gin(gin_path))
    if variables is None:
        from .checkpoint import list_checkpoint  # noqa: PLC0415

        variables = read_checkpoint(prefix, [key for key in list_checkpoint(prefix) if key.startswith("model/")])
    state_dict = convert_variables(variables, model)
    from ..models import Autoencoder  # noqa: PLC0415  (models import configs; keep this module light)

    expected = Autoencoder(model.config).state_dict()
    if set(expected) != set(state_dict):
        raise InputError(f"conversion produced {sorted(set(state_dict) ^ set(expected))} beyond the model's tensors")
    step = _CKPT_STEP.fullmatch(prefix.name)
    experiment = ExperimentConfig(name=f"magenta_{directory.resolve().name}", model=model.config)
    _write_folder(
        Path(out_dir),
        state_dict,
        {
            "step": int(step[1]) if step else 0,
            "config": experiment.to_dict(),
            "statistics": _statistics(directory),
            "source": {"magenta_checkpoint": prefix.name, "operative_config": gin_path.name},
        },
    )
    return Path(out_dir)
