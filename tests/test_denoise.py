"""Post-processing: zero-phase high-pass, line detection and notches, spectral subtraction, gain."""

import numpy as np
import pytest

from vismic.denoise import detect_lines, highpass, normalize, notch, spectral_subtract
from vismic.errors import ParameterError

RATE = 2200.0


def _t(n):
    return np.arange(n) / RATE


def test_highpass_is_zero_phase_and_removes_low_band():
    t = _t(4400)
    hi = np.sin(2 * np.pi * 400 * t)
    lo = np.sin(2 * np.pi * 10 * t)
    y = highpass(hi + lo, rate=RATE, cutoff=55.0)
    mid = slice(500, -500)
    # zero phase: the 400 Hz component comes out with no delay and its amplitude kept (< 1 %)
    assert np.max(np.abs(y[mid] - hi[mid])) < 0.01
    with pytest.raises(ParameterError):
        highpass(hi, rate=RATE, cutoff=RATE)


def test_detect_lines_and_notch(rng):
    t = _t(8800)
    x = rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * 120 * t)
    lines = detect_lines(x, rate=RATE)
    assert lines and lines[0]["hz"] == 120.0
    y = notch(x, rate=RATE, freqs=[120.0])
    assert not any(d["hz"] == 120.0 for d in detect_lines(y, rate=RATE))
    assert detect_lines(rng.standard_normal(len(t)), rate=RATE) == []


def test_spectral_subtraction_improves_snr_and_keeps_phase(rng):
    n = 2200 * 4
    # a melody-like signal: notes that change, so a per-bin median over time sees mostly noise
    f = np.repeat([300.0, 450.0, 600.0, 350.0, 500.0, 700.0, 400.0, 550.0], n // 8)
    clean = np.sin(2 * np.pi * np.cumsum(f) / RATE) * (np.arange(n) % (n // 8) < n // 16)
    noisy = clean + 0.3 * rng.standard_normal(n)
    out = spectral_subtract(noisy, rate=RATE)

    def snr(y):
        g = np.dot(y, clean) / np.dot(clean, clean)
        return 10 * np.log10(np.sum((g * clean) ** 2) / np.sum((y - g * clean) ** 2))

    assert snr(out) > snr(noisy) + 3.0
    # trap: writing the result as mag * 1j * phase instead of mag * exp(1j * phase) destroys the
    # waveform; the output must stay in phase with the clean signal
    assert np.corrcoef(out, clean)[0, 1] > 0.9


def test_normalize_never_clips(rng):
    x = rng.standard_normal(1000) * 37
    y, g = normalize(x)
    assert np.isclose(np.abs(y).max(), 0.98) and np.isclose(g * np.abs(x).max(), 0.98)
    z, g0 = normalize(np.zeros(10))
    assert g0 == 1.0 and not z.any()


def test_bad_signals():
    with pytest.raises(ParameterError, match="NaN"):
        highpass(np.array([0.0, np.nan, 1.0]), rate=RATE, cutoff=10)
    with pytest.raises(ParameterError, match="rate"):
        spectral_subtract(np.zeros(100), rate=0)


def test_mains_lines_are_a_mains_family_not_the_sound(rng):
    # issue 15 item 7: a 440 Hz tone was reported as "mains-like line at 450 Hz" (plus 17 more)
    t = _t(8800)
    tone = np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(len(t))
    assert detect_lines(tone, rate=RATE) == []
    guitar = sum(np.sin(2 * np.pi * 82.41 * h * t) / h for h in range(1, 8)) + 0.01 * rng.standard_normal(len(t))
    assert detect_lines(guitar, rate=RATE) == [], "a string's harmonics are not mains lines"
    # fluorescent flicker: 100 Hz and its harmonics, and 50 Hz hum with its odd harmonics, are found
    flicker = sum(0.3 / k * np.sin(2 * np.pi * 100 * k * t + k) for k in (1, 2, 3))
    got = {d["hz"] for d in detect_lines(rng.standard_normal(len(t)) + flicker, rate=RATE)}
    assert {100.0, 200.0, 300.0} <= got and not got - {100.0, 200.0, 300.0, 50.0, 150.0, 250.0}
    # a tone that sits at a multiple of 60 Hz by itself (no other member of the family) is the sound's
    assert detect_lines(rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * 240 * t), rate=RATE) == []


def test_default_highpass_is_a_physical_frequency():
    # issue 15 item 1: rate/40 was 500 Hz at 20,000 fps and removed a speaker's fundamental
    from vismic.denoise import DEFAULT_HIGHPASS_HZ, default_highpass

    for rate in (2200.0, 20_000.0, 600.0, 61_919.5):
        hz, why = default_highpass(rate)
        assert hz == DEFAULT_HIGHPASS_HZ == 40.0 and "40 Hz default" in why
    hz, why = default_highpass(60.0)
    assert hz == 15.0 and "quarter" in why
    # a 100 Hz fundamental at 20 kHz passes the default; it did not pass rate/40
    rate = 20_000.0
    t = np.arange(int(rate)) / rate
    f0 = np.sin(2 * np.pi * 100 * t)
    kept = highpass(f0, rate=rate, cutoff=default_highpass(rate)[0])[2000:-2000]
    assert np.std(kept) / np.std(f0[2000:-2000]) > 0.98


def test_normalize_to_peak_rms_and_the_peak_ceiling():
    from vismic.denoise import normalize, normalize_to

    rng = np.random.default_rng(0)
    x = rng.standard_normal(10_000)
    y, facts = normalize_to(x)  # the default is the former rule, bit for bit
    assert np.array_equal(y, normalize(x)[0]) and facts["mode"] == "peak"
    y, facts = normalize_to(x, "peak", -6.0)
    assert abs(np.abs(y).max() - 10 ** (-6 / 20)) < 1e-12
    y, facts = normalize_to(x, "rms", -20.0)
    assert abs(np.sqrt(np.mean(y**2)) - 0.1) < 1e-12 and not facts["limited_by_peak"]
    spiky = np.zeros(1000)
    spiky[10] = 1.0  # crest factor 30 dB: -3 dBFS RMS would put the peak far over full scale
    y, facts = normalize_to(spiky, "rms", -3.0)
    assert facts["limited_by_peak"] and abs(np.abs(y).max() - 0.98) < 1e-12
    with pytest.raises(ParameterError, match="level"):
        normalize_to(x, "rms", 1.0)
    with pytest.raises(ParameterError, match="normalize"):
        normalize_to(x, "lufs")
