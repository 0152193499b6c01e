"""Every configuration in one place: the dataclasses of an experiment's sections (``model``,
``data``, ``train``), read from and written to YAML, and the YAML files shipped beside them
(this folder: ``solo_instrument.yaml``, ``cpu_small.yaml``, copies of the repository's
``configs/``). No global state, no injection: a config is a value passed to the functions that
need it. This module imports nothing above it (models and training import it), so that the
model's config can sit beside the others.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from ..features.pitch import F0_METHODS
from ..io import write_text_atomic
from ..validation import InputError
from .graph import DECODER_INPUTS
from .graph import DEFAULT_SYNTHS
from .graph import REVERB_KINDS
from .graph import SYNTH_KINDS
from .graph import check_kinds
from .graph import check_loss_terms

__all__ = [
    "AutoencoderConfig",
    "DataConfig",
    "TrainConfig",
    "ExperimentConfig",
    "load_config",
    "save_config",
    "parse_config_text",
    "check_section",
    "CONFIG_DIR",
]

#: Configs shipped inside the package (copies of the repository's ``configs/``).
CONFIG_DIR = Path(__file__).resolve().parent


def _typed(section: str, name: str, kind: str, value: Any) -> Any:
    """``value`` as the field's type, or a ValueError naming ``section.name`` (a YAML ``2.5``
    for a count, ``"fast"`` for a rate, ``yes`` for a name are mistakes, not values to coerce)."""
    where = f"{section}.{name}"
    if kind.endswith(" | None"):  # optional: null in YAML keeps the default behaviour
        return None if value is None else _typed(section, name, kind[: -len(" | None")], value)
    if kind.startswith("list["):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise InputError(f"{where} must be a list, found {value!r}")
        return list(value)
    if kind.startswith("dict["):
        if not isinstance(value, Mapping):
            raise InputError(f"{where} must be a mapping, found {value!r}")
        return dict(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where} must be a whole number, found {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number, found {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{where} must be a finite number, found {value!r}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise InputError(f"{where} must be text, found {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false, found {value!r}")
    return value


def check_section(cls, values: Any, section: str) -> dict[str, Any]:
    """The settings of one config section, checked against the dataclass ``cls``: a mapping
    with known names only, each of its field's type (``int``, ``float``, ``str``, ``bool``)."""
    if not isinstance(values, Mapping):
        raise InputError(f"config section '{section}' must be a mapping of settings, found {values!r}")
    kinds = {f.name: str(f.type) for f in fields(cls)}
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        close = [difflib.get_close_matches(str(name), list(kinds), n=1) for name in unknown]
        hints = "".join(f" ({name!r}: did you mean {match[0]!r}?)" for name, match in zip(unknown, close) if match)
        raise InputError(f"unknown settings {unknown} in '{section}'{hints}; known: {sorted(kinds)}")
    return {name: _typed(section, name, kinds[name], value) for name, value in values.items()}


def _from_dict(cls, values: Mapping[str, Any], section: str):
    return cls(**check_section(cls, values, section))


@dataclass
class AutoencoderConfig:
    """Settings of :class:`~torchddsp.models.Autoencoder` (the ``model:`` section of a training config).

    ``sample_rate`` and ``frame_rate`` must give a whole number of samples per frame.

    The processor graph: the ``synths`` (among ``harmonic`` with ``n_harmonics``,
    ``filtered_noise`` with ``n_noise_bands`` and ``noise_initial_bias``, ``sinusoidal`` with
    ``n_sinusoids`` free sinusoids, ``wavetable`` with a ``wavetable_size``-sample table per
    frame) are summed; ``eq: true`` adds a learned parametric EQ (two shelves and ``eq_peaks``
    peaks); then a trainable ``reverb`` of one kind (``learned`` taps, ``exp_decay``,
    ``filtered_noise``, ``fdn``), ``reverb_s`` long (0: no reverb).

    The encoders and the decoder: f0 and loudness scaled (``loudness_range_db`` scales the
    loudness, ``loudness_db / range + 1``; Magenta's models use 80); ``z_dims > 0`` adds the MFCC
    z encoder (``n_mfcc`` coefficients, a GRU of ``z_rnn_size``, default ``rnn_size``). The
    decoder (``hidden_size``, ``rnn_size``, ``layers_per_stack``, LayerNorm ``layer_norm_eps``,
    Keras's is 1e-3) reads ``decoder_inputs`` among ``loudness``, ``f0``, ``z`` (default:
    loudness, f0, and z when there is one); its outputs follow from the synths' controls.

    The defaults are the bundled models' graph: harmonic plus filtered noise, a learned reverb.
    """

    sample_rate: int = 16000
    frame_rate: int = 250
    n_harmonics: int = 60
    n_noise_bands: int = 65
    reverb_s: float = 3.0
    hidden_size: int = 512
    rnn_size: int = 512
    layers_per_stack: int = 3
    z_dims: int = 0
    n_mfcc: int = 30
    noise_initial_bias: float = -5.0
    loudness_range_db: float = 120.0
    layer_norm_eps: float = 1e-5
    synths: list[str] = field(default_factory=lambda: list(DEFAULT_SYNTHS))
    n_sinusoids: int = 16
    wavetable_size: int = 64
    reverb: str = "learned"
    eq: bool = False
    eq_peaks: int = 3
    decoder_inputs: list[str] | None = None
    z_rnn_size: int | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AutoencoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown model settings {unknown}; known: {sorted(known)}")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.sample_rate <= 0 or self.frame_rate <= 0 or self.sample_rate % self.frame_rate:
            raise InputError(
                f"sample_rate ({self.sample_rate}) must be a positive multiple of frame_rate ({self.frame_rate})"
            )
        for name in ("n_harmonics", "n_noise_bands", "hidden_size", "rnn_size", "layers_per_stack"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, found {getattr(self, name)}")
        if self.n_noise_bands < 2:
            raise InputError(f"n_noise_bands must be >= 2, found {self.n_noise_bands}")
        if self.reverb_s < 0 or self.z_dims < 0:
            raise InputError("reverb_s and z_dims must be >= 0")
        if not self.loudness_range_db > 0 or not self.layer_norm_eps > 0:
            raise InputError("loudness_range_db and layer_norm_eps must be > 0")
        self._validate_graph()

    def _validate_graph(self) -> None:
        """The declared graph: known kinds, sizes that build, a decoder whose inputs exist."""
        self.synths = check_kinds("model.synths", self.synths, SYNTH_KINDS)
        if self.reverb not in REVERB_KINDS:
            raise InputError(f"model.reverb: unknown kind {self.reverb!r}; known: {list(REVERB_KINDS)}")
        for name, minimum in (("n_sinusoids", 1), ("wavetable_size", 2), ("eq_peaks", 0), ("n_mfcc", 1)):
            if getattr(self, name) < minimum:
                raise InputError(f"model.{name} must be >= {minimum}, found {getattr(self, name)}")
        if self.z_rnn_size is not None and self.z_rnn_size < 1:
            raise InputError(f"model.z_rnn_size must be >= 1 (or null: rnn_size), found {self.z_rnn_size}")
        if self.reverb_s > 0 and round(self.reverb_s * self.sample_rate) < 2:
            raise InputError(f"model.reverb_s must give at least 2 taps (or be 0: no reverb), found {self.reverb_s}")
        if self.decoder_inputs is not None:
            self.decoder_inputs = check_kinds("model.decoder_inputs", self.decoder_inputs, DECODER_INPUTS)
        inputs = self.decoder_input_names
        if ("z" in inputs) != (self.z_dims > 0):
            raise InputError(
                f"model.decoder_inputs {inputs} and model.z_dims {self.z_dims}: the decoder reads z "
                "exactly when there is a z encoder (z_dims > 0)"
            )

    @property
    def decoder_input_names(self) -> list[str]:
        """What the decoder reads, in order (``decoder_inputs``, or its default)."""
        if self.decoder_inputs is not None:
            return list(self.decoder_inputs)
        return ["loudness", "f0"] + (["z"] if self.z_dims else [])

    @property
    def is_default_graph(self) -> bool:
        """Harmonic plus filtered noise, no EQ, the learned reverb (or none), the decoder on
        loudness and f0 (and z): the graph the chunked and streaming renderers know."""
        return (
            list(self.synths) == list(DEFAULT_SYNTHS)
            and not self.eq
            and (self.reverb == "learned" or self.reverb_s == 0)
            and self.decoder_input_names == ["loudness", "f0"] + (["z"] if self.z_dims else [])
        )

    @property
    def hop_size(self) -> int:
        return self.sample_rate // self.frame_rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DataConfig:
    """How ``prepare`` cuts and analyses audio (the ``data:`` section).

    Examples are ``example_s`` long, one every ``example_hop_s``; features at the model's
    frame rate; f0 by ``f0_method`` (``"crepe"`` or ``"yin"``); the last ``eval_fraction`` of
    every file (or whole files, when there are at least ``min_files_for_file_split``) is held
    out for evaluation.
    """

    example_s: float = 4.0
    example_hop_s: float = 1.0
    f0_method: str = "crepe"
    crepe_model: str = "tiny"
    eval_fraction: float = 0.1
    min_files_for_file_split: int = 10
    silence_db: float = -70.0

    def validate(self) -> None:
        if not self.example_s > 0 or not self.example_hop_s > 0:
            raise InputError("example_s and example_hop_s must be > 0")
        if self.f0_method not in F0_METHODS:
            raise InputError(f"f0_method must be one of {F0_METHODS}, found {self.f0_method!r}")
        if not 0 <= self.eval_fraction < 1:
            raise InputError(f"eval_fraction must be in [0, 1), found {self.eval_fraction}")


@dataclass
class TrainConfig:
    """Optimisation settings (the ``train:`` section).

    The loss: ``loss_terms`` maps terms to weights, summed (``spectral``: the multi-scale
    spectral loss with the ``loss`` preset, ``magenta`` or ``auraloss``; ``loudness``: L1 on
    A-weighted loudness in dB; ``mel``: L1 on log-mel spectrograms). Default: spectral alone.

    Learning rate ``learning_rate * decay_rate ** (step / decay_steps)`` after a linear warm-up of
    ``warmup_steps``; gradients clipped to norm ``grad_clip``; evaluation, checkpoints, logs and
    audio samples every so many steps. The trainable reverb's taps learn at
    ``reverb_learning_rate_scale`` times that rate: Adam moves every tap by about the learning
    rate per step even when its gradient is only noise, so at a high rate the thousands of taps
    of the tail random-walk into an audible noise floor after every note.
    """

    batch_size: int = 16
    steps: int = 30000
    learning_rate: float = 3e-4
    reverb_learning_rate_scale: float = 1.0
    decay_steps: int = 10000
    decay_rate: float = 0.98
    warmup_steps: int = 0
    grad_clip: float = 3.0
    eval_every: int = 500
    eval_examples: int = 16
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    samples_every: int = 1000
    seed: int = 0
    loss: str = "magenta"
    loss_terms: dict[str, float] = field(default_factory=lambda: {"spectral": 1.0})

    def validate(self) -> None:
        for name in (
            "batch_size",
            "steps",
            "decay_steps",
            "eval_every",
            "checkpoint_every",
            "log_every",
            "samples_every",
            "keep_checkpoints",
            "eval_examples",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"train.{name} must be >= 1, found {getattr(self, name)}")
        if not self.learning_rate > 0 or not self.decay_rate > 0 or self.grad_clip <= 0:
            raise InputError("learning_rate, decay_rate and grad_clip must be > 0")
        if not self.reverb_learning_rate_scale > 0:
            raise InputError(f"train.reverb_learning_rate_scale must be > 0, found {self.reverb_learning_rate_scale}")
        if self.loss not in ("magenta", "auraloss"):
            raise InputError(f"train.loss must be 'magenta' or 'auraloss', found {self.loss!r}")
        self.loss_terms = check_loss_terms(self.loss_terms)

    def learning_rate_at(self, step: int) -> float:
        """The schedule: linear warm-up, then exponential decay (applied every step)."""
        rate = self.learning_rate * self.decay_rate ** (step / self.decay_steps)
        if self.warmup_steps and step < self.warmup_steps:
            rate *= (step + 1) / self.warmup_steps
        return rate


@dataclass
class ExperimentConfig:
    """A whole experiment: ``model``, ``data`` and ``train`` sections (plus a ``name``)."""

    name: str = "experiment"
    model: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExperimentConfig:
        unknown = sorted(set(values) - {"name", "model", "data", "train"})
        if unknown:
            raise InputError(f"unknown config sections {unknown}; expected name, model, data, train")
        name = values.get("name", "experiment")
        if not isinstance(name, str):
            raise InputError(f"config name must be text, found {name!r}")
        config = cls(
            name=name,
            model=AutoencoderConfig.from_dict(check_section(AutoencoderConfig, values.get("model") or {}, "model")),
            data=_from_dict(DataConfig, values.get("data") or {}, "data"),
            train=_from_dict(TrainConfig, values.get("train") or {}, "train"),
        )
        config.data.validate()
        config.train.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": asdict(self.model), "data": asdict(self.data), "train": asdict(self.train)}


# YAML 1.1 (PyYAML) reads "2e-3" and "1e4" as text: a float must have a dot there. YAML 1.2
# and every reader of configs written by hand take them as numbers, so this loader does too.
_FLOAT = re.compile(
    r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$
                    |^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$""",
    re.X,
)


def _loader():
    class ConfigLoader(yaml.SafeLoader):
        """SafeLoader (never constructs objects) that reads 2e-3 as a number."""

    ConfigLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
    return ConfigLoader


def parse_config_text(text: str, source: str = "config") -> dict[str, Any]:
    """The mapping in a YAML config's ``text``; ValueError naming ``source`` (and the line)
    when it is not YAML or not a mapping."""
    try:
        values = yaml.load(text, Loader=_loader()) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InputError(f"{source}: not valid YAML{line}: {problem}") from None
    if not isinstance(values, dict):
        raise InputError(f"{source}: a config must be a YAML mapping, found {type(values).__name__}")
    return values


def load_config(path_or_name: str | Path) -> ExperimentConfig:
    """Read a YAML config: a path, or the name of a shipped config (``"solo_instrument"``,
    ``"cpu_small"``)."""
    path = Path(path_or_name)
    if not path.exists() and (CONFIG_DIR / f"{path_or_name}.yaml").exists():
        path = CONFIG_DIR / f"{path_or_name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise InputError(f"config {str(path_or_name)!r} is neither a file nor a shipped config {shipped}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the config ({error})") from None
    values = parse_config_text(text, str(path))
    try:
        return ExperimentConfig.from_dict(values)
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


def save_config(config: ExperimentConfig, path: Path) -> None:
    """Write ``config`` as YAML to ``path`` (atomically)."""
    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
