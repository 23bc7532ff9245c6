"""Textures: procedural (pink, white, checker, stripes, flat) and loaded from images, periodic and band-limited."""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.fft as sfft
from PIL import Image, UnidentifiedImageError

from .._validation import bad, check_number
from ..errors import VideoReadError
from ._common import (
    _check_shape,
    _check_texture,
    _freq_grids,
    _minmax01,
    _square_wave,
    _zero_nyquist,
)

TEXTURE_KINDS = ("pink", "white", "checker", "stripes", "flat")

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
        raise bad("kind", kind, f"is not one of {TEXTURE_KINDS}", 'use e.g. kind="pink"')
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
    s = check_number("sigma", sigma, lo=0.0, fix="give the blur in pixels, e.g. sigma=1.0")
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
    lo = check_number("rows[0]", rows[0], lo=0.0, hi=1.0, fix="give fractions of the height in [0, 1]")
    hi = check_number("rows[1]", rows[1], lo=0.0, hi=1.0, fix="give fractions of the height in [0, 1]")
    if not hi > lo:
        raise bad("rows", rows, "must be (top, bottom) with top < bottom", "use e.g. rows=(0.15, 0.85)")
    soft = max(check_number("soft_px", soft_px, lo=0.0, fix="use e.g. soft_px=1.5"), 1e-6)
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
    if shape is not None:
        shape = _check_shape("shape", shape)
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise bad("scale", scale, "must be a finite factor > 0", "use e.g. scale=0.5 or 1.0")
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
        raise bad("shape", img.shape, "of the loaded texture must be >= 4 x 4 pixels", "give a larger shape")
    img = _periodic_component(img)
    spec = sfft.rfft2(img)
    _zero_nyquist(spec, *img.shape)
    img = sfft.irfft2(spec, s=img.shape)
    return _minmax01(img).astype(np.float32)


# --------------------------------------------------------------------------------------
# Sounds
# --------------------------------------------------------------------------------------
