"""Tests of vismic.metrics.

The expected values come from how each test signal was built (a known lag, gain,
noise variance, band-limited analytic signal, an independent resampler), never from
the code under test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pytest
import scipy.signal

from vismic.errors import MissingDependencyError, ParameterError
from vismic.metrics import (
    Alignment,
    align,
    correlation,
    llr,
    log_spectral_distance,
    score,
    segmental_snr,
    snr,
    stoi,
)

RATE = 8000


def speech_like(rng: np.random.Generator, rate: float, seconds: float) -> np.ndarray:
    """A voiced, vowel-like test signal: a 100-140 Hz glottal pulse train through three
    formant resonators (500, 1500, 2500 Hz), with a 3 Hz syllabic envelope; unit variance."""
    n = int(round(rate * seconds))
    t = np.arange(n) / rate
    f0 = 120.0 + 20.0 * np.sin(2 * np.pi * 0.7 * t)
    pulses = (np.diff(np.floor(np.cumsum(f0 / rate)), prepend=0.0) > 0).astype(float)
    y = pulses + 0.05 * rng.standard_normal(n)
    for fc, bw in ((500.0, 80.0), (1500.0, 120.0), (2500.0, 200.0)):
        if fc < 0.45 * rate:
            r = math.exp(-math.pi * bw / rate)
            y = scipy.signal.lfilter([1 - r], [1.0, -2 * r * math.cos(2 * math.pi * fc / rate), r * r], y)
    env = np.sqrt(np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 2 * np.pi)), 0.0, None)) + 0.02
    x = y * env
    return x / np.std(x)


def analytic(seed: int, t: np.ndarray, fmax: float) -> np.ndarray:
    """A band-limited signal given in closed form, so it can be sampled at any rate and
    any delay exactly: 12 tones below ``fmax`` with slowly, irregularly varying amplitudes."""
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(60.0, fmax, 12)
    phases = rng.uniform(0, 2 * np.pi, (12, 3))
    env_f = rng.uniform(0.5, 4.0, (12, 2))
    out = np.zeros_like(t)
    for k in range(12):
        env = 1.2 + np.sin(2 * np.pi * env_f[k, 0] * t + phases[k, 1]) * np.cos(
            2 * np.pi * env_f[k, 1] * t + phases[k, 2]
        )
        out += env * np.sin(2 * np.pi * freqs[k] * t + phases[k, 0])
    return out


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    return speech_like(np.random.default_rng(1234), RATE, 2.0)


# --------------------------------------------------------------------------------------
# align / correlation
# --------------------------------------------------------------------------------------


def test_align_finds_known_positive_lag_and_negative_gain() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(6000)
    n = 5000
    ref = x[10 : 10 + n]
    est = -2.5 * x[3 : 3 + n]  # est[n] = -2.5 x[n + 3] = -2.5 ref[n - 7]
    al = align(ref, est)
    assert isinstance(al, Alignment)
    assert al.lag == 7
    assert al.fraction == 0.0
    assert al.gain == pytest.approx(-2.5, rel=1e-12)
    assert al.sign == -1
    assert al.correlation == pytest.approx(-1.0, abs=1e-12)
    assert al.reference.shape == al.estimate.shape == (n - 7,)
    np.testing.assert_allclose(al.estimate, -2.5 * al.reference, rtol=1e-12)
    np.testing.assert_array_equal(al.reference, ref[: n - 7])


def test_align_finds_negative_lag_with_unequal_lengths() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(8000)
    ref = x[100:4100]
    est = 0.3 * x[107:6107] + 4.0  # est[n] = 0.3 ref[n + 7] + DC, and 2000 samples longer
    al = align(ref, est)
    assert al.lag == -7
    assert al.gain == pytest.approx(0.3, rel=1e-12)
    assert al.correlation == pytest.approx(1.0, abs=1e-12)
    assert al.n_samples == 4000 - 7


def test_align_respects_max_lag() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(5000)
    ref, est = x[10:4010], x[3:4003]  # true lag 7
    al = align(ref, est, max_lag=3)
    assert abs(al.lag) <= 3
    assert abs(al.correlation) < 0.1  # white noise: no correlation away from the true lag
    assert align(ref, est, max_lag=7).lag == 7


def test_align_result_is_frozen_and_read_only() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1000)
    al = align(x, x)
    with pytest.raises(dataclasses.FrozenInstanceError):
        al.lag = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        al.reference[0] = 1.0


def test_subsample_alignment_recovers_fractional_delay() -> None:
    # Content up to 1000 Hz at a 2200 Hz rate: a 0.4-sample offset matters a lot there.
    rate, delay = 2200.0, 2.4
    t = np.arange(int(2 * rate)) / rate
    ref = analytic(5, t, 1000.0)
    est = -0.7 * analytic(5, t - delay / rate, 1000.0)
    coarse = align(ref, est, max_lag=20)
    fine = align(ref, est, max_lag=20, subsample=True)
    assert fine.lag == 2
    assert fine.fraction == pytest.approx(0.4, abs=0.01)
    assert fine.delay == pytest.approx(delay, abs=0.01)
    assert fine.gain == pytest.approx(-0.7, rel=1e-3)
    assert abs(fine.correlation) > 0.9999
    assert abs(coarse.correlation) < abs(fine.correlation)
    # an exact integer lag stays exact
    exact = align(ref, -0.7 * analytic(5, t - 3 / rate, 1000.0), max_lag=20, subsample=True)
    assert (exact.lag, exact.fraction) == (3, 0.0)


def test_correlation_is_absolute_and_matches_noise_level() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(20000)
    assert correlation(x, -3.0 * x) == pytest.approx(1.0, abs=1e-12)
    # unit-variance signal plus noise of std 0.5: rho = 1 / sqrt(1 + 0.25); the sample
    # estimate has a standard error of about (1 - rho^2) / sqrt(N) = 1.4e-3.
    sigma = 0.5
    est = x + sigma * rng.standard_normal(x.size)
    assert correlation(x, est) == pytest.approx(1 / math.sqrt(1 + sigma**2), abs=0.01)


# --------------------------------------------------------------------------------------
# snr / segmental snr
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_db", [0.0, 10.0, 20.0])
def test_snr_matches_known_noise_variance(target_db: float) -> None:
    rng = np.random.default_rng(5)
    n = 20000
    ref = rng.standard_normal(n)
    p_ref = float(np.mean((ref - ref.mean()) ** 2))
    noise_var = p_ref / 10 ** (target_db / 10)
    est = ref + math.sqrt(noise_var) * rng.standard_normal(n)
    # Tolerance 0.3 dB: the realised noise power over N = 20000 samples has a relative
    # standard error of sqrt(2 / N) = 1 % (0.04 dB), and the fitted gain absorbs the
    # noise's projection on the reference (O(1 / N)); 0.3 dB is ~7 standard errors.
    assert snr(ref, est) == pytest.approx(target_db, abs=0.3)


def test_snr_is_invariant_to_gain_sign_lag_and_dc() -> None:
    rng = np.random.default_rng(6)
    n = 16000
    x = rng.standard_normal(n + 40)
    w = 0.2 * rng.standard_normal(n + 40)
    ref = x[20 : 20 + n]
    plain = x[20 : 20 + n] + w[20 : 20 + n]
    moved = -3.7 * (x[13 : 13 + n] + w[13 : 13 + n]) + 2.0  # lag 7, gain -3.7, DC
    base = snr(ref, plain)
    assert base == pytest.approx(10 * math.log10(1 / 0.04), abs=0.3)
    assert snr(ref, moved) == pytest.approx(base, abs=0.05)  # 7 fewer overlapping samples
    assert snr(ref, 0.01 * plain) == pytest.approx(base, abs=1e-9)


def test_snr_of_perfect_copy_is_infinite() -> None:
    x = np.random.default_rng(7).standard_normal(2000)
    assert snr(x, x) == math.inf


def test_segmental_snr_of_identical_signals_hits_upper_clamp(voice: np.ndarray) -> None:
    assert segmental_snr(voice, voice, rate=RATE) == 35.0
    assert segmental_snr(voice, -2.0 * voice, rate=RATE, clamp=(-5.0, 20.0)) == 20.0


def test_segmental_snr_of_unrelated_noise_hits_lower_clamp(voice: np.ndarray) -> None:
    noise = np.random.default_rng(8).standard_normal(voice.size)
    # the fitted gain is ~0, so every frame's SNR is far below -10 dB
    assert segmental_snr(voice, noise, rate=RATE) < -9.0


def test_segmental_snr_decreases_with_noise_and_silence_skipping_helps(voice: np.ndarray) -> None:
    rng = np.random.default_rng(9)
    noise = rng.standard_normal(voice.size)
    values = [segmental_snr(voice, voice + s * noise, rate=RATE) for s in (0.03, 0.1, 0.3, 1.0)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    # the voice has near-silent troughs; skipping frames 30 dB below the loudest raises the mean
    est = voice + 0.1 * noise
    assert segmental_snr(voice, est, rate=RATE, silence_db=30.0) > segmental_snr(voice, est, rate=RATE)


# --------------------------------------------------------------------------------------
# llr / lsd
# --------------------------------------------------------------------------------------


def test_llr_of_identical_signals_is_zero_and_grows_with_noise(voice: np.ndarray) -> None:
    assert llr(voice, voice, rate=RATE) == pytest.approx(0.0, abs=1e-9)
    noise = np.random.default_rng(10).standard_normal(voice.size)
    values = [llr(voice, voice + s * noise, rate=RATE) for s in (0.03, 0.1, 0.3, 1.0)]
    assert all(0.0 <= v <= 2.0 for v in values)
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    # LPC envelopes ignore gain and sign
    est = voice + 0.1 * noise
    assert llr(voice, -5.0 * est, rate=RATE) == pytest.approx(llr(voice, est, rate=RATE), abs=1e-6)


def test_llr_explicit_order_must_fit_the_frame(voice: np.ndarray) -> None:
    assert llr(voice, voice, rate=RATE, order=4) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ParameterError, match="order"):
        llr(voice, voice, rate=RATE, order=300)  # 30 ms at 8 kHz is 240 samples


def test_log_spectral_distance(voice: np.ndarray) -> None:
    assert log_spectral_distance(voice, voice, rate=RATE) == pytest.approx(0.0, abs=1e-9)
    assert log_spectral_distance(voice, -0.2 * voice, rate=RATE) == pytest.approx(0.0, abs=1e-9)
    noise = np.random.default_rng(11).standard_normal(voice.size)
    values = [log_spectral_distance(voice, voice + s * noise, rate=RATE) for s in (0.03, 0.3, 1.0)]
    assert 0.0 < values[0] < values[1] < values[2]


# --------------------------------------------------------------------------------------
# stoi
# --------------------------------------------------------------------------------------


def test_stoi_of_identical_is_one_and_of_noise_much_lower(voice: np.ndarray) -> None:
    pytest.importorskip("pystoi")
    rng = np.random.default_rng(12)
    noise = rng.standard_normal(voice.size)
    assert stoi(voice, voice, rate=RATE) == pytest.approx(1.0, abs=1e-6)
    values = [stoi(voice, voice + s * noise, rate=RATE) for s in (0.1, 0.5, 2.0)]
    assert 1.0 > values[0] > values[1] > values[2]
    # Extended STOI has no clipping step, so unrelated noise scores ~0 (classic STOI's
    # clipping keeps some envelope correlation even for pure noise).
    assert stoi(voice, voice, rate=RATE, extended=True) == pytest.approx(1.0, abs=1e-6)
    assert abs(stoi(voice, noise, rate=RATE, extended=True)) < 0.2


def test_stoi_aligns_before_scoring(voice: np.ndarray) -> None:
    pystoi = pytest.importorskip("pystoi")
    rng = np.random.default_rng(13)
    n = voice.size - 40
    w = 0.5 * rng.standard_normal(voice.size)
    ref = voice[20 : 20 + n]
    moved = -4.0 * (voice[13 : 13 + n] + w[13 : 13 + n])  # lag 7, gain -4
    expected = pystoi.stoi(ref, ref + w[20 : 20 + n], RATE)
    assert stoi(ref, moved, rate=RATE) == pytest.approx(expected, abs=0.02)


def test_stoi_rejects_too_short_signals() -> None:
    pytest.importorskip("pystoi")
    x = speech_like(np.random.default_rng(14), RATE, 0.3)
    with pytest.raises(ParameterError, match="STOI needs"):
        stoi(x, x, rate=RATE)


def test_missing_pystoi(monkeypatch: pytest.MonkeyPatch, voice: np.ndarray) -> None:
    monkeypatch.setitem(sys.modules, "pystoi", None)  # makes `import pystoi` raise ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "vismic\[stoi\]"'):
        stoi(voice, voice, rate=RATE)
    out = score(voice, voice, rate_reference=RATE, rate_estimate=RATE)
    assert out["stoi"] is None
    assert "vismic[stoi]" in out["stoi_note"]


# --------------------------------------------------------------------------------------
# score
# --------------------------------------------------------------------------------------

KEYS = {
    "lag_samples",
    "lag_fraction",
    "lag_s",
    "gain",
    "sign",
    "correlation",
    "snr_db",
    "segmental_snr_db",
    "llr",
    "stoi",
    "stoi_note",
    "lsd_db",
    "rate",
    "n_samples",
}


def test_score_across_rates(voice: np.ndarray) -> None:
    # The estimate is made with scipy's polyphase resampler (8000 * 11 / 40 = 2200 Hz),
    # independent of the soxr resampling inside score().
    est = -0.4 * scipy.signal.resample_poly(voice, 11, 40)
    out = score(voice, est, rate_reference=RATE, rate_estimate=2200)
    assert set(out) == KEYS
    assert out["correlation"] > 0.99
    assert out["sign"] == -1
    assert out["gain"] == pytest.approx(-0.4, rel=0.02)
    assert out["lag_samples"] == 0
    assert abs(out["lag_s"]) < 0.5 / 2200
    assert out["rate"] == 2200.0
    assert out["n_samples"] == est.size
    assert out["snr_db"] > 15.0
    assert out["llr"] < 0.1
    json.dumps(out)  # plain Python values
    for key in ("gain", "correlation", "snr_db", "segmental_snr_db", "llr", "lsd_db", "lag_s"):
        assert type(out[key]) is float
    if out["stoi"] is not None:
        assert out["stoi"] > 0.9
        assert "8 kHz" in out["stoi_note"]  # below 8 kHz STOI is flagged as not comparable


def test_score_non_integer_rate_and_known_lag() -> None:
    rate_ref, rate_est = 8000.0, 2200.5
    ref = analytic(21, np.arange(int(2 * rate_ref)) / rate_ref, 900.0)
    t_est = np.arange(int(1.8 * rate_est)) / rate_est
    est = 0.05 * analytic(21, t_est - 3 / rate_est, 900.0)  # exactly 3 samples late
    out = score(ref, est, rate_reference=rate_ref, rate_estimate=rate_est)
    assert out["lag_samples"] == 3
    assert out["lag_s"] == pytest.approx(3 / rate_est, abs=0.01 / rate_est)
    assert out["sign"] == 1
    assert out["gain"] == pytest.approx(0.05, rel=0.01)
    assert out["correlation"] > 0.999


def test_score_highpass_removes_drift_the_estimate_cannot_have(voice: np.ndarray) -> None:
    t = np.arange(voice.size) / RATE
    ref = voice + 5.0 * np.sin(2 * np.pi * 2.0 * t)  # a large 2 Hz drift in the truth
    est = scipy.signal.resample_poly(voice, 11, 40)
    raw = score(ref, est, rate_reference=RATE, rate_estimate=2200)
    hp = score(ref, est, rate_reference=RATE, rate_estimate=2200, highpass=60.0)
    assert hp["correlation"] > 0.99
    assert raw["correlation"] < 0.5


def test_score_short_signal_has_no_stoi_but_a_reason() -> None:
    rate = 600.0
    t = np.arange(int(0.2 * rate)) / rate
    x = analytic(30, t, 250.0)
    out = score(x, x, rate_reference=rate, rate_estimate=rate)
    assert out["stoi"] is None
    assert out["stoi_note"]
    assert out["correlation"] == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------

GOOD = np.random.default_rng(99).standard_normal(800)


@pytest.mark.parametrize(
    ("reference", "estimate", "name"),
    [
        (np.array([]), GOOD, "reference"),
        (GOOD, np.array([]), "estimate"),
        (np.r_[GOOD, np.nan], GOOD, "reference"),
        (GOOD, np.r_[GOOD, np.inf], "estimate"),
        (GOOD.reshape(400, 2), GOOD, "reference"),
        (GOOD, np.ones(800), "estimate"),  # constant: no correlation defined
        (GOOD, GOOD + 1j, "estimate"),
        (GOOD, ["a", "b"], "estimate"),
    ],
)
def test_bad_signals_raise(reference: object, estimate: object, name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        align(reference, estimate)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=name):
        score(reference, estimate, rate_reference=8000, rate_estimate=8000)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -8000, float("nan"), float("inf"), "8000", True])
def test_bad_rate_raises(rate: object) -> None:
    for func in (segmental_snr, llr, log_spectral_distance, stoi):
        with pytest.raises(ParameterError, match="rate"):
            func(GOOD, GOOD, rate=rate)  # type: ignore[operator]
    with pytest.raises(ParameterError, match="rate_reference"):
        score(GOOD, GOOD, rate_reference=rate, rate_estimate=8000)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="rate_estimate"):
        score(GOOD, GOOD, rate_reference=8000, rate_estimate=rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: align(GOOD, GOOD, max_lag=-1), "max_lag"),
        (lambda: snr(GOOD, GOOD, max_lag=2.5), "max_lag"),
        (lambda: segmental_snr(GOOD, GOOD, rate=8000, frame_s=0), "frame_s"),
        (lambda: segmental_snr(GOOD, GOOD, rate=8000, frame_s=1.0), "frame_s"),  # longer than signal
        (lambda: segmental_snr(GOOD, GOOD, rate=8000, clamp=(35.0, -10.0)), "clamp"),
        (lambda: segmental_snr(GOOD, GOOD, rate=8000, clamp=5.0), "clamp"),
        (lambda: segmental_snr(GOOD, GOOD, rate=8000, silence_db=-3), "silence_db"),
        (lambda: llr(GOOD, GOOD, rate=8000, order=0), "order"),
        (lambda: log_spectral_distance(GOOD, GOOD, rate=8000, nperseg=5000), "nperseg"),
        (lambda: score(GOOD, GOOD, rate_reference=8000, rate_estimate=8000, highpass=4000), "highpass"),
        (lambda: score(GOOD, GOOD, rate_reference=8000, rate_estimate=8000, highpass=-5), "highpass"),
        (lambda: score(GOOD, GOOD, rate_reference=8000, rate_estimate=8000, max_lag_s=-0.1), "max_lag_s"),
    ],
)
def test_bad_parameters_raise(call: object, name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        call()  # type: ignore[operator]
