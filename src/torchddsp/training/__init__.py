"""Training: configs, dataset preparation, the training loop, metrics and checkpoints.

- ``config``: ``ExperimentConfig`` (model, data, train sections) read from YAML.
- ``data``: ``prepare_dataset`` (``torchddsp prepare``), ``FeatureDataset``, ``read_audio``.
- ``trainer``: ``train`` (``torchddsp train``), data parallel under torchrun.
- ``metrics``: ``evaluate_model`` (``torchddsp evaluate``): DDSP's resynthesis metrics.
- ``checkpoints``: atomic safetensors + JSON checkpoints.
"""

from .checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import DataConfig, ExperimentConfig, TrainConfig, load_config, save_config
from .data import AudioFileError, FeatureDataset, prepare_dataset, read_audio
from .metrics import evaluate_model
from .trainer import train

__all__ = [
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "DataConfig",
    "ExperimentConfig",
    "TrainConfig",
    "load_config",
    "save_config",
    "AudioFileError",
    "FeatureDataset",
    "prepare_dataset",
    "read_audio",
    "evaluate_model",
    "train",
]
