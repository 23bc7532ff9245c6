"""Post-processing of a recovered signal: high-pass, mains-line notches, spectral subtraction, gain.

Every function takes the signal first and the sample ``rate`` (Hz) as a keyword, and returns a new
float64 array; none changes its input.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ParameterError

__all__ = ["highpass", "detect_lines", "notch", "spectral_subtract", "normalize", "normalize_to", "postprocess",
           "default_highpass",
           "DEFAULT_HIGHPASS_HZ", "DENOISERS"]

DENOISERS = ("none", "specsub")
#: The default high-pass cutoff: below the lowest voice fundamentals (~65-85 Hz) and most musical
#: fundamentals, above slow drift, camera creep and building sway. A physical frequency, not the
#: paper's rate/40 (55 Hz at 2,200 fps, but 500 Hz at 20,000 fps: a speaker's fundamental).
DEFAULT_HIGHPASS_HZ = 40.0


def default_highpass(rate: float) -> tuple[float, str]:
    """The default high-pass cutoff at sample rate ``rate`` (Hz) and why, for the sidecar.

    ``DEFAULT_HIGHPASS_HZ``, or a quarter of the rate when the rate is too low for it (a filter
    must sit well below Nyquist): 15 Hz at 60 fps.
    """
    if DEFAULT_HIGHPASS_HZ <= rate / 4:
        return DEFAULT_HIGHPASS_HZ, (f"{DEFAULT_HIGHPASS_HZ:g} Hz default: below voices' fundamentals, above drift "
                                     "and creep (--highpass sets it)")
    return rate / 4, (f"{rate / 4:g} Hz: a quarter of the {rate:g} Hz rate, the {DEFAULT_HIGHPASS_HZ:g} Hz default "
                      "being too close to Nyquist (--highpass sets it)")


def _signal():
    """scipy.signal, imported on first use: it takes ~0.7 s to import, which every worker process
    (they import :mod:`vismic.pipeline`, hence this module) and every CLI start would pay."""
    import scipy.signal

    return scipy.signal


def _check(x: np.ndarray, rate: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ParameterError(f"signal must be 1-D, got shape {x.shape}")
    if not np.isfinite(rate) or rate <= 0:
        raise ParameterError(f"rate={rate} must be a positive number of Hz")
    if not np.all(np.isfinite(x)):
        raise ParameterError("signal contains NaN or inf")
    return x


def highpass(x: np.ndarray, *, rate: float, cutoff: float, order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth high-pass (forward-backward, so the effective order is doubled).

    ``cutoff <= 0`` only removes the mean.
    """
    x = _check(x, rate)
    if cutoff <= 0:
        return x - x.mean()
    _check_cutoff(cutoff, rate)
    sos = _signal().butter(order, cutoff, btype="highpass", fs=rate, output="sos")
    x = x - x.mean()
    padlen = min(len(x) - 1, 3 * (2 * len(sos) + 1) * 4)
    return _signal().sosfiltfilt(sos, x, padlen=padlen)


def _check_cutoff(cutoff: float, rate: float) -> None:
    if cutoff >= rate / 2:
        raise ParameterError(f"highpass={cutoff} Hz must be below the Nyquist frequency {rate / 2:g} Hz")
    if cutoff < rate * 1e-6:
        # a Butterworth design this close to 0 Hz is numerically singular
        raise ParameterError(
            f"highpass={cutoff:g} Hz is too low for a {rate:g} Hz signal; use 0 to remove only the mean, "
            f"or a cutoff of at least {rate * 1e-6:g} Hz"
        )


def highpass_columns(x: np.ndarray, *, rate: float, cutoff: float, order: int = 3) -> np.ndarray:
    """:func:`highpass` applied to every column of ``x`` (shape (n, c))."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    if cutoff <= 0:
        return x
    _check_cutoff(cutoff, rate)
    sos = _signal().butter(order, cutoff, btype="highpass", fs=rate, output="sos")
    padlen = min(x.shape[0] - 1, 3 * (2 * len(sos) + 1) * 4)
    return _signal().sosfiltfilt(sos, x, axis=0, padlen=padlen)


def detect_lines(
    x: np.ndarray,
    *,
    rate: float,
    mains: tuple[float, ...] = (50.0, 60.0),
    threshold_db: float = 10.0,
    min_hz: float = 0.0,
) -> list[dict]:
    """Find mains lines: narrow peaks exactly at 50/60 Hz multiples that behave like a mains family.

    Lighting powered from the mains flickers at twice the mains frequency (100/120 Hz) and its
    harmonics; magnetic hum sits at 50/60 Hz. A candidate is a local maximum of the spectrum
    whose interpolated frequency lies within 0.35 Hz (or half a bin) of ``k * base`` and whose
    power exceeds the median of the surrounding +-10 % of the spectrum by ``threshold_db``. A
    family is reported when two or more of its multiples are candidates (coherent harmonics), or
    when its one candidate is the flicker line itself (``2 * base``: an incandescent lamp flickers
    almost sinusoidally). A sound's own tones are not mains lines: a 440 Hz tone's skirt at 450 Hz
    is no local maximum, a guitar's harmonic at 240 Hz has no mains companion. Lines below
    ``min_hz`` are not searched (near a high-pass cutoff the filter's slope looks like a peak).

    Returns
    -------
    list of dict
        ``{"hz": frequency, "db_above_floor": prominence}``, strongest first.
    """
    x = _check(x, rate)
    n = len(x)
    if n < 64:
        return []
    nper = min(n, int(2 ** np.ceil(np.log2(max(rate, 64)))))  # ~1 Hz resolution or the clip
    f, p = _signal().welch(x, fs=rate, nperseg=nper)
    df = f[1] - f[0]
    logp = np.log(p + 1e-300)
    half = max(2, int(np.ceil(1.0 / df)))  # a line is the maximum within +-1 Hz
    tol = max(0.35, 0.5 * df)
    found: dict[float, float] = {}
    for base in mains:
        family: dict[float, float] = {}
        k = 1
        # lighting and hum harmonics that matter lie far below 50 of them; the bound also keeps
        # absurd rates (1e9 Hz) from looping forever
        while k <= 50 and k * base < rate / 2 - 2 * df:
            hz = k * base
            k += 1
            if hz < min_hz:
                continue
            i = int(round(hz / df))
            lo_i, hi_i = max(1, i - half), min(len(p) - 2, i + half)
            if hi_i <= lo_i:
                continue
            j = lo_i + int(np.argmax(p[lo_i : hi_i + 1]))
            if j in (lo_i, hi_i):
                continue  # rising towards something else: not a peak of its own here
            a, b, c = logp[j - 1], logp[j], logp[j + 1]
            den = a - 2 * b + c
            offset = 0.5 * (a - c) / den if den < 0 else 0.0
            if abs((j + offset) * df - hz) > tol:
                continue  # a peak near, not at, the mains multiple: the sound's own
            lo, hi = max(1, int(j * 0.9)), min(len(p) - 1, int(np.ceil(j * 1.1)) + 1)
            window = np.r_[p[lo : max(lo, j - 2)], p[j + 3 : hi]]
            if len(window) >= 4:
                prom = 10 * np.log10(p[j] / (np.median(window) + 1e-300) + 1e-300)
                if prom >= threshold_db:
                    family[hz] = float(prom)
        if len(family) >= 2 or set(family) == {2 * base}:
            for hz, prom in family.items():
                found[hz] = max(found.get(hz, -np.inf), prom)
    return [{"hz": h, "db_above_floor": round(v, 2)} for h, v in sorted(found.items(), key=lambda kv: -kv[1])]


def notch(x: np.ndarray, *, rate: float, freqs, q: float = 30.0) -> np.ndarray:
    """Zero-phase IIR notches at ``freqs`` (Hz) with quality factor ``q``."""
    x = _check(x, rate)
    for f0 in freqs:
        if not 0 < f0 < rate / 2:
            raise ParameterError(f"notch frequency {f0} Hz must lie in (0, {rate / 2:g}) Hz")
        if f0 < rate * 1e-6:  # an IIR design this close to 0 Hz is numerically singular
            raise ParameterError(
                f"notch frequency {f0:g} Hz is too low for a {rate:g} Hz signal (at least {rate * 1e-6:g} Hz)"
            )
        b, a = _signal().iirnotch(f0, q, fs=rate)
        x = _signal().filtfilt(b, a, x, padlen=min(len(x) - 1, 3 * max(len(a), len(b))))
    return x


def spectral_subtract(
    x: np.ndarray,
    *,
    rate: float,
    window_s: float = 1.0,
    hop_s: float = 0.02,
    noise_quantile: float = 0.5,
    floor: float = 0.01,
) -> np.ndarray:
    """Power spectral subtraction with a noise estimate that needs no silent segment.

    The noise power of each frequency bin is the ``noise_quantile`` of that bin's power over time,
    corrected to a mean (for exponentially distributed noise power the median is ``ln 2`` times
    the mean).  The clean power is ``max(|X|^2 - N, floor * |X|^2)``: clamped at a small spectral
    floor instead of 0, which tames "musical noise".  The noisy phase is kept: the clean STFT is
    ``sqrt(clean power) * exp(1j * angle(X))``, then overlap-add.

    Steady tones are stationary too and are attenuated; use it for speech and music.

    Parameters
    ----------
    window_s, hop_s : float
        Hann window length and hop in seconds; the window is shortened to a quarter of the
        signal for short clips.
    """
    x = _check(x, rate)
    if not 0 < noise_quantile < 1:
        raise ParameterError(f"noise_quantile={noise_quantile} must be in (0, 1)")
    if floor < 0:
        raise ParameterError(f"floor={floor} must be >= 0")
    n = len(x)
    win = int(round(window_s * rate))
    win = max(16, min(win, n // 4))
    if n < 64:
        return x.copy()
    hop = max(1, min(int(round(hop_s * rate)), win // 4))
    stft = _signal().ShortTimeFFT(_signal().windows.hann(win, sym=False), hop=hop, fs=rate)
    spec = stft.stft(x)
    power = np.abs(spec) ** 2
    q = np.quantile(power, noise_quantile, axis=1, keepdims=True)
    noise = q / -np.log1p(-noise_quantile)  # exponential distribution: quantile -> mean
    clean = np.maximum(power - noise, floor * power)
    out = stft.istft(np.sqrt(clean) * np.exp(1j * np.angle(spec)), k1=n)
    return np.asarray(out.real, dtype=np.float64)


#: how a recovery's audio is levelled: its peak, or its RMS (loudness; the peak then never above 0.98)
NORMALIZE = ("peak", "rms")
_PEAK_CEILING = 0.98
#: the default level of each, in dB relative to full scale (peak: 0.98 of full scale)
DEFAULT_LEVEL_DB = {"peak": 20.0 * math.log10(_PEAK_CEILING), "rms": -20.0}


def check_level(mode: str, level_db: float | None) -> None:
    """Validate a normalisation (``mode`` in :data:`NORMALIZE`, ``level_db`` None or in [-80, 0] dBFS)."""
    if mode not in NORMALIZE:
        raise ParameterError(f"normalize={mode!r} must be one of {NORMALIZE}")
    if level_db is not None and not (isinstance(level_db, int | float) and math.isfinite(level_db)
                                     and -80.0 <= level_db <= 0.0):
        raise ParameterError(f"level_db={level_db!r} (--level) must be between -80 and 0 dB of full scale "
                             "(e.g. -1 for peak, -20 for rms)")


def normalize_to(x: np.ndarray, mode: str = "peak", level_db: float | None = None) -> tuple[np.ndarray, dict]:
    """Level a recovery's audio: its peak (default 0.98 of full scale, -0.18 dBFS) or its RMS
    (default -20 dBFS).

    An RMS level never makes the peak exceed 0.98 of full scale: the gain is then lowered, and the
    returned facts say so (``limited_by_peak``).  Returns ``(y, facts)`` with facts ``mode``,
    ``level_db``, ``gain`` and ``limited_by_peak``.
    """
    check_level(mode, level_db)
    level = DEFAULT_LEVEL_DB[mode] if level_db is None else float(level_db)
    facts = {"mode": mode, "level_db": level, "gain": 1.0, "limited_by_peak": False}
    if mode == "peak":  # a peak level is never above the ceiling: :func:`normalize` does it
        target = _PEAK_CEILING if level_db is None else min(10.0 ** (level / 20.0), _PEAK_CEILING)
        y, facts["gain"] = normalize(x, peak=target)
        return y, facts
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak == 0:
        return x.copy(), facts
    gain = 10.0 ** (level / 20.0) / float(np.sqrt(np.mean(x * x)))
    if gain * peak > _PEAK_CEILING * (1 + 1e-12):
        gain, facts["limited_by_peak"] = _PEAK_CEILING / peak, True
    facts["gain"] = gain
    return x * gain, facts


def normalize(x: np.ndarray, *, peak: float = 0.98) -> tuple[np.ndarray, float]:
    """Scale so the largest magnitude is ``peak`` (never clips); return ``(y, gain)``."""
    if not 0 < peak <= 1:
        raise ParameterError(f"peak={peak} must be in (0, 1]")
    x = np.asarray(x, dtype=np.float64)
    m = float(np.abs(x).max()) if x.size else 0.0
    if m == 0:
        return x.copy(), 1.0
    return x * (peak / m), peak / m


def postprocess(x: np.ndarray, *, rate: float, lowest_hz: float, notch_mode, denoise: str = "none"
                ) -> tuple[np.ndarray, dict]:
    """The post-processing every recovery ends with: mains-line detection, notches, denoising.

    Used by the global-shutter pipeline and the rolling-shutter recovery alike (one rule).

    Parameters
    ----------
    x : ndarray, shape (n,)
        The high-passed motion signal.
    rate : float
        Its sample rate in Hz.
    lowest_hz : float
        Lines are looked for above this frequency (1.5 times the high-pass cutoff).
    notch_mode : {"report", "auto", "off"} or tuple of float
        Detect and keep, notch what is detected, do nothing, or notch these frequencies (Hz).
    denoise : {"none", "specsub"}
        Spectral subtraction or none.

    Returns
    -------
    y : ndarray, shape (n,)
    info : dict
        ``lines_detected`` (list of dicts) and ``notched_hz`` (list of float).
    """
    if denoise not in DENOISERS:
        raise ParameterError(f"denoise={denoise!r} must be one of {DENOISERS}")
    lines = detect_lines(x, rate=rate, min_hz=lowest_hz)
    notched: list[float] = []
    if isinstance(notch_mode, tuple):
        notched = [f for f in notch_mode if f < rate / 2]
    elif notch_mode == "auto":
        notched = [d["hz"] for d in lines]
    if notched:
        x = notch(x, rate=rate, freqs=notched)
    if denoise == "specsub":
        x = spectral_subtract(x, rate=rate)
    return x, {"lines_detected": lines, "notched_hz": notched}
