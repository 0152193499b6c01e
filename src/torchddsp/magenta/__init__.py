"""Magenta DDSP's formats, read without TensorFlow: protobuf messages, TFRecord files, TF2
checkpoint bundles, gin configs and dataset statistics, and the conversion of its models
(``torchddsp convert-magenta``) and datasets (``torchddsp convert-tfrecord``)."""

from .checkpoint import list_checkpoint
from .checkpoint import read_checkpoint
from .convert import convert_magenta
from .dataset import convert_tfrecord_dataset
from .gin import read_gin
from .statistics import read_dataset_statistics
from .statistics import to_feature_statistics
from .tfrecord import parse_example
from .tfrecord import read_examples
from .tfrecord import read_records

__all__ = [
    "list_checkpoint",
    "read_checkpoint",
    "convert_magenta",
    "convert_tfrecord_dataset",
    "read_gin",
    "read_dataset_statistics",
    "to_feature_statistics",
    "parse_example",
    "read_examples",
    "read_records",
]
