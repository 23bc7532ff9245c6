"""Voice report on recovered speech: pitch track, voiced fraction, a gender estimate, a speaker count.

Everything here reads the fundamental frequency (F0) of voiced speech and nothing else, because F0 is
what survives the visual microphone: a 2,200 fps recovery keeps only 0-1,100 Hz, the object colours
the spectrum with its own resonances, and the recovered level says nothing about the talker. F0 of
adult speech (60-400 Hz) stays well below the Nyquist frequency even at such low rates.

Pitch tracker
-------------
YIN (de Cheveigne & Kawahara, J. Acoust. Soc. Am. 111(4), 2002), written here on numpy/scipy:

1. The signal is band-limited to 40-1,000 Hz (zero-phase Butterworth) and resampled to ~4 kHz
   whatever its rate, so a 2,200 Hz recovery and a 44.1 kHz one are analysed the same way.
2. Every 10 ms, the difference function ``d(tau) = sum_j (x_j - x_{j+tau})^2`` over a 25 ms
   window (``1.5 / fmin``) for lags up to ``1 / fmin``, computed for all frames at once (energies
   from cumulative sums, the cross term by FFT); then the cumulative-mean-normalised difference
   ``d'(tau) = d(tau) tau / sum_{k<=tau} d(k)``, which is ~1 for noise and ~0 at the period of a
   periodic signal.
3. The period is the first dip of ``d'`` below ``threshold`` (default 0.25) in ``[1/fmax, 1/fmin]``,
   followed down to its local minimum and refined by parabolic interpolation; the value of ``d'``
   there is the frame's *aperiodicity*. A frame is voiced when a dip exists and the frame is no
   more than 35 dB below the loud frames (95th percentile of frame levels).
4. Clean-up: an F0 more than ~1/3 octave away from the median of its 5-frame neighbourhood in the
   same voiced run is dropped (octave errors), and voiced runs shorter than 30 ms are dropped.

Gender model
------------
Equal priors and log-normal distributions of a speaker's median speaking F0: men around 120 Hz,
women around 210 Hz, both with a spread of 0.15 in natural-log units (about 2.6 semitones), which
reproduces the published adult ranges (men ~85-180 Hz, women ~165-255 Hz: Titze, *Principles of
Voice Production*, 1994; Baken & Orlikoff, *Clinical Measurement of Speech and Voice*, 2000;
vowel means 131 Hz / 220 Hz in Hillenbrand et al., JASA 1995). The posterior is a logistic in
``ln(median F0)``: ``P(female) = 1 / (1 + exp(-24.9 ln(f / 158.7 Hz)))`` (boundary at the geometric
mean of the two centres). The model knows nothing of how much evidence there is, so the posterior
is shrunk towards 0.5 by a reliability in [0, 1]: ``voiced_s / (voiced_s + 0.3 s)`` times a
clarity term ``clip((0.3 - a) / 0.2, 0, 1)`` of the median aperiodicity ``a`` of the voiced frames
(clean speech: a ~ 0.05-0.1; noise passing for voice: a near the threshold). The label is given
when the shrunk probability reaches 0.75 with at least 0.3 s of voiced speech, else "unknown".
Limits: children (F0 250-400 Hz) read as "female"; a low female or a high male voice (150-170 Hz)
stays near 0.5; whispered speech has no F0; a steady F0 (spread under half a semitone: a tone,
mains hum, an instrument) is not taken as a voice.

Speaker count
-------------
Voiced runs are cut at F0 jumps of more than 1/4 octave between frames and into pieces of at most
0.5 s; each piece's median F0 (in semitones) is one observation, weighted by its duration. The
pieces are split in two at the cut that best separates them (weighted within-group spread); a
split is accepted when the two groups' centres are at least 7 semitones apart, at least 3 times
their pooled spread (plus a 0.5 semitone measurement floor), and each holds at least 15 % of the
voiced time and 2 pieces; groups are split again the same way (at most 4 speakers). Fewer than
0.5 s of voiced speech or 3 pieces gives "unknown". Limits: speakers of similar pitch (two men, two
women) merge into one; a single speaker with a very wide intonation range, or octave errors of the
tracker on noisy speech, can be split in two; overlapping talkers give one mixed F0 track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.fft as sfft
import scipy.signal as ss

from ..errors import InputError, ParameterError

__all__ = ["PitchTrack", "VoiceReport", "pitch_track", "voice_report", "gender_posterior", "GENDER_MODEL"]

#: the gender model, as stated in the module docstring (centres in Hz, spread in natural-log units)
GENDER_MODEL = {
    "kind": "two log-normal classes of a speaker's median F0, equal priors (posterior logistic in ln F0)",
    "male_centre_hz": 120.0,
    "female_centre_hz": 210.0,
    "log_spread": 0.15,
    "sources": "adult speaking F0: men ~85-180 Hz, women ~165-255 Hz (Titze 1994; Baken & Orlikoff 2000; "
               "Hillenbrand et al. 1995)",
    "shrinkage": "posterior pulled towards 0.5 by reliability = voiced_s / (voiced_s + 0.3 s) x "
                 "clip((0.3 - median aperiodicity) / 0.2, 0, 1)",
    "decision": "label when the shrunk probability >= 0.75 and voiced speech >= 0.3 s, else unknown",
}

_ANALYSIS_RATE = 4000.0
_BAND = (40.0, 1000.0)
_HOP_S = 0.010
_GATE_DB = 35.0
_MIN_RUN_S = 0.030
_OUTLIER_OCT = 0.4
_LABEL_P = 0.75
_MIN_VOICED_S = 0.3
_STEADY_ST = 0.5
# speaker clustering
_PIECE_S = 0.5
_JUMP_OCT = 0.25
_MIN_SEP_ST = 7.0
_MIN_SCORE = 3.0
_FLOOR_ST = 0.5
_MIN_SHARE = 0.15
_MIN_GROUP_PIECES = 3
_MAX_SPEAKERS = 4
_MIN_SPK_VOICED_S = 0.5
_MIN_PIECES = 3


@dataclass
class PitchTrack:
    """F0 over time.

    Attributes
    ----------
    times : ndarray, shape (n,), float64
        Frame centres in seconds from the first sample.
    f0 : ndarray, shape (n,), float64
        Fundamental frequency in Hz; NaN where unvoiced.
    aperiodicity : ndarray, shape (n,), float64
        YIN's normalised difference at the chosen period (0 = periodic, ~1 = noise).
    level_db : ndarray, shape (n,), float64
        Frame RMS in dB relative to the signal's 95th-percentile frame.
    fmin, fmax : float
        Search range actually used, in Hz (``fmax`` is capped at 0.45 x the rate).
    threshold : float
        Aperiodicity threshold of the voicing decision.
    """

    times: np.ndarray
    f0: np.ndarray
    aperiodicity: np.ndarray
    level_db: np.ndarray
    fmin: float
    fmax: float
    threshold: float

    @property
    def voiced(self) -> np.ndarray:
        """Boolean mask of voiced frames, shape (n,)."""
        return np.isfinite(self.f0)


@dataclass
class VoiceReport:
    """What :func:`voice_report` returns (see the module docstring for the methods and their limits).

    Attributes
    ----------
    track : PitchTrack
        The F0 track (``times``, ``f0`` are also exposed as attributes).
    voiced_fraction : float
        Voiced frames / all frames, in [0, 1].
    voiced_seconds : float
        Total voiced duration in seconds.
    median_f0_hz : float or None
        Median F0 of the voiced frames (None without voiced frames).
    f0_range_hz : tuple of float or None
        10th and 90th percentiles of F0 over the voiced frames.
    gender : {"male", "female", "unknown"}
    gender_confidence : float
        Probability, under the stated model shrunk by the reliability, that ``gender`` is right;
        0.0 when ``gender`` is "unknown".
    p_female : float or None
        The shrunk probability of "female" (None without voiced speech).
    reliability : float
        The shrinkage factor in [0, 1] (amount of voiced speech x clarity).
    speakers : dict
        ``count`` (int or "unknown"), ``method``, ``limits`` and per-speaker ``groups``
        (median F0, share of voiced time, gender, confidence).
    notes : list of str
        Why a label is "unknown", and other remarks.
    """

    track: PitchTrack
    rate: float
    duration_s: float
    voiced_fraction: float
    voiced_seconds: float
    median_f0_hz: float | None
    f0_range_hz: tuple[float, float] | None
    gender: str
    gender_confidence: float
    p_female: float | None
    reliability: float
    speakers: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def times(self) -> np.ndarray:
        return self.track.times

    @property
    def f0(self) -> np.ndarray:
        return self.track.f0

    def to_dict(self, *, track: bool = True) -> dict[str, Any]:
        """JSON-serialisable form (F0 rounded to 0.1 Hz, unvoiced frames as ``None``)."""
        d: dict[str, Any] = {
            "rate": self.rate,
            "duration_s": round(self.duration_s, 4),
            "voiced_fraction": round(self.voiced_fraction, 4),
            "voiced_seconds": round(self.voiced_seconds, 3),
            "median_f0_hz": None if self.median_f0_hz is None else round(self.median_f0_hz, 2),
            "f0_range_hz": None if self.f0_range_hz is None else [round(v, 2) for v in self.f0_range_hz],
            "gender": self.gender,
            "gender_confidence": round(self.gender_confidence, 4),
            "p_female": None if self.p_female is None else round(self.p_female, 4),
            "reliability": round(self.reliability, 4),
            "gender_model": dict(GENDER_MODEL),
            "speakers": self.speakers,
            "pitch_tracker": {
                "method": "YIN (cumulative-mean-normalised difference), 25 ms window, 10 ms hop, band 40-1000 Hz",
                "fmin_hz": self.track.fmin,
                "fmax_hz": round(self.track.fmax, 2),
                "threshold": self.track.threshold,
            },
            "notes": list(self.notes),
        }
        if track:
            d["times_s"] = [round(float(t), 4) for t in self.track.times]
            d["f0_hz"] = [None if not math.isfinite(v) else round(float(v), 1) for v in self.track.f0]
        return d


def _check_signal(signal: Any, rate: Any) -> tuple[np.ndarray, float]:
    try:
        r = float(rate)
    except (TypeError, ValueError):
        r = float("nan")
    if not math.isfinite(r) or r <= 0:
        raise ParameterError(f"rate={rate!r} must be a positive sample rate in Hz")
    x = np.asarray(signal)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise InputError(f"signal must be a 1-D real array of samples, got shape {x.shape} ({x.dtype})")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InputError("signal contains NaN or inf samples; clean or trim it first")
    return x, r


def _to_analysis_rate(x: np.ndarray, rate: float, band: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Band-limit to ``band`` and resample to ~4 kHz (rational factor); returns (signal, exact rate)."""
    lo, hi = band
    hi = min(hi, 0.45 * rate)
    if len(x) > 30:
        sos = ss.butter(4, [lo, hi], btype="bandpass", fs=rate, output="sos")
        x = ss.sosfiltfilt(sos, x - x.mean(), padlen=min(len(x) - 1, 60))
    frac = Fraction(_ANALYSIS_RATE / rate).limit_denominator(64)
    if frac.numerator == 0:
        frac = Fraction(1, 64)
    if frac != 1:
        x = ss.resample_poly(x, frac.numerator, frac.denominator)
    return x, rate * frac.numerator / frac.denominator


def pitch_track(
    signal: np.ndarray,
    *,
    rate: float,
    fmin: float = 60.0,
    fmax: float = 400.0,
    threshold: float = 0.25,
) -> PitchTrack:
    """Track F0 with YIN every 10 ms (method in the module docstring).

    Parameters
    ----------
    signal : ndarray, shape (n,)
        Audio or recovered motion, any scale.
    rate : float
        Sample rate in Hz (e.g. the capture rate, 2,200 Hz, or 44,100 Hz).
    fmin, fmax : float
        F0 search range in Hz; ``fmax`` is capped at 0.45 x ``rate``.
    threshold : float
        Aperiodicity below which a frame is voiced, in (0, 1).

    Returns
    -------
    PitchTrack

    Raises
    ------
    ParameterError
        Bad rate, range or threshold, or a rate too low for the range (``0.45 rate <= 1.5 fmin``).
    InputError
        A signal that is not 1-D real and finite.
    """
    x, rate = _check_signal(signal, rate)
    if not (math.isfinite(fmin) and math.isfinite(fmax) and 0 < fmin < fmax):
        raise ParameterError(f"fmin={fmin}, fmax={fmax} must satisfy 0 < fmin < fmax (Hz)")
    if not 0 < threshold < 1:
        raise ParameterError(f"threshold={threshold} must be in (0, 1)")
    fmax_eff = min(float(fmax), 0.45 * rate)
    if fmax_eff <= 1.5 * fmin:
        raise ParameterError(
            f"rate={rate:g} Hz is too low to track F0 from {fmin:g} Hz (needs a rate of at least "
            f"{3.4 * fmin:g} Hz); lower fmin or use a higher capture rate"
        )
    y, ra = _to_analysis_rate(x, rate, (min(_BAND[0], 0.7 * fmin), _BAND[1]))
    tau_max = int(math.ceil(ra / fmin))
    tau_min = max(2, int(math.floor(ra / fmax_eff)))
    win = int(round(1.5 * ra / fmin))
    hop = max(1, int(round(ra * _HOP_S)))
    span = win + tau_max + 1
    n = 0 if len(y) < span else 1 + (len(y) - span) // hop
    empty = np.zeros(0)
    if n == 0:
        return PitchTrack(empty, empty.copy(), empty.copy(), empty.copy(), float(fmin), fmax_eff, float(threshold))
    starts = np.arange(n) * hop
    blocks = y[starts[:, None] + np.arange(span)[None, :]]  # (n, span)
    nfft = sfft.next_fast_len(span + win, real=True)
    spec_a = sfft.rfft(blocks[:, :win], nfft, axis=1)
    spec_b = sfft.rfft(blocks, nfft, axis=1)
    cross = sfft.irfft(np.conj(spec_a) * spec_b, nfft, axis=1)[:, : tau_max + 2]
    c2 = np.concatenate([np.zeros((n, 1)), np.cumsum(blocks**2, axis=1)], axis=1)
    lags = np.arange(tau_max + 2)
    e0 = c2[:, win] - c2[:, 0]
    etau = c2[:, lags + win] - c2[:, lags]
    d = np.maximum(e0[:, None] + etau - 2.0 * cross, 0.0)
    csum = np.cumsum(d[:, 1:], axis=1)
    dp = np.ones_like(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        dp[:, 1:] = np.where(csum > 0, d[:, 1:] * lags[1:] / csum, 1.0)

    rows = np.arange(n)
    seg = dp[:, tau_min : tau_max + 1]
    below = seg < threshold
    has = below.any(axis=1)
    idx = np.where(has, np.argmax(below, axis=1), np.argmin(seg, axis=1)) + tau_min
    for _ in range(tau_max - tau_min):  # follow the dip down to its local minimum
        nxt = np.minimum(idx + 1, tau_max)
        move = has & (dp[rows, nxt] < dp[rows, idx])
        if not move.any():
            break
        idx = np.where(move, nxt, idx)
    # octave check: when the signal matches itself much better (energy-normalised difference, which,
    # unlike d', does not fall with the lag by construction) at twice the period, the first dip was
    # half a period (a strong second harmonic)
    with np.errstate(invalid="ignore", divide="ignore"):
        nd = np.where(e0[:, None] + etau > 0, d / (e0[:, None] + etau), 1.0)
    for _ in range(2):
        dbl = np.minimum(2 * idx, tau_max)
        lo, hi = np.maximum(dbl - 1, tau_min), np.minimum(dbl + 1, tau_max)
        dd = np.minimum(np.minimum(nd[rows, lo], nd[rows, dbl]), nd[rows, hi])
        pick = np.select([nd[rows, lo] == dd, nd[rows, dbl] == dd], [lo, dbl], hi)
        half = has & (2 * idx <= tau_max) & (dp[rows, idx] > 0.1) & (dd < 0.4 * nd[rows, idx])
        idx = np.where(half, pick, idx)
    a, b, c = dp[rows, idx - 1], dp[rows, idx], dp[rows, idx + 1]
    denom = a - 2.0 * b + c
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(denom > 1e-12, 0.5 * (a - c) / denom, 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    period = idx + delta
    aper = np.clip(b - 0.25 * (a - c) * delta, 0.0, None)
    f0 = ra / period

    level = 10.0 * np.log10(e0 / win + 1e-30)
    level = level - np.percentile(level, 95)
    voiced = has & (aper < threshold) & (level > -_GATE_DB) & (f0 >= fmin) & (f0 <= fmax_eff)
    f0 = np.where(voiced, f0, np.nan)
    f0 = _clean(f0, min_run=max(1, int(round(_MIN_RUN_S / _HOP_S))))
    times = (starts + win / 2.0) / ra
    return PitchTrack(times, f0, aper, level, float(fmin), fmax_eff, float(threshold))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of every run of True in ``mask``."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _clean(f0: np.ndarray, *, min_run: int) -> np.ndarray:
    """Drop octave-jump outliers (vs the 5-frame median within a voiced run) and too-short runs."""
    f0 = f0.copy()
    for i0, i1 in _runs(np.isfinite(f0)):
        if i1 - i0 >= 3:
            lf = np.log2(f0[i0:i1])
            med = ss.medfilt(np.pad(lf, 2, mode="edge"), 5)[2:-2]
            bad = np.abs(lf - med) > _OUTLIER_OCT
            f0[i0:i1][bad] = np.nan
    for i0, i1 in _runs(np.isfinite(f0)):
        if i1 - i0 < min_run:
            f0[i0:i1] = np.nan
    return f0


def gender_posterior(median_f0_hz: float) -> float:
    """P(female) of the stated model (no shrinkage) for a speaker's median F0 in Hz."""
    m = GENDER_MODEL
    slope = (math.log(m["female_centre_hz"]) - math.log(m["male_centre_hz"])) / m["log_spread"] ** 2
    centre = math.sqrt(m["male_centre_hz"] * m["female_centre_hz"])
    z = slope * math.log(median_f0_hz / centre)
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def _label(f0: np.ndarray, aper: np.ndarray, hop_s: float) -> dict[str, Any]:
    """Gender label of a set of voiced frames (F0 and aperiodicity of the voiced frames only)."""
    voiced_s = len(f0) * hop_s
    if len(f0) == 0:
        return {"gender": "unknown", "confidence": 0.0, "p_female": None, "reliability": 0.0,
                "median_f0_hz": None, "why": "no voiced speech found"}
    med = float(np.median(f0))
    amount = voiced_s / (voiced_s + 0.3)
    clarity = float(np.clip((0.3 - float(np.median(aper))) / 0.2, 0.0, 1.0))
    rel = amount * clarity
    p = 0.5 + (gender_posterior(med) - 0.5) * rel
    out = {"p_female": p, "reliability": rel, "median_f0_hz": med}
    why = None
    if voiced_s < _MIN_VOICED_S:
        why = f"only {voiced_s:.2f} s of voiced speech (at least {_MIN_VOICED_S:g} s needed)"
    elif max(p, 1 - p) < _LABEL_P:
        why = (f"not enough evidence: median F0 {med:.0f} Hz, reliability {rel:.2f} gives "
               f"P(female) = {p:.2f} (a label needs >= {_LABEL_P:g} either way)")
    if why is not None:
        return {**out, "gender": "unknown", "confidence": 0.0, "why": why}
    female = p >= 0.5
    return {**out, "gender": "female" if female else "male", "confidence": p if female else 1 - p, "why": None}


def _split(v: np.ndarray, w: np.ndarray, total_w: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Best two-group split of observations ``v`` (semitones) with weights ``w``; None if not accepted."""
    order = np.argsort(v)
    v, w = v[order], w[order]
    n = len(v)
    best = None
    for k in range(1, n):
        wl, wr = w[:k], w[k:]
        sl, sr = wl.sum(), wr.sum()
        if min(sl, sr) < _MIN_SHARE * total_w or min(k, n - k) < _MIN_GROUP_PIECES:
            continue
        ml, mr = np.average(v[:k], weights=wl), np.average(v[k:], weights=wr)
        var = (np.sum(wl * (v[:k] - ml) ** 2) + np.sum(wr * (v[k:] - mr) ** 2)) / (sl + sr)
        sep = mr - ml
        score = sep / math.sqrt(var + _FLOOR_ST**2)
        if best is None or score > best[0]:
            best = (score, sep, k)
    if best is None or best[1] < _MIN_SEP_ST or best[0] < _MIN_SCORE:
        return None
    k = best[2]
    return order[:k], order[k:]


def _speakers(track: PitchTrack, hop_s: float) -> dict[str, Any]:
    method = (
        "F0-register clustering: voiced runs cut at F0 jumps > 1/4 octave and into pieces <= 0.5 s; "
        "pieces' median F0 (semitones) split recursively where two groups are >= 7 semitones and >= 3 pooled "
        "spreads apart, each with >= 15 % of the voiced time (at most 4 speakers)"
    )
    limits = (
        "speakers of similar pitch (two men, two women) merge into one; a single speaker with a very wide "
        "intonation range or tracker octave errors on noisy speech can split into two; overlapping talkers "
        "give one mixed track; F0 only (the object's own resonances colour the spectral envelope)"
    )
    f0, aper = track.f0, track.aperiodicity
    pieces: list[np.ndarray] = []
    max_len = int(round(_PIECE_S / hop_s))
    for i0, i1 in _runs(np.isfinite(f0)):
        lf = np.log2(f0[i0:i1])
        cuts = np.flatnonzero(np.abs(np.diff(lf)) > _JUMP_OCT) + 1
        for part in np.split(np.arange(i0, i1), cuts):
            for j in range(0, len(part), max_len):
                sub = part[j : j + max_len]
                if len(sub) >= 3:
                    pieces.append(sub)
    voiced_s = sum(len(p) for p in pieces) * hop_s
    base = {"method": method, "limits": limits, "pieces": len(pieces)}
    if voiced_s < _MIN_SPK_VOICED_S or len(pieces) < _MIN_PIECES:
        return {**base, "count": "unknown", "groups": [],
                "why": f"too little voiced speech ({voiced_s:.2f} s in {len(pieces)} pieces; "
                       f">= {_MIN_SPK_VOICED_S:g} s in >= {_MIN_PIECES} pieces needed)"}
    v = np.array([12.0 * np.log2(np.median(f0[p]) / 100.0) for p in pieces])
    w = np.array([len(p) for p in pieces], dtype=np.float64)
    groups = [np.arange(len(pieces))]
    changed = True
    while changed and len(groups) < _MAX_SPEAKERS:
        changed = False
        for gi, g in enumerate(groups):
            if len(g) < 2 * _MIN_GROUP_PIECES:
                continue
            res = _split(v[g], w[g], float(w.sum()))
            if res is not None:
                groups[gi : gi + 1] = [g[res[0]], g[res[1]]]
                changed = True
                break
    out = []
    for g in sorted(groups, key=lambda g: float(np.median(v[g]))):
        frames = np.concatenate([pieces[i] for i in g])
        lab = _label(f0[frames], aper[frames], hop_s)
        out.append({
            "median_f0_hz": round(float(np.median(f0[frames])), 2),
            "share": round(float(w[g].sum() / w.sum()), 4),
            "voiced_seconds": round(len(frames) * hop_s, 3),
            "pieces": int(len(g)),
            "gender": lab["gender"],
            "gender_confidence": round(float(lab["confidence"]), 4),
        })
    return {**base, "count": len(groups), "groups": out, "why": None}


def voice_report(
    signal: np.ndarray,
    *,
    rate: float,
    fmin: float = 60.0,
    fmax: float = 400.0,
    threshold: float = 0.25,
) -> VoiceReport:
    """Pitch track, voiced fraction, F0-based gender estimate and speaker count of recovered speech.

    Parameters
    ----------
    signal : ndarray, shape (n,)
        Recovered audio (e.g. ``Recovery.audio``), any scale.
    rate : float
        Its sample rate in Hz (the capture rate, or 44.1 kHz for a listenable copy).
    fmin, fmax, threshold
        Passed to :func:`pitch_track`.

    Returns
    -------
    VoiceReport
        Methods, models and limits are in the module docstring and in ``to_dict()``.

    Raises
    ------
    ParameterError, InputError
        As :func:`pitch_track`.
    """
    track = pitch_track(signal, rate=rate, fmin=fmin, fmax=fmax, threshold=threshold)
    n = len(track.f0)
    voiced = track.voiced
    hop = _HOP_S
    notes: list[str] = []
    f0v = track.f0[voiced]
    lab = _label(f0v, track.aperiodicity[voiced], hop)
    if n == 0:
        lab["why"] = f"the signal is too short for pitch tracking ({len(np.asarray(signal)) / float(rate):.3f} s)"
    spk = _speakers(track, hop)
    if len(f0v) >= 2 * int(round(_MIN_VOICED_S / hop)):
        q25, q75 = np.percentile(12 * np.log2(f0v), [25, 75])
        if q75 - q25 < _STEADY_ST:
            lab.update(gender="unknown", confidence=0.0,
                       why=f"the pitch is steady (interquartile spread {q75 - q25:.2f} semitones): a tone, hum "
                           "or instrument rather than a voice")
            spk.update(count="unknown", groups=[], why="steady pitch: not speech")
    gender, conf = lab["gender"], float(lab["confidence"])
    if isinstance(spk["count"], int) and spk["count"] > 1:
        kinds = {g["gender"] for g in spk["groups"]} - {"unknown"}
        if len(kinds) > 1:
            notes.append("speakers of both genders were found (see speakers.groups); no single label is given")
            gender, conf = "unknown", 0.0
    if lab.get("why"):
        notes.append(f"gender unknown: {lab['why']}")
    if spk.get("why") and spk["count"] == "unknown":
        notes.append(f"speaker count unknown: {spk['why']}")
    med = None if len(f0v) == 0 else float(np.median(f0v))
    rng = None if len(f0v) == 0 else tuple(float(v) for v in np.percentile(f0v, [10, 90]))
    if med is not None and med > 250:
        notes.append(f"median F0 {med:.0f} Hz: a child's voice would also read as female under this model")
    x = np.asarray(signal)
    return VoiceReport(
        track=track,
        rate=float(rate),
        duration_s=len(x) / float(rate),
        voiced_fraction=float(voiced.mean()) if n else 0.0,
        voiced_seconds=float(voiced.sum() * hop),
        median_f0_hz=med,
        f0_range_hz=rng,  # type: ignore[arg-type]
        gender=gender,
        gender_confidence=conf,
        p_female=lab["p_female"],
        reliability=float(lab["reliability"]),
        speakers=spk,
        notes=notes,
    )
