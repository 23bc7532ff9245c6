"""Scenes with known truth: textures moved sub-pixel by a sound, rendered as a camera would.

Everything the tests and quality measurements of vismic compare against comes from here,
so this module is deliberately independent of the estimator: it imports nothing from
vismic but :mod:`vismic.errors` and :mod:`vismic.io.writers`.

The model
---------
A :class:`Scene` is a periodic, band-limited texture seen by a global-shutter camera.
Frame ``t`` shows the texture displaced by

    u(x, y, t) = (m(x, y) * rms_px * s[t] + drift(t)) * (cos theta, sin theta)

where ``s`` is the sound (unit RMS, one sample per frame), ``m`` the mode shape (1 for a
rigid object), ``theta = direction_deg`` and ``drift`` a slow linear creep. Pixel
coordinates are array coordinates: ``x`` is the column index, ``y`` the row index, so
``direction_deg=0`` moves the content towards increasing column and ``direction_deg=90``
towards increasing row (down on screen). "Displaced by u" means
``I_t(x) = I_0(x - u(x, t))``: the content moves by ``+u``.

Rendering is exact (to float64 rounding) for the band-limited texture:

* Piecewise-constant modes (``"rigid"``, ``"halves"``, ``"halves-in-phase"``, any mode
  array with at most 8 distinct values) are rendered with one Fourier-domain shift of the
  whole periodic texture per distinct value, composited per pixel.
* Smooth modes (``"membrane"``, other arrays) are rendered by an exact Fourier shift for
  the drift plus the Taylor series of the per-pixel displacement,
  ``I(x - s u) = sum_n (-s)^n / n! * d^n I / du^n``, the derivatives computed spectrally.
  The number of terms is chosen from a rigorous bound on the remainder (below 1e-9 of
  full scale, far under one 16-bit level), so it is not a first-order approximation.

Then lighting flicker multiplies the frame, photon (shot) and read noise are added, and
the result is quantised to ``bits`` bits and clipped; see :class:`Scene`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft as sfft

from .errors import InputError, OutputExistsError, ParameterError, VideoReadError

__all__ = [
    "TEXTURE_KINDS",
    "SOUND_NAMES",
    "MODES",
    "make_texture",
    "load_texture",
    "blur_texture",
    "object_rows_mask",
    "builtin_sound",
    "load_sound",
    "Scene",
    "RollingShutterScene",
    "render",
]

TEXTURE_KINDS = ("pink", "white", "checker", "stripes", "flat")
SOUND_NAMES = ("tone", "chirp", "melody", "noise")
MODES = ("rigid", "membrane", "halves", "halves-in-phase")

#: Largest number of distinct mode values rendered exactly by compositing Fourier shifts.
_MAX_EXACT_GROUPS = 8
#: Bound on the Taylor remainder of smooth-mode rendering, in full-scale units.
_TAYLOR_TOL = 1e-9
_TAYLOR_MAX_ORDER = 40


def _workers() -> int:
    return os.cpu_count() or 1


def _bad(name: str, value: Any, must: str, fix: str) -> ParameterError:
    """A ParameterError naming the parameter, its value, the rule and the fix."""
    if isinstance(value, np.ndarray):
        shown = f"array of shape {value.shape}, dtype {value.dtype}"
    else:
        shown = repr(value)
    return ParameterError(f"{name}={shown} {must}; {fix}")


def _check_shape(name: str, shape: Any, minimum: int = 4) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
        ok = tuple(shape) == (rows, cols)
    except (TypeError, ValueError):
        ok = False
    if not ok or rows < minimum or cols < minimum:
        raise _bad(name, shape, f"must be (rows, cols), two integers >= {minimum}",
                   f"give e.g. {name}=(256, 256)")
    return rows, cols


def _check_rate(rate: Any, name: str = "rate") -> float:
    try:
        r = float(rate)
    except (TypeError, ValueError):
        r = float("nan")
    if not math.isfinite(r) or r <= 0:
        raise _bad(name, rate, "must be a finite frame rate > 0 in Hz", "give e.g. rate=2200.0")
    return r


def _finite(name: str, value: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
            hi_open: bool = False, fix: str) -> float:
    """``float(value)`` if it is a finite number within the bounds, else ParameterError naming ``name``."""
    try:
        ok = not isinstance(value, bool | np.bool_) and math.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if ok:
        v = float(value)
        ok = not (lo is not None and (v < lo or (lo_open and v == lo)))
        ok = ok and not (hi is not None and (v > hi or (hi_open and v == hi)))
    if not ok:
        if hi is None:
            bound = "" if lo is None else f" {'>' if lo_open else '>='} {lo:g}"
        else:
            bound = (f" in {'(' if lo_open else '['}{lo if lo is not None else '-inf'}, "
                     f"{hi}{')' if hi_open else ']'}")
        raise _bad(name, value, f"must be a finite number{bound}", fix)
    return float(value)


def _check_texture(texture: Any, name: str = "texture") -> np.ndarray:
    """A read-only float64 copy of a 2-D texture with values in [0, 1]."""
    tex = np.asarray(texture)
    if tex.ndim != 2 or not np.issubdtype(tex.dtype, np.number) or min(tex.shape) < 4:
        raise _bad(name, tex, "must be a 2-D numeric array of at least 4 x 4",
                   "use make_texture('pink', (256, 256)) or load_texture(path, shape)")
    tex = tex.astype(np.float64)
    if not np.all(np.isfinite(tex)) or tex.min() < -1e-6 or tex.max() > 1 + 1e-6:
        raise _bad(name, tex, f"must hold finite values in [0, 1] (found {np.nanmin(tex):.4g} .. "
                   f"{np.nanmax(tex):.4g})", "rescale it, e.g. (t - t.min()) / (t.max() - t.min())")
    tex.setflags(write=False)
    return tex


def _check_sound(sound: Any, *, min_samples: int, what: str, fix: str) -> np.ndarray:
    """A read-only float64 copy of a 1-D, real, finite, not silent sound."""
    snd = np.asarray(sound)
    if snd.ndim != 1 or snd.size < min_samples or not np.issubdtype(snd.dtype, np.number) \
            or np.iscomplexobj(snd) or not np.all(np.isfinite(snd)):
        raise _bad("sound", snd, f"must be a 1-D real finite array of >= {min_samples} samples{what}", fix)
    snd = snd.astype(np.float64)
    if not np.any(snd != 0):
        raise _bad("sound", snd, "is silent (all zeros)", "use a sound with nonzero RMS; set rms_px=0 "
                   "for a static scene")
    snd.setflags(write=False)
    return snd


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise _bad(name, value, "must be True or False", f"use {name}=True")
    return bool(value)


def _check_int(name: str, value: Any, lo: int, hi: int | None, fix: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < lo \
            or (hi is not None and value > hi):
        must = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        raise _bad(name, value, f"must be {must}", fix)
    return int(value)


def _check_intensity(contrast: Any, mean: Any) -> tuple[float, float]:
    """``(contrast, mean)`` such that ``mean +- contrast/2`` stays inside [0, 1]."""
    c = _finite("contrast", contrast, lo=0.0, hi=1.0, fix="use e.g. contrast=0.8")
    mu = _finite("mean", mean, lo=0.0, hi=1.0, fix="use e.g. mean=0.5")
    if mu - c / 2 < -1e-12 or mu + c / 2 > 1 + 1e-12:
        raise _bad("contrast", c, f"with mean={mu} maps the texture to [{mu - c / 2:g}, {mu + c / 2:g}], "
                   "outside [0, 1]", "lower contrast or move mean towards 0.5")
    return c, mu


def _check_mode(mode: Any, shape: tuple[int, int]) -> str | np.ndarray:
    """A mode name, or a read-only float64 array of the frame's shape."""
    if isinstance(mode, str):
        if mode not in MODES:
            raise _bad("mode", mode, f"is not one of {MODES} or an array", 'use mode="rigid"')
        return mode
    m = np.asarray(mode)
    if m.shape != tuple(shape) or not np.issubdtype(m.dtype, np.number) or np.iscomplexobj(m) \
            or not np.all(np.isfinite(m)):
        raise _bad("mode", m, f"must be one of {MODES} or a finite real array of shape {tuple(shape)}",
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


def make_texture(kind: str = "pink", shape: tuple[int, int] = (256, 256), *, seed: int = 0) -> np.ndarray:
    """Make a periodic, band-limited procedural texture.

    Every texture is one period of a periodic image whose Nyquist-frequency components are
    zero, so it can be shifted by any sub-pixel amount exactly in the Fourier domain.

    Parameters
    ----------
    kind : {"pink", "white", "checker", "stripes", "flat"}
        ``"pink"``: random phases with 1/f amplitude spectrum (natural-image-like, equal
        gradient energy per octave). ``"white"``: white noise blurred by a Gaussian of
        sigma 1 px. ``"checker"``: a checkerboard with ~16 px period (whole periods across
        the shape), softened by a Gaussian optics blur of sigma 0.7 px. ``"stripes"``: the
        same square wave along x only (vertical stripes: horizontal motion is visible,
        vertical motion is not). ``"flat"``: constant 0.5, no texture at all.
    shape : (int, int)
        ``(rows, cols)`` of the period, in pixels (>= 4 each). For a scene, make it larger
        than the frame (e.g. 256 x 256 for 192 x 192 frames).
    seed : int
        Seed of the random textures.

    Returns
    -------
    ndarray, shape (rows, cols), float32
        Values in [0, 1] (min-max scaled; 0.5 everywhere for ``"flat"``).

    Raises
    ------
    ParameterError
        Unknown ``kind`` or bad ``shape``.
    """
    if kind not in TEXTURE_KINDS:
        raise _bad("kind", kind, f"is not one of {TEXTURE_KINDS}", 'use e.g. kind="pink"')
    rows, cols = _check_shape("shape", shape)
    if kind == "flat":
        return np.full((rows, cols), 0.5, dtype=np.float32)
    rng = np.random.default_rng(seed)
    fy, fx = _freq_grids(rows, cols)
    f2 = fy**2 + fx**2
    if kind == "pink":
        spec = sfft.rfft2(rng.standard_normal((rows, cols)))
        with np.errstate(divide="ignore"):
            spec *= np.where(f2 > 0, 1.0 / np.sqrt(f2), 0.0)
    elif kind == "white":
        spec = sfft.rfft2(rng.standard_normal((rows, cols)))
        spec *= np.exp(-2.0 * np.pi**2 * 1.0**2 * f2)
    else:
        wave_y = _square_wave(rows, max(1, round(rows / 16)))
        wave_x = _square_wave(cols, max(1, round(cols / 16)))
        if kind == "checker":
            img = wave_y[:, None] * wave_x[None, :]
        else:
            img = np.broadcast_to(wave_x, (rows, cols))
        spec = sfft.rfft2(img)
        spec *= np.exp(-2.0 * np.pi**2 * 0.7**2 * f2)
    _zero_nyquist(spec, rows, cols)
    img = sfft.irfft2(spec, s=(rows, cols))
    return _minmax01(img).astype(np.float32)


def blur_texture(texture: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a periodic texture with a Gaussian lens blur of ``sigma`` pixels (and rescale to [0, 1]).

    Real lenses and sensors take most of the finest octave's contrast away: with ``sigma``
    around 0.8-1.5 px the finest band of a pyramid holds mostly noise once the camera adds it.
    The blur is applied in the Fourier domain, so the texture stays periodic and band-limited.

    Parameters
    ----------
    texture : ndarray, shape (R, C)
        A periodic texture (:func:`make_texture`, :func:`load_texture`).
    sigma : float
        Standard deviation of the blur in pixels (>= 0; 0 returns a copy).

    Returns
    -------
    ndarray, shape (R, C), float32
        Values in [0, 1].

    Raises
    ------
    ParameterError
        A texture that is not 2-D or not finite, or a negative ``sigma``.
    """
    tex = _check_texture(texture)
    s = _finite("sigma", sigma, lo=0.0, fix="give the blur in pixels, e.g. sigma=1.0")
    if s == 0:
        return tex.astype(np.float32, copy=True)
    rows, cols = tex.shape
    fy, fx = _freq_grids(rows, cols)
    spec = sfft.rfft2(tex.astype(np.float64)) * np.exp(-2.0 * np.pi**2 * s**2 * (fy**2 + fx**2))
    _zero_nyquist(spec, rows, cols)
    return _minmax01(sfft.irfft2(spec, s=(rows, cols))).astype(np.float32)


def object_rows_mask(shape: tuple[int, int], rows: tuple[float, float], *, soft_px: float = 1.5) -> np.ndarray:
    """Alpha mask of an object spanning a band of rows (fractions of the height), soft-edged.

    ``object_rows_mask((720, 128), (0.15, 0.85))`` covers the middle 70 % of the rows: the
    object of a rolling-shutter scene over a still background (:class:`RollingShutterScene`'s
    ``object_mask``). The edges ramp over ``soft_px`` pixels (a lens does not draw hard edges).

    Returns
    -------
    ndarray, shape, float64
        1 on the object, 0 on the background.
    """
    h, w = _check_shape("shape", shape)
    lo = _finite("rows[0]", rows[0], lo=0.0, hi=1.0, fix="give fractions of the height in [0, 1]")
    hi = _finite("rows[1]", rows[1], lo=0.0, hi=1.0, fix="give fractions of the height in [0, 1]")
    if not hi > lo:
        raise _bad("rows", rows, "must be (top, bottom) with top < bottom", "use e.g. rows=(0.15, 0.85)")
    soft = max(_finite("soft_px", soft_px, lo=0.0, fix="use e.g. soft_px=1.5"), 1e-6)
    y = np.arange(h) + 0.5
    a = np.clip((y - lo * h) / soft + 0.5, 0, 1) * np.clip((hi * h - y) / soft + 0.5, 0, 1)
    return np.broadcast_to(a[:, None], (h, w)).copy()


def _periodic_component(img: np.ndarray) -> np.ndarray:
    """Moisan's periodic component of an image (periodic + smooth decomposition, 2011).

    Removes the smooth field that the jumps across the image borders would create when the
    image is repeated periodically; the result tiles without seams and has the same mean.
    """
    rows, cols = img.shape
    v = np.zeros_like(img)
    v[0, :] += img[-1, :] - img[0, :]
    v[-1, :] += img[0, :] - img[-1, :]
    v[:, 0] += img[:, -1] - img[:, 0]
    v[:, -1] += img[:, 0] - img[:, -1]
    q = np.arange(rows)[:, None]
    r = np.arange(cols)[None, :]
    denom = 2 * np.cos(2 * np.pi * q / rows) + 2 * np.cos(2 * np.pi * r / cols) - 4
    denom[0, 0] = 1.0
    s_hat = sfft.fft2(v) / denom
    s_hat[0, 0] = 0.0
    return img - np.real(sfft.ifft2(s_hat))


def load_texture(
    path: str | os.PathLike[str], shape: tuple[int, int] | None = None, *, scale: float = 1.0
) -> np.ndarray:
    """Load any image as a periodic texture for a :class:`Scene`.

    Colour images become the plain mean of R, G and B (alpha is ignored); 16-bit images
    keep their precision. The image is optionally resampled by ``scale`` (Lanczos), then
    centre-cropped to ``shape`` if it is larger, or extended by mirror tiling if it is
    smaller. Finally it is made periodic (Moisan's periodic component, which removes the
    seam a plain tiling would show), its Nyquist components are zeroed, and it is
    min-max scaled to [0, 1].

    Parameters
    ----------
    path : path-like
        PNG, JPEG, TIFF, ... anything Pillow reads.
    shape : (int, int) or None
        ``(rows, cols)`` of the texture; ``None`` keeps the (scaled) image size.
    scale : float
        Resampling factor applied first (> 0; e.g. 0.5 halves the size).

    Returns
    -------
    ndarray, shape (rows, cols), float32
        Values in [0, 1].

    Raises
    ------
    VideoReadError
        The file cannot be read as an image.
    ParameterError
        Bad ``shape`` or ``scale``.
    """
    from PIL import Image, UnidentifiedImageError

    if shape is not None:
        shape = _check_shape("shape", shape)
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise _bad("scale", scale, "must be a finite factor > 0", "use e.g. scale=0.5 or 1.0")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
            mode = im.mode
    except (OSError, UnidentifiedImageError) as exc:
        raise VideoReadError(f"cannot read an image from {str(path)!r}: {exc}") from exc
    if arr.dtype == np.bool_:
        full = 1.0
    elif np.issubdtype(arr.dtype, np.integer):
        full = 65535.0 if (arr.dtype.itemsize >= 2 or mode.startswith("I;16")) and arr.max() > 255 else 255.0
    else:
        full = 1.0
    img = arr.astype(np.float64)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1) if img.shape[-1] >= 3 else img[..., 0]
    img = img / full
    if scale != 1.0:
        new = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
        img = np.asarray(Image.fromarray(img.astype(np.float32), mode="F").resize(new, Image.LANCZOS),
                         dtype=np.float64)
    if shape is not None:
        rows, cols = shape
        pr, pc = max(0, rows - img.shape[0]), max(0, cols - img.shape[1])
        if pr or pc:
            img = np.pad(img, ((pr // 2, pr - pr // 2), (pc // 2, pc - pc // 2)), mode="symmetric")
        r0, c0 = (img.shape[0] - rows) // 2, (img.shape[1] - cols) // 2
        img = img[r0 : r0 + rows, c0 : c0 + cols]
    if min(img.shape) < 4:
        raise _bad("shape", img.shape, "of the loaded texture must be >= 4 x 4 pixels", "give a larger shape")
    img = _periodic_component(img)
    spec = sfft.rfft2(img)
    _zero_nyquist(spec, *img.shape)
    img = sfft.irfft2(spec, s=img.shape)
    return _minmax01(img).astype(np.float32)


# --------------------------------------------------------------------------------------
# Sounds
# --------------------------------------------------------------------------------------


def _unit_rms(x: np.ndarray, what: str) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    if not rms > 0:
        raise _bad(what, x, "is silent (zero RMS)", "use a longer duration or another sound")
    return (x / rms).astype(np.float64)


# Mary had a little lamb: (semitones above C, beats)
_MARY = [(4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 2), (2, 1), (2, 1), (2, 2), (4, 1), (7, 1),
         (7, 2), (4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 1), (4, 1), (2, 1), (2, 1), (4, 1),
         (2, 1), (0, 4)]
_MELODY_HARMONICS = (1.0, 0.5, 0.25)


def builtin_sound(
    name: str = "tone", *, rate: float, duration: float, seed: int = 0, freq: float | None = None
) -> np.ndarray:
    """Make a test sound sampled at the frame rate.

    Parameters
    ----------
    name : {"tone", "chirp", "melody", "noise"}
        ``"tone"``: a sine at ``freq`` Hz (default 440). ``"chirp"``: a logarithmic sweep
        from ``rate/40`` to ``0.45*rate`` (5 % cosine taper at the ends). ``"melody"``: "Mary
        had a little lamb" (0.3 s per beat, looped) with harmonics 1, 2, 3 (amplitudes 1,
        1/2, 1/4), moved down by whole octaves until the highest harmonic is below
        ``0.45*rate``. ``"noise"``:
        Gaussian noise band-limited to ``rate/40 .. 0.45*rate`` (FFT brick wall).
    rate : float
        Sampling rate = frame rate, in Hz.
    duration : float
        In seconds; the sound has ``round(duration * rate)`` samples (>= 2).
    seed : int
        Seed of ``"noise"``.
    freq : float or None
        Frequency of ``"tone"`` in Hz, ``0 < freq < rate/2``; only valid for ``"tone"``.

    Returns
    -------
    ndarray, shape (round(duration*rate),), float64
        Unit RMS.

    Raises
    ------
    ParameterError
        Unknown name, non-positive rate or duration, fewer than 2 samples, ``freq`` at or
        above the Nyquist frequency or given for another sound.
    """
    if name not in SOUND_NAMES:
        raise _bad("name", name, f"is not one of {SOUND_NAMES}", 'use e.g. name="tone"')
    rate = _check_rate(rate)
    try:
        dur = float(duration)
    except (TypeError, ValueError):
        dur = float("nan")
    if not math.isfinite(dur) or dur <= 0:
        raise _bad("duration", duration, "must be a finite time > 0 in seconds", "give e.g. duration=1.0")
    n = round(dur * rate)
    if n < 2:
        raise _bad("duration", duration, f"gives {n} sample(s) at rate={rate} Hz; at least 2 are needed",
                   f"use duration >= {2 / rate:.3g} s")
    if freq is not None and name != "tone":
        raise _bad("freq", freq, f"applies only to name='tone', not {name!r}", "drop freq")
    t = np.arange(n) / rate
    if name == "tone":
        f = 440.0 if freq is None else freq
        if not (isinstance(f, int | float) and math.isfinite(f) and 0 < f < rate / 2):
            raise _bad("freq", f, f"must be in (0, rate/2) = (0, {rate / 2:g}) Hz at rate={rate:g} Hz",
                       f"use freq < {rate / 2:g} or a higher rate")
        x = np.sin(2 * np.pi * f * t)
    elif name == "chirp":
        from scipy.signal import chirp
        from scipy.signal.windows import tukey

        # 5% cosine taper at both ends: an abrupt stop at 0.45 rate would leak above it
        x = chirp(t, f0=rate / 40, t1=t[-1], f1=0.45 * rate, method="logarithmic") * tukey(n, 0.05)
    elif name == "noise":
        rng = np.random.default_rng(seed)
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / rate)
        spec[(f < rate / 40) | (f > 0.45 * rate)] = 0
        x = np.fft.irfft(spec, n)
    else:
        x = _melody(t, rate)
    return _unit_rms(x, "sound")


def _melody(t: np.ndarray, rate: float) -> np.ndarray:
    beat = 0.3
    c4 = 261.6256
    top = c4 * 2 ** (max(s for s, _ in _MARY) / 12) * len(_MELODY_HARMONICS)
    octave = 0
    while top * 2.0**octave >= 0.45 * rate:
        octave -= 1
    starts, notes = [], []
    pos = 0.0
    for semis, beats in _MARY:
        starts.append(pos)
        notes.append((c4 * 2 ** (semis / 12 + octave), beats * beat))
        pos += beats * beat
    total = pos
    tl = t % total
    x = np.zeros_like(t)
    for start, (f0, length) in zip(starts, notes, strict=True):
        sel = (tl >= start) & (tl < start + length)
        tau = tl[sel] - start
        # 10 ms attack, exponential decay, 20 ms release: no clicks between notes
        env = np.minimum(1.0, tau / 0.01) * np.exp(-2.0 * tau) * np.minimum(1.0, (length - tau) / 0.02)
        for h, amp in enumerate(_MELODY_HARMONICS, start=1):
            if h * f0 < 0.45 * rate:
                x[sel] += amp * env * np.sin(2 * np.pi * h * f0 * tau)
    return x


def load_sound(path: str | os.PathLike[str], rate: float, *, duration: float | None = None) -> np.ndarray:
    """Read a sound file, mix it to mono and resample it to the frame rate.

    Parameters
    ----------
    path : path-like
        WAV, FLAC, ... anything soundfile reads.
    rate : float
        Target rate = frame rate of the scene, in Hz (any positive value; soxr, very high
        quality, which low-passes below ``rate/2``).
    duration : float or None
        Keep only the first ``duration`` seconds (after resampling).

    Returns
    -------
    ndarray, shape (n,), float64
        Unit RMS, ``n = round(len(file) * rate / file_rate)``.

    Raises
    ------
    VideoReadError
        The file cannot be read.
    ParameterError
        Bad ``rate`` or ``duration``, or the result is silent or shorter than 2 samples.
    """
    import soundfile as sf
    import soxr

    rate = _check_rate(rate)
    try:
        data, file_rate = sf.read(os.fspath(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:
        raise VideoReadError(f"cannot read a sound from {str(path)!r}: {exc}") from exc
    x = data.mean(axis=1)
    if float(file_rate) != rate:
        x = soxr.resample(x, float(file_rate), rate, quality="VHQ")
    if duration is not None:
        if not (isinstance(duration, int | float) and math.isfinite(duration) and duration > 0):
            raise _bad("duration", duration, "must be a time > 0 in seconds or None",
                       "give e.g. duration=2.0")
        x = x[: round(duration * rate)]
    if x.size < 2:
        raise _bad("path", str(path), f"gives {x.size} sample(s) at rate={rate} Hz", "use a longer sound")
    return _unit_rms(np.asarray(x, dtype=np.float64), "sound")


def _mode_shape(mode: str | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel motion amplitude of a mode name or array (see :class:`Scene`), float64."""
    rows, cols = shape
    if isinstance(mode, np.ndarray):
        return mode.copy()
    if mode in ("rigid", "halves-in-phase"):
        return np.ones((rows, cols))
    if mode == "halves":
        m = np.ones((rows, cols))
        m[:, cols // 2 :] = -1.0
        return m
    i = np.sin(np.pi * (np.arange(rows) + 1) / (rows + 1))
    j = np.sin(np.pi * (np.arange(cols) + 1) / (cols + 1))
    return (i / i.max())[:, None] * (j / j.max())[None, :]


# --------------------------------------------------------------------------------------
# Scene
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Scene:
    """A textured object vibrating with a sound, seen by a global-shutter camera.

    Parameters
    ----------
    texture : ndarray, shape (R, C), float
        One period of a periodic texture, values in [0, 1] (see :func:`make_texture`,
        :func:`load_texture`). It is used whole as the periodic "world"; its
        Nyquist-frequency components, which no sub-pixel shift can represent, are dropped.
        It must exceed the frame by a margin on every side (``R >= rows + 2*margin``,
        ``margin = ceil(max displacement) + 2`` px) so that no content wraps into view and
        the frames are not circular shifts of each other. Rendering costs one FFT of
        (R, C) per frame: do not make it much larger than needed.
    sound : ndarray, shape (n_frames,), float
        The vibration, one sample per frame (sampled at ``rate``). It is rescaled to unit
        RMS, so ``rms_px`` alone sets the motion amplitude.
    rate : float
        Frame rate in Hz (> 0).
    rms_px : float
        RMS motion amplitude in pixels where the mode shape is 1 (>= 0; real videos:
        0.002 - 0.03 px).
    direction_deg : float
        Direction of motion in degrees in array coordinates: 0 = +x (increasing column),
        90 = +y (increasing row, down on screen).
    shape : (int, int)
        ``(rows, cols)`` of the rendered frames (the centre of the texture).
    mode : {"rigid", "membrane", "halves", "halves-in-phase"} or ndarray, shape (rows, cols)
        Per-pixel amplitude ``m`` of the motion. ``"rigid"``: 1 everywhere.
        ``"membrane"``: first drum mode ``sin(pi (i+1)/(rows+1)) sin(pi (j+1)/(cols+1))``
        scaled to a peak of exactly 1 at the centre, zero just outside the frame.
        ``"halves"``: +1 on the left half (columns ``< cols//2``), -1 on the right half
        (opposite motion). ``"halves-in-phase"``:
        the same split moving together (+1, +1) - the control scene, identical to rigid.
        An array gives any mode (finite floats).
    noise_sigma : float
        Read noise standard deviation in grey levels of an 8-bit scale (units of 1/255 of
        full scale, whatever ``bits``), >= 0.
    shot_noise : bool
        Add photon noise. Model: a pixel at full-scale intensity ``L`` in [0, 1] collects
        ``L * full_well`` electrons, so the shot variance is ``L / full_well`` in
        full-scale units (Gaussian approximation of Poisson, accurate at these counts).
    full_well : float
        Electrons at white (full scale), > 0; default 10,000 e- (shot noise at mid grey:
        0.71 % of full scale, 1.8 levels of 255).
    bits : int
        Quantisation: frames are ``round(L * (2**bits - 1))`` clipped to ``[0, 2**bits - 1]``;
        1 <= bits <= 16; ``uint8`` frames for bits <= 8, ``uint16`` above.
    drift_px : float
        Total slow linear drift over the clip in pixels along ``direction_deg``: frame ``t``
        is displaced by an extra ``drift_px * t / (n_frames - 1)``.
    flicker : float
        Relative amplitude of lighting flicker in [0, 1): the clean frame is multiplied by
        ``1 + flicker * sin(2 pi flicker_hz t / rate)``.
    flicker_hz : float
        Flicker frequency in Hz (> 0; 100 or 120 for mains lighting; aliases if above
        ``rate/2``, as in a real camera).
    contrast, mean : float
        Intensity mapping ``L = mean + contrast * (texture - 0.5)`` in full-scale units;
        ``contrast`` in [0, 1] and ``[mean - contrast/2, mean + contrast/2]`` within [0, 1].
    seed : int
        Seed of the noise (>= 0). Frame ``t`` uses its own generator
        ``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(t,)))``, so frames
        are identical whatever the batch size or start.

    Notes
    -----
    Order of operations per frame: exact displacement of the band-limited texture (see the
    module docstring), flicker, then noise with variance
    ``(noise_sigma/255)**2 + shot * L / full_well`` (one Gaussian draw per pixel), then
    quantisation and clipping. Validation happens at construction (cheap); the spectra are
    computed on first use.

    Raises
    ------
    ParameterError
        Any field out of range; the message names the field, its value and the fix.
    """

    texture: np.ndarray
    sound: np.ndarray
    rate: float
    rms_px: float = 0.01
    direction_deg: float = 0.0
    shape: tuple[int, int] = (192, 192)
    mode: str | np.ndarray = "rigid"
    noise_sigma: float = 2.0
    shot_noise: bool = False
    full_well: float = 10_000.0
    bits: int = 8
    drift_px: float = 0.0
    flicker: float = 0.0
    flicker_hz: float = 120.0
    contrast: float = 0.8
    mean: float = 0.5
    seed: int = 0

    # ---------------------------------------------------------------- validation
    def __post_init__(self) -> None:
        def setf(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        def real(name: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False, fix: str) -> None:
            setf(name, _finite(name, getattr(self, name), lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, fix=fix))

        tex = _check_texture(self.texture)
        setf("texture", tex)
        setf("sound", _check_sound(self.sound, min_samples=2, what=" (one per frame)",
                                   fix="use builtin_sound('tone', rate=..., duration=...) or load_sound(path, rate)"))
        setf("rate", _check_rate(self.rate))
        real("rms_px", 0.0, fix="give the RMS motion in pixels, e.g. rms_px=0.01")
        real("direction_deg", fix="give an angle in degrees, e.g. 0 for horizontal")
        setf("shape", _check_shape("shape", self.shape))
        real("noise_sigma", 0.0, fix="give the read noise in 8-bit grey levels, e.g. 2.0 (0 = none)")
        setf("shot_noise", _check_bool("shot_noise", self.shot_noise))
        real("full_well", 0.0, lo_open=True, fix="give electrons at white, e.g. full_well=10000")
        setf("bits", _check_int("bits", self.bits, 1, 16, "use bits=8 or bits=16"))
        real("drift_px", fix="give the total drift in pixels, e.g. drift_px=2.0 (0 = none)")
        real("flicker", 0.0, 1.0, hi_open=True, fix="give a relative amplitude, e.g. flicker=0.01 (0 = none)")
        real("flicker_hz", 0.0, lo_open=True, fix="give the flicker frequency in Hz, e.g. flicker_hz=120")
        c, mu = _check_intensity(self.contrast, self.mean)
        setf("contrast", c)
        setf("mean", mu)
        setf("seed", _check_int("seed", self.seed, 0, None, "use e.g. seed=0"))
        rows, cols = self.shape
        setf("mode", _check_mode(self.mode, (rows, cols)))

        need_r, need_c = self.texture_shape_needed
        if tex.shape[0] < need_r or tex.shape[1] < need_c:
            raise _bad("texture", tex, f"is too small for {rows} x {cols} frames with a max displacement of "
                       f"{self.max_displacement_px:.3g} px (needs >= {need_r} x {need_c})",
                       f"use make_texture(kind, ({need_r}, {need_c})) or "
                       f"load_texture(path, ({need_r}, {need_c})), or a smaller shape")

    # ---------------------------------------------------------------- simple facts
    @property
    def n_frames(self) -> int:
        """Number of frames (= samples of the sound)."""
        return int(self.sound.size)

    @property
    def duration(self) -> float:
        """Clip length in seconds (``n_frames / rate``)."""
        return self.n_frames / self.rate

    @property
    def dtype(self) -> np.dtype:
        """dtype of :meth:`frames`: uint8 for bits <= 8, uint16 above."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def direction(self) -> tuple[float, float]:
        """Unit motion vector ``(ux, uy)`` in (column, row) pixel coordinates."""
        th = math.radians(self.direction_deg)
        return math.cos(th), math.sin(th)

    def mode_shape(self) -> np.ndarray:
        """Per-pixel motion amplitude ``m``.

        Returns
        -------
        ndarray, shape (rows, cols), float64
        """
        return _mode_shape(self.mode, self.shape)

    @cached_property
    def _unit_sound(self) -> np.ndarray:
        return self.sound / np.sqrt(np.mean(np.square(self.sound)))

    def truth(self) -> np.ndarray:
        """The motion an ideal estimator should recover: ``rms_px * sound`` (unit-RMS sound).

        This is the signed displacement, in pixels along ``direction_deg``, of the pixels
        where the mode shape is 1; it excludes the drift. Estimators recover it up to gain,
        sign and DC.

        Returns
        -------
        ndarray, shape (n_frames,), float64
            Pixels.
        """
        return self.rms_px * self._unit_sound

    def drift_track(self) -> np.ndarray:
        """The drift of every frame, ``drift_px * t / (n_frames - 1)``, in pixels along the direction.

        Returns
        -------
        ndarray, shape (n_frames,), float64
        """
        return self.drift_px * np.arange(self.n_frames) / (self.n_frames - 1)

    @property
    def max_displacement_px(self) -> float:
        """Largest ``|displacement|`` of any pixel over the clip, in pixels (motion plus drift)."""
        mmax = float(np.max(np.abs(self.mode_shape()))) if isinstance(self.mode, np.ndarray) else 1.0
        return mmax * self.rms_px * float(np.max(np.abs(self._unit_sound))) + abs(self.drift_px)

    @property
    def texture_shape_needed(self) -> tuple[int, int]:
        """Smallest texture ``(R, C)``: the frame plus ``ceil(max displacement) + 2`` px on each side."""
        margin = math.ceil(self.max_displacement_px) + 2
        return self.shape[0] + 2 * margin, self.shape[1] + 2 * margin

    @property
    def origin(self) -> tuple[int, int]:
        """Texture pixel ``(row, col)`` under the frame's top-left pixel at rest (centre crop)."""
        return (self.texture.shape[0] - self.shape[0]) // 2, (self.texture.shape[1] - self.shape[1]) // 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description of the scene (the texture, sound and mode arrays by shape only)."""
        mode = self.mode if isinstance(self.mode, str) else f"array{tuple(self.mode.shape)}"
        return {
            "rate": self.rate,
            "rms_px": self.rms_px,
            "direction_deg": self.direction_deg,
            "shape": list(self.shape),
            "mode": mode,
            "noise_sigma": self.noise_sigma,
            "shot_noise": self.shot_noise,
            "full_well": self.full_well,
            "bits": self.bits,
            "drift_px": self.drift_px,
            "flicker": self.flicker,
            "flicker_hz": self.flicker_hz,
            "contrast": self.contrast,
            "mean": self.mean,
            "seed": self.seed,
            "texture_shape": list(self.texture.shape),
            "n_frames": self.n_frames,
            "duration_s": self.duration,
        }

    # ---------------------------------------------------------------- rendering
    @cached_property
    def _engine(self) -> _Renderer:
        return _Renderer(self)

    def rest_image(self) -> np.ndarray:
        """The clean frame at rest (no motion, drift, flicker, noise or quantisation).

        Returns
        -------
        ndarray, shape (rows, cols), float64
            Full-scale intensity (1.0 = white).
        """
        return self._engine.rest.copy()

    def _check_range(self, start: int, stop: int | None, batch: int) -> tuple[int, int, int]:
        n = self.n_frames
        stop = n if stop is None else stop
        for name, v in (("start", start), ("stop", stop), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise _bad(name, v, "must be an integer", f"give an int in [0, {n}]")
        if not 0 <= start <= stop <= n:
            raise _bad("start/stop", (start, stop), f"must satisfy 0 <= start <= stop <= n_frames={n}",
                       "pick a frame range inside the clip")
        if batch < 1:
            raise _bad("batch", batch, "must be >= 1", "use e.g. batch=64")
        return int(start), int(stop), int(batch)

    def clean_frames(
        self, *, start: int = 0, stop: int | None = None, batch: int = 64
    ) -> Iterator[np.ndarray]:
        """Stream the noiseless, unquantised frames (motion, drift and flicker applied).

        Parameters
        ----------
        start, stop : int
            Frame range ``[start, stop)``; ``stop=None`` is the end of the clip.
        batch : int
            Frames per yielded array (memory stays bounded by the batch).

        Yields
        ------
        ndarray, shape (n <= batch, rows, cols), float64
            Full-scale intensity (1.0 = white).
        """
        start, stop, batch = self._check_range(start, stop, batch)
        eng = self._engine
        for i0 in range(start, stop, batch):
            yield eng.clean(i0, min(stop, i0 + batch))

    def frames(self, *, start: int = 0, stop: int | None = None, batch: int = 64) -> Iterator[np.ndarray]:
        """Stream the frames as the camera records them: noisy, quantised integers.

        Parameters
        ----------
        start, stop : int
            Frame range ``[start, stop)``; ``stop=None`` is the end of the clip.
        batch : int
            Frames per yielded array; the output does not depend on it.

        Yields
        ------
        ndarray, shape (n <= batch, rows, cols), uint8 (bits <= 8) or uint16
            Grey levels in ``[0, 2**bits - 1]``.
        """
        start, stop, batch = self._check_range(start, stop, batch)
        eng = self._engine
        for i0 in range(start, stop, batch):
            i1 = min(stop, i0 + batch)
            yield eng.camera(eng.clean(i0, i1), i0)

    def noise_variance(self) -> np.ndarray:
        """Per-pixel variance of the recorded value around the clean frame at rest.

        ``(noise_sigma/255)**2 + [shot] L/full_well + q**2/12`` with ``q = 1/(2**bits - 1)``,
        in full-scale units squared (the quantisation term treats rounding as independent
        uniform noise, which holds when the other noise exceeds ~0.5 LSB).

        Returns
        -------
        ndarray, shape (rows, cols), float64
        """
        rest = self._engine.rest
        q = 1.0 / (2**self.bits - 1)
        var = np.full(rest.shape, (self.noise_sigma / 255.0) ** 2 + q * q / 12.0)
        if self.shot_noise:
            var += np.clip(rest, 0.0, None) / self.full_well
        return var

    def cramer_rao(self) -> dict[str, float]:
        """Cramér-Rao bound on the per-frame motion amplitude under this scene's noise.

        For a frame ``g(x) = L(x - a m(x) u) + n(x)`` with independent Gaussian noise of
        variance ``sigma^2(x)`` (:meth:`noise_variance`) and the clean image ``L`` known,
        any unbiased estimator of the amplitude ``a`` (pixels) satisfies

            var(a) >= 1 / sum_x (m(x) dL/du(x))^2 / sigma^2(x),

        with ``dL/du`` the directional derivative along ``direction_deg`` of the clean rest
        image, computed spectrally from the band-limited texture (grey levels per pixel in
        any consistent unit). Flicker, drift and the (tiny) information carried by the
        signal dependence of the shot variance are ignored. The bound is per frame, over
        the full band ``0 .. rate/2``; an estimator that compares against a *noisy*
        reference frame cannot beat twice this variance.

        Returns
        -------
        dict
            ``var_px2`` (px^2), ``std_px`` (px), ``snr_db`` = ``10 log10(rms_px^2 / var_px2)``
            (the best per-frame SNR any estimator can reach), ``fisher_per_px2`` (1/px^2).
            A texture-less scene gives ``var_px2 = inf`` and ``snr_db = -inf``.
        """
        eng = self._engine
        fisher = float(np.sum((self.mode_shape() * eng.grad_u) ** 2 / self.noise_variance()))
        var = 1.0 / fisher if fisher > 0 else math.inf
        if math.isfinite(var) and self.rms_px > 0:
            snr = 10.0 * math.log10(self.rms_px**2 / var)
        else:
            snr = -math.inf
        return {"var_px2": var, "std_px": math.sqrt(var), "snr_db": snr, "fisher_per_px2": fisher}


class _Renderer:
    """Precomputed spectra and per-batch rendering of one :class:`Scene` (private)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        rows, cols = scene.shape
        R, C = scene.texture.shape
        self.rows, self.cols, self.R, self.C = rows, cols, R, C
        self.r0, self.c0 = scene.origin
        intensity = scene.mean + scene.contrast * (scene.texture - 0.5)
        spec = sfft.rfft2(intensity, workers=_workers())
        _zero_nyquist(spec, R, C)
        self.spec = spec
        ux, uy = scene.direction
        ky = 2 * np.pi * sfft.fftfreq(R)[:, None]  # rad / px
        kx = 2 * np.pi * sfft.rfftfreq(C)[None, :]
        self.ky_u = ky * uy  # (R, 1)
        self.kx_u = kx * ux  # (1, C//2+1)
        self.k_u = self.ky_u + self.kx_u  # component of the wave vector along the motion
        self.a = scene.truth()
        self.drift = scene.drift_track()
        self.m = scene.mode_shape()
        self.rest = self._inverse(spec[None])[0]
        self.grad_u = self._inverse((spec * (1j * self.k_u))[None])[0]
        values = np.unique(self.m)
        self.groups: list[tuple[float, np.ndarray]] | None = None
        if values.size <= _MAX_EXACT_GROUPS:
            self.groups = [(float(v), self.m == v) for v in values]
        else:
            self._setup_taylor()

    def _setup_taylor(self) -> None:
        """Pick the Taylor order from a rigorous remainder bound and precompute what we can."""
        smax = float(np.max(np.abs(self.m))) * float(np.max(np.abs(self.a)))
        # |e^{-i theta} - sum_{n<=N} (-i theta)^n/n!| <= |theta|^(N+1)/(N+1)!, theta = s k_u, so the
        # remainder is at most smax^(N+1)/(N+1)! * (1/RC) sum_k |spec_k| |k_u|^(N+1) (full spectrum).
        weight = np.full(self.spec.shape[1], 2.0)
        weight[0] = 1.0
        mag = np.abs(self.spec) * weight / (self.R * self.C)
        ku = np.abs(self.k_u)
        order = 0
        while True:
            bound = smax ** (order + 1) / math.factorial(order + 1) * float(np.sum(mag * ku ** (order + 1)))
            if bound <= _TAYLOR_TOL:
                break
            order += 1
            if order > _TAYLOR_MAX_ORDER:
                raise _bad("rms_px", self.scene.rms_px, "is too large for smooth-mode rendering (the Taylor "
                           f"series needs > {_TAYLOR_MAX_ORDER} terms; peak displacement {smax:.3g} px)",
                           "use rms_px <= ~0.2 with a smooth mode, or a piecewise-constant mode")
        self.order = order
        self.derivs: np.ndarray | None = None
        if not np.any(self.drift):
            self.derivs = np.stack([self._inverse((self.spec * (1j * self.k_u) ** n)[None])[0]
                                    for n in range(order + 1)])

    def _inverse(self, spec: np.ndarray) -> np.ndarray:
        """Centre crop of ``irfft2`` of a batch of half spectra: (n, R, C//2+1) -> (n, rows, cols) float64."""
        w = _workers()
        half = sfft.ifft(spec, axis=-2, workers=w)[:, self.r0 : self.r0 + self.rows, :]
        full = sfft.irfft(half, n=self.C, axis=-1, workers=w)
        return full[:, :, self.c0 : self.c0 + self.cols]

    def _shifted(self, delta: np.ndarray) -> np.ndarray:
        """Spectra of the texture displaced by ``delta[t]`` px along the direction: (n, R, C//2+1)."""
        d = delta[:, None, None]
        out = np.multiply(self.spec[None], np.exp(-1j * d * self.ky_u[None]))
        out *= np.exp(-1j * d * self.kx_u[None])
        return out

    def clean(self, i0: int, i1: int) -> np.ndarray:
        a = self.a[i0:i1]
        drift = self.drift[i0:i1]
        if self.groups is not None:
            if len(self.groups) == 1:
                out = self._inverse(self._shifted(self.groups[0][0] * a + drift))
            else:
                out = np.empty((i1 - i0, self.rows, self.cols))
                for value, mask in self.groups:
                    np.copyto(out, self._inverse(self._shifted(value * a + drift)), where=mask[None])
        else:
            s = -self.m[None] * a[:, None, None]  # per-pixel displacement, negated
            if self.derivs is not None:  # Horner in s over precomputed derivatives
                out = np.broadcast_to(self.derivs[self.order], s.shape).copy()
                for n in range(self.order - 1, -1, -1):
                    out *= s / (n + 1)
                    out += self.derivs[n]
            else:
                base = self._shifted(drift)
                out = self._inverse(base)
                coeff = np.ones_like(s)
                for n in range(1, self.order + 1):
                    coeff *= s / n
                    out += coeff * self._inverse(base * (1j * self.k_u) ** n)
        sc = self.scene
        if sc.flicker:
            t = np.arange(i0, i1) / sc.rate
            out *= (1.0 + sc.flicker * np.sin(2 * np.pi * sc.flicker_hz * t))[:, None, None]
        return out

    def camera(self, clean: np.ndarray, i0: int) -> np.ndarray:
        """Noise, quantisation and clipping of a batch of clean frames starting at frame ``i0``."""
        return _camera_model(self.scene, clean, i0)


def _camera_model(sc: Any, clean: np.ndarray, i0: int) -> np.ndarray:
    """Noise, quantisation and clipping of a batch of clean frames starting at frame ``i0``.

    ``sc`` is a :class:`Scene` or :class:`RollingShutterScene` (it needs ``bits``, ``noise_sigma``,
    ``shot_noise``, ``full_well``, ``seed`` and ``dtype``). Works in float32 grey levels (the
    output is quantised; float32 keeps 0.004 LSB at 16 bits).
    """
    top = 2**sc.bits - 1
    levels = np.multiply(clean, top, dtype=np.float32)
    read_var = (sc.noise_sigma / 255.0) ** 2
    if read_var > 0 or sc.shot_noise:
        z = np.empty_like(levels)

        def draw(k: int) -> None:
            rng = np.random.default_rng(np.random.SeedSequence(sc.seed, spawn_key=(i0 + k,)))
            rng.standard_normal(out=z[k], dtype=np.float32)

        n = levels.shape[0]
        if n > 1 and _workers() > 1:
            with ThreadPoolExecutor(max_workers=min(n, _workers())) as pool:
                list(pool.map(draw, range(n)))
        else:
            for k in range(n):
                draw(k)
        if sc.shot_noise:  # variance (read + L/full_well) in full scale -> std in grey levels
            std = np.clip(clean, 0.0, None, dtype=np.float32)
            std *= np.float32(1.0 / sc.full_well)
            std += np.float32(read_var)
            np.sqrt(std, out=std)
            std *= np.float32(top)
            z *= std
        else:
            z *= np.float32(math.sqrt(read_var) * top)
        levels += z
    np.rint(levels, out=levels)
    np.clip(levels, 0, top, out=levels)
    return levels.astype(sc.dtype)


# --------------------------------------------------------------------------------------
# Rolling-shutter scene
# --------------------------------------------------------------------------------------

READOUTS = ("down", "up")
#: Tolerance on ``rows * line_delay <= 1 / fps`` (published line delays are rounded).
_READOUT_FIT_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class RollingShutterScene:
    """A textured object vibrating with a sound, filmed by a rolling-shutter video camera.

    The camera reads its rows one after another: row ``y`` of frame ``n`` integrates light over
    its own exposure window

        [t0 + n/fps + r(y) * line_delay,  t0 + n/fps + r(y) * line_delay + exposure]

    with ``r(y) = y`` (``readout="down"``, row 0 first) or ``r(y) = rows - 1 - y``
    (``readout="up"``) and ``t0 = start_time``. The rows of one frame therefore sample the sound
    at ``1 / line_delay`` samples per second, and nothing is recorded during the gap
    ``1/fps - rows * line_delay`` between the last row of a frame and the first row of the next.
    This timing code is written here on purpose, independently of :mod:`vismic.rolling_shutter`,
    so that a timing bug in the estimator cannot cancel out in tests.

    Rendering is exact to a stated tolerance: the row shows the texture displaced by
    ``a(t) = rms_px * m(x, y) * s(t)`` along ``direction_deg`` and averaged over the row's
    exposure window,

        row(x) = (1/E) int L(x - a(t) u) dt = sum_k E_w[(-a)^k] / k! * (u . grad)^k L(x),

    a Taylor series whose directional derivatives are computed spectrally from the band-limited
    texture and whose exposure moments ``E_w[(-a)^k]`` are Gauss-Legendre quadratures of the sound
    over each row's window (one node per sound sample in the window, at least two). The order is
    chosen from a rigorous bound on the remainder (below 1e-9 of full scale), as for smooth modes
    of :class:`Scene`. Lighting flicker multiplies each row by its exposure-averaged gain
    ``1 + flicker * sinc(flicker_hz * E) * sin(2 pi flicker_hz t_mid)``: a flickering light films
    as horizontal stripes ``1 / (flicker_hz * line_delay)`` rows apart (the calibration video).
    Then noise, quantisation and clipping as in :class:`Scene`.

    Parameters
    ----------
    texture : ndarray, shape (R, C), float
        One period of a periodic texture in [0, 1] (see :func:`make_texture`); it must exceed the
        frame by ``ceil(max displacement) + 2`` px on every side.
    sound : ndarray, shape (n,), float
        The vibration, sampled at ``sound_rate`` (rescaled to unit RMS). Rows sample it far above
        the frame rate, so give it at a high rate: ``sound_rate >= 1 / line_delay`` is
        recommended and it should be band-limited well below ``sound_rate / 2`` (it is
        interpolated by a cubic spline between samples).
    sound_rate : float
        Sampling rate of ``sound`` in Hz; sample ``i`` is at time ``i / sound_rate``.
    fps : float
        Frame rate in Hz (e.g. 59.94).
    line_delay : float
        Time between the starts of two consecutive rows, in seconds (> 0, with
        ``rows * line_delay <= 1 / fps``).
    exposure : float
        Exposure time of every row in seconds, ``0 <= exposure <= 1/fps`` (0: instantaneous).
    readout : {"down", "up"}
        Row 0 is read first (``"down"``) or last (``"up"``).
    n_frames : int or None
        Number of frames; ``None``: as many as the sound covers, counting the last row's
        exposure window.
    start_time : float
        Time, on the sound's clock, when the exposure of the first row read in frame 0 starts (s).
    rms_px, direction_deg, shape, mode, noise_sigma, shot_noise, full_well, bits, flicker, \
flicker_hz, contrast, mean, seed
        As in :class:`Scene` (``mode`` may be ``"rigid"``, ``"halves"``, ``"halves-in-phase"``,
        ``"membrane"`` or an array); there is no drift.
    object_mask : ndarray, shape ``shape``, or None
        Where the vibrating object is (alpha in [0, 1], e.g. :func:`object_rows_mask`); elsewhere
        the frame shows ``background``, which does not move. None: the object fills the frame.
        The mask itself is fixed (the object's outline does not move with it: only its texture
        does, so the edges carry no extra motion cue).
    background : ndarray or None
        Texture of the still background (a texture at least ``shape``; centre-cropped), seen
        with the same ``contrast`` and ``mean``. None with a mask: a flat grey background.

    Raises
    ------
    ParameterError
        Any field out of range: the message names the field, its value and the fix.
    """

    texture: np.ndarray
    sound: np.ndarray
    sound_rate: float
    fps: float
    line_delay: float
    exposure: float = 0.0
    readout: str = "down"
    n_frames: int | None = None
    start_time: float = 0.0
    rms_px: float = 0.01
    direction_deg: float = 0.0
    shape: tuple[int, int] = (96, 96)
    mode: str | np.ndarray = "rigid"
    noise_sigma: float = 2.0
    shot_noise: bool = False
    full_well: float = 10_000.0
    bits: int = 8
    flicker: float = 0.0
    flicker_hz: float = 120.0
    contrast: float = 0.8
    mean: float = 0.5
    seed: int = 0
    object_mask: np.ndarray | None = None
    background: np.ndarray | None = None

    def __post_init__(self) -> None:
        def setf(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        tex = _check_texture(self.texture)
        setf("texture", tex)
        setf("sound", _check_sound(self.sound, min_samples=4, what="",
                                   fix="use builtin_sound('tone', rate=sound_rate, duration=...)"))
        setf("sound_rate", _check_rate(self.sound_rate, "sound_rate"))
        setf("fps", _check_rate(self.fps, "fps"))
        setf("shape", _check_shape("shape", self.shape))
        rows, cols = self.shape
        d = _finite("line_delay", self.line_delay, lo=0.0, lo_open=True,
                    fix="give the row-to-row readout delay in seconds, e.g. line_delay=16.15e-6")
        setf("line_delay", d)
        period = 1.0 / self.fps
        if rows * d > period * (1 + _READOUT_FIT_TOL):
            raise _bad("line_delay", d, f"makes the readout of {rows} rows ({rows * d * 1e3:.4g} ms) longer than "
                       f"the frame period 1/fps = {period * 1e3:.4g} ms",
                       f"use line_delay <= {period / rows:.4g} s or fewer rows")
        e = _finite("exposure", self.exposure, lo=0.0, fix="give the exposure in seconds, e.g. exposure=1/2000")
        if e > period * (1 + 1e-12):
            raise _bad("exposure", e, f"exceeds the frame period 1/fps = {period:.4g} s",
                       f"use exposure <= {period:.4g} s")
        setf("exposure", e)
        if self.readout not in READOUTS:
            raise _bad("readout", self.readout, f"is not one of {READOUTS}", 'use readout="down"')
        setf("start_time", _finite("start_time", self.start_time, lo=0.0,
                                   fix="give a time >= 0 s on the sound's clock"))
        setf("rms_px", _finite("rms_px", self.rms_px, lo=0.0, fix="give the RMS motion in pixels, e.g. 0.05"))
        setf("direction_deg", _finite("direction_deg", self.direction_deg, fix="give an angle in degrees"))
        setf("noise_sigma", _finite("noise_sigma", self.noise_sigma, lo=0.0,
                                    fix="give the read noise in 8-bit grey levels, e.g. 2.0"))
        setf("shot_noise", _check_bool("shot_noise", self.shot_noise))
        setf("full_well", _finite("full_well", self.full_well, lo=0.0, lo_open=True,
                                  fix="give electrons at white, e.g. 10000"))
        setf("bits", _check_int("bits", self.bits, 1, 16, "use bits=8 or bits=16"))
        setf("flicker", _finite("flicker", self.flicker, lo=0.0, hi=1.0, hi_open=True,
                                fix="give a relative amplitude in [0, 1), e.g. 0.05"))
        setf("flicker_hz", _finite("flicker_hz", self.flicker_hz, lo=0.0, lo_open=True,
                                   fix="give the flicker frequency in Hz, e.g. 120"))
        c, mu = _check_intensity(self.contrast, self.mean)
        setf("contrast", c)
        setf("mean", mu)
        setf("seed", _check_int("seed", self.seed, 0, None, "use e.g. seed=0"))
        setf("mode", _check_mode(self.mode, (rows, cols)))

        # frames the sound covers: the last row read in the last frame must end its exposure in time
        snd = self.sound
        last_sample = (snd.size - 1) / self.sound_rate
        span = (rows - 1) * d + e
        avail = int(math.floor((last_sample - self.start_time - span) * self.fps + 1e-9)) + 1
        if self.n_frames is None:
            if avail < 2:
                raise _bad("sound", snd, f"covers {last_sample:.4g} s, too short for 2 frames at {self.fps:g} fps "
                           f"(each frame needs {span:.4g} s of readout and exposure)", "give a longer sound")
            setf("n_frames", avail)
        else:
            nf = self.n_frames
            if isinstance(nf, bool) or not isinstance(nf, int | np.integer) or nf < 1:
                raise _bad("n_frames", nf, "must be an integer >= 1 or None", "use e.g. n_frames=60")
            if nf > avail:
                raise _bad("n_frames", nf, f"needs more sound than given ({avail} frames fit)",
                           f"use n_frames <= {avail} or a longer sound")
            setf("n_frames", int(nf))
        need_r, need_c = self.texture_shape_needed
        if tex.shape[0] < need_r or tex.shape[1] < need_c:
            raise _bad("texture", tex, f"is too small for {rows} x {cols} frames (needs >= {need_r} x {need_c})",
                       f"use make_texture(kind, ({need_r}, {need_c}))")
        if self.object_mask is not None:
            m = np.asarray(self.object_mask, dtype=np.float64)
            if m.shape != (rows, cols) or not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
                raise _bad("object_mask", self.object_mask, f"must be an array of shape {(rows, cols)} with values "
                           "in [0, 1]", "use object_rows_mask(shape, (0.15, 0.85))")
            m = m.copy()
            m.flags.writeable = False
            setf("object_mask", m)
        if self.background is not None:
            bg = _check_texture(self.background, "background")
            if bg.shape[0] < rows or bg.shape[1] < cols:
                raise _bad("background", bg, f"is smaller than the {rows} x {cols} frame",
                           f"use make_texture(kind, ({rows}, {cols})) or larger")
            setf("background", bg)

    # ---------------------------------------------------------------- facts
    @property
    def rate(self) -> float:
        """Frame rate in Hz (alias of ``fps``)."""
        return self.fps

    @property
    def duration(self) -> float:
        """Clip length in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps

    @property
    def dtype(self) -> np.dtype:
        """dtype of :meth:`frames`: uint8 for bits <= 8, uint16 above."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def direction(self) -> tuple[float, float]:
        """Unit motion vector ``(ux, uy)`` in (column, row) pixel coordinates."""
        th = math.radians(self.direction_deg)
        return math.cos(th), math.sin(th)

    @property
    def gap(self) -> float:
        """Time with no row being exposed-and-read between two frames, ``1/fps - rows*line_delay`` (s)."""
        return max(0.0, 1.0 / self.fps - self.shape[0] * self.line_delay)

    def mode_shape(self) -> np.ndarray:
        """Per-pixel motion amplitude ``m``, shape (rows, cols), float64."""
        return _mode_shape(self.mode, self.shape)

    @cached_property
    def _spline(self) -> Any:
        from scipy.interpolate import make_interp_spline

        t = np.arange(self.sound.size) / self.sound_rate
        unit = self.sound / np.sqrt(np.mean(np.square(self.sound)))
        return make_interp_spline(t, self.rms_px * unit, k=3)

    @cached_property
    def _antiderivative(self) -> Any:
        return self._spline.antiderivative()

    def truth(self) -> np.ndarray:
        """The displacement ``rms_px * sound`` (unit-RMS sound) at the sound's samples, in pixels.

        Returns
        -------
        ndarray, shape (len(sound),), float64
            Sampled at ``sound_rate``; sample ``i`` is at ``i / sound_rate`` seconds.
        """
        return self.rms_px * self.sound / np.sqrt(np.mean(np.square(self.sound)))

    def truth_at(self, times: np.ndarray, *, exposed: bool = False) -> np.ndarray:
        """The displacement at arbitrary times (cubic-spline interpolation of :meth:`truth`).

        Parameters
        ----------
        times : array_like of float
            Seconds on the sound's clock.
        exposed : bool
            Return the displacement averaged over an exposure window centred on each time (the
            box filter every row applies), instead of the instantaneous displacement.

        Returns
        -------
        ndarray, float64
            Pixels along ``direction_deg`` where the mode shape is 1.
        """
        t = np.asarray(times, dtype=np.float64)
        e = self.exposure
        if not exposed or e == 0:
            return self._spline(t)
        anti = self._antiderivative
        return (anti(t + e / 2) - anti(t - e / 2)) / e

    def row_starts(self) -> np.ndarray:
        """Start of every row's exposure window, in seconds on the sound's clock.

        Returns
        -------
        ndarray, shape (n_frames, rows), float64
            ``start_time + n / fps + r(y) * line_delay``.
        """
        rows = self.shape[0]
        order = np.arange(rows) if self.readout == "down" else rows - 1 - np.arange(rows)
        return self.start_time + np.arange(self.n_frames)[:, None] / self.fps + order[None, :] * self.line_delay

    def row_times(self) -> np.ndarray:
        """Centre of every row's exposure window (s): :meth:`row_starts` + ``exposure / 2``.

        Returns
        -------
        ndarray, shape (n_frames, rows), float64
        """
        return self.row_starts() + self.exposure / 2

    @property
    def max_displacement_px(self) -> float:
        """Bound on ``|displacement|`` of any pixel, in pixels (5 % margin for spline overshoot)."""
        mmax = float(np.max(np.abs(self.mode_shape()))) if isinstance(self.mode, np.ndarray) else 1.0
        peak = float(np.max(np.abs(self.sound))) / float(np.sqrt(np.mean(np.square(self.sound))))
        return 1.05 * mmax * self.rms_px * peak

    @property
    def texture_shape_needed(self) -> tuple[int, int]:
        """Smallest texture ``(R, C)``: the frame plus ``ceil(max displacement) + 2`` px on each side."""
        margin = math.ceil(self.max_displacement_px) + 2
        return self.shape[0] + 2 * margin, self.shape[1] + 2 * margin

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (arrays by shape only)."""
        mode = self.mode if isinstance(self.mode, str) else f"array{tuple(self.mode.shape)}"
        return {
            "kind": "rolling_shutter", "fps": self.fps, "line_delay": self.line_delay,
            "exposure": self.exposure, "readout": self.readout, "n_frames": self.n_frames,
            "start_time": self.start_time, "sound_rate": self.sound_rate, "gap_s": self.gap,
            "rms_px": self.rms_px, "direction_deg": self.direction_deg, "shape": list(self.shape),
            "mode": mode, "noise_sigma": self.noise_sigma, "shot_noise": self.shot_noise,
            "full_well": self.full_well, "bits": self.bits, "flicker": self.flicker,
            "flicker_hz": self.flicker_hz, "contrast": self.contrast, "mean": self.mean, "seed": self.seed,
            "texture_shape": list(self.texture.shape), "duration_s": self.duration,
            "object_mask": None if self.object_mask is None else f"array{tuple(self.object_mask.shape)}",
            "object_fraction": 1.0 if self.object_mask is None else float(np.mean(self.object_mask)),
            "background": None if self.background is None else f"array{tuple(self.background.shape)}",
        }

    # ---------------------------------------------------------------- rendering
    @cached_property
    def _engine(self) -> _RollingRenderer:
        return _RollingRenderer(self)

    def _range(self, start: int, stop: int | None, batch: int) -> tuple[int, int, int]:
        n = self.n_frames
        stop = n if stop is None else stop
        for name, v in (("start", start), ("stop", stop), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise _bad(name, v, "must be an integer", f"give an int in [0, {n}]")
        if not 0 <= start <= stop <= n:
            raise _bad("start/stop", (start, stop), f"must satisfy 0 <= start <= stop <= n_frames={n}",
                       "pick a frame range inside the clip")
        if batch < 1:
            raise _bad("batch", batch, "must be >= 1", "use e.g. batch=16")
        return int(start), int(stop), int(batch)

    def clean_frames(self, *, start: int = 0, stop: int | None = None, batch: int = 16) -> Iterator[np.ndarray]:
        """Stream the noiseless, unquantised frames, shape (n <= batch, rows, cols), float64."""
        start, stop, batch = self._range(start, stop, batch)
        for i0 in range(start, stop, batch):
            yield self._engine.clean(i0, min(stop, i0 + batch))

    def frames(self, *, start: int = 0, stop: int | None = None, batch: int = 16) -> Iterator[np.ndarray]:
        """Stream the frames as recorded: noisy, quantised, uint8 (bits <= 8) or uint16."""
        start, stop, batch = self._range(start, stop, batch)
        eng = self._engine
        for i0 in range(start, stop, batch):
            yield _camera_model(self, eng.clean(i0, min(stop, i0 + batch)), i0)


class _RollingRenderer:
    """Directional derivatives of the texture and per-row exposure moments (private)."""

    def __init__(self, scene: RollingShutterScene) -> None:
        self.scene = scene
        rows, cols = scene.shape
        R, C = scene.texture.shape
        r0, c0 = (R - rows) // 2, (C - cols) // 2
        intensity = scene.mean + scene.contrast * (scene.texture - 0.5)
        spec = sfft.rfft2(intensity, workers=_workers())
        _zero_nyquist(spec, R, C)
        ux, uy = scene.direction
        k_u = 2 * np.pi * (sfft.fftfreq(R)[:, None] * uy + sfft.rfftfreq(C)[None, :] * ux)
        smax = scene.max_displacement_px
        weight = np.full(spec.shape[1], 2.0)
        weight[0] = 1.0
        mag = np.abs(spec) * weight / (R * C)
        ku = np.abs(k_u)
        order = 0
        while smax > 0:
            bound = smax ** (order + 1) / math.factorial(order + 1) * float(np.sum(mag * ku ** (order + 1)))
            if bound <= _TAYLOR_TOL:
                break
            order += 1
            if order > _TAYLOR_MAX_ORDER:
                raise _bad("rms_px", scene.rms_px, f"is too large for rolling-shutter rendering (peak displacement "
                           f"{smax:.3g} px needs > {_TAYLOR_MAX_ORDER} Taylor terms)", "use rms_px <= ~0.3")
        self.order = order
        derivs = []
        for k in range(order + 1):
            full = sfft.irfft2(spec * (1j * k_u) ** k, s=(R, C), workers=_workers())
            derivs.append(full[r0 : r0 + rows, c0 : c0 + cols] / math.factorial(k))
        d = np.stack(derivs)  # (order+1, rows, cols): (u.grad)^k L / k!
        m = scene.mode_shape()
        if not np.all(m == 1.0):
            d = d * m[None] ** np.arange(order + 1)[:, None, None]
        self.derivs = np.ascontiguousarray(d.transpose(1, 0, 2))  # (rows, order+1, cols)
        self.alpha = self.still = None
        if scene.object_mask is not None:
            self.alpha = scene.object_mask
            if scene.background is None:
                bg = np.full((rows, cols), scene.mean)
            else:
                br, bc = scene.background.shape
                b0, b1 = (br - rows) // 2, (bc - cols) // 2
                bg = scene.mean + scene.contrast * (scene.background[b0 : b0 + rows, b1 : b1 + cols] - 0.5)
            self.still = (1.0 - self.alpha) * bg
        e = scene.exposure
        n_nodes = 1 if e == 0 else int(min(256, max(2, math.ceil(e * scene.sound_rate) + 1)))
        if n_nodes == 1:
            self.nodes, self.weights = np.zeros(1), np.ones(1)
        else:
            x, w = np.polynomial.legendre.leggauss(n_nodes)
            self.nodes, self.weights = (x + 1) / 2 * e, w / 2  # offsets in [0, e], weights sum to 1

    def clean(self, i0: int, i1: int) -> np.ndarray:
        sc = self.scene
        starts = sc.row_starts()[i0:i1]  # (n, rows)
        t = starts[..., None] + self.nodes  # (n, rows, q)
        a = -sc.truth_at(t)
        powers = np.empty(a.shape[:2] + (self.order + 1,) + a.shape[2:])
        powers[:, :, 0] = 1.0
        for k in range(1, self.order + 1):
            np.multiply(powers[:, :, k - 1], a, out=powers[:, :, k])
        moments = powers @ self.weights  # (n, rows, order+1): E_w[(-a)^k]
        out = np.ascontiguousarray(np.matmul(moments.transpose(1, 0, 2), self.derivs).transpose(1, 0, 2))
        if self.alpha is not None:  # the object over its still background
            out = self.alpha * out + self.still
        if sc.flicker:
            mid = starts + sc.exposure / 2
            gain = 1.0 + sc.flicker * np.sinc(sc.flicker_hz * sc.exposure) * np.sin(2 * np.pi * sc.flicker_hz * mid)
            out = out * gain[..., None]
        return out


# --------------------------------------------------------------------------------------
# Writing a scene to disk
# --------------------------------------------------------------------------------------


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None


def render(
    scene: Scene,
    video_path: str | os.PathLike[str],
    *,
    truth_path: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    codec: str | None = None,
    batch: int = 64,
    force: bool = False,
) -> dict[str, Any]:
    """Render a scene to a lossless video (or ``.npy``) plus its truth as a WAV.

    Parameters
    ----------
    scene : Scene
    video_path : path-like
        ``.mkv``/``.nut``/``.avi`` (FFV1), ``.mp4`` (lossless H.264, 8-bit only), or
        ``.npy`` (a memory-mapped ``(n_frames, rows, cols)`` array, written streamed).
        Container frame rates are nominal (see :func:`vismic.io.writers.write_video`); the
        true rate is ``scene.rate``, returned here.
    truth_path : path-like or None
        Where to write :meth:`Scene.truth` (pixels) as a float32 WAV at
        ``round(rate)`` samples/s; default: the video path with suffix ``.truth.wav``.
    progress : callable(done, total) or None
        Called after every batch with the number of frames written so far.
    codec : str or None
        Override the codec (see :func:`~vismic.io.writers.write_video`).
    batch : int
        Frames rendered at a time (memory is bounded by it, not by the clip length).
    force : bool
        Overwrite existing files; otherwise :class:`~vismic.errors.OutputExistsError`.

    Returns
    -------
    dict
        JSON-able metadata: the scene parameters (:meth:`Scene.to_dict`), ``crb``
        (:meth:`Scene.cramer_rao`, non-finite values as ``None``), ``truth_rms_px``,
        ``n_frames``, ``video_path``, ``truth_path``, ``video`` (what the writer stored)
        and ``render_seconds``.

    Raises
    ------
    OutputExistsError
        An output exists and ``force`` is False.
    ParameterError
        Unsupported suffix or codec.
    """
    import soundfile as sf

    from .io.writers import temporary_path, write_video

    video_path = Path(video_path)
    truth = Path(truth_path) if truth_path is not None else video_path.with_suffix(".truth.wav")
    if truth.resolve() == video_path.resolve():
        raise _bad("truth_path", str(truth), "is the video path", "give another file name")
    for p in (video_path, truth):
        if p.exists() and not force:
            raise OutputExistsError(f"{str(p)!r} exists; pass force=True to overwrite it")
    t0 = time.perf_counter()
    total = scene.n_frames

    def batches() -> Iterator[np.ndarray]:
        done = 0
        for frames in scene.frames(batch=batch):
            yield frames
            done += frames.shape[0]
            if progress is not None:
                progress(done, total)

    if video_path.suffix.lower() == ".npy":
        video_info = _write_npy(video_path, batches(), (total, *scene.shape), scene.dtype)
    else:
        video_info = write_video(video_path, batches(), rate=scene.rate, codec=codec, bits=scene.bits)

    tmp = temporary_path(truth)
    try:
        sf.write(tmp, scene.truth().astype(np.float32), max(1, round(scene.rate)),
                 subtype="FLOAT", format="WAV")
        os.replace(tmp, truth)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    crb = {k: _json_float(v) for k, v in scene.cramer_rao().items()}
    meta = scene.to_dict()
    meta.update(
        crb=crb,
        truth_rms_px=float(np.sqrt(np.mean(scene.truth() ** 2))),
        truth_wav_rate=max(1, round(scene.rate)),
        video_path=str(video_path),
        truth_path=str(truth),
        video=video_info,
        render_seconds=time.perf_counter() - t0,
    )
    return meta


def _write_npy(path: Path, batches: Iterator[np.ndarray], shape: tuple[int, ...], dtype: np.dtype) -> dict:
    from .io.writers import temporary_path

    tmp = temporary_path(path)
    try:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        i = 0
        for frames in batches:
            mm[i : i + frames.shape[0]] = frames
            i += frames.shape[0]
        if i != shape[0]:
            raise InputError(f"got {i} frames, expected {shape[0]}")
        mm.flush()
        del mm
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"path": str(path), "format": "npy", "dtype": str(np.dtype(dtype)), "n_frames": shape[0],
            "rows": shape[1], "cols": shape[2], "lossless": True}
