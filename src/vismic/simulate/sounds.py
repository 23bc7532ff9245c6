"""Sounds that move the scenes: built-in tone, chirp, melody and noise, or a sound file resampled to the frame rate."""

from __future__ import annotations

import math
import os

import numpy as np
import soundfile as sf
import soxr

from .._validation import bad
from ..errors import VideoReadError
from ._common import (
    _check_rate,
)

SOUND_NAMES = ("tone", "chirp", "melody", "noise")

def _unit_rms(x: np.ndarray, what: str) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    if not rms > 0:
        raise bad(what, x, "is silent (zero RMS)", "use a longer duration or another sound")
    return (x / rms).astype(np.float64)


# Mary had a little lamb: (semitones above C, beats)
_MARY = [(4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 2), (2, 1), (2, 1), (2, 2), (4, 1), (7, 1),
         (7, 2), (4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 1), (4, 1), (2, 1), (2, 1), (4, 1),
         (2, 1), (0, 4)]
_MELODY_HARMONICS = (1.0, 0.5, 0.25)


def builtin_sound(
    name: str = "tone", *, rate: float, duration: float, seed: int = 0, freq: float | None = None
) -> np.ndarray:
    """Make a test sound sampled at the frame rate.

    Parameters
    ----------
    name : {"tone", "chirp", "melody", "noise"}
        ``"tone"``: a sine at ``freq`` Hz (default 440). ``"chirp"``: a logarithmic sweep
        from ``rate/40`` to ``0.45*rate`` (5 % cosine taper at the ends). ``"melody"``: "Mary
        had a little lamb" (0.3 s per beat, looped) with harmonics 1, 2, 3 (amplitudes 1,
        1/2, 1/4), moved down by whole octaves until the highest harmonic is below
        ``0.45*rate``. ``"noise"``:
        Gaussian noise band-limited to ``rate/40 .. 0.45*rate`` (FFT brick wall).
    rate : float
        Sampling rate = frame rate, in Hz.
    duration : float
        In seconds; the sound has ``round(duration * rate)`` samples (>= 2).
    seed : int
        Seed of ``"noise"``.
    freq : float or None
        Frequency of ``"tone"`` in Hz, ``0 < freq < rate/2``; only valid for ``"tone"``.

    Returns
    -------
    ndarray, shape (round(duration*rate),), float64
        Unit RMS.

    Raises
    ------
    ParameterError
        Unknown name, non-positive rate or duration, fewer than 2 samples, ``freq`` at or
        above the Nyquist frequency or given for another sound.
    """
    if name not in SOUND_NAMES:
        raise bad("name", name, f"is not one of {SOUND_NAMES}", 'use e.g. name="tone"')
    rate = _check_rate(rate)
    try:
        dur = float(duration)
    except (TypeError, ValueError):
        dur = float("nan")
    if not math.isfinite(dur) or dur <= 0:
        raise bad("duration", duration, "must be a finite time > 0 in seconds", "give e.g. duration=1.0")
    n = round(dur * rate)
    if n < 2:
        raise bad("duration", duration, f"gives {n} sample(s) at rate={rate} Hz; at least 2 are needed",
                   f"use duration >= {2 / rate:.3g} s")
    if freq is not None and name != "tone":
        raise bad("freq", freq, f"applies only to name='tone', not {name!r}", "drop freq")
    t = np.arange(n) / rate
    if name == "tone":
        f = 440.0 if freq is None else freq
        if not (isinstance(f, int | float) and math.isfinite(f) and 0 < f < rate / 2):
            raise bad("freq", f, f"must be in (0, rate/2) = (0, {rate / 2:g}) Hz at rate={rate:g} Hz",
                       f"use freq < {rate / 2:g} or a higher rate")
        x = np.sin(2 * np.pi * f * t)
    elif name == "chirp":
        from scipy.signal import chirp  # lazily: importing scipy.signal costs about half a second
        from scipy.signal.windows import tukey  # lazily, as chirp above

        # 5% cosine taper at both ends: an abrupt stop at 0.45 rate would leak above it
        x = chirp(t, f0=rate / 40, t1=t[-1], f1=0.45 * rate, method="logarithmic") * tukey(n, 0.05)
    elif name == "noise":
        rng = np.random.default_rng(seed)
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / rate)
        spec[(f < rate / 40) | (f > 0.45 * rate)] = 0
        x = np.fft.irfft(spec, n)
    else:
        x = _melody(t, rate)
    return _unit_rms(x, "sound")


def _melody(t: np.ndarray, rate: float) -> np.ndarray:
    beat = 0.3
    c4 = 261.6256
    top = c4 * 2 ** (max(s for s, _ in _MARY) / 12) * len(_MELODY_HARMONICS)
    octave = 0
    while top * 2.0**octave >= 0.45 * rate:
        octave -= 1
    starts, notes = [], []
    pos = 0.0
    for semis, beats in _MARY:
        starts.append(pos)
        notes.append((c4 * 2 ** (semis / 12 + octave), beats * beat))
        pos += beats * beat
    total = pos
    tl = t % total
    x = np.zeros_like(t)
    for start, (f0, length) in zip(starts, notes, strict=True):
        sel = (tl >= start) & (tl < start + length)
        tau = tl[sel] - start
        # 10 ms attack, exponential decay, 20 ms release: no clicks between notes
        env = np.minimum(1.0, tau / 0.01) * np.exp(-2.0 * tau) * np.minimum(1.0, (length - tau) / 0.02)
        for h, amp in enumerate(_MELODY_HARMONICS, start=1):
            if h * f0 < 0.45 * rate:
                x[sel] += amp * env * np.sin(2 * np.pi * h * f0 * tau)
    return x


def load_sound(path: str | os.PathLike[str], rate: float, *, duration: float | None = None) -> np.ndarray:
    """Read a sound file, mix it to mono and resample it to the frame rate.

    Parameters
    ----------
    path : path-like
        WAV, FLAC, ... anything soundfile reads.
    rate : float
        Target rate = frame rate of the scene, in Hz (any positive value; soxr, very high
        quality, which low-passes below ``rate/2``).
    duration : float or None
        Keep only the first ``duration`` seconds (after resampling).

    Returns
    -------
    ndarray, shape (n,), float64
        Unit RMS, ``n = round(len(file) * rate / file_rate)``.

    Raises
    ------
    VideoReadError
        The file cannot be read.
    ParameterError
        Bad ``rate`` or ``duration``, or the result is silent or shorter than 2 samples.
    """
    rate = _check_rate(rate)
    try:
        data, file_rate = sf.read(os.fspath(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:
        raise VideoReadError(f"cannot read a sound from {str(path)!r}: {exc}") from exc
    x = data.mean(axis=1)
    if float(file_rate) != rate:
        x = soxr.resample(x, float(file_rate), rate, quality="VHQ")
    if duration is not None:
        if not (isinstance(duration, int | float) and math.isfinite(duration) and duration > 0):
            raise bad("duration", duration, "must be a time > 0 in seconds or None",
                       "give e.g. duration=2.0")
        x = x[: round(duration * rate)]
    if x.size < 2:
        raise bad("path", str(path), f"gives {x.size} sample(s) at rate={rate} Hz", "use a longer sound")
    return _unit_rms(np.asarray(x, dtype=np.float64), "sound")
