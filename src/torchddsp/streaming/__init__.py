"""Block-by-block processing with explicit state, as a real-time host calls it.

- :mod:`~torchddsp.streaming.features`: streaming f0 (YIN, CREPE) and loudness, equal to the
  offline features, each frame as soon as the samples it reads have arrived.
- :mod:`~torchddsp.streaming.transfer`: :class:`TransferStream`, timbre transfer for blocks of
  any size, equal to the offline :func:`~torchddsp.transfer.transfer` delayed by its latency.
- :mod:`~torchddsp.streaming.host`: a file streamed as a host would (``torchddsp stream``,
  with a report of block times) and a sound-card callback (``--live``).
- :mod:`~torchddsp.streaming.step` and :mod:`~torchddsp.streaming.export`: the stream as one
  fixed-shape step (tensors in, tensors out) and its export to TorchScript and ONNX
  (``torchddsp export``), with a JSON sidecar.

Every stateful processor streams through its own ``state=`` / ``return_state=True`` options
(docs/design.md); this package chains them for a whole model.
"""

from . import export
from . import features
from . import host
from . import step
from . import transfer
from .export import *  # noqa: F403
from .features import *  # noqa: F403  (the package re-exports its modules' public names)
from .host import *  # noqa: F403
from .step import *  # noqa: F403
from .transfer import *  # noqa: F403

__all__ = [*features.__all__, *transfer.__all__, *host.__all__, *step.__all__, *export.__all__]
