"""Compiled phase step of the exact motion path (optional: needs numba, extra ``vismic[jit]``).

Importing this module imports numba; :mod:`vismic.motion` imports it lazily through
:func:`vismic._backends.jit_kernel` and falls back to numpy passes when numba is missing.

For every coefficient of a band the exact path computes ``z = C_t conj(C_ref)``, its magnitude
``|z|`` and angle, and sums ``|z| angle(z)`` and ``|z|`` over each region.  In numpy that is eight
passes over memory per band; here it is one loop that the compiler vectorises.  The angle comes
from a branch-free ``atan2`` (octant reduction and an odd minimax polynomial, Abramowitz & Stegun
4.4.49); its error against float64 was measured below 4e-7 rad over all quadrants, as for numpy's
float32 ``arctan2``.  Sums run in float32 over one row segment (at most a row), then in float64
across rows.  Magnitudes are squared in float32, so band coefficients must stay below ~1e9 (frames
are scaled to [0, 1] by the readers).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["phase_sums"]

# fast-math without "nnan"/"ninf": NaN and inf inputs still propagate to the sums
_FM = {"reassoc", "contract", "nsz", "arcp"}

_A2 = np.float32(-0.3333314528)
_A4 = np.float32(0.1999355085)
_A6 = np.float32(-0.1420889944)
_A8 = np.float32(0.1065626393)
_A10 = np.float32(-0.0752896400)
_A12 = np.float32(0.0429096138)
_A14 = np.float32(-0.0161657367)
_A16 = np.float32(0.0028662257)
_HALF_PI = np.float32(np.pi / 2)
_PI = np.float32(np.pi)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)
_TINY = np.float32(1e-37)
_ZERO = np.float32(0.0)


@numba.njit(fastmath=_FM, cache=True, inline="always")
def _atan2(y, x):  # pragma: no cover - compiled
    ax = abs(x)
    ay = abs(y)
    a = min(ax, ay) / max(ax, ay, _TINY)  # in [0, 1]
    s = a * a
    p = a + a * s * (_A2 + s * (_A4 + s * (_A6 + s * (_A8 + s * (_A10 + s * (_A12 + s * (_A14 + s * _A16)))))))
    # octant and quadrant corrections as arithmetic blends (branches would stop vectorisation)
    p = p + np.float32(ay > ax) * (_HALF_PI - _TWO * p)
    p = p + np.float32(x < _ZERO) * (_PI - _TWO * p)
    return p * (_ONE - _TWO * np.float32(y < _ZERO))


@numba.njit(fastmath=_FM, cache=True, nogil=True)
def phase_sums(c, a, keep, rowreg, colseg, num, den):  # pragma: no cover - compiled
    """Add one band's region sums of ``|z| angle(z)`` and ``|z|`` to ``num`` and ``den``.

    Parameters
    ----------
    c : ndarray, float32, shape (r, 2 * cols)
        The band's complex64 coefficients viewed as interleaved (real, imag) pairs.
    a : ndarray, float32, shape (r, 2 * cols)
        The reference's conjugate, same layout; replaced by ``conj(c)`` unless ``keep``.
    keep : bool
        Keep ``a`` (phase against a fixed reference) instead of moving it to this frame.
    rowreg : ndarray, int64, shape (r,)
        Region row of each coefficient row.
    colseg : ndarray, int64, shape (gx + 1,)
        Column edges of the region columns.
    num, den : ndarray, float64, shape (gy, gx)
        Accumulators.
    """
    r = c.shape[0]
    gx = colseg.shape[0] - 1
    for i in range(r):
        ry = rowreg[i]
        crow = c[i]
        arow = a[i]
        for rx in range(gx):
            # a slice and an index from 0: the compiler then knows the index is not negative and
            # vectorises the loop (a start read from an array would add wraparound checks)
            cs = crow[2 * colseg[rx] : 2 * colseg[rx + 1]]
            as_ = arow[2 * colseg[rx] : 2 * colseg[rx + 1]]
            sn = _ZERO
            sd = _ZERO
            for j in range(cs.shape[0] // 2):
                br = cs[2 * j]
                bi = cs[2 * j + 1]
                ar = as_[2 * j]
                ai = as_[2 * j + 1]
                zr = br * ar - bi * ai
                zi = br * ai + bi * ar
                w = math.sqrt(zr * zr + zi * zi)
                sn += w * _atan2(zi, zr)
                sd += w
            num[ry, rx] += sn
            den[ry, rx] += sd
        if not keep:
            for j in range(crow.shape[0] // 2):
                arow[2 * j] = crow[2 * j]
                arow[2 * j + 1] = -crow[2 * j + 1]
