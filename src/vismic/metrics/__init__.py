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
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.optimize
import scipy.signal
import soxr

from ..errors import MissingDependencyError, ParameterError
from ._alignment import Alignment, _align, _fitted, _prepare, align
from ._common import FloatArray, _max_lag, _positive, _signal
from ._kernels import _import_pystoi, _llr_fitted, _lsd_fitted, _segsnr_fitted, _snr_fitted, _stoi_fitted

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
