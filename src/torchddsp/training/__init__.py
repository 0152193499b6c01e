"""Training: configs, dataset preparation, the training loop, metrics and checkpoints.

- ``data``: ``prepare_dataset`` (``torchddsp prepare``). (Audio files are read and written by
  :mod:`torchddsp.io`.)
- ``dataset``: ``FeatureDataset``, a prepared split, memory-mapped and checked.
- ``trainer``: ``train`` (``torchddsp train``): ``build_run``, ``train_step`` and the loop,
  data parallel under torchrun; ``hooks``: the interval hooks (log, samples, eval, checkpoint).
- ``metrics``: ``evaluate_model`` (``torchddsp evaluate``): DDSP's resynthesis metrics.
- ``checkpoints``: atomic safetensors + JSON checkpoints.
- ``loss``: ``build_loss``, the weighted loss terms of ``train.loss_terms``.
"""

from ..configs import DataConfig
from ..configs import ExperimentConfig
from ..configs import TrainConfig
from ..configs import load_config
from ..configs import save_config
from .checkpoints import latest_checkpoint
from .checkpoints import load_checkpoint
from .checkpoints import save_checkpoint
from .data import AudioFileError
from .data import FeatureDataset
from .data import prepare_dataset
from .loss import WeightedLoss
from .loss import build_loss
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
    "evaluate_model",
    "train",
    "WeightedLoss",
    "build_loss",
]
