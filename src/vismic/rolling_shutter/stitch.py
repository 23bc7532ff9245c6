"""Rows onto a uniform time grid, and the gaps filled.

:func:`stitch` fits the rows' estimates onto working-grid slots by a local-linear fit weighted
by each row's SNR; slots that no row sees well (the inter-frame gap, a still background) are
filled by least-squares autoregressive interpolation (:func:`ar_fill`, Janssen et al. 1986).
:func:`signal_band` finds where the measured spectrum meets the noise floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

from ..errors import InputError, NoTextureError, ParameterError
from .rows import RowSignals, _axis_deg, _combine
from .timing import RowTiming

#: Working-grid slots are placed at least this many slots inside a frame's span of rows:
#: a slot beyond the rows would be an extrapolation (measured: a poorer boundary for gap filling).
EDGE = 0.5


#: Autoregressive gap filling: model order and the context on each side of a gap, in seconds.
AR_ORDER_S = 0.008


AR_CONTEXT_S = 0.03


#: A working-grid slot counts as measured when its SNR is within this many dB of the well-seen
#: slots (75th percentile); the others are gaps, filled from their neighbours.
SLOT_DROP_DB = 6.0


def _slot_projection(u: np.ndarray, weight: np.ndarray, *, slots: np.ndarray, sigma: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Local-linear fit of row samples at positions ``u`` (in slots) onto integer ``slots``.

    Each slot value is the intercept of a weighted straight-line fit to the rows within
    ``3 sigma`` slots, with Gaussian kernel ``exp(-(u - k)^2 / 2 sigma^2)`` times the row weight
    (inverse noise variance). Returns ``(P, ok)``: ``P`` of shape (len(slots), len(u)) so that
    ``slot_values = P @ row_values``, and ``ok`` marking slots with enough rows for a fit.
    """
    dk = u[None, :] - slots[:, None].astype(np.float64)
    kern = np.exp(-0.5 * (dk / sigma) ** 2) * (np.abs(dk) <= 3 * sigma) * weight[None, :]
    s0 = kern.sum(axis=1)
    s1 = (kern * dk).sum(axis=1)
    s2 = (kern * dk * dk).sum(axis=1)
    det = s0 * s2 - s1 * s1
    # effective number of rows (Kish): too few, or a one-sided cluster, leaves the slot empty
    neff = np.where(s0 > 0, s0**2 / np.maximum((kern**2).sum(axis=1), 1e-300), 0.0)
    ok = (neff >= 2.5) & (det > 1e-9 * np.maximum(s0 * s2, 1e-300))
    with np.errstate(invalid="ignore", divide="ignore"):
        lin = (s2[:, None] - s1[:, None] * dk) / det[:, None]
        p = np.where(ok[:, None], kern * lin, 0.0)
    return p, ok


def ar_fit(segments: list[np.ndarray], order: int, *, ridge: float = 1e-4) -> np.ndarray:
    """AR coefficients ``a`` (``a[0] = 1``) fitted by least squares on contiguous segments.

    The covariance method: only windows lying entirely inside one segment enter the normal
    equations, so gaps need no filling first. A ridge of ``ridge`` times the mean diagonal keeps
    the fit stable.
    """
    p = int(order)
    rows, rhs = [], []
    for s in segments:
        if len(s) > p:
            win = np.lib.stride_tricks.sliding_window_view(s, p + 1)
            rows.append(win[:, :-1][:, ::-1])
            rhs.append(win[:, -1])
    if not rows:
        return np.r_[1.0, np.zeros(p)]
    x = np.concatenate(rows)
    y = np.concatenate(rhs)
    g = x.T @ x
    lam = ridge * (np.trace(g) / p + 1e-300)
    coef = sla.solve(g + lam * np.eye(p), x.T @ y, assume_a="pos")
    return np.r_[1.0, -coef]


def ar_fill(x: np.ndarray, observed: np.ndarray, *, order: int, context: int, passes: int = 2,
            ridge: float = 1e-4) -> np.ndarray:
    """Fill the missing samples of ``x`` by least-squares autoregressive interpolation.

    Every run of missing samples is replaced by the values that minimise the AR prediction
    error energy over the run and ``order`` samples on each side (Janssen, Veldhuis & Vries 1986),
    with an AR model fitted to the samples within ``context`` of the run. Where the signal is
    predictable (tones, voiced speech) the fill continues it; where it is not, the fill decays
    smoothly towards zero in the middle of the run -- the conditional mean under the AR model,
    never a hard zero that would alias.

    The first pass fits each model only on windows lying inside observed segments (covariance
    method, order at most 3/4 of the longest segment); later passes refit on the whole context,
    previous fills included, at the full ``order`` (Janssen's iteration), which lets the model
    reach across gaps to longer structure such as the pitch period of speech.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Signal; values at missing positions are ignored.
    observed : ndarray of bool, shape (n,)
    order : int
        AR order (>= 1), in samples.
    context : int
        Samples on each side of a run used to fit its AR model.
    passes : int
        Number of passes (>= 1).
    ridge : float
        Ridge of the AR normal equations, relative to their mean diagonal.

    Returns
    -------
    ndarray, shape (n,), float64
        ``x`` with every missing sample filled (runs touching an end are extrapolated).

    Raises
    ------
    InputError
        No sample is observed.
    """
    x = np.asarray(x, dtype=np.float64).copy()
    obs = np.asarray(observed, dtype=bool)
    n = x.size
    if obs.shape != x.shape:
        raise ParameterError(f"observed has shape {obs.shape}, x has {x.shape}")
    if int(order) < 1 or int(passes) < 1:
        raise ParameterError(f"order={order} and passes={passes} must be >= 1")
    if not obs.any():
        raise InputError("no observed sample to fill the gaps from")
    x[~obs] = 0.0
    edges = np.flatnonzero(np.diff(np.r_[1, obs.astype(np.int8), 1]))
    starts, stops = edges[0::2], edges[1::2]  # missing runs [start, stop)
    for it in range(int(passes)):
        filled = obs.copy() if it == 0 else np.ones(n, bool)
        for s, e in zip(starts, stops, strict=True):
            lo, hi = max(0, s - context), min(n, e + context)
            if it == 0:
                sedges = np.flatnonzero(np.diff(np.r_[0, obs[lo:hi].astype(np.int8), 0]))
                segs = [x[lo + a : lo + b] for a, b in zip(sedges[0::2], sedges[1::2], strict=True)]
                cap = int(0.75 * max((len(t) for t in segs), default=0))
            else:
                segs = [x[lo:hi]]
                cap = (hi - lo) // 3
            p = int(min(order, max(1, cap)))
            a = ar_fit(segs, p, ridge=ridge)
            x[s:e] = _lsar_run(x, filled, s, e, a)
            filled[s:e] = True
    return x


def _lsar_run(x: np.ndarray, known: np.ndarray, s: int, e: int, a: np.ndarray) -> np.ndarray:
    """Least-squares AR interpolation of ``x[s:e]`` given the known samples around it."""
    p = a.size - 1
    m = e - s
    n = x.size
    # minimise sum_t (sum_i a_i x_{t-i})^2 over x[s:e]: a Toeplitz system in the autocorrelation of a
    r = np.correlate(a, a, mode="full")[p:]  # r[k] = sum_j a_j a_{j+k}, k = 0..p
    col = np.zeros(m)
    col[: min(m, p + 1)] = r[: min(m, p + 1)]
    col[0] *= 1 + 1e-9
    rhs = np.zeros(m)
    for k in range(1, p + 1):  # known samples at distance k outside the run
        cnt = min(m, p - k + 1)
        if s - k >= 0 and known[s - k]:
            rhs[:cnt] -= r[k : k + cnt] * x[s - k]
        if e - 1 + k < n and known[e - 1 + k]:
            rhs[m - cnt :] -= r[k : k + cnt][::-1] * x[e - 1 + k]
    return sla.solve_toeplitz(col, rhs)


@dataclass
class Stitched:
    """Result of :func:`stitch`.

    Attributes
    ----------
    signal : ndarray, shape (m,)
        Motion on the uniform working grid, gaps filled, in pixels along ``direction_deg``
        (zero mean, not high-passed).
    rate : float
        Working rate ``slots_per_frame * fps`` in Hz.
    observed : ndarray of bool, shape (m,)
        Samples measured (the rest were filled).
    t0 : float
        Time of ``signal[0]`` in seconds after the start of frame 0's first row exposure
        (includes ``exposure / 2``).
    diagnostics : dict
    """

    signal: np.ndarray
    rate: float
    observed: np.ndarray
    t0: float
    diagnostics: dict = field(default_factory=dict)


def stitch(rows: RowSignals, timing: RowTiming, *, row0: int, rate: float, ar_order: int | None = None) -> Stitched:
    """Per-row displacements -> one signal on a uniform time grid, gaps filled.

    Each row's estimate of the motion (:meth:`RowSignals.model`: its own gain and noise) is
    fitted onto working-grid slots ``k / rate`` (``rate`` rounded to an integer number of slots
    per frame) by a local-linear fit weighted by each row's SNR. A slot is measured when its
    SNR is within ``SLOT_DROP_DB`` of the well-seen slots; the rest (the inter-frame gap, rows
    of a still background, rows without texture) are gaps, filled by :func:`ar_fill`.

    Parameters
    ----------
    rows : RowSignals
    timing : RowTiming
    row0 : int
        Frame row of the ROI's first row.
    rate : float
        Working rate in Hz (about 2.5 times the highest frequency wanted).
    ar_order : int, optional
        AR order of the gap filling (default ``AR_ORDER_S`` = 8 ms of samples).

    Returns
    -------
    Stitched
    """
    n, c, h = rows.displacement.shape
    if not rate > 0:
        raise ParameterError(f"rate={rate} must be > 0 Hz")
    slots_per_frame = max(2, int(round(rate / timing.fps)))
    fs = slots_per_frame * timing.fps
    order = timing.readout_index(row0 + np.arange(h)).astype(np.float64)
    u = order * timing.line_delay * fs  # row positions, in slots after the frame start
    rows_per_slot = 1.0 / (timing.line_delay * fs)
    if rows_per_slot < 1:
        raise ParameterError(f"the working rate {fs:g} Hz exceeds the row rate {timing.effective_rate:g} Hz; "
                             "lower band or rate")
    sigma = max(0.35, 0.6 / rows_per_slot)  # the kernel always spans a few rows
    k_lo, k_hi = int(np.ceil(u.min() + EDGE)), int(np.floor(u.max() - EDGE))
    slots = np.arange(max(k_lo, 0), min(k_hi, slots_per_frame - 1) + 1)
    if slots.size < 2:
        raise ParameterError(f"the ROI's {h} rows span {h * timing.line_delay * 1e3:.3g} ms of each frame, less "
                             f"than two samples at {fs:g} Hz; use a taller ROI or a lower band")
    m = rows.model()

    def place(info: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, ok = _slot_projection(u, info, slots=slots, sigma=sigma)
        with np.errstate(invalid="ignore", divide="ignore"):
            var_k = np.where(ok, (p**2 / np.where(info > 0, info, np.inf)[None, :]).sum(axis=1), np.inf)
            snr_k = np.where(ok, 1.0 / var_k, 0.0)
        if np.any(ok):
            good = float(np.percentile(snr_k[ok], 75))
            ok &= snr_k >= good * 10 ** (-SLOT_DROP_DB / 10)
        return p, ok, snr_k

    p_ar = int(ar_order) if ar_order is not None else max(2, int(round(AR_ORDER_S * fs)))
    if p_ar < 1:
        raise ParameterError(f"ar_order={ar_order} must be >= 1")
    context = max(slots_per_frame, int(round(AR_CONTEXT_S * fs)))  # each side reaches a measured run

    def fill(values: np.ndarray, p: np.ndarray, ok: np.ndarray, scale: float):
        z = (values @ p[ok].T) * scale  # (n, K) pixels along the motion
        grid = np.zeros((n, slots_per_frame))
        mask = np.zeros((n, slots_per_frame), bool)
        grid[:, slots[ok]] = z
        mask[:, slots[ok]] = True
        grid, mask = grid.ravel(), mask.ravel()
        first, last = np.flatnonzero(mask)[[0, -1]]
        sig = ar_fill(grid[first : last + 1], mask[first : last + 1], order=p_ar, context=context)
        return sig - sig.mean(), mask[first : last + 1], first

    p, ok, snr_k = place(m.information)
    no_motion = ok.sum() < 2
    if no_motion:  # no rows see motion: keep every textured row's raw motion; the SNR says it is noise
        p, ok, snr_k = place(np.where(np.isfinite(m.noise), 1.0, 0.0))
        if ok.sum() < 2:
            raise NoTextureError("too few textured rows to place any sample on the time grid; choose a textured "
                                 "ROI")
        signal, mask, first = fill(_combine(m.fuse, rows.displacement, axis=1), p, ok, 1.0)
    else:
        signal, mask, first = fill(m.values, p, ok, m.scale_px)
    snr = 0.0 if no_motion else float(np.median(snr_k[ok]))
    fw = m.fuse
    weight = rows.weight
    moving = np.flatnonzero(m.moving_rows())
    diag = {
        "working_rate_hz": fs,
        "slots_per_frame": slots_per_frame,
        "observed_slots_per_frame": int(ok.sum()),
        "rows_per_slot": rows_per_slot,
        "kernel_sigma_slots": sigma,
        "filled_fraction": float(1 - mask.mean()),
        "ar_order": p_ar,
        "motion_direction_deg": _axis_deg(fw["gx"], fw["gy"]),
        "channels": [
            {"name": ch, "gain_px": float(fw["gains"][i]), "noise_px2": float(fw["noise"][i]),
             "weight": float(fw["weights"][i] / max(np.sum(np.abs(fw["weights"])), 1e-300)),
             "rows_used": int(np.sum(weight[i] > 0))}
            for i, ch in enumerate(rows.channels)
        ],
        "rows_seeing_motion": int(moving.size),
        "rows_seeing_motion_span": [int(row0 + moving[0]), int(row0 + moving[-1])] if moving.size else None,
        "motion_rms_px": m.scale_px,
        "estimated_snr_db": float(10 * np.log10(snr)) if snr > 0 else float("-inf"),
        # noise of one measured sample, px^2 (the signal is in units of the object's RMS motion)
        "noise_var_px2": float(m.scale_px**2 / snr) if snr > 0 else float("inf"),
    }
    return Stitched(signal, fs, mask, first / fs + timing.exposure / 2, diag)


def signal_band(x: np.ndarray, observed: np.ndarray, *, rate: float, noise_var: float, cap: float,
                floor: float = 300.0) -> float | None:
    """Highest frequency at which the measured samples carry signal above their noise, in Hz.

    The power spectrum of the observed runs (Hann-windowed periodograms of equal length,
    averaged) is compared with the white noise floor ``2 noise_var / rate`` (one-sided); the band
    ends 25 % above the highest frequency where the spectrum, smoothed over three bins, is at
    least twice (3 dB above) the floor.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Stitched signal (px).
    observed : ndarray of bool, shape (n,)
        Measured samples (the rest were filled).
    rate : float
        Sample rate in Hz.
    noise_var : float
        Noise variance of one measured sample, px^2.
    cap, floor : float
        The result is clipped to ``[min(floor, cap), cap]`` Hz.

    Returns
    -------
    float or None
        The band edge in Hz, or None when the runs are too short (< 16 samples) to tell.
    """
    x = np.asarray(x, dtype=np.float64)
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(observed).astype(np.int8), 0]))
    runs = [(a, b) for a, b in zip(edges[0::2], edges[1::2], strict=True)]
    lengths = sorted(b - a for a, b in runs)
    if not runs or not np.isfinite(noise_var) or noise_var <= 0:
        return None
    size = lengths[len(lengths) // 2]  # the median run: the occasional short one is skipped
    if size < 16:
        return None
    w = np.hanning(size)
    segs = np.stack([x[a : a + size] for a, b in runs if b - a >= size])
    segs = segs - segs.mean(axis=1, keepdims=True)
    psd = 2 * np.mean(np.abs(np.fft.rfft(segs * w, axis=1)) ** 2, axis=0) / (rate * np.sum(w**2))
    f = np.fft.rfftfreq(size, 1 / rate)
    smooth = np.convolve(psd, np.ones(3) / 3, mode="same")
    above = np.flatnonzero((smooth > 2 * (2 * noise_var / rate)) & (f > 0))
    top = float(f[above[-1]]) * 1.25 if above.size else 0.0
    return float(np.clip(top, min(floor, cap), cap))
