"""The batch reduction every loss offers: ``"mean"``, ``"sum"`` or ``"none"`` of per-item losses."""

from __future__ import annotations

from torch import Tensor

__all__ = ["REDUCTIONS", "reduce_items"]

REDUCTIONS = ("mean", "sum", "none")


def reduce_items(per_item: Tensor, reduction: str) -> Tensor:
    """Per-item losses ``(batch,)`` -> their mean or sum (scalar), or themselves (``"none"``)."""
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    return per_item
