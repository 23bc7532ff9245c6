"""Rolling-shutter recovery: timing, camera table, per-row motion, gap filling, calibration, CLI glue.

The truth comes from :class:`vismic.simulate.RollingShutterScene`, whose timing and exposure
integration are written independently of :mod:`vismic.rolling_shutter`. Scenes are scaled-down
versions of real cameras: the same fraction of each frame period read out (70 % for the Pentax
K-01, ~43 % for a phone at 30 fps) with fewer rows, so every test stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import soxr

from vismic import rolling_shutter as rs
from vismic import simulate as sim
from vismic.cli import rolling as rscli
from vismic.denoise import highpass
from vismic.errors import InputError, ParameterError, VismicError
from vismic.metrics import correlation
from vismic.pipeline import RecoveryParams, recover, save

SOUND_RATE = 40_000.0
PENTAX_FPS = 59.94
ROWS = 120
COLS = 64
#: Pentax K-01 timing scaled to 120 rows: 720 of 1033 row slots per period are read (70 %).
PENTAX_D = 1 / PENTAX_FPS / 172
PENTAX_E = 1 / 2000


def speechlike(duration: float, rate: float = SOUND_RATE, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like test sound: a glottal pulse train (f0 gliding 110-170 Hz) through two formants,
    syllable envelopes, band-limited to 2 kHz. Made here, not by the code under test."""
    from scipy.signal import lfilter

    n = int(round(duration * rate))
    t = np.arange(n) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = np.cumsum(f0) / rate
    pulses = np.diff(np.floor(phase), prepend=0.0)
    x = pulses.astype(np.float64)
    for fc, bw in ((600.0, 90.0), (1300.0, 120.0)):
        r = math.exp(-math.pi * bw / rate)
        x = lfilter([1 - r], [1, -2 * r * math.cos(2 * math.pi * fc / rate), r * r], x)
    x *= 0.5 - 0.5 * np.cos(2 * np.pi * 2.5 * t)  # syllables
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1 / rate)
    spec[(f > 2000) | (f < 60)] = 0
    return np.fft.irfft(spec, n)


def scene(sound, *, fps=PENTAX_FPS, line_delay=PENTAX_D, exposure=PENTAX_E, rows=ROWS, cols=COLS, seed=0, **kw):
    tex = sim.make_texture("pink", (rows + 16, cols + 16), seed=seed)
    kw.setdefault("rms_px", 0.05)
    kw.setdefault("noise_sigma", 2.0)
    return sim.RollingShutterScene(texture=tex, sound=sound, sound_rate=SOUND_RATE, fps=fps, line_delay=line_delay,
                                   exposure=exposure, shape=(rows, cols), seed=seed, **kw)


def save_frames(sc, path) -> str:
    np.save(path, np.concatenate(list(sc.frames(batch=32))))
    return str(path)


def truth_of(sc, rec, *, exposed=False):
    """The true displacement at the recovered samples' instants, high-passed like the output."""
    t = sc.start_time + rec.diagnostics["time_of_first_sample_s"] + np.arange(len(rec.audio)) / rec.rate
    return highpass(sc.truth_at(t, exposed=exposed), rate=rec.rate, cutoff=rec.params.highpass)


def spectrum(x, rate):
    n = len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(n), 8 * n))
    return np.fft.rfftfreq(8 * n, 1 / rate), spec


@pytest.fixture(scope="module")
def tone_video(tmp_path_factory):
    sc = scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=2.0, freq=300.0))
    return sc, save_frames(sc, tmp_path_factory.mktemp("rs") / "tone.npy")


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory):
    sc = scene(speechlike(2.0), seed=1)
    return sc, save_frames(sc, tmp_path_factory.mktemp("rs") / "speech.npy")


# ----------------------------------------------------------------------------- timing


def test_pentax_timing_facts():
    t = rs.RowTiming(59.94, 16.15e-6, 720, 1 / 2000)
    assert t.rows_per_period == pytest.approx(1033.0, abs=0.5)
    assert t.gap == pytest.approx(5.055e-3, abs=5e-6)  # the table's 5.055 ms
    assert t.missing_fraction == pytest.approx(0.303, abs=0.001)
    assert t.effective_rate == pytest.approx(61_920, rel=1e-4)
    assert t.describe()["readout_time_s"] == pytest.approx(11.628e-3, rel=1e-4)


@pytest.mark.parametrize("readout", ["down", "up"])
def test_row_times_agree_with_the_independent_simulator(readout):
    sc = scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=0.3, freq=300.0), readout=readout,
               start_time=0.01)
    t = rs.RowTiming(sc.fps, sc.line_delay, ROWS, sc.exposure, readout)
    ours = rs.row_times(t, sc.n_frames) + sc.start_time
    np.testing.assert_allclose(ours, sc.row_times(), rtol=0, atol=1e-12,
                               err_msg="estimator and simulator disagree on when rows are exposed")
    sub = rs.row_times(t, [2, 5], rows=[0, 7, ROWS - 1]) + sc.start_time
    np.testing.assert_allclose(sub, sc.row_times()[np.ix_([2, 5], [0, 7, ROWS - 1])], atol=1e-12)


def test_timing_validation_names_parameter_value_and_fix():
    with pytest.raises(ParameterError, match=r"line_delay=.*does not fit the frame period.*at most"):
        rs.RowTiming(59.94, 30e-6, 720)  # 21.6 ms of readout > 16.7 ms
    with pytest.raises(ParameterError, match="readout='sideways'"):
        rs.RowTiming(30, 20e-6, 720, readout="sideways")
    with pytest.raises(ParameterError, match="exposure=0.1 s is longer than the frame period"):
        rs.RowTiming(30, 20e-6, 720, exposure=0.1)
    with pytest.raises(ParameterError, match="line_delay=-1"):
        rs.RowTiming(30, -1, 720)
    # published values are rounded: the GoPro HERO8 at 240 fps reads out 0.08 % longer than its period
    gopro = rs.find_camera("gopro-hero8-black")
    t = rs.RowTiming(gopro.fps, gopro.line_delay, gopro.height)
    assert t.gap == 0.0


def test_parse_seconds():
    assert rs.parse_seconds("1/2000") == pytest.approx(5e-4)
    assert rs.parse_seconds("1/2000 s") == pytest.approx(5e-4)
    assert rs.parse_seconds("500us") == pytest.approx(5e-4)
    assert rs.parse_seconds("16.15e-6") == pytest.approx(16.15e-6)
    with pytest.raises(ParameterError, match="not a time"):
        rs.parse_seconds("fast")


# ----------------------------------------------------------------------------- camera table


def test_camera_table_ships_with_sources():
    table = rs.camera_table()
    assert len(table) > 100
    assert all(c.source.strip() for c in table), "every camera needs its source"
    pentax = rs.find_camera("pentax-k-01")
    assert pentax.line_delay == pytest.approx(16.15e-6)
    assert pentax.exposure == pytest.approx(1 / 2000)
    assert pentax.height == 720 and pentax.fps == 59.94
    assert "Davis" in pentax.source


def test_find_camera_narrows_modes_and_suggests_close_names():
    r5 = rs.find_camera("Canon R5", fps=59.94, rows=1080)
    assert r5.mode == "1080 60p"
    assert rs.find_camera("canon-r5-4k-30p").height == 2160
    with pytest.raises(ParameterError, match="has 4 modes"):
        rs.find_camera("Canon R5")
    with pytest.raises(ParameterError, match=r"unknown camera 'pentax k1' \(close matches: pentax-k-01"):
        rs.find_camera("pentax k1")
    with pytest.raises(ParameterError, match="no close match"):
        rs.find_camera("zzzz qqqq")


# ----------------------------------------------------------------------------- simulator


def test_rolling_shutter_scene_integrates_each_rows_exposure_exactly():
    sc = scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=0.2, freq=700.0), rows=24, cols=32,
               rms_px=0.2, exposure=1 / 1500, noise_sigma=0.0)
    frame = next(sc.clean_frames(start=3, stop=4))[0]
    # brute force: average many exact Fourier shifts over row 10's exposure window (trapezoid rule)
    tex = sc.mean + sc.contrast * (sc.texture - 0.5)
    big_r, big_c = tex.shape
    spec = np.fft.rfft2(tex)
    spec[big_r // 2, :] = 0
    spec[:, big_c // 2] = 0
    kx = 2 * np.pi * np.fft.rfftfreq(big_c)[None, :]
    start = sc.row_starts()[3, 10]
    ts = start + np.linspace(0, sc.exposure, 1601)
    w = np.full(ts.size, 1.0)
    w[[0, -1]] = 0.5
    w /= w.sum()
    acc = sum(wi * np.fft.irfft2(spec * np.exp(-1j * kx * sc.truth_at(ti)), s=tex.shape)
              for ti, wi in zip(ts, w, strict=True))
    r0, c0 = (big_r - 24) // 2, (big_c - 32) // 2
    err = np.abs(acc[r0 + 10, c0 : c0 + 32] - frame[10]).max()
    assert err < 1e-6, f"row differs from the brute-force exposure integral by {err:.2e}"


def test_rolling_shutter_scene_validation():
    snd = sim.builtin_sound("tone", rate=SOUND_RATE, duration=0.2, freq=300.0)
    with pytest.raises(ParameterError, match="line_delay=.*longer than the frame period"):
        scene(snd, line_delay=1 / 59.94 / 100)  # 120 rows x T/100
    with pytest.raises(ParameterError, match="too short for 2 frames"):
        scene(snd[:100])
    with pytest.raises(ParameterError, match="readout='left'"):
        scene(snd, readout="left")
    with pytest.raises(ParameterError, match="n_frames=99 needs more sound"):
        scene(snd, n_frames=99)


def test_flicker_films_as_stripes_at_the_line_rate():
    f = 700.0
    sc = scene(np.ones(8000), rms_px=0.0, flicker=0.05, flicker_hz=f, noise_sigma=0.0, exposure=0.0, n_frames=2)
    prof = next(sc.clean_frames())[0].mean(axis=1)
    # stripes: the row means follow 1 + 0.05 sin(2 pi f t_row)
    rest = next(scene(np.ones(8000), rms_px=0.0, noise_sigma=0.0, exposure=0.0, n_frames=2).clean_frames())[0]
    gain = prof / rest.mean(axis=1)
    expect = 1 + 0.05 * np.sin(2 * np.pi * f * sc.row_times()[0])
    np.testing.assert_allclose(gain, expect, atol=1e-9)


# ----------------------------------------------------------------------------- per-row motion


def test_per_row_motion_matches_the_truth_at_each_rows_instant():
    sc = scene(speechlike(0.5), noise_sigma=0.0, exposure=0.0, rms_px=0.05)
    frames = np.concatenate(list(sc.frames(batch=16))).astype(np.float32) / 255
    est = rs.RowMotionEstimator((ROWS, COLS), direction="x")
    inc = np.concatenate([est.process(frames[i : i + 7]) for i in range(0, len(frames), 7)])  # odd batches
    rows = rs.row_signals(inc, est.channels, est.information)
    got = rows.displacement[:, 0] + 0.0  # left half, pixels
    truth = sc.truth_at(sc.row_times())
    truth -= truth.mean(axis=0)
    rel = np.sqrt(np.mean((got - truth) ** 2) / np.mean(truth**2))
    assert rel < 0.1, f"per-row displacement error {rel:.3f} of the motion (8-bit quantisation only)"
    gain = float(np.sum(got * truth) / np.sum(truth * truth))
    assert gain == pytest.approx(1.0, abs=0.05), "displacements are in pixels"


def test_row_noise_is_measured_from_the_two_halves():
    sc = scene(speechlike(0.6), noise_sigma=3.0)
    frames = np.concatenate(list(sc.frames())).astype(np.float32) / 255
    est = rs.RowMotionEstimator((ROWS, COLS), direction="x")
    rows = rs.row_signals(est.process(frames), est.channels, est.information)
    truth = sc.truth_at(sc.row_times(), exposed=True)
    truth -= truth.mean(axis=0)
    err = np.var(rows.displacement[:, 0] - truth, axis=0)
    ratio = np.median(rows.noise[0] / err)
    assert 0.6 < ratio < 1.6, f"measured row noise is {ratio:.2f} x the true error variance"


@pytest.mark.parametrize(("angle", "axis"), [(90.0, 90.0), (35.0, 35.0)])
def test_vertical_and_oblique_motion(tmp_path, angle, axis):
    sc = scene(speechlike(1.2), direction_deg=angle, seed=2)
    rec = rs.recover_rolling_shutter(save_frames(sc, tmp_path / "v.npy"),
                                     rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay,
                                                             exposure=sc.exposure))
    assert correlation(truth_of(sc, rec, exposed=True), rec.audio, max_lag=0) > 0.9
    off = (rec.diagnostics["motion_direction_deg"] - axis + 90) % 180 - 90  # an axis: 90 == -90
    assert abs(off) < 8


# ----------------------------------------------------------------------------- gap filling and exposure


def test_ar_fill_continues_a_tone_across_long_gaps_and_never_leaves_zeros():
    rate, n = 5000.0, 6000
    t = np.arange(n) / rate
    x = np.sin(2 * np.pi * 310 * t + 0.3) + 0.5 * np.sin(2 * np.pi * 770 * t)
    period = 84
    observed = (np.arange(n) % period) < 58  # 31 % missing, as the Pentax K-01
    filled = rs.ar_fill(np.where(observed, x, 123.0), observed, order=40, context=3 * period)
    err = np.sqrt(np.mean((filled - x)[~observed] ** 2))  # the last gap has little context on its right
    assert err < 5e-3, f"tone fill RMS error {err:.2e} (amplitude 1)"
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(n)
    filled = rs.ar_fill(noise, observed, order=20, context=3 * period)
    assert np.all(np.isfinite(filled)) and np.std(filled[~observed]) > 0.05


def test_exposure_box_filter_report_and_equalisation():
    e = 1 / 2000
    assert rs.exposure_response([0.0, 2000.0], e) == pytest.approx([1.0, 0.0], abs=1e-12)
    assert 20 * np.log10(rs.exposure_response([1000.0], e)[0]) == pytest.approx(-3.92, abs=0.01)
    rep = rs.exposure_report(e, 2000.0)
    assert rep["first_null_hz"] == pytest.approx(2000.0)
    rate = 8000.0
    t = np.arange(16000) / rate
    blurred = rs.exposure_response([1000.0], e)[0] * np.sin(2 * np.pi * 1000 * t)
    eq = rs.equalize_exposure(blurred, rate=rate, exposure=e)
    assert np.std(eq[2000:-2000]) == pytest.approx(np.sqrt(0.5), rel=0.01)
    with pytest.raises(ParameterError, match="exposure="):
        rs.equalize_exposure(blurred, rate=rate, exposure=0.0)


# ----------------------------------------------------------------------------- end to end


def test_tone_at_five_times_the_frame_rate(tone_video):
    sc, path = tone_video
    rec = rs.recover_rolling_shutter(path, rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay,
                                                                    exposure=sc.exposure))
    assert rec.rate == pytest.approx(1 / sc.line_delay), "WAV at the effective rate 1/d"
    f, spec = spectrum(rec.audio, rec.rate)
    peak = f[np.argmax(spec)]
    assert abs(peak - 300.0) < 1.0, f"tone at {peak:.2f} Hz"
    others = (np.abs(f - peak) > 10) & (f > 20)
    alias_db = 20 * np.log10(spec[others].max() / spec.max())
    assert alias_db < -20, f"strongest alias / line is only {alias_db:.1f} dB below the tone"
    d = rec.diagnostics
    assert d["filled_fraction"] == pytest.approx(0.3, abs=0.04)
    assert d["exposure"]["first_null_hz"] == pytest.approx(2000.0)
    assert d["line_delay_check"]["flagged"] is False


def test_speech_like_sound_beats_one_sample_per_frame(speech_video, tmp_path):
    sc, path = speech_video
    rec = rs.recover_rolling_shutter(path, rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay,
                                                                    exposure=sc.exposure))
    truth = truth_of(sc, rec)
    rho = correlation(truth, rec.audio, max_lag=0)  # exact timing: no lag search needed
    assert rho > 0.85, f"correlation {rho:.3f} with the true sound"
    naive = recover(path, RecoveryParams(fps=sc.fps))  # the global-shutter answer: one sample per frame
    up = soxr.resample(naive.audio, sc.fps, rec.rate)
    t = np.arange(len(up)) / rec.rate
    rho_naive = correlation(highpass(sc.truth_at(t), rate=rec.rate, cutoff=20), up, max_lag=int(0.02 * rec.rate))
    assert rho_naive < 0.3 and rho > rho_naive + 0.5, (rho, rho_naive)


def test_phone_timing_recovers(tmp_path):
    # 30 fps, 20.85 us/line, 720 rows (iPhone 6S): 45 % of each period read out, 55 % filled
    fps = 30.0
    d = 1 / fps / (ROWS / 0.45)
    sc = scene(speechlike(2.4, seed=3), fps=fps, line_delay=d, exposure=1 / 1000, seed=3)
    rec = rs.recover_rolling_shutter(save_frames(sc, tmp_path / "phone.npy"),
                                     rs.RollingShutterParams(fps=fps, line_delay=d, exposure=1 / 1000))
    assert rec.diagnostics["filled_fraction"] == pytest.approx(0.55, abs=0.05)
    rho = correlation(truth_of(sc, rec), rec.audio, max_lag=0)
    assert rho > 0.6, f"phone-timing correlation {rho:.3f}"


def test_bottom_to_top_readout_and_roi_offset(tmp_path):
    sc = scene(speechlike(1.2, seed=4), readout="up", seed=4)
    path = save_frames(sc, tmp_path / "up.npy")
    params = rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay, exposure=sc.exposure, readout="up",
                                     roi=(4, 10, 56, 104))
    rec = rs.recover_rolling_shutter(path, params)
    assert correlation(truth_of(sc, rec, exposed=True), rec.audio, max_lag=0) > 0.9


def test_tone_at_an_exact_multiple_of_the_frame_rate_is_unobservable(tmp_path):
    # every frame is identical: no method can hear it; the output says so instead of inventing a signal
    sc = scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=1.2, freq=300.0), fps=60.0,
               line_delay=1 / 60 / 172)
    frames = np.concatenate(list(sc.clean_frames()))
    assert np.abs(np.diff(frames, axis=0)).max() < 1e-9
    with pytest.warns(UserWarning, match="estimated SNR"):
        rec = rs.recover_rolling_shutter(save_frames(sc, tmp_path / "s.npy"),
                                         rs.RollingShutterParams(fps=60.0, line_delay=sc.line_delay))
    assert rec.diagnostics["estimated_snr_db"] < 0


def test_outputs_wav_listen_copy_and_sidecar(tone_video, tmp_path):
    import soundfile as sf

    sc, path = tone_video
    params = rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay, exposure=sc.exposure, rate=16000.0)
    rec = rs.recover_rolling_shutter(path, params)
    paths = save(rec, str(tmp_path / "out.wav"))
    info = sf.info(paths["wav"])
    assert info.samplerate == 16000
    with open(paths["json"]) as fh:
        side = json.load(fh)
    assert side["params"]["rolling_shutter"] is True
    assert side["diagnostics"]["timing"]["line_delay_s"] == pytest.approx(sc.line_delay)
    assert side["diagnostics"]["exposure"]["first_null_hz"] == pytest.approx(2000.0)
    assert rs.RollingShutterParams.from_dict(side["params"]) == rec.params
    assert rs.RollingShutterParams.from_json(rec.params.to_json()) == rec.params


# ----------------------------------------------------------------------------- calibration, wrong line delay


@pytest.mark.parametrize(("readout", "flicker_hz"), [("down", 100.0), ("up", 700.0)])
def test_flicker_calibration_measures_line_delay_and_readout(tmp_path, readout, flicker_hz):
    sc = scene(np.ones(20000), rms_px=0.0, flicker=0.05, flicker_hz=flicker_hz, readout=readout, n_frames=30)
    cal = rs.calibrate_flicker(save_frames(sc, tmp_path / "f.npy"), fps=sc.fps, flicker_hz=flicker_hz)
    assert cal.line_delay == pytest.approx(sc.line_delay, rel=2e-3)
    assert abs(cal.line_delay - sc.line_delay) < 5 * cal.line_delay_std + 1e-4 * sc.line_delay
    assert cal.readout == readout


def test_wrong_line_delay_is_detected_by_calibration(tmp_path):
    sc = scene(np.ones(20000), rms_px=0.0, flicker=0.05, flicker_hz=700.0, n_frames=30)
    cal = rs.calibrate_flicker(save_frames(sc, tmp_path / "f.npy"), fps=sc.fps, flicker_hz=700.0)
    assert rs.check_line_delay(cal, sc.line_delay)["consistent"]
    for wrong in (1.1, 0.9):
        check = rs.check_line_delay(cal, sc.line_delay * wrong)
        assert not check["consistent"] and "MISMATCH" in check["message"]


def test_tone_calibration(tmp_path):
    sc = scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=1.2, freq=1000.0), exposure=1 / 4000)
    cal = rs.calibrate_tone(save_frames(sc, tmp_path / "t.npy"), fps=sc.fps, tone_hz=1000.0)
    assert cal.line_delay == pytest.approx(sc.line_delay, rel=3e-3)
    assert cal.readout == "down"


def test_wrong_line_delay_is_flagged_during_recovery(speech_video):
    sc, path = speech_video
    for wrong in (1.1, 0.9):
        params = rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay * wrong, exposure=sc.exposure)
        with pytest.warns(UserWarning, match="looks wrong"):
            rec = rs.recover_rolling_shutter(path, params)
        check = rec.diagnostics["line_delay_check"]
        assert check["flagged"]
        assert check["estimated_line_delay_s"] == pytest.approx(sc.line_delay, rel=0.02)
    with pytest.warns(UserWarning, match="readout direction looks reversed"):
        rs.recover_rolling_shutter(path, rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay,
                                                                  readout="up"))


def test_blind_calibration_finds_the_line_delay(speech_video):
    sc, path = speech_video
    prior = rs.RowTiming(sc.fps, sc.line_delay * 1.15, ROWS)
    cal = rs.calibrate_blind(path, timing=prior)
    assert cal.line_delay == pytest.approx(sc.line_delay, rel=0.01)


# ----------------------------------------------------------------------------- bad input


def test_parameter_errors():
    with pytest.raises(ParameterError, match="needs the line delay: give --camera NAME or --line-delay"):
        rs.RollingShutterParams(fps=59.94)
    with pytest.raises(ParameterError, match=r"unknown camera 'nikon z99' \(close matches: nikon-z9"):
        rs.RollingShutterParams(fps=59.94, camera="nikon z99")
    with pytest.raises(ParameterError, match="direction="):
        rs.RollingShutterParams(line_delay=1e-5, direction="diagonal")
    params = rs.RollingShutterParams(fps=59.94, line_delay=30e-6)
    with pytest.raises(ParameterError, match="does not fit the frame period"):
        params.timing(720)


def test_line_delay_too_long_for_the_video_fails_before_reading(tone_video):
    sc, path = tone_video
    with pytest.raises(ParameterError, match=r"line_delay=.* does not fit the frame period"):
        rs.recover_rolling_shutter(path, rs.RollingShutterParams(fps=sc.fps, line_delay=2e-4))


def test_camera_preset_is_scaled_to_the_videos_rows():
    params = rs.RollingShutterParams(fps=59.94, camera="pentax-k-01")
    timing, info = params.timing(360, 640)  # a half-size copy of the 1280x720 video
    assert timing.line_delay == pytest.approx(2 * 16.15e-6, rel=1e-3)
    assert timing.exposure == pytest.approx(1 / 2000)
    assert any("scaled" in n for n in info["notes"])


# ----------------------------------------------------------------------------- CLI glue (vismic.cli.rolling)


def _parser():
    from vismic import cli

    return cli.build_parser()


def test_cli_recover_writes_outputs(tone_video, tmp_path, capsys):
    sc, path = tone_video
    out = tmp_path / "o.wav"
    args = _parser().parse_args(["recover", path, "-o", str(out), "--fps", "59.94", "--rolling-shutter",
                                 "--line-delay", repr(sc.line_delay), "--exposure", "1/2000", "--quiet"])
    assert rscli.recover_main(args) == 0
    assert out.exists() and (tmp_path / "o.listen.wav").exists() and (tmp_path / "o.json").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--rolling-shutter"], "needs the line delay"),
    (["--line-delay", "1e-5"], "--line-delay applies only to rolling-shutter video: add --rolling-shutter"),
    (["--rolling-shutter", "--camera", "pentax k1"], "close matches: pentax-k-01"),
    (["--rolling-shutter", "--line-delay", "2e-4"], "does not fit the frame period"),
])
def test_cli_bad_rolling_shutter_options(tone_video, tmp_path, argv, message):
    _, path = tone_video
    args = _parser().parse_args(["recover", path, "-o", str(tmp_path / "x.wav"), "--fps", "59.94", *argv])
    with pytest.raises(VismicError, match=message):
        rscli.recover_main(args)
    assert not (tmp_path / "x.wav").exists()


def test_cli_calibrate_flags_mismatch(tmp_path, capsys):
    sc = scene(np.ones(20000), rms_px=0.0, flicker=0.05, flicker_hz=700.0, n_frames=30)
    path = save_frames(sc, tmp_path / "f.npy")
    p = _parser()
    ok = p.parse_args(["calibrate", path, "--fps", "59.94", "--flicker-hz", "700", "--line-delay",
                       repr(sc.line_delay), "--json"])
    assert rscli.calibrate_main(ok) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["check"]["consistent"] and res["line_delay"] == pytest.approx(sc.line_delay, rel=2e-3)
    bad = p.parse_args(["calibrate", path, "--fps", "59.94", "--flicker-hz", "700", "--line-delay",
                        repr(1.1 * sc.line_delay)])
    with pytest.warns(UserWarning, match="MISMATCH"):
        assert rscli.calibrate_main(bad) == 1
    with pytest.raises(ParameterError, match="--flicker-hz HZ"):
        rscli.calibrate_main(p.parse_args(["calibrate", path, "--fps", "59.94"]))
    assert rscli.calibrate_main(p.parse_args(["calibrate", "--list-cameras"])) == 0
    assert "pentax-k-01-720p60" in capsys.readouterr().out


def test_cli_main_wiring(tone_video, tmp_path, capsys):
    from vismic import cli

    sc, path = tone_video
    assert cli.main(["recover", path, "-o", str(tmp_path / "w.wav"), "--fps", "59.94", "--rolling-shutter",
                     "--camera", "pentax k1"]) == 2
    assert "close matches" in capsys.readouterr().err
    assert cli.main(["recover", path, "-o", str(tmp_path / "w.wav"), "--fps", "59.94", "--rolling-shutter",
                     "--line-delay", repr(sc.line_delay), "--quiet"]) == 0


def test_too_few_frames(tmp_path):
    sc = scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=0.2, freq=300.0), n_frames=5)
    with pytest.raises(InputError, match="at least 8"):
        rs.recover_rolling_shutter(save_frames(sc, tmp_path / "s.npy"),
                                   rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay))


@pytest.mark.slow
def test_full_pentax_timing_tone_and_speech(tmp_path):
    """The issue's figures at the real Pentax K-01 timing (720 rows, 59.94 fps, 16.15 us, 1/2000 s)."""
    cam = rs.find_camera("pentax-k-01")
    kw = dict(fps=cam.fps, line_delay=cam.line_delay, exposure=cam.exposure, rows=cam.height, cols=64)
    tone = scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=2.0, freq=300.0), **kw)
    rec = rs.recover_rolling_shutter(save_frames(tone, tmp_path / "t.npy"),
                                     rs.RollingShutterParams(fps=cam.fps, camera="pentax-k-01"))
    f, spec = spectrum(rec.audio, rec.rate)
    peak = f[np.argmax(spec)]
    assert abs(peak - 300) < 1
    assert 20 * np.log10(spec[(np.abs(f - peak) > 10) & (f > 20)].max() / spec.max()) < -20
    sp = scene(speechlike(2.0, seed=5), seed=5, **kw)
    rec = rs.recover_rolling_shutter(save_frames(sp, tmp_path / "s.npy"),
                                     rs.RollingShutterParams(fps=cam.fps, camera="pentax-k-01"))
    assert correlation(truth_of(sp, rec), rec.audio, max_lag=0) > 0.8
    assert not rec.diagnostics["line_delay_check"]["flagged"]


# ----------------------------------------------------------------------------- real scenes: still background,
# lens blur, weak texture (the failure modes of issue 14)


def segment_demean(x, starts):
    """Remove the mean over each reference segment (what the estimator cannot see), in place."""
    edges = [*starts, len(x)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        x[a:b] -= x[a:b].mean(axis=0)


def natural(shape, seed, blur=1.2):
    """A natural-looking texture: pink noise through a lens blur (the finest octave mostly gone)."""
    return sim.blur_texture(sim.make_texture("pink", shape, seed=seed), blur)


def partial_scene(sound, *, rows=ROWS, cols=COLS, cover=(0.2, 0.8), seed=5, **kw):
    """The object covers the middle rows, a still textured background the rest."""
    shp = (rows + 16, cols + 16)
    kw.setdefault("rms_px", 0.05)
    kw.setdefault("noise_sigma", 2.0)
    return sim.RollingShutterScene(
        texture=natural(shp, seed), background=natural(shp, seed + 100), sound=sound, sound_rate=SOUND_RATE,
        fps=kw.pop("fps", PENTAX_FPS), line_delay=kw.pop("line_delay", PENTAX_D), exposure=kw.pop("exposure", PENTAX_E),
        shape=(rows, cols), object_mask=sim.object_rows_mask((rows, cols), cover), seed=seed, **kw)


def test_scene_with_a_still_background_renders_the_background_unmoved():
    sc = partial_scene(speechlike(0.3), noise_sigma=0.0)
    clean = np.concatenate(list(sc.clean_frames()))
    top = slice(0, int(0.2 * ROWS) - 2)  # background rows, away from the soft edge
    mid = slice(int(0.3 * ROWS), int(0.7 * ROWS))
    assert np.ptp(clean[:, top], axis=0).max() < 1e-12, "the background must not move"
    assert np.ptp(clean[:, mid], axis=0).max() > 1e-4, "the object must move"
    assert sc.to_dict()["object_fraction"] == pytest.approx(0.6, abs=0.02)
    with pytest.raises(ParameterError, match="object_mask"):
        dataclasses.replace(sc, object_mask=np.ones((3, 3)))
    with pytest.raises(ParameterError, match="background"):
        dataclasses.replace(sc, background=np.ones((3, 3)))


def test_blur_texture_removes_the_finest_octave():
    tex = sim.make_texture("pink", (128, 128), seed=1)
    blurred = sim.blur_texture(tex, 1.5)
    f = np.abs(np.fft.fft2(tex - tex.mean())) ** 2
    g = np.abs(np.fft.fft2(blurred - blurred.mean())) ** 2
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128), indexing="ij"))
    fine = (k > 0.25) & (k < 0.5)
    assert g[fine].sum() / g.sum() < 0.01 * f[fine].sum() / f.sum()
    assert blurred.min() == 0.0 and blurred.max() == 1.0
    assert np.array_equal(sim.blur_texture(tex, 0.0), tex)
    with pytest.raises(ParameterError, match="sigma"):
        sim.blur_texture(tex, -1.0)


def test_rows_of_a_still_background_are_gaps_not_zeros(tmp_path):
    # measured: 0.69 here, 0.34 when every textured row counted as measured motion (the same rows whole: 0.86)
    sc = partial_scene(speechlike(2.0, seed=4), cols=128)
    path = save_frames(sc, tmp_path / "part.npy")
    rec = rs.recover_rolling_shutter(path, rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay,
                                                                    exposure=sc.exposure))
    rho = correlation(truth_of(sc, rec), rec.audio, max_lag=0)
    assert rho > 0.6, f"correlation {rho:.3f} with a still background over 40 % of the rows"
    d = rec.diagnostics
    # 30 % of each period is the frame gap; 40 % of the rows show the background: ~58 % of the time unseen
    assert d["filled_fraction"] == pytest.approx(1 - 0.7 * 0.6, abs=0.06)
    a, b = d["rows_seeing_motion_span"]
    assert 0.12 * ROWS <= a <= 0.28 * ROWS and 0.72 * ROWS <= b <= 0.88 * ROWS, (a, b)


def test_a_tone_over_a_still_background_gets_no_frame_rate_sidebands(tmp_path):
    # counting the background rows as zero motion gates the tone once per frame: copies at 300 +- k fps
    sc = partial_scene(sim.builtin_sound("tone", rate=SOUND_RATE, duration=2.0, freq=300.0), seed=7)
    rec = rs.recover_rolling_shutter(save_frames(sc, tmp_path / "tone.npy"),
                                     rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay,
                                                             exposure=sc.exposure))
    f, spec = spectrum(rec.audio, rec.rate)
    peak = f[np.argmax(spec)]
    assert abs(peak - 300.0) < 1.5, f"strongest line at {peak:.2f} Hz (gating put it at 240 Hz)"
    side = np.zeros_like(f, dtype=bool)
    for k in (-2, -1, 1, 2):
        side |= np.abs(f - (300.0 + k * sc.fps)) < 2.0
    side_db = 20 * np.log10(spec[side].max() / spec.max())
    assert side_db < -20, f"frame-rate sideband only {side_db:.1f} dB below the tone"  # measured -24 dB


def test_bands_are_weighted_by_their_noise_not_their_energy():
    # a blurred texture under read noise: the finest band is mostly noise, and must weigh least
    sc = scene(speechlike(1.0), noise_sigma=3.0)
    sc = dataclasses.replace(sc, texture=sim.blur_texture(sc.texture, 1.5))
    frames = np.concatenate(list(sc.frames())).astype(np.float32) / 255
    est = rs.RowMotionEstimator((ROWS, COLS), direction="x", max_anchor=32)
    inc = np.concatenate([est.process(frames[i : i + 16]) for i in range(0, len(frames), 16)])
    rows = rs.row_signals(inc, est.channels, est.information, segments=est.segments)
    noise = np.median(rows.band_noise[0], axis=1)  # per band, left halves
    assert noise[0] > 3 * noise[-1], f"finest band noise {noise[0]:.3g} vs coarsest {noise[-1]:.3g} px^2"
    truth = sc.truth_at(sc.row_times(), exposed=True)
    combined = rows.displacement[:, 0]
    segment_demean(truth, est.segments)  # the truth as the estimator sees it
    err = np.median(np.var(combined - truth, axis=0))
    assert err < 1.5 * np.min(noise), "the bands' combination is no worse than the best band alone"


def test_phase_against_a_reference_does_not_random_walk():
    # weak texture and noise: wrapped frame-to-frame increments slip by 2 pi and accumulate; against a
    # reference the error of the last second is no larger than that of the first
    sc = scene(speechlike(3.0), noise_sigma=4.0, contrast=0.3, fps=30.0, line_delay=1 / 30 / (ROWS / 0.45))
    sc = dataclasses.replace(sc, texture=sim.blur_texture(sc.texture, 1.0))
    frames = np.concatenate(list(sc.frames())).astype(np.float32) / 255
    est = rs.RowMotionEstimator((ROWS, COLS), direction="x", max_anchor=32)
    inc = np.concatenate([est.process(frames[i : i + 16]) for i in range(0, len(frames), 16)])
    rows = rs.row_signals(inc, est.channels, est.information, segments=est.segments)
    assert len(est.segments) == 3  # renewed every 32 frames (no drift here)
    truth = sc.truth_at(sc.row_times(), exposed=True)
    segment_demean(truth, est.segments)
    err = rows.displacement[:, 0] - truth
    first, last = np.var(err[:30]), np.var(err[-30:])
    assert last < 1.5 * first, f"error variance grew from {first:.3g} to {last:.3g} px^2"


def test_roi_auto_finds_the_object_over_a_still_background(tmp_path):
    from vismic.io import open_source
    from vismic.rolling_shutter.locate import row_vibration_map, select_roi

    rows, cols = ROWS, 256
    shp = (rows + 16, cols + 16)
    mask = sim.object_rows_mask((rows, cols), (0.25, 0.75)) * (np.arange(cols) < 128)[None, :]
    sc = sim.RollingShutterScene(texture=natural(shp, 1), background=natural(shp, 2), sound=speechlike(1.5),
                                 sound_rate=SOUND_RATE, fps=PENTAX_FPS, line_delay=PENTAX_D, exposure=PENTAX_E,
                                 shape=(rows, cols), object_mask=mask, rms_px=0.05, noise_sigma=2.0, seed=1)
    path = save_frames(sc, tmp_path / "box.npy")
    with open_source(path) as src:
        vmap = row_vibration_map(src, fps=sc.fps)
    (x, y, w, h), why = select_roi(vmap, rows=rows, cols=cols)
    assert x == 0 and 96 <= x + w <= 160, (x, w, why["strips"])
    # the object's strips move with the best one; the still background's do not (5 standard errors)
    z = why["coherence"]
    assert min(z[:2]) >= 5 and max(z[2:]) < 5, z
    assert 0.25 * rows - 16 <= y <= 0.25 * rows + 4 and 0.75 * rows - 4 <= y + h <= 0.75 * rows + 16, (y, h)
    rec = rs.recover_rolling_shutter(path, rs.RollingShutterParams(fps=sc.fps, line_delay=sc.line_delay,
                                                                    exposure=sc.exposure, roi="auto"))
    assert rec.input["roi"] == [x, y, w, h] and rec.diagnostics["roi_auto"]["roi"] == [x, y, w, h]
    assert correlation(truth_of(sc, rec), rec.audio, max_lag=0) > 0.5  # measured 0.63 (64-px halves, blurred)


def test_cli_rolling_shutter_roi_auto_report_mux_voice(tmp_path, capsys):
    import av

    from vismic import cli
    from vismic.io.writers import write_video

    sc = partial_scene(speechlike(1.5, seed=2), cols=64)
    video = tmp_path / "clip.mkv"
    write_video(video, sc.frames(batch=32), rate=sc.fps)
    out = tmp_path / "o.wav"
    code = cli.main(["recover", str(video), "-o", str(out), "--fps", "59.94", "--rolling-shutter", "--line-delay",
                     repr(sc.line_delay), "--exposure", "1/2000", "--roi", "auto", "--report", str(tmp_path / "r.html"),
                     "--mux", str(tmp_path / "m.mkv"), "--voice", "--quiet", "--json"])
    assert code == 0, capsys.readouterr().err
    side = json.loads(capsys.readouterr().out)
    assert side["diagnostics"]["rolling_shutter"] and "roi_auto" in side["diagnostics"]
    assert "voice" in side["diagnostics"] and side["mux"]["path"].endswith("m.mkv")
    assert (tmp_path / "r.html").stat().st_size > 10_000
    with av.open(str(tmp_path / "m.mkv")) as c:
        assert len(c.streams.audio) == 1 and len(c.streams.video) == 1


def test_references_are_renewed_when_the_object_drifts():
    # 4 px of horizontal creep over 120 frames: against one reference the finest band would wrap (~1.4 px)
    rng = np.random.default_rng(0)
    tex = natural((ROWS, 256), 3, blur=0.8)
    kx = 2 * np.pi * np.fft.rfftfreq(256)
    spec = np.fft.rfft(tex, axis=1)
    n = 120
    shift = np.linspace(0.0, 4.0, n) + 0.03 * np.sin(2 * np.pi * np.arange(n) / 7.3)
    frames = np.stack([np.fft.irfft(spec * np.exp(-1j * kx * s), 256, axis=1)[:, 64:192] for s in shift])
    frames = (frames * 200 + 20 + rng.normal(0, 1.0, frames.shape)).astype(np.float32) / 255
    est = rs.RowMotionEstimator((ROWS, 128), direction="x", max_anchor=1000)
    inc = np.concatenate([est.process(frames[i : i + 16]) for i in range(0, n, 16)])
    assert len(est.segments) >= 4, f"references renewed at {est.segments} only"
    rows = rs.row_signals(inc, est.channels, est.information, segments=est.segments)
    truth = np.repeat(shift[:, None], ROWS, axis=1)
    segment_demean(truth, est.segments)
    err = np.sqrt(np.mean((rows.displacement[:, 0] - truth) ** 2))
    assert err < 0.02, f"RMS error {err:.3f} px under drift (a wrapped phase would give ~1 px)"


def test_band_combiner_keeps_one_value_per_row_and_channel():
    # the bands' weights measured on a window, then fixed: the clip is held with no band axis, and the
    # rows' motion matches the weights measured on the whole clip
    sc = scene(speechlike(1.5), noise_sigma=3.0)
    sc = dataclasses.replace(sc, texture=sim.blur_texture(sc.texture, 1.2))
    frames = np.concatenate(list(sc.frames())).astype(np.float32) / 255
    whole_est = rs.RowMotionEstimator((ROWS, COLS))
    per_band = np.concatenate([whole_est.process(frames[i : i + 16]) for i in range(0, len(frames), 16)])
    whole = rs.row_signals(per_band, whole_est.channels, whole_est.information, segments=whole_est.segments)
    from vismic.rolling_shutter.rows import BandCombiner

    est = rs.RowMotionEstimator((ROWS, COLS))
    comb = BandCombiner(est, window=48)
    chunks = [comb.process(frames[i : i + 16]) for i in range(0, len(frames), 16)]
    assert [len(c) for c in chunks[:3]] == [0, 0, 48], "held until the window is full, then combined"
    assert all(c.ndim == 3 and c.shape[1:] == (est.n_channels, ROWS) for c in chunks)
    chunks.append(comb.finish())
    got = rs.row_signals(np.concatenate(chunks), est.channels, comb.information(), segments=est.segments)
    a, b = got.displacement[:, 0], whole.displacement[:, 0]
    rel = np.sqrt(np.mean((a - b) ** 2) / np.mean(b**2))
    assert rel < 0.1, f"window-weighted rows differ by {rel:.3f} of the motion from whole-clip weights"
    assert comb.weights.shape == (est.n_channels, est.bands, ROWS)
    assert np.allclose(comb.weights.sum(axis=1)[np.isfinite(got.noise)], 1.0, atol=1e-5)
