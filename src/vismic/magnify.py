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
there (the magnified motion saturates in the finest bands first); the magnifier counts the
(amplitude-weighted) share of coefficients that reached the limit and the factor that would keep
99 % of them inside it; :func:`magnify` warns when the share passes 1 %.

**Noise.** Phase noise in the band would be magnified as much as motion: a still, textured
background would shimmer. A noise gate (on by default) magnifies a block of about ``coherence_px``
pixels only as far as its band-passed phase stands above its noise, measured without a noise model
by comparing the block's two halves (:meth:`MotionMagnifier._powers`, :meth:`MotionMagnifier._gate`).

:func:`magnify` reads a video, magnifies it and writes a video to watch (``.mp4`` H.264, or lossless
``.mkv``), the magnified frames alone, side by side with the input, or as an overlay (input in cyan,
magnified in red: what moved shows as coloured fringes).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
import scipy.signal as ss
from scipy.ndimage import gaussian_filter

from ._typing import ProgressFn
from ._validation import check_int, check_number
from .errors import ParameterError
from .io import FrameSource, open_source
from .io.audio import check_writable
from .io.base import ROI
from .io.stream import prefetched, resolve_rate
from .io.writers import VIEWING_SUFFIXES, write_viewing_video
from .outputs import check_output_paths
from .pyramid import ComplexSteerablePyramid, max_scales

__all__ = ["MotionMagnifier", "magnify", "check_magnification", "VIEWS", "LINEAR_LIMIT_SHARE"]

#: what :func:`magnify` writes: the magnified frames, input | magnified side by side, or an overlay
VIEWS = ("magnified", "side-by-side", "overlay")
#: above this amplitude-weighted share of coefficients pushed past a quarter wavelength, warn
LINEAR_LIMIT_SHARE = 0.01
#: quarter of a band's wavelength, as a phase: the linear range of a phase shift
_QUARTER_WAVE = math.pi / 2


@dataclass
class _Level:
    rows: np.ndarray
    cols: np.ndarray
    filters: np.ndarray  # (K, r, c) complex64, ifftshift-ed
    sigma: float  # amplitude-weighted smoothing, in this level's coefficients
    cell: int  # block of coefficients over which motion is told from noise (``coherence_px``)
    reference: np.ndarray | None = None  # (K, r, c) conj of the first frame's coefficients
    state: np.ndarray | None = None  # (sections, 2, K, r, c) float32: the band-pass's memory
    power: dict | None = None  # the running powers behind the noise gate (:meth:`MotionMagnifier._gain`)


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
        A block is magnified by the share of its band power above ``min_snr_db`` over the noise
        (``clip(1 - T N / S, 0, 1)``; default 3 dB).
    coherence_px : float
        Side of the blocks the gate tells motion from noise in (default 16 px): larger blocks see
        weaker motion, smaller ones follow an object's outline more closely.

    Notes
    -----
    Call :meth:`process` on consecutive batches of float32 frames (full scale 1.0). The first
    frame is the phase reference. :attr:`past_linear_share` and :attr:`safe_factor` describe the
    linear range so far (see the module docstring).
    """

    def __init__(self, shape: tuple[int, int], *, rate: float, band: tuple[float, float], factor: float,
                 scales: int | None = None, orientations: int = 4, order: int = 2, smooth_px: float = 2.0,
                 denoise: bool = True, window_s: float = 0.5, min_snr_db: float = 3.0, coherence_px: float = 16.0,
                 workers: int | None = None) -> None:
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
        # the finest octave is carved into oriented bands too: thin structures (strings, wires, edges)
        # move mostly there, so leaving it out would leave them unmagnified
        self.pyramid = ComplexSteerablePyramid((rows, cols), scales=scales, orientations=int(orientations),
                                               high_band=True, workers=workers)
        self._sos = ss.butter(order, (lo, hi), btype="bandpass", fs=rate, output="sos").astype(np.float32)
        self.denoise = bool(denoise)
        # running means of the filters' output power: exponential, over ``window_s``
        self._keep = np.float32(math.exp(-1.0 / (window_s * rate)))
        self._over = np.float32(10 ** (min_snr_db / 10))
        self._block = float(coherence_px)
        self._levels: list[_Level] = []
        for i in range(len(self.pyramid.levels)):
            plan = self.pyramid.level_plan(i)
            spacing = rows / plan.filters.shape[1]
            sigma = smooth_px / spacing if smooth_px > 0 else 0.0
            self._levels.append(_Level(plan.rows, plan.cols, plan.filters,
                                       max(sigma, 0.5) if smooth_px > 0 else 0.0,
                                       max(1, round(coherence_px / spacing))))
        self.frames_seen = 0
        self._weight_all = 0.0
        self._weight_past = 0.0
        self._peak = 0.0  # largest amplitude-weighted 99th percentile of a level's |band-passed phase| so far

    @property
    def past_linear_share(self) -> float:
        """Amplitude-weighted share of coefficients whose magnified phase passed a quarter wavelength."""
        return self._weight_past / self._weight_all if self._weight_all > 0 else 0.0

    @property
    def safe_factor(self) -> float | None:
        """The factor that keeps 99 % (by amplitude) of the band-passed phases within a quarter
        wavelength, over the frames so far (None before any motion)."""
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

    def _powers(self, lev: _Level, amp: np.ndarray, moving: np.ndarray) -> None:
        """Update the level's running powers behind the noise gate (see :meth:`_gate`).

        Per block of about ``coherence_px`` pixels and orientation, the amplitude-weighted mean of the
        band-passed phase over the block's left and right halves (and top and bottom halves): two
        halves see the block's motion through different pixels, hence through (nearly) independent
        noise. ``signal`` is the running mean (over ``window_s``) of the square of the block's mean;
        ``noise_lr`` and ``noise_tb`` those of a quarter of the square of the halves' difference: the
        noise in the block's mean, with no noise model (the vibration map's split-half rule). Motion
        that differs between the halves counts as noise (the gate errs towards leaving things still);
        of the two splits the gate takes the smaller, the one that does not cut an object's edge.
        Levels whose blocks are narrower than two coefficients have no halves and take no part.
        """
        k, r, c = amp.shape[1:]
        cell = lev.cell
        if cell < 2:
            return
        rb, cb = -(-r // cell), -(-c // cell)
        half = cell // 2

        def halves(x: np.ndarray) -> tuple[np.ndarray, ...]:  # (n, K, r, c) -> left, right, top, bottom sums
            x = np.pad(x, ((0, 0), (0, 0), (0, rb * cell - r), (0, cb * cell - c)), mode="edge")
            x = x.reshape(x.shape[0], k, rb, cell, cb, cell)
            return (x[..., :half].sum(axis=(3, 5)), x[..., half:].sum(axis=(3, 5)),
                    x[:, :, :, :half].sum(axis=(3, 5)), x[:, :, :, half:].sum(axis=(3, 5)))

        weights = halves(amp)
        means = [p / (w + np.float32(1e-12)) for p, w in zip(halves(moving * amp), weights, strict=True)]
        both = 0.25 * (means[0] + means[1] + means[2] + means[3])
        keep = self._keep
        if lev.power is None:
            zero = np.zeros((k, rb, cb), np.float32)
            lev.power = {"signal": zero.copy(), "noise_lr": zero.copy(), "noise_tb": zero.copy()}
        signal, noise_lr, noise_tb = lev.power["signal"], lev.power["noise_lr"], lev.power["noise_tb"]
        for t in range(both.shape[0]):
            signal *= keep
            signal += (1 - keep) * both[t] * both[t]
            for noise, (a, b) in ((noise_lr, (0, 1)), (noise_tb, (2, 3))):
                d = means[a][t] - means[b][t]
                noise *= keep
                noise += (1 - keep) * 0.25 * d * d

    def _gate(self) -> np.ndarray:
        """The noise gate on a grid of ``coherence_px`` blocks of the frame: ``clip(1 - T N / S, 0, 1)``
        with ``T`` = ``min_snr_db``, ``S`` and ``N`` (:meth:`_powers`) pooled over every level and
        orientation that has them (they all see the same displacement)."""
        rows, cols = self.shape
        gy, gx = math.ceil(rows / self._block), math.ceil(cols / self._block)
        total_s = np.zeros((gy, gx), np.float64)
        total_n = np.zeros((gy, gx), np.float64)
        for lev in self._levels:
            if lev.power is None:
                continue
            # the split that does not cut an edge of the moving part sees the noise alone: the smaller
            signal, noise = lev.power["signal"], np.minimum(lev.power["noise_lr"], lev.power["noise_tb"])
            _, rb, cb = signal.shape
            size = lev.cell * rows / len(lev.rows)  # a block of this level, in frame pixels
            iy = np.minimum(((np.arange(gy) + 0.5) * self._block / size).astype(int), rb - 1)
            ix = np.minimum(((np.arange(gx) + 0.5) * self._block / size).astype(int), cb - 1)
            total_s += signal.sum(axis=0)[np.ix_(iy, ix)]
            total_n += noise.sum(axis=0)[np.ix_(iy, ix)]
        return np.clip(1.0 - self._over * total_n / np.maximum(total_s, 1e-30), 0.0, 1.0).astype(np.float32)

    def _gate_on(self, gate: np.ndarray, lev: _Level) -> np.ndarray:
        """The frame-block gate interpolated (bilinearly) to a level's coefficient grid (r, c)."""
        rows = self.shape[0]
        r, c = lev.filters.shape[1:]
        spacing = rows / r
        gy, gx = gate.shape
        ry = np.clip((np.arange(r) + 0.5) * spacing / self._block - 0.5, 0, gy - 1)
        cx = np.clip((np.arange(c) + 0.5) * spacing / self._block - 0.5, 0, gx - 1)
        y0, x0 = np.floor(ry).astype(int), np.floor(cx).astype(int)
        y1, x1 = np.minimum(y0 + 1, gy - 1), np.minimum(x0 + 1, gx - 1)
        wy, wx = (ry - y0)[:, None].astype(np.float32), (cx - x0)[None, :].astype(np.float32)
        return (gate[np.ix_(y0, x0)] * (1 - wy) * (1 - wx) + gate[np.ix_(y1, x0)] * wy * (1 - wx)
                + gate[np.ix_(y0, x1)] * (1 - wy) * wx + gate[np.ix_(y1, x1)] * wy * wx)

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Magnified copies of a batch ``(n, rows, cols)`` of consecutive frames (float32, full scale 1)."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ParameterError(f"frames of shape {frames.shape} given to a magnifier for {self.shape}")
        n = frames.shape[0]
        spec = sfft.fft2(frames, axes=(-2, -1), workers=self.workers)
        delta = np.zeros_like(spec)
        alpha = np.float32(self.factor - 1.0)
        peaks = []
        work = []
        for lev in self._levels:
            cropped = len(lev.rows) != self.shape[0] or len(lev.cols) != self.shape[1]
            sub = spec[:, lev.rows][:, :, lev.cols] if cropped else spec
            coef = sfft.ifft2(sub[:, None] * lev.filters[None], axes=(-2, -1), workers=self.workers)
            if lev.reference is None:
                lev.reference = np.conj(coef[0])
            phase = np.angle(coef * lev.reference[None]).astype(np.float32)  # against the first frame
            moving = self._bandpass(lev, phase)
            amp = np.abs(coef).astype(np.float32)
            if self.denoise:
                self._powers(lev, amp, moving)
            work.append((lev, cropped, coef, amp, moving))
        gate = self._gate() if self.denoise else None
        for lev, cropped, coef, amp, moving in work:
            if lev.sigma > 0:
                sig = (0, 0, lev.sigma, lev.sigma)
                moving = gaussian_filter(moving * amp, sig, mode="wrap", truncate=2.5) / (
                    gaussian_filter(amp, sig, mode="wrap", truncate=2.5) + np.float32(1e-12))
            shift = alpha * moving
            if gate is not None:
                shift *= self._gate_on(gate, lev)[None, None]
            self._weight_all += float(amp.sum())
            self._weight_past += float(amp[np.abs(shift) > _QUARTER_WAVE].sum())
            if alpha != 0:  # the phase that is magnified (after the noise gate), per unit of factor
                peaks.append(_weighted_quantile(np.abs(shift).ravel(), amp.ravel(), 0.99) / abs(float(alpha)))
            # never past a quarter wavelength: beyond it a phase shift no longer moves the texture but
            # rings and doubles its edges; the excess is clipped (the motion saturates there instead)
            np.clip(shift, -_QUARTER_WAVE, _QUARTER_WAVE, out=shift)
            changed = coef * (np.cos(shift) - 1 + 1j * np.sin(shift)).astype(np.complex64)
            back = sfft.fft2(changed, axes=(-2, -1), workers=self.workers) * np.conj(lev.filters)[None]
            if cropped:
                delta[np.ix_(np.arange(n), lev.rows, lev.cols)] += back.sum(axis=1)
            else:
                delta += back.sum(axis=1)
        self._peak = max(self._peak, *peaks) if peaks else self._peak
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
                yield _view(orig, mag.process(orig), view)
                done += len(orig)
                if progress is not None:
                    progress(done, total)

        video = write_viewing_video(out, frames(), play_rate=play_fps, capture_rate=rate)
    finally:
        if own:
            src.close()
    share, safe = mag.past_linear_share, mag.safe_factor
    if share > LINEAR_LIMIT_SHARE:
        warnings.warn(
            f"factor {mag.factor:g} pushes {100 * share:.0f} % of the magnified motion past the pyramid's linear "
            f"range (a quarter wavelength): edges will ring and double; use --factor "
            f"{max(1.0, safe or 1.0):.3g} or less, or a narrower band", stacklevel=2)
    return {"path": video["path"], "rate": rate, "play_fps": play_fps, "band_hz": list(mag.band),
            "factor": mag.factor, "view": view, "roi": box.as_list(), "frames": mag.frames_seen,
            "past_linear_share": share, "safe_factor": safe, "video": video}
