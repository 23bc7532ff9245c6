"""Voice report: F0 tracking, gender from F0, speaker count, on speech-like sounds recovered from rendered scenes.

The speech here is made in this file (a source-filter model: jittered glottal pulses along an F0
contour, three formant resonators, syllable envelopes, fricative bursts), so the true F0 is known.
"""

import json
import math
import warnings

import numpy as np
import pytest
import scipy.signal as ss

from vismic import simulate as sim
from vismic.analysis.voice import gender_posterior, pitch_track, voice_report
from vismic.errors import InputError, ParameterError
from vismic.pipeline import RecoveryParams, recover

RATE = 2200.0
SYNTH_RATE = 16000


def synth_voice(f0_centre, *, duration, rate, seed, start=0.05):
    """Speech-like sound at ``rate`` and its true F0 per sample (NaN where unvoiced)."""
    rng = np.random.default_rng(seed)
    fs = SYNTH_RATE
    n = int(duration * fs)
    out = np.zeros(n)
    truth = np.full(n, np.nan)
    t = start
    while t < duration - 0.12:
        d = min(rng.uniform(0.15, 0.30), duration - 0.02 - t)
        i0, i1 = int(t * fs), int((t + d) * fs)
        m = i1 - i0
        tt = np.arange(m) / fs
        # intonation: a random level (+-2 semitones) and a glide (+-2 semitones over the syllable), 1 % jitter
        contour = f0_centre * 2 ** ((rng.uniform(-2, 2) + rng.uniform(-2, 2) * tt / d) / 12)
        contour = contour * (1 + 0.01 * rng.standard_normal(m))
        phase = np.cumsum(contour / fs)
        pulses = np.zeros(m)
        k = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
        pulses[k] = 1 + 0.05 * rng.standard_normal(len(k))
        g = np.diff(ss.lfilter([1.0], [1, -1.9, 0.9025], pulses), prepend=0.0)  # glottal tilt + lip radiation
        y = g
        for f, bw in ((rng.uniform(400, 800), 80), (rng.uniform(900, 2000), 100), (rng.uniform(2300, 2900), 150)):
            r = math.exp(-math.pi * bw / fs)
            a = [1, -2 * r * math.cos(2 * math.pi * f / fs), r * r]
            y = ss.lfilter([sum(a)], a, y)
        out[i0:i1] += y * np.sin(np.pi * np.arange(m) / m) ** 0.5 / (np.std(y) + 1e-12)
        truth[i0:i1] = contour
        t += d
        if rng.random() < 0.4 and int((t + 0.05) * fs) < n:  # an unvoiced fricative
            j0, m2 = int(t * fs), int(0.05 * fs)
            burst = ss.lfilter(*ss.butter(2, 3000, "high", fs=fs), rng.standard_normal(m2))
            out[j0 : j0 + m2] += 0.3 * burst * np.hanning(m2)
            t += 0.05
        t += rng.uniform(0.06, 0.15)
    up, down = int(round(rate)), fs
    g = math.gcd(up, down)
    x = ss.resample_poly(out, up // g, down // g)
    f0 = truth[np.minimum((np.arange(len(x)) * fs / rate).astype(int), n - 1)]
    return x, f0


def _recovered(sound, *, rms, tmp_path, name, seed=0):
    tex = sim.make_texture("pink", (80, 80), seed=seed)
    scene = sim.Scene(texture=tex, sound=sound, rate=RATE, rms_px=rms, shape=(48, 48), noise_sigma=2.0, seed=seed)
    path = tmp_path / f"{name}.npy"
    np.save(path, np.concatenate(list(scene.frames(batch=512))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a low-SNR scene warns that the result is mostly noise
        return recover(path, RecoveryParams(fps=RATE))


@pytest.mark.parametrize("rate", [RATE, 44100.0])
@pytest.mark.parametrize("centre", [115.0, 210.0])
def test_pitch_track_follows_the_true_f0(rate, centre):
    x, truth = synth_voice(centre, duration=1.5, rate=rate, seed=3)
    tr = pitch_track(x, rate=rate)
    true_at = truth[np.minimum((tr.times * rate).astype(int), len(truth) - 1)]
    # frames well inside a syllable (the window is 25 ms): voiced in truth 20 ms either side
    inside = np.isfinite(true_at)
    for shift in (-0.02, 0.02):
        inside &= np.isfinite(truth[np.clip(((tr.times + shift) * rate).astype(int), 0, len(truth) - 1)])
    both = inside & tr.voiced
    assert both.sum() >= 0.8 * inside.sum(), f"voiced {both.sum()} of {inside.sum()} frames inside syllables"
    err = np.abs(tr.f0[both] / true_at[both] - 1)
    # 1 % jitter per sample, averaged over a 25 ms window against the contour at the frame centre
    assert np.median(err) < 0.015 and np.percentile(err, 95) < 0.05, (np.median(err), np.percentile(err, 95))
    false_voiced = tr.voiced & ~np.isfinite(true_at)
    assert false_voiced.sum() <= 0.1 * (~np.isfinite(true_at)).sum()


def test_same_answer_at_capture_rate_and_listening_rate():
    x, _ = synth_voice(120, duration=1.5, rate=RATE, seed=4)
    import soxr

    y = soxr.resample(x, RATE, 44100)
    a, b = voice_report(x, rate=RATE), voice_report(y, rate=44100)
    assert abs(a.median_f0_hz / b.median_f0_hz - 1) < 0.01, (a.median_f0_hz, b.median_f0_hz)
    assert a.gender == b.gender == "male"


def test_gender_model_is_the_stated_logistic():
    assert gender_posterior(158.7) == pytest.approx(0.5, abs=0.01)
    assert gender_posterior(120.0) < 0.01 and gender_posterior(210.0) > 0.99
    # monotone in F0
    p = [gender_posterior(f) for f in (90, 130, 150, 170, 190, 250)]
    assert all(b > a for a, b in zip(p, p[1:], strict=False))


@pytest.fixture(scope="module")
def male_scene(tmp_path_factory):
    x, _ = synth_voice(115, duration=1.6, rate=RATE, seed=1)
    return _recovered(x, rms=0.005, tmp_path=tmp_path_factory.mktemp("male"), name="male")


def test_male_speech_recovered_from_video(male_scene):
    rec = male_scene
    v = voice_report(rec.audio, rate=rec.rate)
    assert v.gender == "male" and v.gender_confidence >= 0.8, v.to_dict(track=False)
    assert 105 < v.median_f0_hz < 125
    assert v.speakers["count"] == 1
    assert 0.3 < v.voiced_fraction < 0.8


def test_female_speech_recovered_from_video(tmp_path):
    x, _ = synth_voice(210, duration=1.6, rate=RATE, seed=2)
    rec = _recovered(x, rms=0.005, tmp_path=tmp_path, name="female")
    v = voice_report(rec.audio, rate=rec.rate)
    assert v.gender == "female" and v.gender_confidence >= 0.8, v.to_dict(track=False)
    assert 195 < v.median_f0_hz < 225
    assert v.speakers["count"] == 1


def test_two_alternating_speakers_of_different_pitch(tmp_path):
    parts = [synth_voice(f, duration=0.7, rate=RATE, seed=10 + i)[0] for i, f in enumerate((110, 220, 110, 220))]
    rec = _recovered(np.concatenate(parts), rms=0.01, tmp_path=tmp_path, name="two")
    v = voice_report(rec.audio, rate=rec.rate)
    spk = v.speakers
    assert spk["count"] == 2, spk
    low, high = spk["groups"]
    assert 100 < low["median_f0_hz"] < 125 and 200 < high["median_f0_hz"] < 240, spk["groups"]
    assert low["gender"] == "male" and high["gender"] == "female"
    assert 0.3 < low["share"] < 0.7
    # both genders present: no single label
    assert v.gender == "unknown" and any("both genders" in n for n in v.notes)


def test_noise_gives_unknown_not_a_confident_guess(tmp_path):
    noise = sim.builtin_sound("noise", rate=RATE, duration=1.2, seed=5)
    rec = _recovered(noise, rms=0.01, tmp_path=tmp_path, name="noise")
    v = voice_report(rec.audio, rate=rec.rate)
    assert v.gender == "unknown" and v.gender_confidence == 0.0, v.to_dict(track=False)
    assert v.speakers["count"] == "unknown"
    assert v.voiced_fraction < 0.05
    # speech at a motion far below what the core recovers (SNR ~0 dB): unknown, never a wrong label
    x, _ = synth_voice(210, duration=1.5, rate=RATE, seed=6)
    rec = _recovered(x, rms=0.0005, tmp_path=tmp_path, name="faint")
    v = voice_report(rec.audio, rate=rec.rate)
    assert v.gender == "unknown", v.to_dict(track=False)


def test_white_noise_is_never_labelled():
    for seed in range(8):
        x = np.random.default_rng(seed).standard_normal(int(3 * RATE))
        v = voice_report(x, rate=RATE)
        assert v.gender == "unknown" and v.speakers["count"] == "unknown", (seed, v.to_dict(track=False))


def test_steady_hum_is_not_a_voice():
    t = np.arange(int(2 * RATE)) / RATE
    hum = np.sin(2 * np.pi * 120 * t) + 0.5 * np.sin(2 * np.pi * 240 * t) + 0.3 * np.sin(2 * np.pi * 360 * t)
    v = voice_report(hum + 0.01 * np.random.default_rng(0).standard_normal(len(t)), rate=RATE)
    assert v.median_f0_hz == pytest.approx(120, rel=0.01)
    assert v.gender == "unknown" and any("steady" in n for n in v.notes)
    assert v.speakers["count"] == "unknown"


def test_report_serialises_and_short_input_is_unknown():
    x, _ = synth_voice(115, duration=1.0, rate=RATE, seed=7)
    d = voice_report(x, rate=RATE).to_dict()
    text = json.dumps(d)  # plain JSON: no NaN, no numpy types
    assert "NaN" not in text
    assert len(d["f0_hz"]) == len(d["times_s"]) > 50
    assert d["gender_model"]["male_centre_hz"] == 120.0
    short = voice_report(x[:20], rate=RATE)
    assert short.gender == "unknown" and short.voiced_fraction == 0.0 and len(short.f0) == 0


def test_bad_input():
    with pytest.raises(InputError):
        voice_report(np.array([0.0, np.nan, 1.0] * 100), rate=RATE)
    with pytest.raises(InputError):
        voice_report(np.zeros((10, 2)), rate=RATE)
    with pytest.raises(ParameterError):
        voice_report(np.zeros(1000), rate=0)
    with pytest.raises(ParameterError, match="too low"):
        voice_report(np.zeros(1000), rate=150.0)
    with pytest.raises(ParameterError):
        pitch_track(np.zeros(1000), rate=RATE, fmin=300, fmax=100)
