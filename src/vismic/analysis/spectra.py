"""Motion spectra and modal peaks (frequency, damping, prominence) of a vibrating object.

:func:`motion_spectrum` measures the motion of every region of a grid over the ROI (pyramid band
phases projected on a 2-D displacement in pixels, as in :mod:`vismic.analysis.vibmap`), integrates it
into a displacement and estimates its power spectral density by Welch's method (Hann windows, 50 %
overlap, zero-padded four-fold).  A region's PSD is that of ``dx`` plus that of ``dy`` (px^2/Hz, pixel
units approximate).  The whole-ROI spectrum is the average of the region PSDs weighted by the inverse
of each region's noise floor (the median of its PSD over the band): the incoherent analogue of
maximum-ratio combining, so quiet, well-textured regions count most and regions moving in opposite
phase do not cancel.

:func:`modal_peaks` picks peaks that stand out of a running-median floor by more than chance allows
(the Welch estimate's own scatter sets the threshold), drops bumps that do not stand out of a stronger
peak's skirt, and estimates each peak's frequency and damping ratio by **fitting the spectrum of a
single-degree-of-freedom oscillator, convolved with the analysis window, to the periodogram of the
whole band-passed record** (Whittle likelihood).  A mode of natural frequency ``f0`` and damping ratio
``zeta`` (half-power bandwidth ``G = 2 zeta f0`` Hz) has the displacement autocorrelation
``r(tau) = exp(-zeta w0 tau) (cos(wd tau) + zeta / sqrt(1 - zeta^2) sin(wd tau))``, so the expected
periodogram is::

    E[I(f)] = floor(f) + A * sum_tau Rw(tau) r(tau) cos(2 pi f tau / rate)

with ``Rw`` the autocorrelation of the record's window (a boxcar: ``n - |tau|``) and ``floor`` a local
power law fitted with it.  The window's resolution and leakage are modelled, not subtracted by a rule
of thumb; the skirts keep the oscillator's asymmetry (a symmetric Lorentzian pulls ``f0`` down); the
whole record gives the finest resolution (``rate / n``); the likelihood of every periodogram ordinate
makes up for their scatter.  A bandwidth below half a resolution cell (``rate / n``) cannot be told from
the window's own width: the damping is then None, with the bound it is below.

The model holds for modes driven by a random (ambient, acoustic) force and, since the record is not
tapered, for the free decay of a single mode within the clip (its spectrum has the same shape).
Several modes decaying *coherently* from one impact interfere where their skirts overlap; their
damping is then biased (measured: -20 to -45 % for 150 and 230 Hz modes with zeta 0.01 and 0.02
started together), a case for time-domain (Prony-type) fitting, which is not done here.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
import scipy.signal as ss
from scipy.ndimage import binary_dilation, median_filter, percentile_filter

from .._typing import ProgressFn
from ..errors import NoTextureError, ParameterError
from ..io import FrameSource
from ..motion import region_edges
from .cells import CellMotion, bandpass, check_band, check_roi, open_frames, pick_scales, resolve_rate, stream_cells

__all__ = ["MotionSpectrum", "ModalPeak", "motion_spectrum", "signal_spectrum", "modal_peaks", "peaks_csv"]

#: half-width of the running floor, in resolution cells (at least 1/16 of the band)
FLOOR_HALF_WIDTH = 8
#: zero-padding factor of each Welch segment (smooth curves for display and peak picking)
PAD = 4
#: bandwidths below this fraction of the whole record's resolution (rate / n) are "unresolved"
MIN_RESOLVED = 0.5
#: taper of the whole-record periodogram the peaks are fitted on.  None (boxcar): a free decay that
#: starts in the clip keeps its strongest part, and the model includes the boxcar's leakage exactly.
RECORD_TAPER = "boxcar"
#: chance that a noise-only bin passes the detection threshold (sets it from the Welch scatter)
FALSE_ALARM = 1e-4


@dataclass
class MotionSpectrum:
    """Power spectral density of the motion of an ROI and of its regions.

    Attributes
    ----------
    rate : float
        Capture rate in Hz.
    freqs : ndarray, shape (m,)
        Frequencies in Hz of the Welch estimate (zero-padded: ``PAD`` bins per resolution cell).
    psd : ndarray, shape (m,)
        Whole-ROI displacement PSD in px^2/Hz: the regions' PSDs averaged with weights :attr:`weights`.
    region_psd : ndarray, shape (rows, cols, m)
        Each region's displacement PSD (``dx`` plus ``dy``) in px^2/Hz; NaN for regions without texture.
    regions : list of tuple of int
        ``(x, y, w, h)`` of every region in full-frame pixels, row by row.
    grid : tuple of int
        ``(rows, cols)`` of the region grid.
    weights : ndarray, shape (rows, cols)
        Weight of each region in :attr:`psd`: inverse of its noise floor (median PSD over the band),
        normalised to sum 1.
    roi : tuple of int
        ``(x, y, w, h)`` analysed, in full-frame pixels (zeros for :func:`signal_spectrum`).
    band : tuple of float
        ``(lo_hz, hi_hz)`` where floors and peaks are looked for.
    nperseg, noverlap, nfft : int
        Welch segment length, overlap and FFT length, in samples.
    frames_used : int
        Samples (frames) analysed.
    signals : ndarray, shape (n, k, rows, cols), float32
        The displacement signals (``k`` components per region, pixels), kept for the peak fits.
    window : str
        Window name (:func:`scipy.signal.get_window`).
    """

    rate: float
    freqs: np.ndarray = field(repr=False)
    psd: np.ndarray = field(repr=False)
    region_psd: np.ndarray = field(repr=False)
    regions: list[tuple[int, int, int, int]]
    grid: tuple[int, int]
    weights: np.ndarray
    roi: tuple[int, int, int, int]
    band: tuple[float, float]
    nperseg: int
    noverlap: int
    nfft: int
    frames_used: int
    signals: np.ndarray = field(repr=False)
    window: str = "hann"

    @property
    def resolution_hz(self) -> float:
        """Resolution of the Welch estimate, ``rate / nperseg`` Hz (Hann half-power width: 1.44 of it)."""
        return self.rate / self.nperseg

    @property
    def fit_resolution_hz(self) -> float:
        """Resolution of the whole-record periodogram the peaks are fitted on, ``rate / frames_used`` Hz."""
        return self.rate / self.frames_used

    @property
    def segments(self) -> int:
        """Number of Welch segments averaged."""
        return 1 + (self.frames_used - self.nperseg) // (self.nperseg - self.noverlap)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no spectra)."""
        return {
            "rate": self.rate,
            "roi": list(self.roi),
            "grid": list(self.grid),
            "regions": [list(r) for r in self.regions],
            "region_weights": [[round(float(v), 4) for v in row] for row in self.weights],
            "band_hz": [self.band[0], self.band[1]],
            "frames_used": self.frames_used,
            "nperseg": self.nperseg,
            "nfft": self.nfft,
            "segments": self.segments,
            "resolution_hz": self.resolution_hz,
            "fit_resolution_hz": self.fit_resolution_hz,
            "window": self.window,
            "psd_units": "px^2/Hz (approximate pixel units)",
            "damping_method": "Whittle fit of a window-convolved Lorentzian to the whole-record periodogram",
        }


@dataclass(frozen=True)
class ModalPeak:
    """One spectral peak.

    Attributes
    ----------
    hz : float
        Peak frequency in Hz (from the fit; the interpolated Welch maximum if the fit fails).
    damping : float or None
        Damping ratio zeta = bandwidth / (2 hz); None when the bandwidth is not resolved.
    snr_db : float
        Welch PSD at the peak over the local noise floor, in dB.
    bandwidth_hz : float or None
        Fitted half-power bandwidth in Hz (None when unresolved).
    q : float or None
        Quality factor ``hz / bandwidth_hz`` (``1 / (2 zeta)``).
    power : float
        Welch PSD at the peak minus the floor, px^2/Hz.
    damping_below : float or None
        When unresolved: the damping ratio is below this bound.
    """

    hz: float
    damping: float | None
    snr_db: float
    bandwidth_hz: float | None
    q: float | None
    power: float
    damping_below: float | None = None

    def to_dict(self) -> dict:
        def sig(v, digits=4):
            return None if v is None else float(f"{v:.{digits}g}")

        return {"hz": round(self.hz, 3), "damping": sig(self.damping), "snr_db": round(self.snr_db, 2),
                "bandwidth_hz": None if self.bandwidth_hz is None else round(self.bandwidth_hz, 3),
                "q": None if self.q is None else round(self.q, 1), "power_px2_per_hz": sig(self.power),
                "damping_below": sig(self.damping_below, 3)}


def _default_nperseg(n: int) -> int:
    """The whole clip below 512 samples, else an eighth of it (15 half-overlapping segments), >= 256.

    The Welch estimate only finds the peaks and shows the spectrum; frequencies and bandwidths come
    from the whole record, so smoothness (many segments) matters more here than resolution.
    """
    return n if n < 512 else max(256, n // 8)


def _welch(x: np.ndarray, *, rate: float, nperseg: int | None) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """Welch PSD of ``x`` along axis 0 (Hann, 50 % overlap, linear detrend, zero-padded)."""
    n = x.shape[0]
    if nperseg is None:
        nperseg = _default_nperseg(n)
    if isinstance(nperseg, bool) or not isinstance(nperseg, int | np.integer) or not 16 <= nperseg <= n:
        raise ParameterError(f"nperseg={nperseg} must be a whole number of samples from 16 to the clip's {n}")
    nperseg = int(nperseg)
    noverlap = nperseg // 2
    nfft = sfft.next_fast_len(PAD * nperseg)
    f, p = ss.welch(x, fs=rate, window="hann", nperseg=nperseg, noverlap=noverlap, nfft=nfft,
                    detrend="linear", axis=0)
    return f, p, nperseg, noverlap, nfft


def _spectrum(disp: np.ndarray, *, rate: float, band: tuple[float, float], nperseg: int | None,
              valid: np.ndarray, regions: list, roi: tuple) -> MotionSpectrum:
    """Welch spectra of ``disp`` (n, k, rows, cols) per region and their inverse-floor-weighted mean."""
    f, p, nper, nover, nfft = _welch(disp, rate=rate, nperseg=nperseg)  # (m, k, rows, cols)
    region_psd = np.moveaxis(p.sum(axis=1), 0, -1)  # (rows, cols, m)
    region_psd[~valid] = np.nan
    sel = (f >= band[0]) & (f <= band[1])
    floor = np.median(region_psd[..., sel], axis=-1) if sel.any() else np.full(valid.shape, np.nan)
    ok = valid & np.isfinite(floor) & (floor > 0)
    if not ok.any():
        raise NoTextureError("no region of the ROI has a usable motion signal (no texture, or no motion at all)")
    w = np.where(ok, 1.0 / np.where(ok, floor, 1.0), 0.0)
    w /= w.sum()
    psd = np.einsum("yx,yxm->m", w, np.where(ok[..., None], region_psd, 0.0))
    return MotionSpectrum(float(rate), f, psd, region_psd, regions, valid.shape, w, roi, band, nper, nover, nfft,
                          disp.shape[0], disp.astype(np.float32))


def signal_spectrum(
    x: np.ndarray, *, rate: float, nperseg: int | None = None, band: tuple[float, float] | None = None
) -> MotionSpectrum:
    """Spectrum of a displacement signal already in hand (a single region).

    Parameters
    ----------
    x : ndarray, shape (n,) or (n, k)
        Displacement (any unit; ``k`` components are summed in power).
    rate : float
        Sample rate in Hz.
    nperseg : int, optional
        Welch segment length (default: the whole signal below 512 samples, else an eighth of it).
    band : (lo_hz, hi_hz), optional
        Where floors and peaks are looked for (default ``(rate/40, 0.45*rate)``).

    Returns
    -------
    MotionSpectrum
        With a 1x1 grid and a zero ROI.

    Raises
    ------
    ParameterError
        Bad rate, band or nperseg; fewer than 16 samples; non-finite values.
    """
    if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
        raise ParameterError(f"rate={rate} must be a positive number of samples per second")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 16 or not np.all(np.isfinite(x)):
        raise ParameterError(f"x must be a finite signal of >= 16 samples, shape (n,) or (n, k); got {x.shape}")
    band = check_band(band, float(rate))
    return _spectrum(x[:, :, None, None], rate=float(rate), band=band, nperseg=nperseg,
                     valid=np.ones((1, 1), dtype=bool), regions=[(0, 0, 0, 0)], roi=(0, 0, 0, 0))


def _default_grid(rows: int, cols: int) -> tuple[int, int]:
    """Regions of >= 32 px, at most 4 per axis: parts moving in opposite phase (a mode's nodal lines)
    rarely share a region, and each region keeps enough texture for a clean signal."""
    return int(np.clip(rows // 32, 1, 4)), int(np.clip(cols // 32, 1, 4))


def motion_spectrum(
    source: str | os.PathLike | FrameSource,
    *,
    fps: float | None = None,
    roi=None,
    grid: tuple[int, int] | None = None,
    band: tuple[float, float] | None = None,
    nperseg: int | None = None,
    max_frames: int | None = None,
    batch: int = 16,
    progress: ProgressFn | None = None,
) -> MotionSpectrum:
    """Displacement spectrum of every region of the ROI and of the whole ROI.

    Parameters
    ----------
    source : path or FrameSource
        Video file, image folder/glob, ``.npy`` stack or camera file.
    fps : float, optional
        True capture rate in Hz (rules as in :func:`vismic.pipeline.recover`).
    roi : (x, y, w, h), optional
        Region in pixels (default: the whole frame).
    grid : (rows, cols), optional
        Region grid (default: regions of >= 32 px, at most 4x4).
    band : (lo_hz, hi_hz), optional
        Where floors and peaks are looked for (default ``(rate/40, 0.45*rate)``).
    nperseg : int, optional
        Welch segment length in frames (default: the whole clip below 512 frames, else an eighth of
        it); the Welch resolution is ``rate / nperseg`` Hz.
    max_frames : int, optional
        Use at most this many frames from the start (default: all; memory is 8 bytes per region and
        frame).
    batch : int
        Frames per batch.
    progress : callable, optional
        ``progress(frames_done, frames_total_or_None)`` after each batch.

    Returns
    -------
    MotionSpectrum

    Raises
    ------
    ParameterError
        Unknown rate; bad ROI, grid, band or nperseg.
    InputError
        Fewer than 16 frames.
    NoTextureError
        The region (or every region of the grid) is flat.
    VideoReadError
        Missing or unreadable input.
    """
    src, own = open_frames(source)
    try:
        rate = resolve_rate(src, fps)
        r = check_roi(src, roi)
        band = check_band(band, rate)
        rows, cols = r.h, r.w
        if grid is None:
            grid = _default_grid(rows, cols)
        try:
            gy, gx = (int(v) for v in grid)
        except (TypeError, ValueError):
            raise ParameterError(f"grid={grid!r} must be two integers (rows, cols)") from None
        if gy < 1 or gx < 1 or rows // gy < 8 or cols // gx < 8:
            raise ParameterError(f"grid={gy}x{gx} must have >= 1 region per axis and regions of >= 8x8 pixels "
                                 f"(the region is {cols}x{rows})")
        if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int | np.integer)
                                       or max_frames < 16):
            raise ParameterError(f"max_frames={max_frames} must be an integer >= 16")
        if int(batch) < 1:
            raise ParameterError(f"batch={batch} must be >= 1")
        if nperseg is not None and (isinstance(nperseg, bool) or not isinstance(nperseg, int | np.integer)
                                    or nperseg < 16):
            raise ParameterError(f"nperseg={nperseg} must be a whole number of samples >= 16")
        ey, ex = region_edges(rows, gy), region_edges(cols, gx)
        cell = min(np.diff(ey).min(), np.diff(ex).min())
        motion = CellMotion((rows, cols), (gy, gx), pick_scales((rows, cols), float(cell), 4))
        stop = int(max_frames) if max_frames is not None else 1 << 62
        vel, _, _ = stream_cells(src, motion, roi=r, batch=int(batch), max_frames=stop, progress=progress,
                                 what="a motion spectrum")
        disp = np.cumsum(vel, axis=0, dtype=np.float64)
        del vel
    finally:
        if own:
            src.close()
    regions = [(int(r.x + ex[j]), int(r.y + ey[i]), int(ex[j + 1] - ex[j]), int(ey[i + 1] - ey[i]))
               for i in range(gy) for j in range(gx)]
    return _spectrum(disp, rate=rate, band=band, nperseg=nperseg, valid=motion.valid, regions=regions,
                     roi=(r.x, r.y, r.w, r.h))


# ----------------------------------------------------------------------------------------------
# Peaks
# ----------------------------------------------------------------------------------------------


def noise_floor(spec: MotionSpectrum, psd: np.ndarray | None = None) -> np.ndarray:
    """Local noise floor of a Welch PSD, with peaks masked out (px^2/Hz).

    Computed in dB over a running window of +-``W`` Hz, ``W`` the larger of ``FLOOR_HALF_WIDTH``
    resolution cells and 1/16 of the band: first the 20th percentile; then, three times, the bins
    above the floor by more than noise would reach by chance (:func:`detection_threshold_db`), widened
    by a resolution cell, are replaced by a straight line (in dB) between the unmasked bins on either
    side, and the running median is taken.  So broad or crowded peaks do not lift the floor under them,
    and the result estimates the noise's median PSD.
    """
    p = spec.psd if psd is None else psd
    bins = max(1, round(spec.nfft / spec.nperseg))
    df = spec.freqs[1] - spec.freqs[0]
    half = max(FLOOR_HALF_WIDTH * bins, int((spec.band[1] - spec.band[0]) / 16 / df))
    size = 2 * half + 1
    margin = max(3.0, detection_threshold_db(spec))
    db = 10 * np.log10(np.maximum(p, 1e-300))
    floor = percentile_filter(db, 20, size=size, mode="nearest")
    idx = np.arange(len(db))
    for _ in range(3):
        mask = binary_dilation(db > floor + margin, iterations=bins)
        if mask.all():
            break
        filled = db.copy()
        if mask.any():
            filled[mask] = np.interp(idx[mask], idx[~mask], db[~mask])
        floor = median_filter(filled, size=size, mode="nearest")
    return 10 ** (floor / 10)


def detection_threshold_db(spec: MotionSpectrum) -> float:
    """dB over the median floor that a noise-only Welch bin exceeds with probability ``FALSE_ALARM``.

    A Welch estimate of K half-overlapping Hann segments is distributed as ``chi2(nu) / nu`` times the
    true PSD with ``nu = 2K / (1 + 2 * 0.167^2)`` (Welch 1967; 0.167 is the overlap correlation).
    """
    from scipy.stats import chi2  # lazily: importing scipy.stats costs about half a second

    nu = 2 * spec.segments / (1 + 2 * 0.167**2)
    return float(10 * np.log10(chi2.isf(FALSE_ALARM, nu) / chi2.median(nu)))


def _taper_autocorr(n: int, taper: str) -> np.ndarray:
    """Autocorrelation ``Rw(tau) = sum_t w_t w_(t+tau)``, lags 0..n-1, of the record's taper."""
    if taper == "boxcar":
        return np.arange(n, 0, -1, dtype=np.float64)
    w = ss.get_window(taper, n, fftbins=False)
    return sfft.irfft(np.abs(sfft.rfft(w, 2 * n)) ** 2, 2 * n)[:n]


def _record_periodogram(spec: MotionSpectrum, region: tuple[int, int] | None,
                        taper: str) -> tuple[np.ndarray, np.ndarray]:
    """Periodogram of the whole band-passed record (weighted over regions like :attr:`psd`)."""
    x = spec.signals.astype(np.float64)  # (n, k, rows, cols)
    n = x.shape[0]
    if region is not None:
        wts = np.zeros(spec.grid)
        wts[region] = 1.0
    else:
        wts = spec.weights
    x = bandpass(x, rate=spec.rate, band=spec.band)
    if taper != "boxcar":
        x = x * ss.get_window(taper, n, fftbins=False)[:, None, None, None]
    spec_x = sfft.rfft(x, axis=0)
    per = np.einsum("yx,mkyx->m", wts, np.abs(spec_x) ** 2)
    return sfft.rfftfreq(n, 1 / spec.rate), per


class _ModeModel:
    """Expected periodogram of one mode (a single-degree-of-freedom oscillator) on the record's grid.

    The oscillator's displacement autocorrelation, for natural frequency ``f0`` and damping ratio
    ``zeta = g / (2 f0)`` (``g``: half-power bandwidth in Hz), is
    ``r(tau) = exp(-a tau) (cos(wd tau) + zeta / sqrt(1 - zeta^2) sin(wd tau))`` with ``a = zeta w0``
    and ``wd = w0 sqrt(1 - zeta^2)`` (the same shape, ``|H(f)|^2``, as the spectrum of a free decay).
    The expected periodogram is ``sum_tau Rw(tau) r(tau) cos(2 pi f tau / rate)`` over
    ``|tau| < n``: the real part of the DFT of ``(2 - [tau = 0]) Rw(tau) r(tau)``, one real FFT per
    evaluation, read at the bins ``idx`` being fitted.  Unlike a Lorentzian, this keeps the skirts'
    asymmetry (higher below the resonance), which would otherwise pull ``f0`` down.
    """

    def __init__(self, idx: np.ndarray, rw: np.ndarray, rate: float) -> None:
        self.rate = rate
        self.idx = idx
        self.tau = np.arange(len(rw), dtype=np.float64)
        self.rw = rw.copy()
        self.rw[1:] *= 2.0

    def __call__(self, f0: float, g: float) -> np.ndarray:
        zeta = min(g / (2 * f0), 0.99)
        w0 = 2 * np.pi * f0 / self.rate
        wd = w0 * math.sqrt(1 - zeta * zeta)
        ph = wd * self.tau
        r = np.exp(-zeta * w0 * self.tau) * (np.cos(ph) + zeta / math.sqrt(1 - zeta * zeta) * np.sin(ph))
        return sfft.rfft(self.rw * r)[self.idx].real


def _fit_mode(idx: np.ndarray, per: np.ndarray, rw: np.ndarray, rate: float, f_guess: float, g_guess: float,
              res: float, f_tol: float) -> tuple[float, float] | None:
    """Whittle fit of ``floor + A * mode(f0, g)`` to periodogram ordinates ``per`` at bins ``idx``.

    The floor is ``exp(c + b u)``, ``u`` running from -1 to 1 across the bins (a local power law, so
    a sloping floor is not mistaken for a skirt); ``f0`` stays within ``f_tol`` Hz of ``f_guess``.
    Returns ``(f0, g)`` in Hz, or None.
    """
    from scipy.optimize import minimize  # lazily: about 0.15 s, only for the peaks' fits

    model = _ModeModel(idx, rw, rate)
    k = int(np.argmin(np.abs(idx * res - f_guess)))
    c0 = max(float(np.percentile(per, 10)), 1e-300)
    peak0 = float(model(f_guess, g_guess)[k])
    a0 = max(float(per[max(0, k - 1): k + 2].max()) - c0, c0) / max(peak0, 1e-300)
    g_lo, g_hi = 1e-3 * res, min(max(40 * res, 4 * g_guess), 1.8 * f_guess)

    u = (idx * res - f_guess) / max(float(np.ptp(idx)) * res / 2, res)
    step = f_tol / 2

    def nll(p):
        s = np.exp(p[3] + p[4] * u) + math.exp(p[2]) * model(f_guess + p[0] * step, math.exp(p[1]))
        s = np.maximum(s, 1e-300)
        return float(np.sum(np.log(s) + per / s))

    lc, la = math.log(c0), math.log(a0)
    bounds = [(-2.0, 2.0), (math.log(g_lo), math.log(g_hi)), (la - 30, la + 30), (lc - 30, lc + 30), (-10, 10)]
    best = None
    for g0 in (g_guess, 3 * g_guess, 0.3 * res):
        start = np.array([0.0, math.log(min(max(g0, 2 * g_lo), g_hi / 2)), la, lc, 0.0])
        try:
            out = minimize(nll, start, method="SLSQP", bounds=bounds)
        except (ValueError, FloatingPointError):  # pragma: no cover - degenerate data
            continue
        if best is None or out.fun < best.fun:
            best = out
    if best is None or not np.all(np.isfinite(best.x)):  # pragma: no cover
        return None
    return float(f_guess + best.x[0] * step), float(math.exp(best.x[1]))


def modal_peaks(
    spec: MotionSpectrum,
    *,
    region: tuple[int, int] | None = None,
    band: tuple[float, float] | None = None,
    max_peaks: int = 10,
    min_snr_db: float = 6.0,
) -> list[ModalPeak]:
    """Spectral peaks of a motion spectrum with damping estimates, strongest first.

    Parameters
    ----------
    spec : MotionSpectrum
    region : (row, col), optional
        Use that region's spectrum instead of the whole ROI's.
    band : (lo_hz, hi_hz), optional
        Where to look (default: ``spec.band``).
    max_peaks : int
        At most this many peaks.
    min_snr_db : float
        A peak must stand this many dB over the local floor, and at least as far as noise alone would
        reach by chance once in ``1 / FALSE_ALARM`` bins (:func:`detection_threshold_db`).

    Returns
    -------
    list of ModalPeak
        Ordered by power over the floor (strongest first).

    Notes
    -----
    Candidates are maxima of the Welch PSD at least one resolution cell apart whose prominence (dB)
    reaches the threshold.  Each is then fitted (module docstring) on the whole record's periodogram
    over +-(8 bandwidths or 8 Welch resolution cells, whichever is wider), never past halfway to a
    neighbouring peak; the local floor is fitted with it.
    """
    if isinstance(max_peaks, bool) or not isinstance(max_peaks, int | np.integer) or max_peaks < 1:
        raise ParameterError(f"max_peaks={max_peaks} must be an integer >= 1")
    if not math.isfinite(min_snr_db):
        raise ParameterError(f"min_snr_db={min_snr_db} must be a finite number of dB")
    if region is not None:
        region = (int(region[0]), int(region[1]))
        if not (0 <= region[0] < spec.grid[0] and 0 <= region[1] < spec.grid[1]):
            raise ParameterError(f"region={region} is outside the {spec.grid[0]}x{spec.grid[1]} grid")
    psd = spec.psd if region is None else spec.region_psd[region]
    if not np.all(np.isfinite(psd)):
        raise ParameterError(f"region {region} has no spectrum (no texture there)")
    lo, hi = check_band(spec.band if band is None else band, spec.rate)
    floor = noise_floor(spec, psd)
    f = spec.freqs
    db = 10 * np.log10(np.maximum(psd, 1e-300))
    excess_db = db - 10 * np.log10(np.maximum(floor, 1e-300))
    thr = max(float(min_snr_db), detection_threshold_db(spec))
    bins = max(1, round(spec.nfft / spec.nperseg))
    cand, _ = ss.find_peaks(db, distance=bins, prominence=thr)
    cand = cand[(f[cand] >= lo) & (f[cand] <= hi) & (excess_db[cand] >= thr)]
    order = cand[np.argsort(-(psd[cand] - floor[cand]))]
    df = f[1] - f[0]
    fr, per = _record_periodogram(spec, region, RECORD_TAPER)
    res = spec.fit_resolution_hz
    welch_hp = 1.44 * spec.resolution_hz  # half-power width of the Welch window
    rw = _taper_autocorr(spec.frames_used, RECORD_TAPER)
    peaks: list[ModalPeak] = []
    for k in order:
        if len(peaks) >= max_peaks:
            break
        shift = 0.0
        if 0 < k < len(f) - 1:
            a, b, c = db[k - 1], db[k], db[k + 1]
            den = a - 2 * b + c
            shift = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0
        f_peak = float(f[k] + shift * df)
        # part of a stronger peak, or a bump on its skirt that does not stand out of the skirt
        if any(abs(f_peak - p.hz) < max(p.bandwidth_hz or 0.0, 2 * spec.resolution_hz) for p in peaks):
            continue
        skirt = floor[k] + sum(p.power / (1 + (2 * (f_peak - p.hz) / max(p.bandwidth_hz or 0.0, welch_hp)) ** 2)
                               for p in peaks)
        if 10 * math.log10(max(psd[k], 1e-300) / skirt) < thr:
            continue
        # half-power width over the floor on the Welch curve: a starting guess for the fit
        half = floor[k] + 0.5 * (psd[k] - floor[k])
        left, right = k, k
        while left > 0 and psd[left] > half:
            left -= 1
        while right < len(f) - 1 and psd[right] > half:
            right += 1
        g_guess = max((right - left) * df - welch_hp, res)
        fit = None
        for _ in range(3):  # widen the fitted span if the fit finds the peak broader than guessed
            span = 8 * max(g_guess, spec.resolution_hz) + 4 * res
            for j in cand:  # never past halfway to a clearly separate neighbour
                gap = abs(f[j] - f_peak)
                if gap > 2 * g_guess + 2 * spec.resolution_hz:
                    span = min(span, gap / 2)
            sel = (fr >= f_peak - span) & (fr <= f_peak + span)
            if sel.sum() < 8:
                break
            f_tol = max(2 * spec.resolution_hz, g_guess)
            fit = _fit_mode(np.flatnonzero(sel), per[sel], rw, spec.rate, f_peak, g_guess, res, f_tol)
            if fit is None or fit[1] <= 1.5 * g_guess:
                break
            g_guess = fit[1]
        hz, damping, bandwidth, q, below = f_peak, None, None, None, None
        if fit is not None:
            hz = fit[0]
            if fit[1] >= MIN_RESOLVED * res:
                bandwidth, damping, q = fit[1], fit[1] / (2 * hz), hz / fit[1]
        if damping is None:
            below = MIN_RESOLVED * res / (2 * hz)
        peaks.append(ModalPeak(hz=hz, damping=damping, snr_db=float(excess_db[k]), bandwidth_hz=bandwidth, q=q,
                               power=float(psd[k] - floor[k]), damping_below=below))
    return peaks


def peaks_csv(peaks: list[ModalPeak]) -> str:
    """The peaks as CSV text (header ``hz,damping,snr_db,bandwidth_hz,q,power_px2_per_hz,damping_below``)."""
    buf = io.StringIO()
    cols = ["hz", "damping", "snr_db", "bandwidth_hz", "q", "power_px2_per_hz", "damping_below"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for p in peaks:
        d = p.to_dict()
        w.writerow(["" if d[c] is None else d[c] for c in cols])
    return buf.getvalue()
