"""Compiled CPU passes of ``harmonic_sum`` (numba): the PyTorch path's mathematics, fused.

The PyTorch path (``_harmonic_sum``) runs each step of the recurrence over the harmonics as
a whole-signal elementwise op: about three ops per harmonic, each streaming the whole
signal through memory and each a parallel region of its own (see ``_numba``). These kernels
do the same arithmetic column block by column block, with the recurrence's state in cache:
one pass over memory and one parallel region per call.

Layout (as in ``_harmonic_sum``): ``(rows, M)`` signals, rows the sample's position inside
its hop, columns the frame interval; ``end``, ``delta`` ``(n_harmonics, M)``; ``weights``
``(rows,)``. Harmonic ``k`` (1-based) sounds at sample ``(r, m)`` when ``k <= k_all`` or
``k < limit[r, m]`` (``limit`` is only read for ``k > k_all``).

- forward: Clenshaw's recurrence ``b_k = a_k + 2 cos(theta) b_{k+1} - b_{k+2}`` from
  ``k_max`` down to 1, then ``sum_k a_k sin(k theta) = b_1 sin(theta)``;
- backward: ``g sin(k theta)`` and ``cos(k theta)`` by the Chebyshev recurrence upwards
  (``s_{k+1} = 2 cos(theta) s_k - s_{k-1}``), accumulating
  ``d/d end_k = sum_r g mask_k sin(k theta)``, ``d/d delta_k = sum_r g w_r mask_k sin(k theta)``
  and, when asked, ``d/d theta = g sum_k k a_k mask_k cos(k theta)``.

Indices are unsigned on purpose: numba checks signed indices for wrap-around, which keeps
LLVM from vectorising the inner loops (measured: 8x slower).
"""

from __future__ import annotations

import numpy as np

from ._numba import compile_kernel, numba

__all__ = ["forward_kernel", "backward_kernel", "COLUMN_BLOCK"]

#: Columns per block: the recurrence's state for a block stays in the L1 cache.
COLUMN_BLOCK = 64


def _forward(sin, cos2, end, delta, weights, limit, k_all, k_max, out):  # pragma: no cover - compiled
    rows, columns = sin.shape
    zero = sin.dtype.type(0)
    for block in numba.prange((columns + COLUMN_BLOCK - 1) // COLUMN_BLOCK):
        m0 = numba.uint64(block * COLUMN_BLOCK)
        width = numba.uint64(min(columns, block * COLUMN_BLOCK + COLUMN_BLOCK) - block * COLUMN_BLOCK)
        b1 = np.empty(width, sin.dtype)  # b_{k+1}
        b2 = np.empty(width, sin.dtype)  # b_{k+2}
        for r in range(numba.uint64(rows)):
            w = weights[r]
            for j in range(width):
                b1[j] = zero
                b2[j] = zero
            for i in range(k_max):
                k = k_max - i  # signed: compared with k_all and limit
                row = numba.uint64(k - 1)
                if k > k_all:  # audible at some samples only
                    for j in range(width):
                        m = m0 + j
                        a = end[row, m] + w * delta[row, m]
                        a = a if limit[r, m] > k else zero
                        b0 = a + cos2[r, m] * b1[j] - b2[j]
                        b2[j] = b1[j]
                        b1[j] = b0
                else:
                    for j in range(width):
                        m = m0 + j
                        b0 = end[row, m] + w * delta[row, m] + cos2[r, m] * b1[j] - b2[j]
                        b2[j] = b1[j]
                        b1[j] = b0
            for j in range(width):
                out[r, m0 + j] = b1[j] * sin[r, m0 + j]


def _backward(grad, sin, cos2, end, delta, weights, limit, k_all, k_max, need_phase,
              grad_end, grad_delta, grad_theta):  # pragma: no cover - compiled
    rows, columns = sin.shape
    zero = sin.dtype.type(0)
    one = sin.dtype.type(1)
    half = sin.dtype.type(0.5)
    for block in numba.prange((columns + COLUMN_BLOCK - 1) // COLUMN_BLOCK):
        m0 = numba.uint64(block * COLUMN_BLOCK)
        width = numba.uint64(min(columns, block * COLUMN_BLOCK + COLUMN_BLOCK) - block * COLUMN_BLOCK)
        s_now = np.empty(width, sin.dtype)  # g sin(k theta)
        s_old = np.empty(width, sin.dtype)  # g sin((k - 1) theta)
        c_now = np.empty(width, sin.dtype)  # cos(k theta)
        c_old = np.empty(width, sin.dtype)  # cos((k - 1) theta)
        total = np.empty(width, sin.dtype)  # sum_k k a_k mask_k cos(k theta)
        for k in range(numba.uint64(k_max)):
            for j in range(width):
                grad_end[k, m0 + j] = zero
                grad_delta[k, m0 + j] = zero
        for r in range(numba.uint64(rows)):
            w = weights[r]
            for j in range(width):
                m = m0 + j
                s_now[j] = grad[r, m] * sin[r, m]  # the recurrence is linear: g rides along
                s_old[j] = zero
                c_now[j] = cos2[r, m] * half
                c_old[j] = one
                total[j] = zero
            for k in range(1, k_max + 1):  # signed: compared with k_all and limit
                row = numba.uint64(k - 1)
                scale = sin.dtype.type(k)
                masked = k > k_all
                if need_phase:
                    for j in range(width):
                        m = m0 + j
                        audible = one if (not masked or limit[r, m] > k) else zero
                        g_sin = audible * s_now[j]
                        grad_end[row, m] += g_sin
                        grad_delta[row, m] += w * g_sin
                        total[j] += scale * audible * (end[row, m] + w * delta[row, m]) * c_now[j]
                        c_next = cos2[r, m] * c_now[j] - c_old[j]
                        c_old[j] = c_now[j]
                        c_now[j] = c_next
                        s_next = cos2[r, m] * s_now[j] - s_old[j]
                        s_old[j] = s_now[j]
                        s_now[j] = s_next
                elif masked:
                    for j in range(width):
                        m = m0 + j
                        g_sin = s_now[j] if limit[r, m] > k else zero
                        grad_end[row, m] += g_sin
                        grad_delta[row, m] += w * g_sin
                        s_next = cos2[r, m] * s_now[j] - s_old[j]
                        s_old[j] = s_now[j]
                        s_now[j] = s_next
                else:
                    for j in range(width):
                        m = m0 + j
                        grad_end[row, m] += s_now[j]
                        grad_delta[row, m] += w * s_now[j]
                        s_next = cos2[r, m] * s_now[j] - s_old[j]
                        s_old[j] = s_now[j]
                        s_now[j] = s_next
            if need_phase:
                for j in range(width):
                    grad_theta[r, m0 + j] = grad[r, m0 + j] * total[j]


forward_kernel = compile_kernel(_forward, fastmath=False)
backward_kernel = compile_kernel(_backward, fastmath=False)
