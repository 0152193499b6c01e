"""CRC-32C (Castagnoli), the checksum of TFRecord files and TF checkpoint bundles, and the
"masked" form TensorFlow stores (a CRC of data that itself holds CRCs is badly behaved, so
stored values are rotated and offset).

:func:`crc32c` runs a compiled table-driven loop (a checkpoint's data shard is megabytes; a
Python loop over bytes would take seconds); :func:`crc32c_reference` is the bitwise
definition it is tested equal to.

Example:
    >>> hex(crc32c(b"123456789"))  # the standard check value of CRC-32C
    '0xe3069283'
"""

from __future__ import annotations

import numpy as np

from ..functional.engine import compile_function

__all__ = ["crc32c", "crc32c_reference", "masked_crc32c", "unmask_crc32c"]

# The reflected Castagnoli polynomial 0x1EDC6F41.
_POLYNOMIAL = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_MASK_32 = 0xFFFFFFFF


def crc32c_reference(data: bytes) -> int:
    """CRC-32C of ``data`` bit by bit (the readable definition; slow).

    Example:
        >>> hex(crc32c_reference(b"123456789"))
        '0xe3069283'
    """
    crc = _MASK_32
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLYNOMIAL if crc & 1 else 0)
    return crc ^ _MASK_32


def _table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLYNOMIAL if crc & 1 else 0)
        table[byte] = crc
    return table


_TABLE = _table()


def _update(crc, data, table):  # pragma: no cover - compiled
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> np.uint32(8))
    return crc


_update_compiled = compile_function(_update, nogil=True)


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` as an unsigned 32-bit int (compiled; equal to
    :func:`crc32c_reference`).

    Example:
        >>> crc32c(b"")
        0
    """
    view = np.frombuffer(data, dtype=np.uint8)
    crc = _update_compiled(np.uint32(_MASK_32), view, _TABLE)
    return int(crc) ^ _MASK_32


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """TensorFlow's stored form of :func:`crc32c`: rotated right by 15 bits plus a constant.

    Example:
        >>> hex(masked_crc32c(b"123456789"))
        '0xc78ab0e5'
    """
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & _MASK_32) + _MASK_DELTA) & _MASK_32


def unmask_crc32c(masked: int) -> int:
    """The CRC behind a masked value (the inverse of the mask in :func:`masked_crc32c`).

    Example:
        >>> hex(unmask_crc32c(masked_crc32c(b"123456789")))
        '0xe3069283'
    """
    rotated = (masked - _MASK_DELTA) & _MASK_32
    return ((rotated >> 17) | (rotated << 15)) & _MASK_32
