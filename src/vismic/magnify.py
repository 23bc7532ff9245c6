"""Phase-based motion magnification: make a band of the vibration visible.

The method of Wadhwa, Rubinstein, Durand and Freeman, "Phase-Based Video Motion Processing"
(SIGGRAPH 2013), on the same complex steerable pyramid the recovery measures motion with
(:class:`vismic.pyramid.ComplexSteerablePyramid`, pyrtools' bands):

1. every frame is split into oriented, octave-wide complex bands; a small displacement ``d`` of the
   texture turns each coefficient's phase by ``-k . d`` (``k`` its band's wave vector);
2. each coefficient's phase against the first frame is band-passed in time (a causal Butterworth
   band-pass over ``band``, run as the frames stream: memory does not grow with the clip);
3. the band-passed phase is smoothed over space, weighted by the coefficients' amplitude (noise in
   faint coefficients does not leak into the picture), multiplied by ``factor - 1`` and added to the
   coefficient's phase: the motion within ``band`` becomes ``factor`` times larger;
4. the frame is rebuilt from the changed bands (only the change is synthesised and added to the
   input frame, so everything outside the bands, the low- and high-pass residuals, passes unchanged).

**Linear range.** A phase shift stands for a displacement only while it stays below a quarter of a
band's wavelength (``|factor x phase| < pi/2``); beyond, edges ring and double. Shifts are clipped
there (the magnified motion saturates in the finest bands first); the magnifier counts the share of
the magnified motion's energy the clipping took away and the factor that would keep 99 % of it
inside the limit (:data:`LINEAR_RANGE_QUANTILE`); :func:`magnify` warns above that factor. The
motion counted is that of blocks of ``coherence_px`` and their halves, pooled over pixels and bands
(:meth:`MotionMagnifier._linear_range`), so that noise in single coefficients does not count. A
thin structure (a string, a wire) lives mostly in the finest bands, whose quarter wavelength is
0.7-1 px: it saturates first.

**Noise.** Phase noise in the band would be magnified as much as motion: a still, textured
background would shimmer. A noise gate (on by default) magnifies a block of about ``coherence_px``
pixels only as far as its displacement in the band stands above its noise: the block's displacement
is the least-squares fit of every level's and orientation's mean phase (each weighted by its
inverse noise variance), and its noise is measured without a noise model by comparing the
displacements of the block's two halves (:meth:`MotionMagnifier._block_sums`,
:meth:`MotionMagnifier._update_gate`, :meth:`MotionMagnifier._gate`). The gate opens from
``min_snr_db`` to :data:`GATE_RAMP_DB` above it.

:func:`magnify` reads a video, magnifies it and writes a video to watch (``.mp4`` H.264, or lossless
``.mkv``), the magnified frames alone, side by side with the input, or as an overlay (input in cyan,
magnified in red: what moved shows as coloured fringes).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
import scipy.signal as ss
from scipy.ndimage import gaussian_filter

from ._parallel import usable_cores
from ._typing import ProgressFn
from ._validation import check_int, check_number
from .errors import ParameterError
from .io import FrameSource, open_source
from .io.audio import check_writable
from .io.base import ROI
from .io.stream import check_texture, prefetched, resolve_rate
from .io.writers import VIEWING_SUFFIXES, write_viewing_video
from .outputs import check_output_paths
from .pyramid import ComplexSteerablePyramid, max_scales

__all__ = ["MotionMagnifier", "magnify", "check_magnification", "VIEWS", "LINEAR_RANGE_QUANTILE"]

#: what :func:`magnify` writes: the magnified frames, input | magnified side by side, or an overlay
VIEWS = ("magnified", "side-by-side", "overlay")
#: the safe factor keeps this share of the magnified motion's energy within a quarter wavelength;
#: :func:`magnify` warns above it
LINEAR_RANGE_QUANTILE = 0.99
#: quarter of a band's wavelength, as a phase: the linear range of a phase shift
_QUARTER_WAVE = math.pi / 2
#: the noise gate opens fully this many dB above ``min_snr_db``
GATE_RAMP_DB = 6.0
#: the noise gate passes from a block to its neighbour over this share of a block on each side of
#: their edge
_GATE_BLEND = 0.25


@dataclass
class _Level:
    rows: np.ndarray
    cols: np.ndarray
    filters: np.ndarray  # (K, r, c) complex64, ifftshift-ed
    sigma: float  # amplitude-weighted smoothing, in this level's coefficients
    cell: int  # block of coefficients over which motion is told from noise (``coherence_px``)
    wave: np.ndarray  # (K, 2) float32: each band's wave vector, radians of phase per pixel along x, y
    noise_gain: np.ndarray  # (K,) float32: a coefficient's noise variance per unit of white pixel noise
    blocks_y: np.ndarray  # the level's block row under each row of the frame's gate grid
    blocks_x: np.ndarray  # and column
    reference: np.ndarray | None = None  # (K, r, c) conj of the first frame's coefficients
    state: np.ndarray | None = None  # (sections, 2, K, r, c) float32: the band-pass's memory


class MotionMagnifier:
    """Magnify the motion within a temporal band, frame batch by frame batch (streaming).

    Parameters
    ----------
    shape : (rows, cols)
        Frame size.
    rate : float
        Capture rate in Hz.
    band : (lo, hi)
        The band of motion to magnify, in Hz (``0 < lo < hi < rate / 2``).
    factor : float
        Motion within ``band`` comes out ``factor`` times larger (> 0; 1 changes nothing; below 1
        it is attenuated).
    scales : int, optional
        Pyramid scales (default: as many as the frame holds, at most 4).
    orientations : int
        Orientations per scale (default 4).
    order : int
        Order of the Butterworth band-pass (default 2: 12 dB per octave on each side).
    smooth_px : float
        Standard deviation, in pixels of the frame, of the amplitude-weighted smoothing of the
        band-passed phase at the finest scale (scaled with each coarser level's coefficient spacing,
        never below half a coefficient). Default 2 px; 0 turns it off.
    denoise : bool
        The noise gate (module docstring): magnify only motion that stands above the video's noise.
    window_s : float
        Time over which the gate's powers are averaged (default 0.5 s).
    min_snr_db : float
        A block whose displacement in the band stands less than ``min_snr_db`` above its noise is not
        magnified; the magnification opens fully :data:`GATE_RAMP_DB` (6 dB) higher (default 3 dB).
    coherence_px : float
        Side of the blocks the gate tells motion from noise in (default 16 px): larger blocks see
        weaker motion, smaller ones follow an object's outline more closely.
    workers : int, optional
        Threads of each FFT (``scipy.fft``'s ``workers``).
    threads : int, optional
        Pyramid levels processed at once (default: the usable cores); the result does not depend on it.

    Notes
    -----
    Call :meth:`process` on consecutive batches of float32 frames (full scale 1.0). The first
    frame is the phase reference. :attr:`past_linear_share` and :attr:`safe_factor` describe the
    linear range so far (see the module docstring).
    """

    def __init__(self, shape: tuple[int, int], *, rate: float, band: tuple[float, float], factor: float,
                 scales: int | None = None, orientations: int = 4, order: int = 2, smooth_px: float = 2.0,
                 denoise: bool = True, window_s: float = 0.5, min_snr_db: float = 3.0, coherence_px: float = 16.0,
                 workers: int | None = None, threads: int | None = None) -> None:
        rows, cols = (int(v) for v in shape)
        rate = check_number("rate", rate, lo=0.0, lo_open=True, unit="Hz", fix="give the capture rate, e.g. 600")
        lo, hi, self.factor = check_magnification(band, factor, rate)
        order = check_int("order", order, 1, 8, fix="use order=2")
        smooth_px = check_number("smooth_px", smooth_px, lo=0.0, hi=100.0, unit="px", fix="use e.g. 2")
        coherence_px = check_number("coherence_px", coherence_px, lo=1.0, hi=1000.0, unit="px", fix="use e.g. 16")
        min_snr_db = check_number("min_snr_db", min_snr_db, lo=-40.0, hi=60.0, unit="dB", fix="use e.g. 3")
        window_s = check_number("window_s", window_s, lo=0.0, lo_open=True, hi=60.0, unit="s", fix="use e.g. 0.5")
        top = max_scales((rows, cols))
        if top < 1:
            raise ParameterError(f"frames of {cols}x{rows} px are too small to magnify (at least 8x8)")
        scales = min(4, top) if scales is None else check_int("scales", scales, 1, top,
                                                                fix=f"use 1..{top} for {cols}x{rows} frames")
        self.shape, self.rate, self.band = (rows, cols), rate, (lo, hi)
        self.workers = workers
        self.threads = usable_cores() if threads is None else check_int("threads", threads, 1, 1024, fix="use e.g. 2")
        # the finest octave is carved into oriented bands too: thin structures (strings, wires, edges)
        # move mostly there, so leaving it out would leave them unmagnified
        self.pyramid = ComplexSteerablePyramid((rows, cols), scales=scales, orientations=int(orientations),
                                               high_band=True, workers=workers)
        self._sos = ss.butter(order, (lo, hi), btype="bandpass", fs=rate, output="sos").astype(np.float32)
        self.denoise = bool(denoise)
        # running means of the filters' output power: exponential, over ``window_s``
        self._keep = np.float32(math.exp(-1.0 / (window_s * rate)))
        self._min_snr_db = float(min_snr_db)
        self._block = float(coherence_px)
        self._grid = (math.ceil(rows / self._block), math.ceil(cols / self._block))
        self._power: np.ndarray | None = None  # (3, gy, gx): the gate's running powers (:meth:`_update_gate`)
        orient = len(self.pyramid.bands) // len(self.pyramid.levels)
        self._levels: list[_Level] = []
        for i in range(len(self.pyramid.levels)):
            plan = self.pyramid.level_plan(i)
            r, c = plan.filters.shape[1:]
            spacing = rows / r
            sigma = smooth_px / spacing if smooth_px > 0 else 0.0
            cell = max(1, round(coherence_px / spacing))
            bands = self.pyramid.bands[i * orient:(i + 1) * orient]
            # dphase = -k . d, with -k = phase_per_px
            wave = -np.array([b.phase_per_px for b in bands], np.float32)
            # ifft2 over the r x c crop of a frame's FFT: white pixel noise of variance 1 comes out with
            # variance rows * cols * sum |H|^2 / (r c)^2
            gain = (rows * cols * np.sum(np.abs(plan.filters) ** 2, axis=(1, 2)) / (r * c) ** 2).astype(np.float32)
            size = cell * spacing  # a block of this level, in frame pixels
            gy, gx = self._grid
            by = np.minimum(((np.arange(gy) + 0.5) * self._block / size).astype(int), -(-r // cell) - 1)
            bx = np.minimum(((np.arange(gx) + 0.5) * self._block / size).astype(int), -(-c // cell) - 1)
            self._levels.append(_Level(plan.rows, plan.cols, plan.filters,
                                       max(sigma, 0.5) if smooth_px > 0 else 0.0, cell, wave,
                                       np.maximum(gain, np.float32(1e-30)), by, bx))
        self.frames_seen = 0
        self._weight_all = 0.0
        self._weight_past = 0.0
        self._peak = 0.0  # largest 99th percentile (by energy) of a level's |block phase x gate| so far

    @property
    def past_linear_share(self) -> float:
        """Share of the magnified motion's energy that clipping at a quarter wavelength takes away, the
        motion seen through each block's displacement in each band (:meth:`_linear_range`): what
        moves decides, not what is still (a thin string is a small part of the picture and most of
        its motion), nor the phase noise of single coefficients."""
        return self._weight_past / self._weight_all if self._weight_all > 0 else 0.0

    @property
    def safe_factor(self) -> float | None:
        """The factor that keeps 99 % of the magnified motion's energy (as :attr:`past_linear_share`)
        within a quarter wavelength, over the frames so far (None before any motion)."""
        return 1.0 + _QUARTER_WAVE / self._peak if self._peak > 0 else None

    def _bandpass(self, lev: _Level, x: np.ndarray) -> np.ndarray:
        """The causal band-pass over the first axis of ``x`` (n, K, r, c), its state kept between calls."""
        sos = self._sos
        if lev.state is None:
            lev.state = np.zeros((len(sos), 2, *x.shape[1:]), np.float32)
        z = lev.state
        out = np.empty_like(x)
        for t in range(x.shape[0]):
            v = x[t]
            for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):  # direct form II transposed
                y = b0 * v + z[s, 0]
                z[s, 0] = b1 * v - a1 * y + z[s, 1]
                z[s, 1] = b2 * v - a2 * y
                v = y
            out[t] = v
        return out

    def _block_sums(self, lev: _Level, amp: np.ndarray, moving: np.ndarray, normal: np.ndarray) -> np.ndarray | None:
        """Add a level's share to the normal equations of the block displacements (the noise gate's and
        the linear range's, :meth:`_update_gate`, :meth:`_linear_range`).

        Per block of about ``coherence_px`` pixels, orientation and version (the whole block, its left,
        right, top and bottom halves), the amplitude-weighted mean of the band-passed phase ``p`` stands
        for ``-k . d`` (``k`` the band's wave vector) with a noise variance proportional to
        ``n E / (sum of amplitudes)^2`` (``n`` coefficients, ``E`` the band's noise gain): each band
        enters the least-squares displacement with that inverse variance as weight. ``normal`` is
        ``(n, 5, 5, gy, gx)``: per frame and version, ``A_xx, A_xy, A_yy, b_x, b_y``. Levels whose blocks
        are narrower than two coefficients have no halves and take no part (None is returned); the
        others return their blocks' mean squared amplitude ``(n, K, gy, gx)``.
        """
        k, r, c = amp.shape[1:]
        cell = lev.cell
        if cell < 2:
            return None
        rb, cb = -(-r // cell), -(-c // cell)
        half = cell // 2

        def sums(x: np.ndarray) -> np.ndarray:  # (n, K, r, c) -> (n, 5, K, gy, gx): whole, left, right, top, bottom
            x = np.pad(x, ((0, 0), (0, 0), (0, rb * cell - r), (0, cb * cell - c)), mode="edge")
            x = x.reshape(x.shape[0], k, rb, cell, cb, cell)
            left, right = x[..., :half].sum(axis=(3, 5)), x[..., half:].sum(axis=(3, 5))
            top, bottom = x[:, :, :, :half].sum(axis=(3, 5)), x[:, :, :, half:].sum(axis=(3, 5))
            out = np.stack([left + right, left, right, top, bottom], axis=1)
            return out[..., lev.blocks_y, :][..., lev.blocks_x]

        count = np.array([cell * cell, cell * half, cell * (cell - half), cell * half, cell * (cell - half)],
                         np.float32)[None, :, None, None, None]
        weight = sums(amp)
        weighted_phase = sums(moving * amp) * weight / (count * lev.noise_gain[None, None, :, None, None])
        weight = weight * weight / (count * lev.noise_gain[None, None, :, None, None])
        kx, ky = lev.wave[:, 0][None, None, :, None, None], lev.wave[:, 1][None, None, :, None, None]
        normal[:, :, 0] += (weight * kx * kx).sum(axis=2)
        normal[:, :, 1] += (weight * kx * ky).sum(axis=2)
        normal[:, :, 2] += (weight * ky * ky).sum(axis=2)
        normal[:, :, 3] -= (weighted_phase * kx).sum(axis=2)
        normal[:, :, 4] -= (weighted_phase * ky).sum(axis=2)
        return np.square(weight[:, 0] / count[:, 0])

    def _update_gate(self, normal: np.ndarray) -> np.ndarray:
        """Solve the block displacements of a batch (:meth:`_block_sums`), update the gate's running
        powers and return the displacements ``(n, 5, 2, gy, gx)`` of the blocks and of their left,
        right, top and bottom halves.

        The powers: ``signal``, the running mean (over ``window_s``) of the block's squared
        displacement; ``noise_lr`` and ``noise_tb``, those of a quarter of the squared difference
        between its halves' displacements: the noise in the block's displacement, with no noise model
        (the vibration map's split-half rule). Motion that differs between the halves counts as noise
        (the gate errs towards leaving things still); of the two splits the gate takes the smaller,
        the one that does not cut an object's edge. A block with texture along one direction only (a
        bare edge) gets no displacement along the edge (a small ridge on the normal equations)."""
        axx, axy, ayy, bx, by = (normal[:, :, i] for i in range(5))
        ridge = np.float32(1e-2) * 0.5 * (axx + ayy) + np.float32(1e-30)  # a bare edge: no motion along it
        axx, ayy = axx + ridge, ayy + ridge
        det = axx * ayy - axy * axy
        seen = det > 0  # a block without texture in any band has no displacement
        dx = np.divide(ayy * bx - axy * by, det, out=np.zeros_like(det), where=seen)  # (n, 5, gy, gx)
        dy = np.divide(axx * by - axy * bx, det, out=np.zeros_like(det), where=seen)
        signal = dx[:, 0] ** 2 + dy[:, 0] ** 2
        lr = 0.25 * ((dx[:, 1] - dx[:, 2]) ** 2 + (dy[:, 1] - dy[:, 2]) ** 2)
        tb = 0.25 * ((dx[:, 3] - dx[:, 4]) ** 2 + (dy[:, 3] - dy[:, 4]) ** 2)
        if self._power is None:
            self._power = np.zeros((3, *signal.shape[1:]), np.float64)
        keep = float(self._keep)
        for t in range(signal.shape[0]):
            self._power *= keep
            self._power[0] += (1 - keep) * signal[t]
            self._power[1] += (1 - keep) * lr[t]
            self._power[2] += (1 - keep) * tb[t]
        return np.stack([dx, dy], axis=2)

    def _linear_range(self, blocks: list[tuple[_Level, np.ndarray]], moved: np.ndarray, gate: np.ndarray) -> None:
        """Count what clipping at a quarter wavelength takes from the magnified motion of a batch.

        The motion is the displacement ``moved`` (n, 5, 2, gy, gx) of each block and of each of its
        halves (a thin string moves its half more than the whole block), pooled over their pixels and
        bands, so the phase noise of single coefficients (clipped too, to no harm) does not count: in
        each band it turns the phase by ``k . d``, magnified to ``(factor - 1) x gate x k . d``, with the
        energy ``mean amplitude^2 x phase^2``."""
        alpha = float(self.factor - 1.0)
        if alpha == 0:
            return
        peaks = []
        for lev, power in blocks:
            phase = (lev.wave[:, 0][None, None, :, None, None] * moved[:, :, None, 0]
                     + lev.wave[:, 1][None, None, :, None, None] * moved[:, :, None, 1]) * gate
            power = np.broadcast_to(power[:, None], phase.shape)
            shift = np.abs(alpha * phase)
            self._weight_all += float((power * shift * shift).sum())
            self._weight_past += float((power * np.square(np.maximum(shift - _QUARTER_WAVE, 0.0))).sum())
            peaks.append(_weighted_quantile(np.abs(phase).ravel(), (power * phase * phase).ravel(),
                                            LINEAR_RANGE_QUANTILE))
        self._peak = max(self._peak, *peaks) if peaks else self._peak

    def _gate(self) -> np.ndarray:
        """The noise gate on a grid of ``coherence_px`` blocks of the frame: 0 where ``S / N`` is below
        ``min_snr_db``, 1 from :data:`GATE_RAMP_DB` above it, linear in dB between; ``S`` and ``N`` are
        the running powers of :meth:`_update_gate` (the block's displacement, pooled over every level
        and orientation that sees it, and its noise)."""
        if self._power is None:
            return np.ones(self._grid, np.float32)
        signal, noise = self._power[0], np.minimum(self._power[1], self._power[2])
        snr_db = 10 * np.log10(np.maximum(signal, 1e-30) / np.maximum(noise, 1e-30))
        return np.clip((snr_db - self._min_snr_db) / GATE_RAMP_DB, 0.0, 1.0).astype(np.float32)

    def _gate_on(self, gate: np.ndarray, lev: _Level) -> np.ndarray:
        """The frame-block gate on a level's coefficient grid (r, c).

        Each coefficient takes its own block's gate, blended with the neighbouring block's over
        :data:`_GATE_BLEND` of a block on either side of their common edge (no seams, and a thin
        moving part near a block's edge keeps its block's gate rather than half of it, as a
        centre-to-centre interpolation would give)."""
        rows = self.shape[0]
        r, c = lev.filters.shape[1:]
        spacing = rows / r

        def axis(count: int, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            u = (np.arange(count) * spacing + 0.5) / self._block  # the coefficient's pixel, in blocks
            own = np.minimum(u.astype(int), blocks - 1)
            frac = u - own - 0.5  # -0.5 .. 0.5 within the block
            other = np.clip(own + np.where(frac < 0, -1, 1), 0, blocks - 1)
            w = (0.5 * np.clip(1.0 - (0.5 - np.abs(frac)) / _GATE_BLEND, 0.0, 1.0)).astype(np.float32)
            return own, other, w

        y0, y1, wy = axis(r, gate.shape[0])
        x0, x1, wx = axis(c, gate.shape[1])
        wy, wx = wy[:, None], wx[None, :]
        return (gate[np.ix_(y0, x0)] * (1 - wy) * (1 - wx) + gate[np.ix_(y1, x0)] * wy * (1 - wx)
                + gate[np.ix_(y0, x1)] * (1 - wy) * wx + gate[np.ix_(y1, x1)] * wy * wx)

    def _analyse(self, lev: _Level, spec: np.ndarray) -> tuple:
        """A level's bands of a batch: ``(coef, amp, smoothed band-passed phase, block power, normal
        equations)`` (the last two None for levels too coarse for the gate's blocks)."""
        cropped = len(lev.rows) != self.shape[0] or len(lev.cols) != self.shape[1]
        sub = spec[:, lev.rows][:, :, lev.cols] if cropped else spec
        coef = sfft.ifft2(sub[:, None] * lev.filters[None], axes=(-2, -1), workers=self.workers)
        if lev.reference is None:
            lev.reference = np.conj(coef[0])
        phase = np.angle(coef * lev.reference[None]).astype(np.float32)  # against the first frame
        moving = self._bandpass(lev, phase)
        amp = np.abs(coef).astype(np.float32)
        part = np.zeros((len(spec), 5, 5, *self._grid), np.float32)
        power = self._block_sums(lev, amp, moving, part)
        if lev.sigma > 0:
            sig = (0, 0, lev.sigma, lev.sigma)
            moving = gaussian_filter(moving * amp, sig, mode="wrap", truncate=2.5) / (
                gaussian_filter(amp, sig, mode="wrap", truncate=2.5) + np.float32(1e-12))
        return coef, amp, moving, power, part if power is not None else None

    def _synthesise(self, lev: _Level, coef: np.ndarray, moving: np.ndarray, gate: np.ndarray | None) -> np.ndarray:
        """The change a level's magnified phases make, on its crop of the spectrum ``(n, r, c)``."""
        shift = np.float32(self.factor - 1.0) * moving
        if gate is not None:
            shift *= self._gate_on(gate, lev)[None, None]
        # never past a quarter wavelength: beyond it a phase shift no longer moves the texture but
        # rings and doubles its edges; the excess is clipped (the motion saturates there instead)
        np.clip(shift, -_QUARTER_WAVE, _QUARTER_WAVE, out=shift)
        changed = coef * (np.cos(shift) - 1 + 1j * np.sin(shift)).astype(np.complex64)
        return (sfft.fft2(changed, axes=(-2, -1), workers=self.workers) * np.conj(lev.filters)[None]).sum(axis=1)

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Magnified copies of a batch ``(n, rows, cols)`` of consecutive frames (float32, full scale 1)."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ParameterError(f"frames of shape {frames.shape} given to a magnifier for {self.shape}")
        n = frames.shape[0]
        spec = sfft.fft2(frames, axes=(-2, -1), workers=self.workers)
        levels = self._levels
        # the levels are independent until the gate and again after it: two thread pools' worth of work
        # (numpy, scipy.fft and scipy.ndimage release the GIL on arrays this size); sums are taken in
        # level order, so the result does not depend on the threads
        with ThreadPoolExecutor(max_workers=max(1, min(self.threads, len(levels)))) as pool:
            work = list(pool.map(lambda lev: self._analyse(lev, spec), levels))
            normal = np.zeros((n, 5, 5, *self._grid), np.float32)
            blocks = []
            for lev, (_, _, _, power, part) in zip(levels, work, strict=True):
                if power is not None:
                    normal += part
                    blocks.append((lev, power))
            moved = self._update_gate(normal)
            gate = self._gate() if self.denoise else None
            self._linear_range(blocks, moved, gate if gate is not None else np.ones(self._grid, np.float32))
            backs = list(pool.map(lambda lev, w: self._synthesise(lev, w[0], w[2], gate), levels, work))
        delta = np.zeros_like(spec)
        for lev, back in zip(levels, backs, strict=True):
            if len(lev.rows) != self.shape[0] or len(lev.cols) != self.shape[1]:
                delta[np.ix_(np.arange(n), lev.rows, lev.cols)] += back
            else:
                delta += back
        self.frames_seen += n
        # the analytic bands hold each frequency on one side: the real part of the synthesis is half
        # of it (the pyramid is a tight frame: 1/4 (|H(w)|^2 + |H(-w)|^2) + lowpass^2 + highpass^2 = 1)
        change = 0.5 * sfft.ifft2(delta, axes=(-2, -1), workers=self.workers).real
        return frames + change.astype(np.float32)


def check_magnification(band, factor, rate: float) -> tuple[float, float, float]:
    """``(lo, hi, factor)`` checked: two finite frequencies with ``0 < lo < hi < rate / 2`` (both edges
    of the band-pass inside the band the capture holds) and a factor in ``(0, 10000]``.

    Raises
    ------
    ParameterError
        Naming the value and the fix.
    """
    lo = hi = None
    if isinstance(band, list | tuple | np.ndarray) and len(band) == 2:
        try:
            lo, hi = (check_number("band", v, fix="") for v in band)
        except ParameterError:
            lo = hi = None
    if lo is None:
        raise ParameterError(f"band={band!r} must be (lo, hi) in Hz, e.g. (75, 90)")
    if not 0 < lo < hi < rate / 2:
        raise ParameterError(f"band={lo:g},{hi:g} Hz must satisfy 0 < lo < hi < {rate / 2:g} Hz (half the "
                             f"capture rate, {rate:g} fps); e.g. --band 75,90")
    factor = check_number("factor", factor, lo=0.0, lo_open=True, hi=10000.0,
                          fix="give how many times larger the motion should look, e.g. 30")
    return lo, hi, factor


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    if x.size == 0 or not np.any(w > 0):
        return 0.0
    step = max(1, x.size // 200_000)  # a subsample is enough for a percentile
    x, w = x[::step], w[::step]
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, q * cw[-1])])


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _view(original: np.ndarray, magnified: np.ndarray, view: str) -> np.ndarray:
    if view == "magnified":
        return _to_uint8(magnified)
    if view == "side-by-side":
        gap = np.ones((*original.shape[:2], 4), np.float32)
        return _to_uint8(np.concatenate([original, gap, magnified], axis=2))
    # overlay: magnified in red, input in green and blue; still parts stay grey
    return np.stack([_to_uint8(magnified), _to_uint8(original), _to_uint8(original)], axis=-1)


def magnify(
    source: str | os.PathLike | FrameSource,
    out: str | os.PathLike,
    *,
    band: tuple[float, float],
    factor: float,
    fps: float | None = None,
    view: str = "magnified",
    roi: tuple[int, int, int, int] | None = None,
    scales: int | None = None,
    orientations: int = 4,
    order: int = 2,
    smooth_px: float = 2.0,
    denoise: bool = True,
    min_snr_db: float = 3.0,
    play_fps: float | None = None,
    batch: int = 16,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> dict:
    """Write a video in which the motion within ``band`` is ``factor`` times larger.

    Parameters
    ----------
    source : path or FrameSource
        The video (any input :func:`vismic.io.open_source` reads).
    out : path
        ``.mp4`` (H.264 that players and browsers show) or ``.mkv`` (lossless FFV1, for measuring).
    band : (lo, hi)
        Hz; e.g. a narrow band around a string's or a mode's peak (``vismic spectrum`` lists them).
    factor : float
        How many times larger the band's motion should look (e.g. 30).
    fps : float, optional
        The capture rate (the recovery's rule: ``fps``, else a camera file's rate, else the
        container's with a warning).
    view : {"magnified", "side-by-side", "overlay"}
        What to write: the magnified frames, input | magnified, or the input in cyan with the
        magnified frames in red.
    roi : (x, y, w, h), optional
        Magnify and write only this part of the frame.
    scales, orientations, order, smooth_px, denoise, min_snr_db
        As :class:`MotionMagnifier`.
    play_fps : float, optional
        The rate the output plays at. Default: the input container's own rate when it is a playback
        rate (60 fps or less) below the capture rate (a slow-motion file plays as slow motion), else
        30 fps. Motion at ``f`` Hz
        shows at ``f x play_fps / capture rate`` Hz on screen.
    batch : int
        Frames per batch (memory: a few times ``batch`` frames and the pyramid).
    force : bool
        Replace an existing output.
    progress : callable, optional
        ``progress(frames_done, total_or_None)``.

    Returns
    -------
    dict
        ``path``, ``rate`` (capture), ``play_fps``, ``band_hz``, ``factor``, ``view``, ``roi``,
        ``frames``, ``past_linear_share``, ``safe_factor`` and ``video`` (what the writer stored).

    Raises
    ------
    ParameterError, InputError, VideoReadError, OutputExistsError, OutputError
        (:class:`~vismic.errors.NoTextureError`, an ``InputError``: the ROI of the first frame is flat)
    """
    if view not in VIEWS:
        raise ParameterError(f"view={view!r} must be one of {', '.join(VIEWS)}")
    out = os.fspath(out)
    if os.path.splitext(out)[1].lower() not in VIEWING_SUFFIXES:
        raise ParameterError(f"-o {out}: the magnified video must be one of {sorted(VIEWING_SUFFIXES)} "
                             "(.mp4 to watch, .mkv lossless to measure)")
    batch = check_int("batch", batch, 1, 4096, fix="use e.g. 16")
    own = not isinstance(source, FrameSource)
    src = open_source(os.fspath(source)) if own else source
    try:
        if src.path and os.path.exists(src.path):
            check_output_paths(src.path, {"magnified video": out})
        check_writable(out, force=force)
        rate, _ = resolve_rate(src, fps)
        rows, cols = src.shape
        box = ROI(0, 0, cols, rows) if roi is None else (roi if isinstance(roi, ROI) else ROI(*roi)).check(rows, cols)
        mag = MotionMagnifier((box.h, box.w), rate=rate, band=band, factor=factor, scales=scales,
                              orientations=orientations, order=order, smooth_px=smooth_px, denoise=denoise,
                              min_snr_db=min_snr_db)
        header = src.header_rate
        if play_fps is None:
            # a slow-motion file is stored at a playback rate (24-60 fps): keep it; else 30 fps
            slow = header and header <= 60.0 + 1e-6 and header < rate - 1e-6 and not src.rate_is_trusted
            play_fps = float(header) if slow else min(30.0, rate)
        play_fps = check_number("play_fps", play_fps, lo=0.0, lo_open=True, hi=1000.0, unit="fps",
                                fix="use e.g. 30")
        total = src.frames_estimate

        def frames() -> Iterator[np.ndarray]:
            done = 0
            for orig in prefetched(src.iter_batches(batch=batch, roi=box)):
                if not np.all(np.isfinite(orig)):
                    raise ParameterError(f"{src.path}: frames hold NaN or infinite values")
                if not done:
                    check_texture(orig, box, src)  # a flat picture has no motion to magnify
                yield _view(orig, mag.process(orig), view)
                done += len(orig)
                if progress is not None:
                    progress(done, total)

        video = write_viewing_video(out, frames(), play_rate=play_fps, capture_rate=rate)
    finally:
        if own:
            src.close()
    share, safe = mag.past_linear_share, mag.safe_factor
    if safe is not None and mag.factor > safe:
        warnings.warn(
            f"factor {mag.factor:g} pushes the motion past the pyramid's linear range (a quarter wavelength of "
            f"the finest bands) where it moves most: there fine detail moves less than x{mag.factor:g} and edges "
            f"may ring; a factor of {max(1.0, safe):.3g} or less gives a faithful magnification", stacklevel=2)
    return {"path": video["path"], "rate": rate, "play_fps": play_fps, "band_hz": list(mag.band),
            "factor": mag.factor, "view": view, "roi": box.as_list(), "frames": mag.frames_seen,
            "past_linear_share": share, "safe_factor": safe, "video": video}
