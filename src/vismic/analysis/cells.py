"""Per-cell motion of a clip: the machinery behind the vibration map and the motion spectrum.

A region of the frame is cut into cells; every cell's motion is measured with the same machinery as
a recovery (complex steerable pyramid, amplitude-weighted anchored phase per region,
:class:`vismic.motion.MotionEstimator`), and the band signals of a cell are projected onto a 2-D
displacement ``(dx, dy)`` in pixels by least squares on the bands' nominal wave vectors
(``phase ~ -k_b . d``; :func:`projector`). :func:`stream_cells` streams a clip through it
(:class:`CellMotion`); :func:`displacement_in_band` and :func:`bandpass` turn the velocities into
band-limited displacement. Also the checks the analyses share (:func:`check_roi`, :func:`check_band`,
:func:`resolve_rate`).
"""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.signal as ss

from .._typing import ProgressFn
from ..denoise import default_highpass
from ..errors import ParameterError
from ..io import FrameSource, open_source
from ..io.base import ROI
from ..io.stream import resolve_rate as _rate_rule
from ..io.stream import stream_motion
from ..motion import MotionEstimator
from ..pyramid import ComplexSteerablePyramid, max_scales

#: fewest frames an analysis is computed from
MIN_FRAMES = 16
#: orientations of the cells' pyramid
_ORIENTATIONS = 4
#: frames on which the bands' noise is measured before projecting them (0.03-1 s at 64-2200 fps)
_NOISE_FRAMES = 64

__all__ = ["MIN_FRAMES", "CellMotion", "stream_cells", "projector", "displacement_in_band", "bandpass", "open_frames",
           "resolve_rate", "check_roi", "check_band", "pick_scales"]


def open_frames(source: str | os.PathLike | FrameSource) -> tuple[FrameSource, bool]:
    """``(source, False)`` for a FrameSource, else ``(opened source, True)``: the caller closes it."""
    if isinstance(source, FrameSource):
        return source, False
    return open_source(os.fspath(source)), True


def resolve_rate(src: FrameSource, fps: float | None) -> float:
    """The capture rate in Hz, by the rules of :func:`vismic.pipeline.recover` (``fps`` wins; else a
    camera file's rate; else the container's, with a warning; else :class:`ParameterError`)."""
    if fps is not None and not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise ParameterError(f"fps={fps} must be a positive number of frames per second")
    return _rate_rule(src, fps, stacklevel=4)[0]


def check_roi(src: FrameSource, roi) -> ROI:
    """``roi`` ((x, y, w, h), an :class:`ROI` or None for the whole frame) checked against the frame."""
    rows, cols = src.shape
    if roi is None:
        return ROI(0, 0, cols, rows)
    r = roi if isinstance(roi, ROI) else ROI(*(int(v) for v in roi))
    return r.check(rows, cols)


def check_band(band, rate: float) -> tuple[float, float]:
    """``(lo, hi)`` in Hz with ``0 <= lo < hi <= rate/2`` (default: from the recovery's default
    high-pass, :func:`vismic.denoise.default_highpass`, to ``0.45*rate``)."""
    if band is None:
        return default_highpass(rate)[0], 0.45 * rate
    try:
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ParameterError(f"band={band!r} must be two frequencies (lo_hz, hi_hz)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= rate / 2):
        raise ParameterError(
            f"band=({lo:g}, {hi:g}) Hz must satisfy 0 <= lo < hi <= rate/2 = {rate / 2:g} Hz"
        )
    return lo, hi


def pick_scales(shape: tuple[int, int], cell: float, cap: int) -> int:
    """Pyramid levels: the coarsest level keeps >= 3 coefficients across the smallest cell."""
    top = max_scales(shape)
    if top < 1:
        raise ParameterError(f"the region is {shape[1]}x{shape[0]} pixels; at least 8x8 is needed")
    want = int(math.floor(math.log2(max(cell, 1.0) / 3.0))) + 1
    return int(np.clip(want, 1, min(cap, top)))


def projector(pyr: ComplexSteerablePyramid, noise: np.ndarray | None = None) -> np.ndarray:
    """Least-squares map from band phase changes to a 2-D displacement in pixels.

    A shift of the content by ``d`` changes the phase of a band with centre frequency ``w`` (radians
    per pixel) and direction ``theta`` by ``-w (cos theta, sin theta) . d``.

    Parameters
    ----------
    pyr : ComplexSteerablePyramid
    noise : ndarray, shape (n_bands,), optional
        Each band's noise variance: bands are then weighted by its inverse (a blurred texture's
        finest bands are mostly noise, and equal weights let them swamp the others).

    Returns
    -------
    ndarray, shape (2, n_bands), float32
        ``d = P @ phase`` with ``d = (dx, dy)``.
    """
    m = np.array([b.phase_per_px for b in pyr.bands])
    if noise is None:
        return np.linalg.pinv(m).astype(np.float32)
    w = 1.0 / np.maximum(np.asarray(noise, np.float64), 1e-30)
    return (np.linalg.pinv((m * w[:, None]).T @ m) @ (m * w[:, None]).T).astype(np.float32)


class CellMotion:
    """Streams frames into per-cell 2-D velocities (pixels per frame).

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the analysed region.
    grid : tuple of int
        ``(rows, cols)`` of the cell grid.
    scales : int
        Pyramid levels (plus the oriented high band).

    Notes
    -----
    :meth:`process` returns ``(n, 2, grid_rows, grid_cols)`` float32 velocities (0 in a frame where a
    cell's band weights vanish); :attr:`valid` flags the cells where that happens in more than 2 %
    of the frames (no texture).  Bands are weighted by their noise, measured on the first
    :data:`_NOISE_FRAMES` frames (the variance of their frame-to-frame phase change over every cell:
    at the sub-pixel motions mapped, that is mostly noise); the first frames are kept until then.
    """

    def __init__(self, shape: tuple[int, int], grid: tuple[int, int], scales: int) -> None:
        self.pyramid = ComplexSteerablePyramid(shape, scales=scales, orientations=_ORIENTATIONS, high_band=True)
        # anchored phase (the recovery's default): increments of weak cells random-walk, and the
        # map then sees no tile above its noise (a 0.01 px object: -7 dB on every tile)
        self.estimator = MotionEstimator(self.pyramid, mode="anchored", grid=grid)
        self.grid = grid
        self.p: np.ndarray | None = None  # the projector, once the bands' noise is measured
        self._held: list[np.ndarray] = []  # band velocities of the first frames, until then
        self._bad = np.zeros(grid, dtype=np.int64)  # frames in which a cell's band weights vanished
        self._frames = 0
        nb = len(self.pyramid.bands)
        # channel order of the estimator: band (pyramid order), then region row, then region column
        expected = [(b, (ry, rx)) for b in self.pyramid.bands for ry in range(grid[0]) for rx in range(grid[1])]
        got = [(c.band, c.region) for c in self.estimator.channels]
        if got != expected:  # pragma: no cover - guards a change of the estimator's channel order
            raise RuntimeError("unexpected channel order from MotionEstimator")
        self._nb = nb

    @property
    def valid(self) -> np.ndarray:
        """Cells with texture: their band weights vanished in at most 2 % of the frames (or 2 frames).

        A blank frame (a camera file's unfinished last frame, a dropped frame) costs the frames around it,
        not the whole cell; a cell without texture fails in most frames."""
        return self._bad <= max(2, int(0.02 * self._frames))

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Velocities of a batch of consecutive frames ``(n, rows, cols)``: ``(n, 2, gy, gx)`` px per frame."""
        v = self.estimator.process(frames)
        n = v.shape[0]
        v = v.reshape(n, self._nb, *self.grid)
        bad = ~np.isfinite(v)
        self._frames += n
        if bad.any():
            self._bad += bad.any(axis=1).sum(axis=0)
            v = np.where(bad, np.float32(0), v)
        if self.p is None:
            self._held.append(v)
            if self._frames < _NOISE_FRAMES:
                return np.zeros((0, 2, *self.grid), np.float32)
            v = self._learn()
        return self._project(v)

    def flush(self) -> np.ndarray:
        """Velocities still held (a clip shorter than :data:`_NOISE_FRAMES`), as :meth:`process` returns them."""
        if self.p is not None or not self._held:
            return np.zeros((0, 2, *self.grid), np.float32)
        return self._project(self._learn())

    def _project(self, v: np.ndarray) -> np.ndarray:
        """Band velocities ``(n, bands, gy, gx)`` to pixel velocities ``(n, 2, gy, gx)``."""
        return np.einsum("kb,nbyx->nkyx", self.p, v, optimize=True).astype(np.float32)

    def _learn(self) -> np.ndarray:
        """Set the projector from the held frames' band noise; return those frames' band velocities."""
        v = np.concatenate(self._held)
        self._held = []
        steps = v[1:].transpose(1, 0, 2, 3).reshape(self._nb, -1)  # frame 0's velocity is 0 by definition
        noise = steps.var(axis=1) if steps.shape[1] else None
        self.p = projector(self.pyramid, noise if noise is not None and np.all(noise > 0) else None)
        return v


def stream_cells(
    src: FrameSource,
    motion: CellMotion,
    *,
    roi: ROI,
    batch: int,
    max_frames: int,
    progress: ProgressFn | None,
    what: str,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read up to ``max_frames`` frames of ``roi`` and return the cells' velocity.

    Returns
    -------
    vel : ndarray, shape (n, 2, gy, gx), float32
        Frame-to-frame displacement in pixels (integrate it with ``cumsum`` for the displacement).
    first : ndarray, shape (roi.h, roi.w), float32
        The first frame of the region.
    n : int
        Frames read.
    """
    first: list[np.ndarray] = []

    def process(frames: np.ndarray) -> np.ndarray:
        if not first:
            first.append(np.array(frames[0], dtype=np.float32))
        return motion.process(frames)

    chunks, done, _ = stream_motion(src, process, roi=roi, batch=batch, progress=progress, stop=max_frames,
                                    min_frames=MIN_FRAMES, what=f"for {what}")
    return np.concatenate([*chunks, motion.flush()], axis=0), first[0], done


def displacement_in_band(vel: np.ndarray, *, rate: float, band: tuple[float, float], block: int = 256) -> np.ndarray:
    """Integrate velocities (n, ...) along axis 0 and band-pass them, a block of columns at a time.

    Work is in float64 per block and the result float32, so memory stays near twice the input's.
    """
    n = vel.shape[0]
    flat = vel.reshape(n, -1)
    out = np.empty(flat.shape, dtype=np.float32)
    for j in range(0, flat.shape[1], block):
        x = np.cumsum(flat[:, j : j + block], axis=0, dtype=np.float64)
        out[:, j : j + block] = bandpass(x, rate=rate, band=band)
    return out.reshape(vel.shape)


def bandpass(x: np.ndarray, *, rate: float, band: tuple[float, float], order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (a low- or high-pass when ``band`` touches 0 or
    ``rate/2``); a linear trend is removed first."""
    lo, hi = band
    nyq = rate / 2
    x = ss.detrend(x, axis=0, type="linear")
    if lo <= 0 and hi >= nyq:
        return x
    if lo <= 0:
        sos = ss.butter(order, hi, btype="lowpass", fs=rate, output="sos")
    elif hi >= nyq:
        sos = ss.butter(order, lo, btype="highpass", fs=rate, output="sos")
    else:
        sos = ss.butter(order, [lo, hi], btype="bandpass", fs=rate, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), x.shape[0] - 1)
    return ss.sosfiltfilt(sos, x, axis=0, padlen=padlen)
