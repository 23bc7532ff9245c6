"""The metrics on aligned, gain-fitted signals (private; the public functions are in :mod:`vismic.metrics`)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.fft
import scipy.optimize
import scipy.signal
import soxr

from ..errors import MissingDependencyError, ParameterError
from ._common import (
    _FLOOR,
    _LLR_KEEP,
    _LLR_MAX,
    _STOI_MIN_SAMPLES,
    _STOI_RATE,
    FloatArray,
    _frame_len,
    _int_at_least,
    _positive,
)

# --------------------------------------------------------------------------------------
# metrics on fitted signals
# --------------------------------------------------------------------------------------


def _db_ratio(num: float, den: float) -> float:
    if den <= 0.0:
        return math.inf if num > 0.0 else math.nan
    if num <= 0.0:
        return -math.inf
    return 10.0 * math.log10(num / den)


def _snr_fitted(s: FloatArray, e: FloatArray) -> float:
    ps = float(np.dot(s, s))
    pn = float(np.dot(e - s, e - s))
    if ps == 0.0:
        return -math.inf
    return _db_ratio(ps, pn)


def _frames(x: FloatArray, win: int, hop: int) -> FloatArray:
    """Frames of ``x``, shape (n_frames, win), ``1 + (len(x) - win) // hop`` of them."""
    view = np.lib.stride_tricks.sliding_window_view(x, win)
    return view[::hop]


def _hann_loizou(win: int) -> FloatArray:
    """Loizou's Hann window ``0.5 (1 - cos(2 pi k / (win + 1)))``, k = 1..win (no zero end points)."""
    k = np.arange(1, win + 1)
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (win + 1)))


def _segsnr_fitted(
    s: FloatArray, e: FloatArray, rate: float, frame_s: Any, clamp: Any, silence_db: Any
) -> float:
    lo, hi = _clamp(clamp)
    win = _frame_len(frame_s, rate, s.size)
    hop = max(1, win // 4)
    w = _hann_loizou(win)
    sf = _frames(s, win, hop) * w
    nf = _frames(e - s, win, hop) * w
    es = np.einsum("ij,ij->i", sf, sf)
    en = np.einsum("ij,ij->i", nf, nf)
    if silence_db is not None:
        silence_db = _positive(silence_db, "silence_db")
        keep = es >= es.max() * 10.0 ** (-silence_db / 10.0)
        es, en = es[keep], en[keep]
    seg = np.empty_like(es)
    perfect = en <= 0.0
    silent = (es <= 0.0) & ~perfect
    normal = ~(perfect | silent)
    seg[perfect] = hi  # nothing to fault: treat as the upper clamp
    seg[silent] = lo
    seg[normal] = 10.0 * np.log10(es[normal] / en[normal])
    return float(np.mean(np.clip(seg, lo, hi)))


def _clamp(clamp: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in clamp)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"clamp={clamp!r} is not a pair of numbers; pass (low_db, high_db)") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ParameterError(
            f"clamp={clamp!r} is invalid; pass finite (low_db, high_db) with low_db < high_db"
        )
    return lo, hi


def _default_lpc_order(rate: float) -> int:
    """``2 + rate / 1000`` rounded (10 at 8 kHz, 18 at 16 kHz), kept within [2, 20]."""
    return int(min(20, max(2, 2 + round(rate / 1000.0))))


def _autocorr(frames: FloatArray, order: int) -> FloatArray:
    """Autocorrelation lags 0..order of each frame, shape (n_frames, order + 1)."""
    win = frames.shape[1]
    return np.stack(
        [np.einsum("ij,ij->i", frames[:, : win - k], frames[:, k:]) for k in range(order + 1)], axis=1
    )


def _levinson(acf: FloatArray) -> FloatArray:
    """LPC polynomials ``[1, a_1, ..., a_p]`` (error filter) for each row of ``acf`` (Levinson-Durbin)."""
    n_frames, p1 = acf.shape
    a = np.zeros((n_frames, p1))
    a[:, 0] = 1.0
    err = acf[:, 0].copy()
    for i in range(1, p1):
        acc = acf[:, i] + np.einsum("ij,ij->i", a[:, 1:i], acf[:, i - 1 : 0 : -1])
        k = -acc / err
        prev = a[:, 1:i].copy()
        a[:, 1:i] = prev + k[:, None] * prev[:, ::-1]
        a[:, i] = k
        err = err * (1.0 - k * k)
    return a


def _toeplitz_form(poly: FloatArray, acf: FloatArray) -> FloatArray:
    """``poly @ toeplitz(acf) @ poly`` per row, shape (n_frames,)."""
    p1 = acf.shape[1]
    idx = np.abs(np.arange(p1)[:, None] - np.arange(p1)[None, :])
    return np.einsum("fi,fij,fj->f", poly, acf[:, idx], poly)


def _llr_fitted(s: FloatArray, e: FloatArray, rate: float, order: Any, frame_s: Any) -> float:
    win = _frame_len(frame_s, rate, s.size, minimum=3)
    p = _default_lpc_order(rate) if order is None else _int_at_least(order, "order", 1)
    if p >= win:
        raise ParameterError(
            f"order={p} needs frames longer than {p} samples but frame_s={frame_s} s gives {win} at "
            f"{rate} Hz; pass a smaller order or a larger frame_s"
        )
    hop = max(1, win // 4)
    w = _hann_loizou(win)
    acf_s = _autocorr(_frames(s, win, hop) * w, p)
    acf_e = _autocorr(_frames(e, win, hop) * w, p)
    # A -100 dB white floor keeps silent frames finite (Loizou adds eps to the samples).
    for acf in (acf_s, acf_e):
        acf[:, 0] += _FLOOR * float(acf[:, 0].mean()) + np.finfo(np.float64).tiny
    a_s = _levinson(acf_s)
    a_e = _levinson(acf_e)
    num = _toeplitz_form(a_e, acf_s)
    den = _toeplitz_form(a_s, acf_s)
    values = np.clip(np.log(num / den), 0.0, _LLR_MAX)
    keep = max(1, int(math.floor(values.size * _LLR_KEEP + 0.5)))
    return float(np.mean(np.sort(values)[:keep]))


def _default_nperseg(rate: float) -> int:
    """A power of two near 32 ms, at least 16 samples."""
    return int(max(16, 2 ** round(math.log2(max(rate * 0.032, 1.0)))))


def _lsd_fitted(s: FloatArray, e: FloatArray, rate: float, nperseg: Any) -> float:
    n = s.size
    if nperseg is None:
        seg = _default_nperseg(rate)
        while seg > n and seg > 16:
            seg //= 2
    else:
        seg = _int_at_least(nperseg, "nperseg", 4)
    if seg > n:
        raise ParameterError(
            f"nperseg={seg} is longer than the {n} aligned samples; pass nperseg <= {n} or longer signals"
        )
    hop = max(1, seg // 2)
    w = scipy.signal.get_window("hann", seg)
    ps = np.abs(scipy.fft.rfft(_frames(s, seg, hop) * w, axis=1)) ** 2
    pe = np.abs(scipy.fft.rfft(_frames(e, seg, hop) * w, axis=1)) ** 2
    floor = _FLOOR * max(float(ps.max()), float(pe.max())) + np.finfo(np.float64).tiny
    diff = 10.0 * np.log10((ps + floor) / (pe + floor))
    return float(np.mean(np.sqrt(np.mean(diff * diff, axis=1))))


def _import_pystoi() -> Any:
    try:
        from pystoi import stoi as pystoi_stoi  # the optional extra vismic[stoi]
    except ImportError as exc:
        raise MissingDependencyError(
            "STOI needs the optional package 'pystoi': pip install \"vismic[stoi]\""
        ) from exc
    return pystoi_stoi


def _stoi_fitted(s: FloatArray, e: FloatArray, rate: float, extended: bool) -> float:
    pystoi_stoi = _import_pystoi()
    needed = _STOI_MIN_SAMPLES * rate / _STOI_RATE
    if s.size < needed:
        raise ParameterError(
            f"STOI needs at least {_STOI_MIN_SAMPLES / _STOI_RATE:.4f} s of signal ({math.ceil(needed)} "
            f"samples at {rate} Hz) but the aligned signals have {s.size}; pass longer signals"
        )
    if float(rate).is_integer():
        fs: int = int(rate)  # pystoi resamples to 10 kHz with its Octave-compatible filter
    else:  # pystoi's polyphase resampler needs integer rates
        s = soxr.resample(s, rate, _STOI_RATE, quality="VHQ")
        e = soxr.resample(e, rate, _STOI_RATE, quality="VHQ")
        fs = _STOI_RATE
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Not enough STFT frames", category=RuntimeWarning)
        try:
            value = pystoi_stoi(s, e, fs, extended=bool(extended))
        except RuntimeWarning as exc:
            raise ParameterError(
                "STOI needs at least 30 non-silent 25.6 ms frames (frames more than 40 dB below the "
                "loudest are dropped) but the reference has fewer; pass longer or less silent signals"
            ) from exc
    return float(value)
