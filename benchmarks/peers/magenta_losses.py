"""Magenta ddsp's SpectralLoss(mag_weight=1, logmag_weight=1) on the audio of
``benchmarks/bench_features.py``; runs inside Magenta's own virtual environment::

    benchmarks/.peers/magenta/bin/python benchmarks/peers/magenta_losses.py --inputs audio.npz

``--inputs``: an ``.npz`` with ``prediction`` and ``target`` ``(batch, n_samples)``. Prints one
JSON line ``{"spectral_loss": value}`` (Magenta's call order: ``loss(target, prediction)``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", required=True)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.modules.setdefault("crepe", types.ModuleType("crepe"))  # ddsp imports it; unused here
    import ddsp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    data = np.load(args.inputs)
    loss = ddsp.losses.SpectralLoss(mag_weight=1.0, logmag_weight=1.0)
    value = loss(data["target"].astype(np.float32), data["prediction"].astype(np.float32))
    print(json.dumps({"spectral_loss": float(value)}))


if __name__ == "__main__":
    main()
