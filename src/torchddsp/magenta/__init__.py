"""Magenta DDSP's formats, read without TensorFlow: protobuf messages, TFRecord files, TF2
checkpoint bundles, gin configs and dataset statistics, and the conversion of its models."""
