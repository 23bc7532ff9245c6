"""The exposure as a box filter in time: its response, a report, and its (limited) inversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft as sfft

from .timing import _num


def exposure_response(freqs: np.ndarray, exposure: float) -> np.ndarray:
    """Amplitude response of the exposure's box filter, ``sinc(f E)`` (real: centre-timed samples).

    Parameters
    ----------
    freqs : array_like
        Frequencies in Hz.
    exposure : float
        Exposure ``E`` in seconds (0: an all-pass).

    Returns
    -------
    ndarray
        ``sin(pi f E) / (pi f E)``: 1 at DC, -3.9 dB at ``1/(2E)``, first null at ``1/E``.
    """
    return np.sinc(np.asarray(freqs, dtype=np.float64) * float(exposure))


def exposure_report(exposure: float, band: float) -> dict[str, Any]:
    """Facts about the exposure's box filter within ``band`` Hz (JSON-able)."""
    if exposure <= 0:
        return {"exposure_s": exposure, "first_null_hz": None,
                "note": "exposure unknown or instantaneous: the box filter was not modelled"}
    f = np.array([band])
    return {
        "exposure_s": exposure,
        "first_null_hz": 1.0 / exposure,
        "minus_3db_hz": 0.4429 / exposure,
        "response_db_at_band_edge": float(20 * np.log10(abs(exposure_response(f, exposure)[0]) + 1e-12)),
        "band_hz": band,
    }


def equalize_exposure(x: np.ndarray, *, rate: float, exposure: float, max_gain_db: float = 10.0,
                      band: float | None = None) -> np.ndarray:
    """Invert the exposure's box filter where it is invertible (zero-phase, FFT).

    The gain is ``1 / sinc(f E)`` limited to ``max_gain_db``; above ``band`` (default: the first
    null ``1/E``) the signal is left as it is.

    Parameters
    ----------
    x : ndarray, shape (n,)
    rate : float
        Sample rate in Hz.
    exposure : float
        Exposure in seconds (> 0).
    max_gain_db : float
        Largest boost, in dB (> 0).
    band : float, optional
        Highest frequency equalised, in Hz.

    Returns
    -------
    ndarray, shape (n,), float64
    """
    _num("exposure", exposure, unit="seconds", fix="equalisation needs the exposure, e.g. 1/2000")
    _num("max_gain_db", max_gain_db, unit="dB", fix="use e.g. 10")
    x = np.asarray(x, dtype=np.float64)
    nfft = sfft.next_fast_len(x.size)
    spec = sfft.rfft(x, nfft)
    f = sfft.rfftfreq(nfft, 1.0 / rate)
    top = 1.0 / exposure if band is None else min(band, 1.0 / exposure)
    h = np.abs(exposure_response(f, exposure))
    gmax = 10 ** (max_gain_db / 20)
    gain = np.where(f < top, np.minimum(1.0 / np.maximum(h, 1e-12), gmax), 1.0)
    return sfft.irfft(spec * gain, nfft)[: x.size]
