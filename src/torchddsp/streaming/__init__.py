"""Block-by-block processing with explicit state, as a real-time host calls it.

- :mod:`~torchddsp.streaming.features`: streaming f0 (YIN, CREPE) and loudness, equal to the
  offline features, each frame as soon as the samples it reads have arrived.
- :mod:`~torchddsp.streaming.transfer`: :class:`TransferStream`, timbre transfer for blocks of
  any size, equal to the offline :func:`~torchddsp.transfer.transfer` delayed by its latency.
- :mod:`~torchddsp.streaming.host`: a file streamed as a host would (``torchddsp stream``,
  with a report of block times) and a sound-card callback (``--live``).

Every stateful processor streams through its own ``state=`` / ``return_state=True`` options
(docs/design.md); this package chains them for a whole model.
"""

from .features import FeatureSettings
from .features import FeatureState
from .features import finish_features
from .features import latency_s
from .features import latency_samples
from .features import start_features
from .features import step_features
from .host import LiveCallback
from .host import stream_file
from .transfer import StreamState
from .transfer import TransferStream

__all__ = [
    "FeatureSettings",
    "FeatureState",
    "start_features",
    "step_features",
    "finish_features",
    "latency_samples",
    "latency_s",
    "TransferStream",
    "StreamState",
    "stream_file",
    "LiveCallback",
]
