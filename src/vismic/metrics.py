"""Quality metrics: how close is a recovered signal to the true sound?

These functions back ``vismic score TRUTH EST``.  A signal recovered by the visual
microphone differs from the true sound in ways that say nothing about its quality:

* it comes at the video's odd sample rate (600 Hz, 2200 Hz, 20 kHz, ...);
* its gain is arbitrary and its sign is unknown (motion towards or away from the
  camera is a convention);
* it starts a few samples early or late (the video and the audio were not started
  together);
* it is high-passed (drift removal), so its DC and lowest frequencies are gone.

Every metric here therefore first *aligns* the two signals (:func:`align`): it finds
the lag that maximises the absolute Pearson correlation, keeps the overlapping
samples, removes their means and fits a least-squares gain (which may be negative) to
the reference.  The metrics then compare the gain-fitted reference ``g * r`` with the
estimate ``e``.  They are thus invariant to gain, sign, DC offset and (integer, or with
``subsample=True`` fractional) lag.  :func:`score` also resamples the reference to the
estimate's rate and can zero-phase high-pass both, so that the truth is judged only
in the band the estimate could possibly contain.

Conventions
-----------
Signals are 1-D float arrays (mono).  The *reference* is the truth, the *estimate* is
the recovered signal.  ``lag`` is in samples with ``estimate[n] ~ gain *
reference[n - lag]``: a positive lag means the estimate is late.

Metrics
-------
``correlation``
    Absolute Pearson correlation after alignment, in [0, 1].  Higher is better.
``snr`` (dB)
    ``10 log10(sum (g r)^2 / sum (e - g r)^2)`` with the least-squares gain ``g``.
    Equivalent to ``10 log10(rho^2 / (1 - rho^2))`` for correlation ``rho``.  ``inf``
    for a perfect match, ``-inf`` when the signals are uncorrelated at every lag.
``segmental_snr`` (dB)
    Mean over 30 ms Hann-windowed frames with 75 % overlap of the per-frame SNR,
    each clamped to [-10, 35] dB (Quackenbush et al. 1988, as implemented in Loizou's
    ``comp_snr.m``).  Silent frames are *not* skipped by default (the clamp bounds
    their influence); pass ``silence_db`` to skip them.
``llr``
    Log-likelihood ratio (Itakura's LPC distance) as in Loizou, *Speech Enhancement:
    Theory and Practice* and Hu & Loizou (2008): 30 ms Hann-windowed frames (Loizou's
    ``comp_llr.m`` uses a Hann window), 75 % overlap, per-frame value clipped to
    [0, 2], mean of the lowest 95 %.  Lower is better; 0 for identical spectra.
``stoi``
    Short-Time Objective Intelligibility (Taal et al. 2011) via the optional package
    ``pystoi``; roughly 0 (unintelligible) to 1.  STOI works at 10 kHz on third-octave
    bands from 150 Hz to about 4.3 kHz and needs at least about 0.41 s of non-silent
    signal.  Below an 8 kHz rate its upper bands are empty and the values are not
    comparable with published STOI figures.
``log_spectral_distance`` (dB)
    Per-frame RMS over frequency of the difference of the power spectra in dB,
    averaged over frames.  0 for identical spectra; lower is better.

Subsample alignment
-------------------
At the low rates of the visual microphone an integer-sample lag can be far from the
truth: a half-sample offset leaves a component at frequency ``f`` with correlation
``cos(pi f / rate)`` only (0.7 at a quarter of the rate, 0 at Nyquist).  With
``subsample=True`` (the default of :func:`score`) the lag is refined to a fraction of a
sample by band-limited interpolation of the cross-correlation, and the reference is
delayed by that fraction (an ideal FFT fractional delay) before the metrics are
computed.  Edge samples then carry a little interpolation ringing.

References
----------
S. R. Quackenbush, T. P. Barnwell, M. A. Clements, *Objective Measures of Speech
Quality*, Prentice Hall, 1988.
Y. Hu, P. C. Loizou, "Evaluation of objective quality measures for speech
enhancement", IEEE Trans. Audio, Speech, Lang. Process. 16(1), 2008.
P. C. Loizou, *Speech Enhancement: Theory and Practice*, 2nd ed., CRC Press, 2013.
C. H. Taal, R. C. Hendriks, R. Heusdens, J. Jensen, "An algorithm for intelligibility
prediction of time-frequency weighted noisy speech", IEEE TASLP 19(7), 2011.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.optimize
import scipy.signal
import soxr

from ._validation import check_int, check_number
from .errors import MissingDependencyError, ParameterError

__all__ = [
    "Alignment",
    "align",
    "correlation",
    "snr",
    "segmental_snr",
    "llr",
    "stoi",
    "log_spectral_distance",
    "score",
]

FloatArray = npt.NDArray[np.float64]

#: STOI's internal rate (Hz) and the shortest signal it accepts at that rate: 30 frames
#: of 256 samples with a hop of 128 (pystoi's ``N``, ``N_FRAME``).
_STOI_RATE = 10000
_STOI_MIN_SAMPLES = 30 * 128 + 256
#: Per-frame LLR clip and the fraction of (lowest) frames averaged (Hu & Loizou 2008).
_LLR_MAX = 2.0
_LLR_KEEP = 0.95
#: Relative white-noise floor (-100 dB) added to LPC autocorrelations and to power
#: spectra so that silent frames give finite values.
_FLOOR = 1e-10


# --------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------


def _signal(x: npt.ArrayLike, name: str) -> FloatArray:
    """Return ``x`` as a finite 1-D float64 array or raise :class:`ParameterError`."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ParameterError(f"{name} could not be read as an array ({exc}); pass a 1-D float array") from exc
    if np.iscomplexobj(arr):
        raise ParameterError(f"{name} is complex (dtype {arr.dtype}); pass a real 1-D array (e.g. x.real)")
    if arr.dtype.kind not in "biuf":
        raise ParameterError(f"{name} has dtype {arr.dtype}; pass a real numeric 1-D array")
    if arr.ndim != 1:
        raise ParameterError(
            f"{name} has shape {arr.shape}; pass a mono 1-D array (average or pick one channel first)"
        )
    if arr.size == 0:
        raise ParameterError(f"{name} is empty (0 samples); pass a non-empty 1-D array")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ParameterError(
            f"{name} has {int(bad.sum())} NaN/inf samples (first at index {first}, value {arr[first]}); "
            "remove or interpolate them first"
        )
    return arr


def _nonconstant(arr: FloatArray, name: str) -> None:
    if arr.size < 2 or np.ptp(arr) == 0.0:
        raise ParameterError(
            f"{name} is constant ({arr.size} samples, all equal to {arr[0]!r}), so no correlation is "
            "defined; pass a signal with at least 2 distinct samples"
        )


def _positive(value: Any, name: str) -> float:
    """Return ``value`` as a finite float > 0 or raise :class:`ParameterError`."""
    return check_number(name, value, lo=0.0, lo_open=True, fix="pass a finite number > 0")


def _int_at_least(value: Any, name: str, low: int) -> int:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)  # 3.0 is taken as 3
    return check_int(name, value, low, fix=f"pass an integer >= {low}")


def _max_lag(max_lag: Any) -> int | None:
    return None if max_lag is None else _int_at_least(max_lag, "max_lag", 0)


def _frame_len(frame_s: Any, rate: float, n: int, minimum: int = 2) -> int:
    frame_s = _positive(frame_s, "frame_s")
    win = int(round(frame_s * rate))
    if win < minimum:
        raise ParameterError(
            f"frame_s={frame_s} s at rate={rate} Hz gives {win} samples per frame; pass frame_s >= "
            f"{minimum / rate:.3g} s"
        )
    if win > n:
        raise ParameterError(
            f"frame_s={frame_s} s ({win} samples at {rate} Hz) is longer than the {n} aligned samples; "
            f"pass frame_s <= {n / rate:.3g} s or longer signals"
        )
    return win


# --------------------------------------------------------------------------------------
# alignment
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Alignment:
    """Result of :func:`align`: how the estimate relates to the reference.

    ``estimate[n] ~ gain * reference[n - lag - fraction]``.

    Attributes
    ----------
    lag : int
        Integer lag in samples; positive when the estimate is late.
    gain : float
        Signed least-squares gain from the (mean-removed) reference segment to the
        (mean-removed) estimate segment.  Its sign is the polarity.
    correlation : float
        Signed Pearson correlation of the two segments, in [-1, 1].
    reference : ndarray, shape (m,)
        The reference samples that overlap the estimate at this lag (delayed by
        ``fraction`` when that is non-zero), read-only, means kept.
    estimate : ndarray, shape (m,)
        The matching estimate samples, read-only, means kept.
    fraction : float
        Subsample part of the lag in samples, in [-0.5, 0.5]; 0 unless ``align`` was
        called with ``subsample=True``.
    """

    lag: int
    gain: float
    correlation: float
    reference: FloatArray
    estimate: FloatArray
    fraction: float = 0.0

    @property
    def delay(self) -> float:
        """Total lag ``lag + fraction`` in samples."""
        return self.lag + self.fraction

    @property
    def sign(self) -> int:
        """Polarity of the estimate relative to the reference: +1 or -1 (+1 when the gain is 0)."""
        return -1 if self.gain < 0 else 1

    @property
    def n_samples(self) -> int:
        """Number of overlapping samples."""
        return int(self.reference.size)


def _overlap(lag: int, n_ref: int, n_est: int) -> tuple[int, int]:
    """Estimate indices ``[a, b)`` that overlap the reference at ``lag``."""
    return max(0, lag), min(n_est, n_ref + lag)


def _lag_search(
    r0: FloatArray, e0: FloatArray, max_lag: int | None, upsample: int = 1
) -> tuple[float, npt.NDArray[np.complex128], int, npt.NDArray[np.int64]]:
    """Lag maximising ``|Pearson|`` over the overlap, on a grid of ``1 / upsample`` samples.

    The Pearson correlation is exact at integer lags (FFT cross-correlation plus
    cumulative sums for the overlap means and energies).  With ``upsample > 1`` the
    cross-correlation is also evaluated (band-limited, by FFT zero padding) between
    integer lags, each point with the normalisation of its nearest integer lag: this
    finds the right peak even when every integer lag is half a sample off for content
    near Nyquist.

    Returns
    -------
    best : float
        Best lag on the grid, in samples.
    cross : ndarray, complex, shape (nfft // 2 + 1,)
        Cross-spectrum ``rfft(e0) * conj(rfft(r0))`` for refinement.
    nfft : int
        Its FFT length.
    lags : ndarray, int, shape (n_lags,)
        The integer lags searched (ascending, contiguous).
    """
    n_ref, n_est = r0.size, e0.size
    shorter = min(n_ref, n_est)
    limit = shorter // 4 if max_lag is None else max_lag
    nfft = scipy.fft.next_fast_len(n_ref + n_est - 1, real=True)
    cross = scipy.fft.rfft(e0, nfft) * np.conj(scipy.fft.rfft(r0, nfft))

    lags = np.arange(max(-limit, -(n_ref - 1)), min(limit, n_est - 1) + 1)
    a = np.maximum(0, lags)
    b = np.minimum(n_est, n_ref + lags)
    m = (b - a).astype(np.float64)
    keep = m >= max(2, math.ceil(shorter / 2))  # never judge on less than half the shorter signal
    lags, a, b, m = lags[keep], a[keep], b[keep], m[keep]

    ce = np.concatenate(([0.0], np.cumsum(e0)))
    ce2 = np.concatenate(([0.0], np.cumsum(e0 * e0)))
    cr = np.concatenate(([0.0], np.cumsum(r0)))
    cr2 = np.concatenate(([0.0], np.cumsum(r0 * r0)))
    s_e, s_ee = ce[b] - ce[a], ce2[b] - ce2[a]
    s_r, s_rr = cr[b - lags] - cr[a - lags], cr2[b - lags] - cr2[a - lags]
    # xc[k mod n] = sum_n e0[n] r0[n - k]; fine grid offsets -1/2 .. 1/2 - 1/upsample
    xc = scipy.fft.irfft(cross, nfft * upsample) * upsample
    steps = np.arange(-(upsample // 2), upsample - upsample // 2)
    s_er = xc[(lags[:, None] * upsample + steps[None, :]) % (nfft * upsample)]
    cov = s_er - (s_e * s_r / m)[:, None]
    var = np.maximum(s_ee - s_e * s_e / m, 0.0) * np.maximum(s_rr - s_r * s_r / m, 0.0)
    tiny = 1e-24 * (float(np.dot(e0, e0)) * float(np.dot(r0, r0)) + 1e-300)
    rho = np.zeros_like(cov)
    ok = var > tiny
    rho[ok] = cov[ok] / np.sqrt(var[ok])[:, None]
    row, col = np.unravel_index(int(np.argmax(np.abs(rho))), rho.shape)
    return float(lags[row]) + float(steps[col]) / upsample, cross, nfft, lags


def _refine_lag(cross: npt.NDArray[np.complex128], nfft: int, center: float, halfwidth: float) -> float:
    """Lag (samples) within ``center +- halfwidth`` maximising the band-limited ``|cross-correlation|``."""
    weights = np.full(cross.size, 2.0)
    weights[0] = 1.0
    if nfft % 2 == 0:
        weights[-1] = 1.0
    wx = weights * cross / nfft
    step = 2j * np.pi * np.arange(cross.size) / nfft

    def xcorr(tau: float) -> float:
        return float(np.sum((wx * np.exp(step * tau)).real))

    sign = 1.0 if xcorr(center) >= 0 else -1.0
    res = scipy.optimize.minimize_scalar(
        lambda t: -sign * xcorr(t),
        bounds=(center - halfwidth, center + halfwidth),
        method="bounded",
        options={"xatol": 1e-5},
    )
    tau = float(res.x)
    nearest = float(round(tau))
    # Keep the integer lag when it is already the peak (identical signals) or the offset is
    # negligible: 1e-3 sample costs at most 5e-6 of correlation, even at Nyquist.
    if abs(tau - nearest) < 1e-3 or sign * xcorr(tau) <= sign * xcorr(nearest):
        return nearest
    return tau


def _search(r0: FloatArray, e0: FloatArray, max_lag: int | None, subsample: bool) -> tuple[int, float]:
    """Integer lag and subsample fraction (0 unless ``subsample``) of the best alignment."""
    upsample = 4 if subsample else 1
    best, cross, nfft, lags = _lag_search(r0, e0, max_lag, upsample)
    if not subsample:
        return int(best), 0.0
    tau = _refine_lag(cross, nfft, best, 1.0 / upsample)
    nearest = int(round(tau))
    if lags[0] <= nearest <= lags[-1]:
        return nearest, tau - nearest
    edge = int(lags[0] if nearest < lags[0] else lags[-1])  # peak just past the searched range
    return edge, float(np.clip(tau - edge, -0.5, 0.5))


def _fractional_delay(x: FloatArray, fraction: float) -> FloatArray:
    """Delay ``x`` by ``fraction`` samples with an ideal (FFT) band-limited shift, zero-padded."""
    n = x.size
    nfft = scipy.fft.next_fast_len(n + max(64, n // 8), real=True)
    spec = scipy.fft.rfft(x, nfft) * np.exp(-2j * np.pi * np.arange(nfft // 2 + 1) * fraction / nfft)
    return scipy.fft.irfft(spec, nfft)[:n]


def _align(reference: FloatArray, estimate: FloatArray, max_lag: int | None, subsample: bool) -> Alignment:
    """:func:`align` on validated arrays."""
    _nonconstant(reference, "reference")
    _nonconstant(estimate, "estimate")
    r_mean = float(reference.mean())
    r0 = reference - r_mean
    e0 = estimate - float(estimate.mean())
    lag, fraction = _search(r0, e0, max_lag, subsample)
    a, b = _overlap(lag, reference.size, estimate.size)
    source = _fractional_delay(r0, fraction) + r_mean if fraction != 0.0 else reference
    ref_seg = np.array(source[a - lag : b - lag], dtype=np.float64)
    est_seg = np.array(estimate[a:b], dtype=np.float64)
    rc = ref_seg - ref_seg.mean()
    ec = est_seg - est_seg.mean()
    rr, ee, er = float(np.dot(rc, rc)), float(np.dot(ec, ec)), float(np.dot(ec, rc))
    gain = er / rr if rr > 0 else 0.0
    corr = er / math.sqrt(rr * ee) if rr > 0 and ee > 0 else 0.0
    ref_seg.setflags(write=False)
    est_seg.setflags(write=False)
    return Alignment(
        lag=lag,
        gain=gain,
        correlation=float(np.clip(corr, -1.0, 1.0)),
        reference=ref_seg,
        estimate=est_seg,
        fraction=float(fraction),
    )


def align(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    max_lag: int | None = None,
    subsample: bool = False,
) -> Alignment:
    """Find the lag, gain and polarity that best map the reference onto the estimate.

    The lag is searched by FFT cross-correlation of the mean-removed signals and is
    the one that maximises the *absolute* Pearson correlation over the overlapping
    samples (so a sign flip does not matter).  Lags whose overlap is shorter than
    half the shorter signal are never considered.

    Parameters
    ----------
    reference : array_like, shape (n_ref,)
        The true signal.
    estimate : array_like, shape (n_est,)
        The recovered signal, at the same sample rate; its length may differ.
    max_lag : int, optional
        Largest ``|lag|`` searched, in samples.  Default: a quarter of the shorter
        length.
    subsample : bool, default False
        Refine the lag to a fraction of a sample and delay the reference by that
        fraction (band-limited interpolation) before fitting gain and correlation.

    Returns
    -------
    Alignment
        ``lag`` (samples, ``estimate[n] ~ gain * reference[n - lag]``), signed
        ``gain`` and ``correlation``, the overlapping segments (shape ``(m,)`` each)
        and the subsample ``fraction``.

    Raises
    ------
    ParameterError
        Empty, non-1-D, non-finite or constant inputs; negative ``max_lag``.
    """
    ref = _signal(reference, "reference")
    est = _signal(estimate, "estimate")
    return _align(ref, est, _max_lag(max_lag), bool(subsample))


def _fitted(al: Alignment) -> tuple[FloatArray, FloatArray]:
    """Gain-fitted, mean-removed reference ``g * r`` and mean-removed estimate ``e``, shape (m,)."""
    r = al.reference - al.reference.mean()
    e = al.estimate - al.estimate.mean()
    return al.gain * r, e


def _prepare(
    reference: npt.ArrayLike, estimate: npt.ArrayLike, max_lag: Any, subsample: bool
) -> tuple[FloatArray, FloatArray]:
    al = _align(_signal(reference, "reference"), _signal(estimate, "estimate"), _max_lag(max_lag), subsample)
    return _fitted(al)


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
        from pystoi import stoi as pystoi_stoi
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


# --------------------------------------------------------------------------------------
# public metrics
# --------------------------------------------------------------------------------------


def correlation(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    max_lag: int | None = None,
    subsample: bool = False,
) -> float:
    """Absolute Pearson correlation after alignment.

    Parameters
    ----------
    reference, estimate : array_like, shape (n_ref,) and (n_est,)
        True and recovered signal at the same sample rate.
    max_lag : int, optional
        Largest ``|lag|`` searched, in samples (default: a quarter of the shorter length).
    subsample : bool, default False
        Refine the lag to a fraction of a sample (see :func:`align`).

    Returns
    -------
    float
        ``|rho|`` in [0, 1]; higher is better.
    """
    ref = _signal(reference, "reference")
    est = _signal(estimate, "estimate")
    return abs(_align(ref, est, _max_lag(max_lag), bool(subsample)).correlation)


def snr(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    max_lag: int | None = None,
    subsample: bool = False,
) -> float:
    """Signal-to-noise ratio in dB, invariant to lag, gain, sign and DC.

    After :func:`align`, with ``r`` and ``e`` the mean-removed overlapping segments and
    ``g`` the least-squares gain, ``SNR = 10 log10(sum (g r)^2 / sum (e - g r)^2)``.

    Parameters
    ----------
    reference, estimate : array_like, shape (n_ref,) and (n_est,)
        True and recovered signal at the same sample rate.
    max_lag : int, optional
        Largest ``|lag|`` searched, in samples (default: a quarter of the shorter length).
    subsample : bool, default False
        Refine the lag to a fraction of a sample (see :func:`align`).

    Returns
    -------
    float
        SNR in dB; ``inf`` for a perfect (scaled) copy, ``-inf`` for no correlation.
    """
    return _snr_fitted(*_prepare(reference, estimate, max_lag, bool(subsample)))


def segmental_snr(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    rate: float,
    frame_s: float = 0.03,
    clamp: tuple[float, float] = (-10.0, 35.0),
    silence_db: float | None = None,
    max_lag: int | None = None,
    subsample: bool = False,
) -> float:
    """Segmental SNR in dB (Quackenbush et al. 1988; Loizou's ``comp_snr``).

    The aligned, gain-fitted signals are cut into Hann-windowed frames of ``frame_s``
    with 75 % overlap; each frame's ``10 log10(sum (g r)^2 / sum (e - g r)^2)`` is
    clamped to ``clamp`` and the frames are averaged.  A frame with no error counts as
    the upper clamp, a frame with no reference energy (but some error) as the lower.

    Parameters
    ----------
    reference, estimate : array_like, shape (n_ref,) and (n_est,)
        True and recovered signal, both at ``rate``.
    rate : float
        Sample rate in Hz.
    frame_s : float, default 0.03
        Frame length in seconds.
    clamp : (float, float), default (-10, 35)
        Per-frame SNR limits in dB.
    silence_db : float, optional
        If given, skip frames whose reference energy is more than ``silence_db`` dB
        below the loudest frame.  By default silent frames are *kept* (they score the
        lower clamp unless the estimate is silent there too), as in Loizou's code.
    max_lag : int, optional
        Largest ``|lag|`` searched, in samples.
    subsample : bool, default False
        Refine the lag to a fraction of a sample (see :func:`align`).

    Returns
    -------
    float
        Mean clamped per-frame SNR in dB; higher is better.
    """
    rate = _positive(rate, "rate")
    s, e = _prepare(reference, estimate, max_lag, bool(subsample))
    return _segsnr_fitted(s, e, rate, frame_s, clamp, silence_db)


def llr(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    rate: float,
    order: int | None = None,
    frame_s: float = 0.03,
    max_lag: int | None = None,
    subsample: bool = False,
) -> float:
    """Log-likelihood ratio (Itakura's LPC distance) as in Hu & Loizou (2008).

    Per Hann-windowed frame (``frame_s``, 75 % overlap) with reference autocorrelation
    matrix ``R_r`` and LPC error filters ``a_r``, ``a_e`` of order ``order``:
    ``LLR = log((a_e R_r a_e') / (a_r R_r a_r'))``, clipped to [0, 2]; the result is
    the mean of the lowest 95 % of frames.  Loizou's reference code (``comp_llr.m``)
    uses a Hann window, which is followed here.  Gain and sign do not matter.

    Parameters
    ----------
    reference, estimate : array_like, shape (n_ref,) and (n_est,)
        True and recovered signal, both at ``rate``.
    rate : float
        Sample rate in Hz.
    order : int, optional
        LPC order.  Default ``2 + rate / 1000`` rounded (10 at 8 kHz), kept in [2, 20].
    frame_s : float, default 0.03
        Frame length in seconds; must exceed ``order`` samples.
    max_lag : int, optional
        Largest ``|lag|`` searched, in samples.
    subsample : bool, default False
        Refine the lag to a fraction of a sample (see :func:`align`).

    Returns
    -------
    float
        LLR in [0, 2]; 0 for identical spectral envelopes, lower is better.
    """
    rate = _positive(rate, "rate")
    s, e = _prepare(reference, estimate, max_lag, bool(subsample))
    return _llr_fitted(s, e, rate, order, frame_s)


def stoi(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    rate: float,
    extended: bool = False,
    max_lag: int | None = None,
    subsample: bool = False,
) -> float:
    """Short-Time Objective Intelligibility via ``pystoi``, after alignment.

    The signals are aligned (lag, gain) first so the score measures content, not
    offsets.  ``pystoi`` resamples to 10 kHz itself (non-integer rates are first
    resampled to 10 kHz here with soxr).

    Parameters
    ----------
    reference, estimate : array_like, shape (n_ref,) and (n_est,)
        True and recovered signal, both at ``rate``.
    rate : float
        Sample rate in Hz.  Below 8 kHz STOI's upper third-octave bands (up to
        ~4.3 kHz) are empty and values are not comparable with published ones.
    extended : bool, default False
        Use extended STOI (Jensen & Taal 2016).
    max_lag : int, optional
        Largest ``|lag|`` searched, in samples.
    subsample : bool, default False
        Refine the lag to a fraction of a sample (see :func:`align`).

    Returns
    -------
    float
        STOI, about 0 (unintelligible) to 1; higher is better.

    Raises
    ------
    MissingDependencyError
        ``pystoi`` is not installed (``pip install "vismic[stoi]"``).
    ParameterError
        Invalid inputs, or the aligned signals are shorter than STOI accepts (about
        0.41 s of non-silent signal).
    """
    rate = _positive(rate, "rate")
    _import_pystoi()
    s, e = _prepare(reference, estimate, max_lag, bool(subsample))
    return _stoi_fitted(s, e, rate, bool(extended))


def log_spectral_distance(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    rate: float,
    nperseg: int | None = None,
    max_lag: int | None = None,
    subsample: bool = False,
) -> float:
    """Log-spectral distance in dB between the aligned, gain-fitted signals.

    Hann-windowed STFT frames of ``nperseg`` samples with 50 % overlap; per frame the
    RMS over all frequency bins (DC to Nyquist) of ``10 log10(P_ref / P_est)``, then
    the mean over frames.  A floor 100 dB below the largest bin power is added to both
    spectra so empty bins give finite values.

    Parameters
    ----------
    reference, estimate : array_like, shape (n_ref,) and (n_est,)
        True and recovered signal, both at ``rate``.
    rate : float
        Sample rate in Hz.
    nperseg : int, optional
        Frame length in samples.  Default: the power of two nearest 32 ms (at least
        16), halved while longer than the signal.
    max_lag : int, optional
        Largest ``|lag|`` searched, in samples.
    subsample : bool, default False
        Refine the lag to a fraction of a sample (see :func:`align`).

    Returns
    -------
    float
        LSD in dB; 0 for identical spectra, lower is better.
    """
    rate = _positive(rate, "rate")
    s, e = _prepare(reference, estimate, max_lag, bool(subsample))
    return _lsd_fitted(s, e, rate, nperseg)


def _highpass(x: FloatArray, cutoff: float, rate: float, name: str) -> FloatArray:
    sos = scipy.signal.butter(3, cutoff, btype="highpass", fs=rate, output="sos")
    padlen = 3 * (2 * len(sos) + 1)
    if x.size <= padlen:
        raise ParameterError(
            f"{name} has {x.size} samples, too few to high-pass (needs more than {padlen}); pass a longer "
            "signal or highpass=None"
        )
    return scipy.signal.sosfiltfilt(sos, x)


def score(
    reference: npt.ArrayLike,
    estimate: npt.ArrayLike,
    *,
    rate_reference: float,
    rate_estimate: float,
    highpass: float | None = None,
    max_lag_s: float | None = 0.05,
    subsample: bool = True,
) -> dict[str, Any]:
    """All metrics of a recovered signal against the truth, at the estimate's rate.

    The reference is resampled to ``rate_estimate`` if the rates differ (soxr, VHQ;
    non-integer rates are fine), both signals are optionally high-passed (Butterworth
    order 3, zero-phase) at ``highpass`` Hz, aligned once (lag within ``max_lag_s``,
    gain, sign, optional subsample lag) and every metric is computed on the same
    aligned, gain-fitted pair.

    Parameters
    ----------
    reference : array_like, shape (n_ref,)
        The true sound at ``rate_reference``.
    estimate : array_like, shape (n_est,)
        The recovered sound at ``rate_estimate``.
    rate_reference, rate_estimate : float
        Sample rates in Hz.
    highpass : float, optional
        High-pass cutoff in Hz applied to both, ``0 < highpass < rate_estimate / 2``;
        use the cutoff the recovery used so the truth loses the same band.
    max_lag_s : float or None, default 0.05
        Largest ``|lag|`` searched, in seconds; None for a quarter of the shorter
        signal.
    subsample : bool, default True
        Refine the lag to a fraction of a sample (see the module notes).

    Returns
    -------
    dict
        Plain Python values (JSON-ready except that ``snr_db`` may be ``inf``):

        ``lag_samples`` (int) integer lag at ``rate``; ``lag_fraction`` (float)
        subsample part; ``lag_s`` (float) total lag in seconds (positive: the
        estimate is late); ``gain`` (float, signed); ``sign`` (+1/-1);
        ``correlation`` (float, absolute); ``snr_db``; ``segmental_snr_db``;
        ``llr``; ``stoi`` (float or None); ``stoi_note`` (None, or why ``stoi`` is
        None or not comparable with published values); ``lsd_db``; ``rate`` (Hz,
        the estimate's); ``n_samples`` (overlapping samples compared).

    Raises
    ------
    ParameterError
        Invalid signals or parameters, or signals too short for the frame-based
        metrics (30 ms frames).
    """
    ref = _signal(reference, "reference")
    est = _signal(estimate, "estimate")
    rate_ref = _positive(rate_reference, "rate_reference")
    rate = _positive(rate_estimate, "rate_estimate")
    if highpass is not None:
        highpass = _positive(highpass, "highpass")
        if highpass >= rate / 2:
            raise ParameterError(
                f"highpass={highpass} Hz is not below the Nyquist frequency {rate / 2} Hz of the estimate; "
                f"pass 0 < highpass < {rate / 2}"
            )
    if max_lag_s is None:
        max_lag = None
    else:
        if isinstance(max_lag_s, bool) or not isinstance(max_lag_s, numbers.Real):
            raise ParameterError(f"max_lag_s={max_lag_s!r} is not a number; pass seconds >= 0 or None")
        if not math.isfinite(float(max_lag_s)) or max_lag_s < 0:
            raise ParameterError(f"max_lag_s={max_lag_s!r} is invalid; pass finite seconds >= 0 or None")
        max_lag = int(round(float(max_lag_s) * rate))

    if rate_ref != rate:
        ref = np.asarray(soxr.resample(ref, rate_ref, rate, quality="VHQ"), dtype=np.float64)
        if ref.size == 0:
            raise ParameterError(
                f"reference has too few samples to resample from {rate_ref} Hz to {rate} Hz; pass a "
                "longer reference"
            )
    if highpass is not None:
        ref = _highpass(ref, highpass, rate, "reference")
        est = _highpass(est, highpass, rate, "estimate")

    al = _align(ref, est, max_lag, bool(subsample))
    s, e = _fitted(al)

    stoi_value: float | None = None
    stoi_note: str | None = None
    try:
        stoi_value = _stoi_fitted(s, e, rate, False)
    except MissingDependencyError as exc:
        stoi_note = str(exc)
    except ParameterError as exc:
        stoi_note = str(exc)
    else:
        if rate < 8000:
            stoi_note = (
                f"rate {rate:g} Hz < 8 kHz: STOI's bands above {rate / 2:g} Hz are empty, so the value is "
                "not comparable with published STOI figures"
            )

    return {
        "lag_samples": int(al.lag),
        "lag_fraction": float(al.fraction),
        "lag_s": float(al.delay / rate),
        "gain": float(al.gain),
        "sign": int(al.sign),
        "correlation": float(abs(al.correlation)),
        "snr_db": _snr_fitted(s, e),
        "segmental_snr_db": _segsnr_fitted(s, e, rate, 0.03, (-10.0, 35.0), None),
        "llr": _llr_fitted(s, e, rate, None, 0.03),
        "stoi": stoi_value,
        "stoi_note": stoi_note,
        "lsd_db": _lsd_fitted(s, e, rate, None),
        "rate": float(rate),
        "n_samples": int(al.n_samples),
    }
