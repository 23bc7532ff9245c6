"""Validation and spectral helpers shared by the scene generators (private)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import scipy.fft as sfft

from .._validation import bad, check_number

MODES = ("rigid", "membrane", "halves", "halves-in-phase")
#: Largest number of distinct mode values rendered exactly by compositing Fourier shifts.
_MAX_EXACT_GROUPS = 8
#: Bound on the Taylor remainder of smooth-mode rendering, in full-scale units.
_TAYLOR_TOL = 1e-9
_TAYLOR_MAX_ORDER = 40


def _workers() -> int:
    return os.cpu_count() or 1


def _check_shape(name: str, shape: Any, minimum: int = 4) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
        ok = tuple(shape) == (rows, cols)
    except (TypeError, ValueError):
        ok = False
    if not ok or rows < minimum or cols < minimum:
        raise bad(name, shape, f"must be (rows, cols), two integers >= {minimum}",
                   f"give e.g. {name}=(256, 256)")
    return rows, cols


def _check_rate(rate: Any, name: str = "rate") -> float:
    try:
        r = float(rate)
    except (TypeError, ValueError):
        r = float("nan")
    if not math.isfinite(r) or r <= 0:
        raise bad(name, rate, "must be a finite frame rate > 0 in Hz", "give e.g. rate=2200.0")
    return r


def _check_texture(texture: Any, name: str = "texture") -> np.ndarray:
    """A read-only float64 copy of a 2-D texture with values in [0, 1]."""
    tex = np.asarray(texture)
    if tex.ndim != 2 or not np.issubdtype(tex.dtype, np.number) or min(tex.shape) < 4:
        raise bad(name, tex, "must be a 2-D numeric array of at least 4 x 4",
                   "use make_texture('pink', (256, 256)) or load_texture(path, shape)")
    tex = tex.astype(np.float64)
    if not np.all(np.isfinite(tex)) or tex.min() < -1e-6 or tex.max() > 1 + 1e-6:
        raise bad(name, tex, f"must hold finite values in [0, 1] (found {np.nanmin(tex):.4g} .. "
                   f"{np.nanmax(tex):.4g})", "rescale it, e.g. (t - t.min()) / (t.max() - t.min())")
    tex.setflags(write=False)
    return tex


def _check_sound(sound: Any, *, min_samples: int, what: str, fix: str) -> np.ndarray:
    """A read-only float64 copy of a 1-D, real, finite, not silent sound."""
    snd = np.asarray(sound)
    if snd.ndim != 1 or snd.size < min_samples or not np.issubdtype(snd.dtype, np.number) \
            or np.iscomplexobj(snd) or not np.all(np.isfinite(snd)):
        raise bad("sound", snd, f"must be a 1-D real finite array of >= {min_samples} samples{what}", fix)
    snd = snd.astype(np.float64)
    if not np.any(snd != 0):
        raise bad("sound", snd, "is silent (all zeros)", "use a sound with nonzero RMS; set rms_px=0 "
                   "for a static scene")
    snd.setflags(write=False)
    return snd


def _check_intensity(contrast: Any, mean: Any) -> tuple[float, float]:
    """``(contrast, mean)`` such that ``mean +- contrast/2`` stays inside [0, 1]."""
    c = check_number("contrast", contrast, lo=0.0, hi=1.0, fix="use e.g. contrast=0.8")
    mu = check_number("mean", mean, lo=0.0, hi=1.0, fix="use e.g. mean=0.5")
    if mu - c / 2 < -1e-12 or mu + c / 2 > 1 + 1e-12:
        raise bad("contrast", c, f"with mean={mu} maps the texture to [{mu - c / 2:g}, {mu + c / 2:g}], "
                   "outside [0, 1]", "lower contrast or move mean towards 0.5")
    return c, mu


def _check_mode(mode: Any, shape: tuple[int, int]) -> str | np.ndarray:
    """A mode name, or a read-only float64 array of the frame's shape."""
    if isinstance(mode, str):
        if mode not in MODES:
            raise bad("mode", mode, f"is not one of {MODES} or an array", 'use mode="rigid"')
        return mode
    m = np.asarray(mode)
    if m.shape != tuple(shape) or not np.issubdtype(m.dtype, np.number) or np.iscomplexobj(m) \
            or not np.all(np.isfinite(m)):
        raise bad("mode", m, f"must be one of {MODES} or a finite real array of shape {tuple(shape)}",
                   "give a mode array matching shape")
    m = m.astype(np.float64)
    m.setflags(write=False)
    return m


def _zero_nyquist(spec: np.ndarray, rows: int, cols: int) -> None:
    """Zero, in place, the Nyquist row/column of an ``rfft2`` spectrum (they cannot be shifted)."""
    if rows % 2 == 0:
        spec[rows // 2, :] = 0
    if cols % 2 == 0:
        spec[:, cols // 2] = 0


def _minmax01(img: np.ndarray) -> np.ndarray:
    lo, hi = float(img.min()), float(img.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.full(img.shape, 0.5)
    return (img - lo) / (hi - lo)


def _freq_grids(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies in cycles per pixel of an ``rfft2`` grid: ``fy`` (rows, 1), ``fx`` (1, cols//2+1)."""
    fy = sfft.fftfreq(rows)[:, None]
    fx = sfft.rfftfreq(cols)[None, :]
    return fy, fx


# --------------------------------------------------------------------------------------
# Textures
# --------------------------------------------------------------------------------------


def _square_wave(n: int, cycles: int) -> np.ndarray:
    """A +-1 square wave with ``cycles`` whole periods over ``n`` samples (periodic in n)."""
    phase = (np.arange(n) + 0.5) * cycles / n
    return np.where((phase % 1.0) < 0.5, 1.0, -1.0)


class _SceneFacts:
    """Facts both scene classes derive the same way from their ``bits`` and ``direction_deg``."""

    bits: int
    direction_deg: float

    @property
    def dtype(self) -> np.dtype:
        """dtype of :meth:`frames`: uint8 for bits <= 8, uint16 above."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def direction(self) -> tuple[float, float]:
        """Unit motion vector ``(ux, uy)`` in (column, row) pixel coordinates."""
        th = math.radians(self.direction_deg)
        return math.cos(th), math.sin(th)
