"""Local motion from complex band phases, summed into per-band, per-region signals.

For a band coefficient ``C = A exp(i phi)`` a sub-pixel shift ``d`` changes the phase by
``k . d`` (``k`` the band's local frequency), so the amplitude-weighted phase change summed over a
region measures the region's motion along the band's direction (Davis et al. 2014, eq. 3).

Three references for the phase change are offered:

``"anchored"`` (default)
    the phase change against an anchor frame, weighted by ``|C_t C_a|``, with the anchor renewed
    to the current frame whenever a region's displacement fitted to its bands' phases would turn
    a band by :data:`ANCHOR_TURN` radians (the object drifted; detected one frame late) and at
    least every :data:`ANCHOR_CELL` frames.
    Returned as frame-to-frame differences of that phase (integrated later like increments), so
    the noise of a frame's phase telescopes away inside each anchor's span and enters the
    integral only once per renewal: white like ``"reference"``, drift-proof like ``"increment"``.
    Frame-to-frame increments of noisy coefficients do not telescope (their weights and wrapped
    angles change every frame), and the integrated noise random-walks: on a weak-texture scene it
    stood 10 dB above the white floor at 40-100 Hz.
``"increment"``
    frame-to-frame increments ``angle(C_t conj(C_{t-1}))`` weighted by ``|C_t C_{t-1}|``, summed
    per region into a velocity, later integrated in time (:func:`integrate`).  Each increment is
    tiny, so slow drift of many pixels never wraps the phase; its noise random-walks where the
    texture is weak (above).
``"reference"``
    the phase change against the first frame (the paper's method), weighted by ``|C_t C_0|``.
    Breaks once the object drifts by a sizeable fraction of the finest wavelength.

The region sums are normalised by the region's total weight in each frame, which keeps the
signal in radians and makes it insensitive to lighting changes that scale the amplitudes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from ._backends import fft_backend, jit_kernel
from .errors import ParameterError
from .pyramid import Band, ComplexSteerablePyramid

__all__ = ["Channel", "MotionEstimator", "FastMotionEstimator", "integrate", "region_edges", "region_layout",
           "global_lucas_kanade"]

MODES = ("anchored", "increment", "reference")
#: the modes of the torch estimator (:mod:`vismic.gpu`)
TORCH_MODES = ("increment", "reference")
#: ``"anchored"``: the anchor is renewed at the last frame of every cell of this many frames
#: (counted from the run's frame 0), so a span of frames computed on its own (a chunk starting
#: at a multiple of it, primed with the frame before) equals the same span of one whole pass
ANCHOR_CELL = 128
#: ``"anchored"``: a renewal follows a frame at which some band of a region is expected to have
#: turned by more than this (radians) against the anchor: the region's displacement is fitted to
#: all its bands' phases (least squares, weighted by the bands' amplitudes, so that the noise of
#: weak bands does not trigger renewals) and projected on each band.  A coefficient's phase wraps
#: at pi; the finest bands turn by about 1 rad per 0.4 px.
ANCHOR_TURN = 0.8


@dataclass(frozen=True)
class Channel:
    """One motion signal: a band inside one region of the ROI.

    ``rect`` is ``(x, y, w, h)`` in full-resolution ROI pixels.
    """

    band: Band
    region: tuple[int, int]
    rect: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        return f"{self.band.name}_r{self.region[0]}c{self.region[1]}"


def as_batch(frames: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``frames`` as a float32 batch ``(n, rows, cols)`` (one frame becomes a batch of one).

    Raises
    ------
    ParameterError
        The frames are not of ``shape``.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.shape[-2:] != tuple(shape):
        raise ParameterError(f"frames of shape {frames.shape[-2:]} given to an estimator built for {tuple(shape)}")
    return frames


def region_edges(n: int, parts: int) -> np.ndarray:
    """Integer edges splitting ``n`` samples into ``parts`` near-equal tiles."""
    return np.round(np.linspace(0, n, parts + 1)).astype(np.int64)


class _DriftFit:
    """``"anchored"``: whether a frame's phases against the anchor call for a new anchor.

    Each region's displacement is fitted to all its bands' phases (least squares, weighted by the
    bands' weights, so the noise of weak bands does not trigger renewals) and projected on each
    band; the anchor is renewed when some band would have turned by more than :data:`ANCHOR_TURN`.
    """

    def __init__(self, channels) -> None:
        u = np.array([c.band.phase_per_px for c in channels])  # each channel's phase per pixel (x, y)
        regions = [c.region for c in channels]
        labels = sorted(set(regions))
        self.onehot = np.array([[r == lab for lab in labels] for r in regions], np.float64).T  # (R, c)
        self.u = u
        self.uu = np.stack([u[:, 0] ** 2, u[:, 0] * u[:, 1], u[:, 1] ** 2], axis=1)

    def turned(self, phase: np.ndarray, den: np.ndarray) -> np.ndarray:
        """Per frame (rows of ``phase``, ``den``: ``(n, channels)``), whether some band turned too far."""
        ok = np.isfinite(phase)
        w = np.where(ok, den, 0.0)
        wp = np.where(ok, phase, 0.0) * w
        a = (w[:, None, :] * self.onehot) @ self.uu  # (n, R, 3): per frame and region, sum w u u^T
        b = (wp[:, None, :] * self.onehot) @ self.u  # (n, R, 2): sum w u phase
        det = a[..., 0] * a[..., 2] - a[..., 1] ** 2
        good = det > 1e-12 * np.maximum(a[..., 0] * a[..., 2], 1e-300)
        det = np.where(good, det, 1.0)
        dx = np.where(good, (a[..., 2] * b[..., 0] - a[..., 1] * b[..., 1]) / det, 0.0)  # (n, R)
        dy = np.where(good, (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]) / det, 0.0)
        turn = np.abs(self.u[:, 0] * (dx @ self.onehot) + self.u[:, 1] * (dy @ self.onehot))  # (n, c)
        return np.max(turn, axis=1) > ANCHOR_TURN


def region_layout(pyramid: ComplexSteerablePyramid, grid: tuple[int, int]
                  ) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[Channel, ...]]:
    """The regions of a ``grid`` on every level of ``pyramid``, and the channels they make.

    The one region layout of the per-coefficient estimators (this module's and
    :class:`vismic.gpu.TorchMotionEstimator`): each level's coefficients are cut by
    :func:`region_edges`, channels run band by band, regions row-major within a band.

    Returns
    -------
    edges : list of (row_edges, col_edges)
        Per level slot, the region edges on that level's coefficient grid.
    channels : tuple of Channel
        One per band and region, with the region's rectangle in frame pixels.

    Raises
    ------
    ParameterError
        The grid is finer than the coarsest band's coefficients.
    """
    gy, gx = grid
    rows, cols = pyramid.shape
    r_full = region_edges(rows, gy)
    c_full = region_edges(cols, gx)
    channels: list[Channel] = []
    edges: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(len(pyramid.levels)):
        bands = pyramid.bands_of_level(i)
        br, bc = bands[0].shape
        er, ec = region_edges(br, gy), region_edges(bc, gx)
        if np.any(np.diff(er) == 0) or np.any(np.diff(ec) == 0):
            raise ParameterError(
                f"grid={gy}x{gx} is too fine for the coarsest band ({bc}x{br} coefficients); "
                "use fewer regions or fewer scales"
            )
        edges.append((er, ec))
        for b in bands:
            for ry in range(gy):
                for rx in range(gx):
                    rect = (int(c_full[rx]), int(r_full[ry]), int(c_full[rx + 1] - c_full[rx]),
                            int(r_full[ry + 1] - r_full[ry]))
                    channels.append(Channel(b, (ry, rx), rect))
    return edges, tuple(channels)


class MotionEstimator:
    """Streams frames through a pyramid and returns per-channel motion signals.

    Parameters
    ----------
    pyramid : ComplexSteerablePyramid
        Built for the ROI's shape.
    mode : {"anchored", "increment", "reference"}
        Phase reference (see module docs).
    grid : tuple of int
        ``(rows, cols)`` of the region grid; ``(1, 1)`` gives one global signal per band.
    compiled : bool
        Use FFTW plans and the compiled phase step when they are installed and enabled
        (:func:`vismic._backends.fft_backend`, :func:`vismic._backends.jit_wanted`); False: scipy.fft
        and numpy, which agree with them to float32 rounding and cost nothing to set up (for a few
        hundred frames, where planning and loading the compiler cost more than they save).

    Notes
    -----
    Call :meth:`process` on consecutive batches; it keeps the anchor (previous, first) frame's
    coefficients between calls, so memory does not grow with the clip length.  :attr:`position`
    is the run's index of the next frame (``"anchored"`` renews on a grid of run frames).
    """

    def __init__(self, pyramid: ComplexSteerablePyramid, *, mode: str = "anchored", grid=(1, 1),
                 compiled: bool = True) -> None:
        if mode not in MODES:
            raise ParameterError(f"mode={mode!r} is not one of {MODES}")
        gy, gx = int(grid[0]), int(grid[1])
        if gy < 1 or gx < 1:
            raise ParameterError(f"grid={grid} must have at least one region per axis")
        self.pyramid = pyramid
        self.mode = mode
        self.grid = (gy, gx)
        self.compiled = bool(compiled)
        self._edges, channels = region_layout(pyramid, (gy, gx))
        self.channels: tuple[Channel, ...] = channels
        self._work: list[_LevelWork] | None = None
        self._spec: np.ndarray | None = None  # FFTW: the frame's spectrum, transformed in place
        self._forward = None
        self.frames_seen = 0
        self.position = 0
        self.renewals = 0  # "anchored": anchors renewed because the phase turned
        self.mean_weight = np.zeros(len(channels))
        self._last = np.zeros(len(channels), np.float32)  # "anchored": last frame's phase against the anchor
        self._renew = False  # "anchored": renew the anchor at the next frame
        self._drift = _DriftFit(self.channels)  # "anchored": when the anchor must be renewed

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def reset(self, position: int = 0) -> None:
        """Forget the anchor (previous, first) frame, as for a new clip; masks, buffers and plans are kept.

        ``position`` is the run's index of the next frame given (a chunk of frames ``[a, b)`` is
        primed with frame ``a - 1``: ``reset(a - 1)``).
        """
        self.frames_seen = 0
        self.position = int(position)
        self.renewals = 0
        self.mean_weight = np.zeros(len(self.channels))
        self._last[:] = 0.0
        self._renew = False

    def prepare(self) -> None:
        """Allocate the work buffers and plan the transforms now (else done by the first :meth:`process`).

        With FFTW (:func:`vismic._backends.fft_backend`) this is where the plans are made: a run prepares its
        estimator before handing FFTW's wisdom to its other processes.
        """
        if self._work is not None:
            return
        fftw = self.compiled and fft_backend() == "fftw"
        self._work = [_LevelWork(self.pyramid, i, self._edges[i], fftw=fftw, jit=self.compiled)
                      for i in range(len(self.pyramid.levels))]
        if fftw:
            from ._fftw import empty, in_place, save  # the optional extra vismic[fftw] (pyFFTW)

            self._spec = empty(self.pyramid.shape, np.complex64)
            self._forward = in_place(self._spec, (0, 1), forward=True, threads=self.pyramid.workers or 1)
            save()  # new plans go to the disk cache for the next run

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Motion of a batch of consecutive frames.

        Parameters
        ----------
        frames : ndarray, shape (n, rows, cols)
            The next ``n`` frames of the clip.

        Returns
        -------
        ndarray, shape (n, n_channels), float32
            ``"anchored"``, ``"increment"``: phase velocity (radians per frame, 0 for the clip's
            first frame); ``"reference"``: phase change against the first frame (radians).
            NaN where a region carries no weight (no texture).

        Notes
        -----
        Frames go through the pyramid one at a time with preallocated work buffers: on the CPUs
        measured, batching frames through the FFTs was slower (the working set leaves the cache).
        The result does not depend on how the clip is cut into batches.
        """
        frames = as_batch(frames, self.pyramid.shape)
        self.prepare()
        n = frames.shape[0]
        out = np.empty((n, self.n_channels), dtype=np.float32)
        weight = np.zeros(self.n_channels)
        anchored = self.mode == "anchored"
        keep = self.mode == "reference"
        den_t = np.zeros(self.n_channels)
        for t in range(n):
            if self._forward is None:
                spec = sfft.fft2(frames[t], workers=self.pyramid.workers)
            else:
                spec = self._spec
                np.copyto(spec, frames[t])
                self._forward()
            if anchored:  # this frame becomes the anchor after its phase is taken against the old one
                renew = self._renew or (self.position + 1) % ANCHOR_CELL == 0
                keep = not renew
            j = 0
            for work in self._work:
                num, den = work.step(spec, first=self.frames_seen == 0, keep_anchor=keep)
                m = num.size
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[t, j : j + m] = np.where(den > 0, num / den, np.nan)
                if anchored:
                    den_t[j : j + m] = den
                weight[j : j + m] += den
                j += m
            if anchored:
                phase = out[t].copy()
                out[t] -= self._last
                if renew or self.frames_seen == 0:
                    self._last[:] = 0.0
                    self.renewals += self._renew  # renewals for drift (the cells' are implied)
                    self._renew = False
                else:
                    self._last[:] = phase
                    self._renew = bool(self._drift.turned(phase[None], den_t[None])[0])
            self.frames_seen += 1
            self.position += 1
        self.mean_weight += weight
        return out


def level_geometry(pyr: ComplexSteerablePyramid, i: int, edges: tuple[np.ndarray, np.ndarray]):
    """How level slot ``i`` is taken from the full spectrum and summed over regions.

    Returns
    -------
    flat : ndarray of int or None
        Flat indices of the level's cropped grid in the full spectrum (None: the full grid).
    rows_ind, cols_ind : ndarray, float32, shapes (gy, r) and (c, gx)
        Region indicators: ``rows_ind @ x @ cols_ind`` sums ``x`` (r, c) over each region.
    """
    rows, cols = pyr.shape
    plan = pyr.level_plan(i)
    ri, ci = plan.rows, plan.cols
    _, r, c = plan.filters.shape
    flat = None if (len(ri) == rows and len(ci) == cols) else (ri[:, None] * cols + ci[None, :]).ravel()
    er, ec = edges
    rows_ind = (np.arange(r)[None, :] >= er[:-1, None]) & (np.arange(r)[None, :] < er[1:, None])
    cols_ind = (np.arange(c)[:, None] >= ec[None, :-1]) & (np.arange(c)[:, None] < ec[None, 1:])
    return flat, rows_ind.astype(np.float32), cols_ind.astype(np.float32)


#: coefficients per block of the phase step (complex64 temporaries of 256 KB: within a core's cache)
_BLOCK_ELEMENTS = 32768
#: levels smaller than this (coefficients per band) are inverted whole, all bands in one call
_PRUNE_MIN_AREA = 128 * 128
#: prune a band's inverse FFT when its spectrum lies within this fraction of the rows (or columns)
_PRUNE_BELOW = 0.75


def _ifft_inplace(view: np.ndarray, axes: tuple[int, ...], workers: int | None) -> None:
    """Inverse FFT of ``view`` over ``axes``, written back into ``view``."""
    res = sfft.ifftn(view, axes=axes, workers=workers, overwrite_x=True)
    if res.__array_interface__["data"][0] != view.__array_interface__["data"][0]:
        view[...] = res  # scipy gave a new array: copy back (not seen with pocketfft, kept for safety)


def _inverse(view: np.ndarray, axes: tuple[int, ...], workers: int | None, fftw: bool):
    """A no-argument callable: the inverse FFT of ``view`` over ``axes``, in place.

    With ``fftw`` an FFTW plan made now (it overwrites ``view``), unnormalised: the caller folds
    the ``1/n`` into its masks.  Else :mod:`scipy.fft`, normalised as numpy's ``ifft``.
    """
    if fftw:
        from ._fftw import in_place  # the optional extra vismic[fftw] (pyFFTW)

        return in_place(view, axes, forward=False, threads=workers or 1)
    return functools.partial(_ifft_inplace, view, axes, workers)


class _BandPlan:
    """How one band's spectrum is formed and inverted (see :class:`_LevelWork`).

    An analytic band's spectrum fills one half-plane, so for bands whose support lies within a
    contiguous run ``lo:hi`` of rows (or columns) of the level grid, the first 1-D inverse pass
    runs over those rows only; the second pass covers the whole grid.  At two orientations that
    removes a quarter of every band's inverse-FFT work, with the same result.
    """

    def __init__(self, k: int, filt: np.ndarray, flat: np.ndarray | None, dst: np.ndarray, *,
                 workers: int | None, fftw: bool) -> None:
        r, c = filt.shape
        self.k = k
        nz = filt != 0
        rows = np.flatnonzero(nz.any(axis=1))
        cols = np.flatnonzero(nz.any(axis=0))
        fr = (rows[-1] + 1 - rows[0]) / r if rows.size else 1.0
        fc = (cols[-1] + 1 - cols[0]) / c if cols.size else 1.0
        if min(fr, fc) >= _PRUNE_BELOW:
            self.axis = None  # inverse over the whole grid
            sel = (slice(None), slice(None))
        elif fr <= fc:
            self.axis = 0  # support within rows lo:hi: first pass along each of those rows
            self.lo, self.hi = int(rows[0]), int(rows[-1] + 1)
            sel = (slice(self.lo, self.hi), slice(None))
        else:
            self.axis = 1  # support within columns lo:hi: first pass down each of those columns
            self.lo, self.hi = int(cols[0]), int(cols[-1] + 1)
            sel = (slice(None), slice(self.lo, self.hi))
        self.sel = sel
        self.filt = np.ascontiguousarray(filt[sel])
        self.src = None if flat is None else np.ascontiguousarray(flat.reshape(r, c)[sel]).ravel()
        self.dst = dst
        if self.axis is None:
            self.passes = (_inverse(dst, (0, 1), workers, fftw),)
        else:  # first over the rows (columns) holding the support, then over the whole grid
            self.passes = (_inverse(dst[sel], (1 - self.axis,), workers, fftw),
                           _inverse(dst, (self.axis,), workers, fftw))

    def form(self, spec: np.ndarray, gather: np.ndarray | None) -> None:
        """Band coefficients of one frame into ``dst`` (r, c) from the frame's full spectrum."""
        dst = self.dst
        part = dst[self.sel]
        if self.src is None:
            np.multiply(spec[self.sel], self.filt, out=part)
        else:
            g = gather.ravel()[: self.src.size].reshape(self.filt.shape)
            np.take(spec.ravel(), self.src, out=g.ravel())
            np.multiply(g, self.filt, out=part)
        if self.axis == 0:
            dst[: self.lo] = 0
            dst[self.hi :] = 0
        elif self.axis == 1:
            dst[:, : self.lo] = 0
            dst[:, self.hi :] = 0
        for run in self.passes:
            run()


class _LevelWork:
    """Preallocated buffers and region-sum matrices of one pyramid level (one frame at a time).

    A band is formed and inverted whole (:class:`_BandPlan`); its phase step then runs over blocks
    of about :data:`_BLOCK_ELEMENTS` coefficients, so that the temporaries of the elementwise passes
    stay in the core's cache instead of streaming through main memory once per pass.
    """

    def __init__(self, pyr: ComplexSteerablePyramid, i: int, edges: tuple[np.ndarray, np.ndarray], *,
                 fftw: bool = False, jit: bool = True) -> None:
        filt = pyr.level_plan(i).filters
        k, r, c = filt.shape
        if fftw:  # FFTW's inverse is unnormalised: its 1/(r c) goes into the masks
            filt = filt * np.float32(1.0 / (r * c))
        # a cropped level gathers its part of the full spectrum with flat indices; regions are
        # summed by two small matrix products
        flat, self.rows_ind, self.cols_ind = level_geometry(pyr, i, edges)
        pruned = r * c >= _PRUNE_MIN_AREA
        if fftw:
            from ._fftw import empty  # the optional extra vismic[fftw] (pyFFTW)
        else:
            empty = np.empty
        # pruned levels form and use one band at a time: one band's buffer keeps the working set
        # small; small levels form all bands in one multiply and one inverse FFT (per-call costs
        # dominate there)
        self.buf = empty((1 if pruned else k, r, c), np.complex64)
        self.plans = ([_BandPlan(b, filt[b], flat, self.buf[0], workers=pyr.workers, fftw=fftw) for b in range(k)]
                      if pruned else None)
        if not pruned:
            self.inverse = _inverse(self.buf, (1, 2), pyr.workers, fftw)
        self.filt = None if pruned else filt  # pruned levels keep their bands' cropped masks in the plans
        self.flat = flat
        self.gather = np.empty((r, c), np.complex64) if flat is not None else None
        self.anchor_conj = np.empty((k, r, c), np.complex64)  # conj of the previous (or first) frame's bands
        self.kernel = jit_kernel() if jit else None
        if self.kernel is None:  # the numpy phase step's blocks and their temporaries
            step = max(1, min(r, _BLOCK_ELEMENTS // c))
            self.blocks = [(a, min(a + step, r)) for a in range(0, r, step)]
            self.z = np.empty((step, c), np.complex64)
            self.re = np.empty((step, c), np.float32)
            self.im = np.empty((step, c), np.float32)
            self.w = np.empty((step, c), np.float32)
            self.phi = np.empty((step, c), np.float32)
            self.ones = np.ones(step * c, np.float32)  # sum(w) as a dot product (BLAS: ~4x a float64 sum)
        self.whole = self.rows_ind.shape[0] == 1 and self.cols_ind.shape[1] == 1
        self.k = k
        self.grid = (self.rows_ind.shape[0], self.cols_ind.shape[1])
        self.n_regions = self.grid[0] * self.grid[1]
        er, ec = edges
        self.rowreg = (np.searchsorted(er, np.arange(r), side="right") - 1).astype(np.int64)
        self.colseg = np.asarray(ec, np.int64)

    def step(self, spec: np.ndarray, *, first: bool, keep_anchor: bool) -> tuple[np.ndarray, np.ndarray]:
        """Weighted phase-change sums ``(num, den)`` of one frame, each of shape ``(K * regions,)``."""
        m = self.n_regions
        num = np.zeros(self.k * m)
        den = np.zeros(self.k * m)
        kernel = self.kernel
        if self.plans is None:
            sub = spec
            if self.flat is not None:
                np.take(spec.ravel(), self.flat, out=self.gather.ravel())
                sub = self.gather
            np.multiply(sub[None], self.filt, out=self.buf)
            self.inverse()
        for b in range(self.k):
            coeffs = self.buf[b if self.plans is None else 0]
            anchor = self.anchor_conj[b]
            if self.plans is not None:
                self.plans[b].form(spec, self.gather)
            if first:
                np.conjugate(coeffs, out=anchor)
            if kernel is not None:
                kernel(coeffs.view(np.float32), anchor.view(np.float32), keep_anchor, self.rowreg, self.colseg,
                       num[b * m : (b + 1) * m].reshape(self.grid), den[b * m : (b + 1) * m].reshape(self.grid))
                continue
            for r0, r1 in self.blocks:
                h = r1 - r0
                cb, ab = coeffs[r0:r1], anchor[r0:r1]
                z, re, im, w, phi = self.z[:h], self.re[:h], self.im[:h], self.w[:h], self.phi[:h]
                np.multiply(cb, ab, out=z)
                if not keep_anchor:
                    np.conjugate(cb, out=ab)
                # arctan2 on contiguous float32 is several times faster than np.angle on complex64
                np.copyto(re, z.real)
                np.copyto(im, z.imag)
                np.arctan2(im, re, out=phi)
                np.abs(z, out=w)
                if self.whole:
                    num[b] += float(np.dot(w.ravel(), phi.ravel()))  # sum(w * phi) without a product array
                    den[b] += float(np.dot(w.ravel(), self.ones[: w.size]))
                else:
                    np.multiply(w, phi, out=phi)
                    ri = self.rows_ind[:, r0:r1]
                    num[b * m : (b + 1) * m] += (ri @ phi @ self.cols_ind).ravel()
                    den[b * m : (b + 1) * m] += (ri @ w @ self.cols_ind).ravel()
        return num, den


class FastMotionEstimator:
    """First-order motion from one forward FFT per frame (``--mode fast``).

    For a band ``b`` with frequency response ``H_b`` and a region tile with spectrum ``F_t``,
    Parseval's theorem gives the sum over the tile of the coefficient product
    ``C_t conj(C_{t-1})`` without computing any band::

        S_b(t) = sum_k |H_b(k)|^2 F_t(k) conj(F_{t-1}(k))     (up to a constant factor)

    For small phase changes ``sum |z| angle(z) / sum |z|`` (what :class:`MotionEstimator`
    measures) equals ``angle(sum z)`` to first order, so the band's phase velocity is
    ``angle(S_b)``.  A frame costs one real FFT per tile and one matrix product with the
    precomputed weights ``|H_b|^2`` (folded onto the half spectrum of a real frame); no inverse
    transforms, no per-pixel angles.

    The approximation weights each pixel's phase change by ``|C|^2`` instead of ``|C|`` and sums
    complex products before taking the angle, so it departs from the exact path where phase
    changes within a region are large or disagree: large motions between the two compared frames
    (``mode="reference"`` with drift), non-rigid motion inside a region, strong noise.  Regions are
    independent tiles, each transformed on its own (periodic at its edges), not windows of one
    pyramid over the ROI.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the ROI.
    scales, orientations, high_band :
        As for :class:`~vismic.pyramid.ComplexSteerablePyramid`, built for one tile.
    mode : {"anchored", "increment", "reference"}
        As for :class:`MotionEstimator` (``"anchored"``: the same renewal rules, with ``|S_b|`` as
        a band's weight in the drift fit).
    grid : tuple of int
        Tiles ``(rows, cols)``; the ROI is cut into equal tiles, dropping the last
        ``rows % gy`` rows and ``cols % gx`` columns.
    workers : int or None
        Threads for the FFTs.

    Raises
    ------
    ParameterError
        Tiles too small for the pyramid, invalid mode or grid.
    """

    def __init__(self, shape: tuple[int, int], *, scales: int, orientations: int = 4, high_band: bool = True,
                 mode: str = "anchored", grid=(1, 1), workers: int | None = None) -> None:
        if mode not in MODES:
            raise ParameterError(f"mode={mode!r} is not one of {MODES}")
        gy, gx = int(grid[0]), int(grid[1])
        if gy < 1 or gx < 1:
            raise ParameterError(f"grid={grid} must have at least one region per axis")
        rows, cols = int(shape[0]), int(shape[1])
        th, tw = rows // gy, cols // gx
        if th < 8 or tw < 8:
            raise ParameterError(f"grid={gy}x{gx} cuts the {cols}x{rows} region into tiles smaller than 8x8 pixels")
        self.shape = (rows, cols)
        self.tile = (th, tw)
        self.grid = (gy, gx)
        self.mode = mode
        self.workers = workers
        self.pyramid = ComplexSteerablePyramid((th, tw), scales=scales, orientations=orientations,
                                               high_band=high_band, workers=workers)
        responses, _, _ = self.pyramid.frequency_response()
        # |H_b|^2 in unshifted FFT order, folded onto the rfft half plane (kx >= 0).
        nh = tw // 2 + 1
        ky = np.arange(th)[:, None]
        kx = np.arange(nh)[None, :]
        mirror = ((1 <= kx) & (kx < (tw + 1) // 2)).astype(np.float64)  # columns whose -kx is not stored
        n_b = len(responses)
        weights = np.zeros((th, nh, 2, 2 * n_b), np.float32)
        powers = [np.abs(np.fft.ifftshift(h)) ** 2 for h in responses]
        scale = max(float(p.max()) for p in powers) or 1.0
        for b, power in enumerate(powers):
            power = power / (2 * scale)
            pos = power[:, :nh]
            neg = power[(-ky) % th, (-kx) % tw] * mirror
            weights[:, :, 0, b] = pos + neg        # real part of X -> real part of S_b
            weights[:, :, 1, n_b + b] = pos - neg  # imaginary part of X -> imaginary part of S_b
        self._weights = weights.reshape(th * nh * 2, 2 * n_b)
        self._nb = n_b
        channels = []
        for band in self.pyramid.bands:
            for ry in range(gy):
                for rx in range(gx):
                    channels.append(Channel(band, (ry, rx), (rx * tw, ry * th, tw, th)))
        self.channels: tuple[Channel, ...] = tuple(channels)
        self._anchor: np.ndarray | None = None
        self.frames_seen = 0
        self.position = 0
        self.renewals = 0
        self.mean_weight = np.zeros(len(channels))
        self._last = np.zeros(len(channels), np.float32)  # "anchored": last frame's phase against the anchor
        self._renew = False
        self._drift = _DriftFit(self.channels)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def reset(self, position: int = 0) -> None:
        """Forget the anchor (previous, first) frame, as for a new clip; the weights are kept (``position``
        as for :meth:`MotionEstimator.reset`)."""
        self._anchor = None
        self.frames_seen = 0
        self.position = int(position)
        self.renewals = 0
        self.mean_weight = np.zeros(len(self.channels))
        self._last[:] = 0.0
        self._renew = False

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Motion of a batch of consecutive frames (same contract as :meth:`MotionEstimator.process`)."""
        frames = as_batch(frames, self.shape)
        n = frames.shape[0]
        (gy, gx), (th, tw) = self.grid, self.tile
        tiles = frames[:, : gy * th, : gx * tw].reshape(n, gy, th, gx, tw).transpose(0, 1, 3, 2, 4)
        tiles = np.ascontiguousarray(tiles)  # the FFT of contiguous tiles is ~1.5x faster than of the view
        spec = sfft.rfft2(tiles, axes=(-2, -1), workers=self.workers)  # (n, gy, gx, th, nh) complex64
        if self._anchor is None:
            self._anchor = spec[0].copy()
        if self.mode == "anchored":
            out = self._anchored(spec)
        else:
            x = np.empty_like(spec)
            if self.mode == "reference":
                np.multiply(spec, np.conj(self._anchor)[None], out=x)
            else:
                np.multiply(spec[1:], np.conj(spec[:-1]), out=x[1:])
                np.multiply(spec[0], np.conj(self._anchor), out=x[0])
                self._anchor = spec[-1].copy()
            out, weight = self._phase(x)
            self.mean_weight += weight.sum(axis=0)
        self.frames_seen += n
        self.position += n
        return out

    def _phase(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Band phases ``angle(S_b)`` and weights ``|Re S_b|`` of products ``x`` (n, gy, gx, th, nh), each
        ``(n, channels)`` (float32, NaN where a tile has no texture in a band; float64)."""
        n = x.shape[0]
        gy, gx = self.grid
        # interleaved (re, im) pairs against stacked weights: one matrix product gives Re and Im of every S_b
        s = x.view(np.float32).reshape(n * gy * gx, -1) @ self._weights
        re = s[:, : self._nb].reshape(n, gy * gx, self._nb)
        im = s[:, self._nb :].reshape(n, gy * gx, self._nb)
        v = np.arctan2(im, re)
        v[(re == 0) & (im == 0)] = np.nan  # a tile without texture in this band
        order = (0, 2, 1)  # channels are band-major: (n, band, region)
        v = np.ascontiguousarray(np.transpose(v, order)).reshape(n, -1).astype(np.float32)
        weight = np.ascontiguousarray(np.transpose(np.abs(re), order)).reshape(n, -1).astype(np.float64)
        return v, weight

    def _anchored(self, spec: np.ndarray) -> np.ndarray:
        """``"anchored"`` phase differences of a batch (the rules of :class:`MotionEstimator`): each
        frame's phase against the anchor, the anchor renewed at the last frame of every
        :data:`ANCHOR_CELL` and after a frame whose fitted displacement turned a band too far."""
        n = spec.shape[0]
        out = np.empty((n, self.n_channels), np.float32)
        t = 0
        while t < n:
            phase, weight = self._phase(spec[t:] * np.conj(self._anchor)[None])
            # the first frame of the stretch that becomes the anchor: the clip's first frame, a
            # cell's last frame, or the frame after one whose phase turned too far
            turned = self._drift.turned(phase, weight)  # each frame's fitted displacement turned a band too far
            drift = np.concatenate([[self._renew], turned[:-1]])  # renew after a frame that turned
            renew = drift | ((self.position + t + np.arange(len(phase)) + 1) % ANCHOR_CELL == 0)
            renew[0] |= self.frames_seen + t == 0
            stop = int(np.argmax(renew)) + 1 if renew.any() else len(phase)
            out[t : t + stop] = phase[:stop]
            out[t] -= self._last
            out[t + 1 : t + stop] -= phase[: stop - 1]
            self.mean_weight += weight[:stop].sum(axis=0)  # frames after a renewal are computed again
            if renew.any():
                self._anchor = spec[t + stop - 1].copy()
                self._last[:] = 0.0
                self.renewals += bool(drift[stop - 1])  # renewals for drift (the cells' are implied)
                self._renew = False
            else:
                self._last[:] = phase[-1]
                self._renew = bool(turned[-1])
            t += stop
        return out


def integrate(velocity: np.ndarray) -> np.ndarray:
    """Integrate increment-mode velocities into displacements (float64, along axis 0)."""
    return np.cumsum(np.asarray(velocity, dtype=np.float64), axis=0)


def global_lucas_kanade(frames: np.ndarray, *, reference: np.ndarray | None = None,
                        direction_deg: float = 0.0) -> np.ndarray:
    """Plain global Lucas-Kanade displacement along one direction (a baseline, in pixels).

    ``d_t = sum(g * (I_0 - I_t)) / sum(g^2)`` with ``g`` the directional derivative of the
    reference frame (central differences).  This is the textbook estimator the phase method is
    compared against; it is unbiased only for motions much smaller than a pixel.

    Parameters
    ----------
    frames : ndarray, shape (n, rows, cols)
    reference : ndarray, shape (rows, cols), optional
        Defaults to ``frames[0]``.
    direction_deg : float
        Motion direction (0 = +x).

    Returns
    -------
    ndarray, shape (n,), float64
    """
    frames = np.asarray(frames, dtype=np.float64)
    ref = frames[0] if reference is None else np.asarray(reference, dtype=np.float64)
    gy, gx = np.gradient(ref)
    th = np.radians(direction_deg)
    g = np.cos(th) * gx + np.sin(th) * gy
    g = g[1:-1, 1:-1]
    den = float(np.sum(g * g))
    if den <= 0:
        raise ParameterError("the reference frame has no gradient along the motion direction")
    diff = ref[None, 1:-1, 1:-1] - frames[:, 1:-1, 1:-1]
    return np.einsum("nij,ij->n", diff, g) / den
