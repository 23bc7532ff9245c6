"""Alignment of an estimate to its reference: lag, gain, sign (private; :func:`vismic.metrics.align` is public)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.optimize
import scipy.signal

from ._common import FloatArray, _max_lag, _nonconstant, _signal

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
