"""Measuring the line delay: from a flickering light, a known tone, or blindly from any recording;
and the blind consistency check run during every recovery.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft as sfft

from .._typing import ProgressFn
from ..errors import InputError, ParameterError
from ..io import FrameSource, open_source
from ..io.base import ROI
from .row_motion import RowMotionEstimator, anchor_frames
from .rows import RowSignals, row_signals
from .timing import RowTiming, _num

#: Blind line-delay check: covariance at the lags consecutive frames share must exceed this many
#: standard errors (noise alone: ~1) for the check to say anything.
MIN_STRUCTURE = 6.0


def line_delay_consistency(rows: RowSignals, timing: RowTiming, *, row0: int, search: float = 0.3,
                           tolerance: float = 0.03) -> dict[str, Any]:
    """Check the line delay blindly: do rows of consecutive frames agree at the assumed instants?

    With the true line delay ``d``, the covariance between row ``j`` of frame ``n`` and row
    ``j + D`` of frame ``n + 1`` (time lag ``T + D d``) equals the covariance within one frame at
    ``D + T/d`` rows (the same time lag): ``C_x(D) = C_in(D + T/d)``. Aligning the two curves
    measures ``T/d``, hence ``d``, from any vibration with structure at lags between
    ``T - (h-1) d`` and ``(h-1) d`` (speech: its pitch). The lags overlap only when the ROI
    spans more than half the rows of a frame period (``h > T / 2d``).

    Parameters
    ----------
    rows : RowSignals
    timing : RowTiming
        The assumed timing (its line delay and readout are checked).
    row0 : int
        Frame row of the ROI's first row.
    search : float
        Relative range of line delays searched (0.3: +-30 %).
    tolerance : float
        Relative difference below which the assumed line delay is not flagged.

    Returns
    -------
    dict
        ``identifiable`` (bool), ``line_delay_s`` (the assumed), ``estimated_line_delay_s``,
        ``ratio`` (estimated / assumed), ``mismatch_at_assumed`` and ``mismatch_at_estimate``
        (normalised squared difference of the two covariance curves: 0 = identical, ~1 =
        unrelated), ``flagged`` (bool) and ``message``.
    """
    combined, _ = rows.combined()
    h = combined.shape[1]
    out: dict[str, Any] = {"identifiable": False, "line_delay_s": timing.line_delay, "readout": timing.readout,
                           "flagged": False}
    m_true = timing.period / timing.line_delay
    # rows per period M for which consecutive frames share enough lags (2h - 2 - M >= overlap)
    max_m = 2 * h - 2 - max(16, int(0.1 * h))
    lo_m, hi_m = m_true / (1 + search), min(m_true / max(1 - search, 1e-3), max_m)
    if m_true > max_m or combined.shape[0] < 8:
        out["message"] = (f"not identifiable: the ROI's {h} rows must span clearly more than half of the "
                          f"{m_true:.0f} rows of a frame period (at least {_rows_needed(m_true)})")
        return out
    other = "up" if timing.readout == "down" else "down"
    fits = {}
    for r in (timing.readout, other):
        order = dataclasses.replace(timing, readout=r).readout_index(row0 + np.arange(h))
        fits[r] = _covariance_alignment(combined, order, m_true, lo_m, hi_m)
    fit, f2 = fits[timing.readout], fits[other]
    assumed_ok = fit["good"] and fit["local"] <= 2 * fit["best"] + 0.05
    if f2["good"] and f2["best"] < 0.5 * min(fit["best"], fit["local"]) and not (assumed_ok and fit["local"] < 0.1):
        est = timing.period / f2["m_best"]
        out.update(identifiable=True, flagged=True, estimated_line_delay_s=est, ratio=est / timing.line_delay,
                   estimated_readout=other, mismatch_at_assumed=fit["at_given"], mismatch_at_estimate=f2["best"],
                   structure=f2["structure"],
                   message=f"the readout direction looks reversed: the data fit --readout {other} (line delay "
                           f"{est * 1e6:.4g} us, mismatch {f2['best']:.2f}) better than {timing.readout} "
                           f"({min(fit['best'], fit['local']):.2f})")
        return out
    out.update(identifiable=fit["good"], estimated_readout=timing.readout, structure=fit["structure"],
               mismatch_at_assumed=fit["at_given"], mismatch_at_estimate=fit["best"])
    if not fit["good"]:
        out.update(estimated_line_delay_s=float("nan"), ratio=float("nan"))
        out["message"] = ("not identifiable: the motion has too little structure at lags "
                          f"{(m_true - h) * timing.line_delay * 1e3:.1f}-{h * timing.line_delay * 1e3:.1f} ms "
                          "(speech or a tone is needed; a flickering light or tone film gives a calibration)")
        return out
    best = fit["best"]
    ambiguous = len([m for m in fit["minima"] if abs(m / fit["m_best"] - 1) > 0.05]) > 0
    local_ok = fit["local"] <= 2 * best + 0.05 and abs(fit["m_local"] / m_true - 1) <= tolerance
    est = timing.period / (fit["m_local"] if local_ok else fit["m_best"])
    out.update(estimated_line_delay_s=est, ratio=est / timing.line_delay, ambiguous=ambiguous)
    if local_ok:
        out["message"] = (f"line delay consistent with the data (best fit {est * 1e6:.4g} us, "
                          f"{(est / timing.line_delay - 1) * 100:+.1f} %)")
        return out
    out["flagged"] = True
    others = ", ".join(f"{timing.period / m * 1e6:.4g}" for m in fit["minima"])
    out["message"] = (f"the line delay {timing.line_delay * 1e6:.4g} us looks wrong: rows of consecutive frames agree "
                      f"best at {est * 1e6:.4g} us (mismatch {best:.2f} vs {fit['at_given']:.2f} at the given value)"
                      + (f"; a periodic sound also fits {others} us" if ambiguous else "")
                      + "; check --camera/--line-delay/--readout or measure it with `vismic calibrate`")
    return out


def _rows_needed(m_true: float) -> int:
    """Smallest ROI height ``h`` with ``2 h - 2 - max(16, 0.1 h) >= m_true`` (the check's own condition)."""
    h = int(np.ceil((m_true + 18) / 2))
    while 2 * h - 2 - max(16, int(0.1 * h)) < m_true:
        h += 1
    return h


def _covariance_alignment(combined: np.ndarray, order: np.ndarray, m_true: float, lo_m: float, hi_m: float
                          ) -> dict[str, Any]:
    """Best shift ``M`` (rows per frame period) aligning the cross-frame covariance onto the within-frame one."""
    x = combined[:, np.argsort(order)]  # rows in readout order: time increases along axis 1
    x = x - x.mean(axis=1, keepdims=True)
    n, h = x.shape
    size = sfft.next_fast_len(2 * h)
    spec = sfft.rfft(x, size, axis=1)
    count = sfft.irfft(np.abs(sfft.rfft(np.ones(h), size)) ** 2, size)  # row pairs at each lag
    c_in = sfft.irfft((spec * np.conj(spec)).sum(axis=0), size)[:h] / np.maximum(count[:h], 1) / n
    c_x = sfft.irfft((np.conj(spec[:-1]) * spec[1:]).sum(axis=0), size) / np.maximum(count, 1) / (n - 1)
    lags = np.arange(-(h - 1), h)

    def mismatch(m: float) -> float:
        k = lags + m
        ok = (k >= 1) & (k <= h - 2)
        if ok.sum() < 16:
            return float("nan")
        a = c_x[lags[ok] % size]
        kk = k[ok]
        k0 = np.floor(kk).astype(int)
        fr = kk - k0
        b = c_in[k0] * (1 - fr) + c_in[k0 + 1] * fr
        w = np.minimum(count[lags[ok] % size], count[k0])
        return float(np.sum(w * (a - b) ** 2) / max(np.sum(w * (a * a + b * b)), 1e-300))

    grid = np.linspace(lo_m, hi_m, int(np.ceil((hi_m - lo_m) / 0.5)) + 1)
    scores = np.array([mismatch(m) for m in grid])
    # significance of the covariance at the lags the frames share: its RMS over the standard error of a
    # covariance estimate (c(0) / sqrt(pairs)); noise alone gives ~1, a sound with structure >> 1
    k_lo = max(1, int(np.ceil(lo_m - (h - 1))))
    if k_lo < h - 1:
        se = c_in[0] / np.sqrt(n * max(float(np.mean(count[k_lo : h - 1])), 1.0))
        structure = float(np.sqrt(np.mean(c_in[k_lo : h - 1] ** 2)) / max(se, 1e-300))
    else:
        structure = 0.0
    if not np.any(np.isfinite(scores)):
        return {"good": False, "m_best": float("nan"), "best": float("nan"), "m_local": float("nan"),
                "local": float("nan"), "at_given": float("nan"), "structure": structure, "minima": []}

    def refine(i: int) -> tuple[float, float]:
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        for _ in range(30):  # golden section
            a1, b1 = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
            if mismatch(a1) < mismatch(b1):
                hi = b1
            else:
                lo = a1
        return (lo + hi) / 2, mismatch((lo + hi) / 2)

    filled = np.where(np.isfinite(scores), scores, np.inf)
    m_best, best = refine(int(np.argmin(filled)))
    near = np.flatnonzero(np.abs(grid / m_true - 1) <= 0.05)
    m_local, local = refine(int(near[np.argmin(filled[near])])) if near.size else (m_true, mismatch(m_true))
    # local minima as deep as the best one: a periodic sound (a pure tone) fits at several delays
    interior = (filled[1:-1] <= filled[:-2]) & (filled[1:-1] <= filled[2:])
    minima = [float(grid[i + 1]) for i in np.flatnonzero(interior) if filled[i + 1] <= 2 * best + 0.05]
    return {"good": bool(np.isfinite(best) and best < 0.5 and structure > MIN_STRUCTURE), "m_best": m_best,
            "best": best,
            "m_local": m_local, "local": local, "at_given": mismatch(m_true), "structure": structure,
            "minima": minima}


@dataclass
class Calibration:
    """A measured line delay.

    Attributes
    ----------
    line_delay : float
        Seconds per row.
    line_delay_std : float
        One-sigma uncertainty in seconds (Cramer-Rao of the stripe frequency under the residual
        noise; the blind method reports the half-width of its mismatch minimum instead).
    readout : {"down", "up"} or None
        Readout direction, None when the data cannot tell (stripes that do not move between
        frames: a flicker or tone frequency that is a multiple of half the frame rate).
    method : {"flicker", "tone", "blind"}
    frequency_hz : float or None
        The known flicker or tone frequency.
    cycles_per_row : float or None
        Stripe frequency measured along the rows (``frequency_hz * line_delay``).
    fps : float
    rows : int
        Frame height in rows (for the readout time and the gap).
    frames : int
    snr_db : float or None
        Stripe amplitude over the residual noise (flicker and tone methods).
    notes : list of str
    """

    line_delay: float
    line_delay_std: float
    readout: str | None
    method: str
    frequency_hz: float | None
    cycles_per_row: float | None
    fps: float
    rows: int
    frames: int
    snr_db: float | None = None
    notes: list[str] = field(default_factory=list)

    def timing(self, exposure: float = 0.0) -> RowTiming:
        """The :class:`RowTiming` this calibration gives (readout ``down`` if undetermined)."""
        return RowTiming(self.fps, self.line_delay, self.rows, exposure, self.readout or "down")

    def describe(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["readout_time_s"] = self.rows * self.line_delay
        d["gap_s"] = max(0.0, 1 / self.fps - self.rows * self.line_delay)
        d["effective_rate_hz"] = 1 / self.line_delay
        return d


def stripe_frequency(profiles: np.ndarray, *, low: float, high: float) -> dict[str, Any]:
    """Frequency (cycles per row) of a sinusoid along the rows, shared by every frame.

    Each frame ``n`` is modelled as ``a_n cos(2 pi nu y) + b_n sin(2 pi nu y) + c_n + e_n y`` plus
    noise: its own amplitude and phase, a mean and a linear trend. ``nu`` maximises the energy
    of the least-squares fit over all frames (a periodogram peak, refined by golden section).
    Exact even for a stripe period longer than the ROI, where a plain periodogram is biased.

    Parameters
    ----------
    profiles : ndarray, shape (n_frames, rows)
        One value per row and frame (row means of a flicker video, or per-row motion).
    low, high : float
        Search range in cycles per row (0 < low < high <= 0.5).

    Returns
    -------
    dict
        ``nu`` (cycles/row), ``nu_std`` (Cramer-Rao one sigma), ``phasors`` (complex
        ``a_n - i b_n``, shape (n_frames,)), ``snr_db`` (stripe power over residual noise).

    Raises
    ------
    InputError
        No stripe in the range (flat profiles).
    """
    q = np.asarray(profiles, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] < 8:
        raise InputError(f"profiles of shape {q.shape}: need (frames, rows) with >= 8 rows")
    n, h = q.shape
    if not 0 < low < high <= 0.5:
        raise ParameterError(f"search range low={low:g}, high={high:g} cycles/row must satisfy 0 < low < high <= 0.5")
    y = np.arange(h, dtype=np.float64)
    yc = (y - y.mean()) / h
    q = q - q.mean(axis=1, keepdims=True)
    q = q - np.outer(q @ yc / (yc @ yc), yc)
    if not np.any(q):
        raise InputError("the profiles are flat: no stripes to measure")

    def fit(nu: float) -> tuple[float, np.ndarray, np.ndarray]:
        basis = np.stack([np.cos(2 * np.pi * nu * y), np.sin(2 * np.pi * nu * y), np.ones(h), yc], axis=1)
        coef, *_ = np.linalg.lstsq(basis, q.T, rcond=None)  # (4, n)
        model = basis @ coef
        energy = float(np.sum(model * q.T))
        return energy, coef, model

    size = sfft.next_fast_len(max(16 * h, 4096))
    power = (np.abs(sfft.rfft(q, size, axis=1)) ** 2).sum(axis=0)
    f = np.arange(power.size) / size
    sel = np.flatnonzero((f >= low) & (f <= high))
    if sel.size == 0:
        raise ParameterError(f"the search range {low:g}..{high:g} cycles/row is narrower than the frequency grid")
    # coarse: periodogram peak, then the least-squares criterion on a grid around it
    nu0 = f[sel[np.argmax(power[sel])]]
    grid = np.clip(np.linspace(nu0 - 1.0 / h, nu0 + 1.0 / h, 41), low, high)
    grid = np.unique(np.r_[grid, np.linspace(low, min(high, low + 2.0 / h), 21)])
    energies = [fit(v)[0] for v in grid]
    i = int(np.argmax(energies))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    for _ in range(40):
        a1, b1 = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
        if fit(a1)[0] > fit(b1)[0]:
            hi = b1
        else:
            lo = a1
    nu = (lo + hi) / 2
    _, coef, model = fit(nu)
    resid = q.T - model
    dof = max(h * n - 4 * n - 1, 1)
    sigma2 = float(np.sum(resid**2) / dof)
    amp2 = coef[0] ** 2 + coef[1] ** 2
    total = float(np.sum(amp2))
    var = 12 * sigma2 / ((2 * np.pi) ** 2 * h * (h * h - 1) * max(total, 1e-300))
    snr = 10 * np.log10(np.mean(amp2) / 2 / sigma2) if sigma2 > 0 and total > 0 else float("inf")
    return {"nu": nu, "nu_std": float(np.sqrt(var)), "phasors": coef[0] - 1j * coef[1], "snr_db": float(snr)}


def _readout_from_phasors(phasors: np.ndarray, frequency: float, fps: float) -> tuple[str | None, str]:
    """Readout direction from the stripes' drift between frames (see :func:`calibrate_flicker`)."""
    phi = (frequency / fps) % 1.0
    if len(phasors) < 2 or min(phi, 1 - phi) < 0.02 or abs(phi - 0.5) < 0.02:
        return None, (f"the stripes advance {phi:.3f} of a period per frame: the readout direction cannot be told "
                      "(use a frequency that is not a multiple of half the frame rate)")
    adv = float(np.angle(np.sum(phasors[1:] * np.conj(phasors[:-1]))) / (2 * np.pi))

    def dist(a: float) -> float:
        return abs((a + 0.5) % 1.0 - 0.5)

    down, up = dist(adv - phi), dist(adv + phi)
    if min(down, up) > 0.15:
        return None, (f"the stripes advance {adv:.3f} period per frame, not +-{phi:.3f} as a {frequency:g} Hz "
                      f"source at {fps:g} fps would make them: check the frequency and --fps")
    wrapped = (phi + 0.5) % 1.0 - 0.5
    return ("down" if down < up else "up"), (f"stripes advance {adv:+.3f} period per frame ({wrapped:+.3f} for a "
                                             f"top-to-bottom readout, {-wrapped:+.3f} bottom-to-top)")


def _search_range(frequency: float, fps: float, rows: int, h: int) -> tuple[float, float]:
    high = min(0.5, 1.05 * frequency / fps / rows)  # the readout must fit the frame period
    low = max(0.3 / h, frequency * 0.1e-6)
    if low >= high:
        raise ParameterError(
            f"a {frequency:g} Hz source makes fewer than 0.3 stripes over the ROI's {h} rows even at the longest "
            f"possible line delay; use a higher frequency (a few hundred Hz to a few kHz) or a taller ROI"
        )
    return low, high


def _open(source: Any):
    own = not isinstance(source, FrameSource)
    return (open_source(os.fspath(source)) if own else source), own


def calibrate_flicker(source: Any, *, fps: float, flicker_hz: float, roi: tuple[int, int, int, int] | None = None,
                      batch: int = 32) -> Calibration:
    """Measure the line delay from a video of a light flickering at a known frequency.

    Each row integrates the light at its own instant, so a light flickering at ``f`` films as
    horizontal stripes with ``f * d`` cycles per row. The stripe frequency is fitted over all
    frames (:func:`stripe_frequency`) and ``d = nu / f``. The stripes drift by ``f / fps`` of a
    period per frame, downwards for a top-to-bottom readout: that gives the readout direction.

    Parameters
    ----------
    source : path or FrameSource
    fps : float
        Exact frame rate in Hz.
    flicker_hz : float
        The light's flicker frequency in Hz (mains lighting: twice the mains frequency, 100 or
        120 Hz; an LED driven by a generator or PWM at a few hundred Hz to a few kHz is better).
    roi : (x, y, w, h), optional
        Region to average along the rows (default: the whole frame).
    batch : int
        Frames read at a time.

    Returns
    -------
    Calibration

    Raises
    ------
    ParameterError, InputError, VideoReadError
    """
    fps = _num("fps", fps, unit="Hz", fix="give the exact frame rate, e.g. 59.94")
    f = _num("flicker_hz", flicker_hz, unit="Hz", fix="give the light's flicker frequency, e.g. 120")
    src, own = _open(source)
    try:
        rows, cols = src.shape
        r = ROI(*roi).check(rows, cols) if roi is not None else ROI(0, 0, cols, rows)
        prof = [b.mean(axis=2, dtype=np.float64)
                for b in src.iter_batches(batch=batch, roi=r if roi is not None else None)]
    finally:
        if own:
            src.close()
    p = np.concatenate(prof) if prof else np.zeros((0, r.h))
    if p.shape[0] < 2:
        raise InputError("calibration needs at least 2 frames")
    notes = []
    phi = (f / fps) % 1.0
    if min(phi, 1 - phi) > 0.02:
        base = p.mean(axis=0)
        if np.any(base <= 0):
            raise InputError("some rows are black in every frame; light the target or choose another ROI")
        q = p / base - 1.0  # the flicker multiplies the scene: the ratio removes the scene's own pattern
    else:
        q = p.mean(axis=0, keepdims=True)  # stripes do not move: assume a flat target
        notes.append(f"{f:g} Hz is a multiple of the frame rate: the stripes stand still, so the target must be "
                     "flat (a white wall), and the readout direction cannot be told")
    low, high = _search_range(f, fps, rows, r.h)
    res = stripe_frequency(q, low=low, high=high)
    readout, note = _readout_from_phasors(res["phasors"], f, fps) if q.shape[0] > 1 else (None, "")
    if note:
        notes.append(note)
    if readout == "up":
        notes.append("bottom-to-top readout: the stripes move up")
    cycles = res["nu"] * r.h
    if cycles < 1.5:
        notes.append(f"only {cycles:.2f} stripe periods over the ROI: use a faster flicker for precision")
    return Calibration(res["nu"] / f, res["nu_std"] / f, readout, "flicker", f, res["nu"], fps, rows, p.shape[0],
                       res["snr_db"], notes)


def _row_signals_of(source: Any, *, roi, direction: str, batch: int, progress: ProgressFn | None = None
                    ) -> tuple[RowSignals, Any, int, int]:
    src, own = _open(source)
    try:
        rows, cols = src.shape
        r = ROI(*roi).check(rows, cols) if roi is not None else ROI(0, 0, cols, rows)
        est = RowMotionEstimator((r.h, r.w), direction=direction,
                                 max_anchor=anchor_frames(src.header_rate or 30.0))
        chunks = []
        done = 0
        for b in src.iter_batches(batch=batch, roi=r if roi is not None else None):
            chunks.append(est.process(b))
            done += len(b)
            if progress is not None:
                progress(done, src.n_frames)
    finally:
        if own:
            src.close()
    if done < 8:
        raise InputError(f"only {done} frames; at least 8 are needed")
    return row_signals(np.concatenate(chunks), est.channels, est.information, segments=est.segments), r, rows, done


def calibrate_tone(source: Any, *, fps: float, tone_hz: float, roi: tuple[int, int, int, int] | None = None,
                   direction: str = "auto", batch: int = 16) -> Calibration:
    """Measure the line delay from a video of an object vibrating with a known tone.

    The per-row motion of one frame is a snapshot of the tone along the rows, ``f d`` cycles per
    row; it is fitted like flicker stripes (:func:`stripe_frequency`). Choose ``f`` between a
    few hundred Hz and ``1/(2 E)`` (above, the exposure blurs it away) and not a multiple of
    half the frame rate.

    Parameters
    ----------
    source : path or FrameSource
    fps : float
        Exact frame rate in Hz.
    tone_hz : float
        The tone's frequency in Hz.
    roi, direction, batch
        As in :class:`RollingShutterParams`.

    Returns
    -------
    Calibration
    """
    fps = _num("fps", fps, unit="Hz", fix="give the exact frame rate, e.g. 59.94")
    f = _num("tone_hz", tone_hz, unit="Hz", fix="give the tone's frequency, e.g. 1000")
    rsig, r, rows, done = _row_signals_of(source, roi=roi, direction=direction, batch=batch)
    combined, _ = rsig.combined()
    low, high = _search_range(f, fps, rows, r.h)
    res = stripe_frequency(combined, low=low, high=high)
    readout, note = _readout_from_phasors(res["phasors"], f, fps)
    notes = [note] if note else []
    return Calibration(res["nu"] / f, res["nu_std"] / f, readout, "tone", f, res["nu"], fps, rows, done,
                       res["snr_db"], notes)


def calibrate_blind(source: Any, *, timing: RowTiming, roi: tuple[int, int, int, int] | None = None,
                    direction: str = "auto", batch: int = 16) -> Calibration:
    """Estimate the line delay from any vibration video, around a prior ``timing`` (+-30 %).

    Uses :func:`line_delay_consistency`: needs an ROI taller than half the rows of a frame
    period and a sound with structure (speech, music, tones).

    Raises
    ------
    InputError
        The data do not identify the line delay (message says why).
    """
    rsig, r, rows, done = _row_signals_of(source, roi=roi, direction=direction, batch=batch)
    if rows != timing.rows:
        raise ParameterError(f"timing.rows={timing.rows} does not match the video's {rows} rows")
    res = line_delay_consistency(rsig, timing, row0=r.y)
    if not res["identifiable"]:
        raise InputError(f"blind calibration failed: {res['message']}")
    readout = res.get("estimated_readout", timing.readout)
    return Calibration(res["estimated_line_delay_s"], 0.0, readout, "blind", None, None, timing.fps, rows, done,
                       None, [res["message"]])


def check_line_delay(calibration: Calibration, line_delay: float, *, tolerance: float = 0.03) -> dict[str, Any]:
    """Compare a measured line delay with an expected one (a camera preset or --line-delay).

    The expected value is flagged when it differs by more than ``tolerance`` (relative) and
    by more than three standard deviations of the measurement.

    Returns
    -------
    dict
        ``expected_s``, ``measured_s``, ``ratio`` (measured / expected), ``consistent`` (bool),
        ``message``.
    """
    d = _num("line_delay", line_delay, unit="seconds", fix="e.g. 16.15e-6")
    tol = _num("tolerance", tolerance, unit="(relative)", fix="use e.g. 0.03")
    ratio = calibration.line_delay / d
    off = abs(ratio - 1)
    consistent = off <= max(tol, 3 * calibration.line_delay_std / d)
    msg = (f"expected {d * 1e6:.4g} us, measured {calibration.line_delay * 1e6:.4g} us "
           f"({(ratio - 1) * 100:+.1f} %): " + ("consistent" if consistent else "MISMATCH, the expected line delay "
                                                "is wrong for this camera and mode"))
    return {"expected_s": d, "measured_s": calibration.line_delay, "ratio": ratio, "consistent": bool(consistent),
            "message": msg}
