"""Tests of the scene simulator and the lossless video writer.

The truths used here come from outside the code under test: analytic sinusoidal textures
whose shifted values are known in closed form, np.roll for whole-pixel shifts, a phase
correlation written here, the decoded pixels of PyAV, and the variance of an efficient
estimator written here.
"""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest

from vismic.errors import OutputExistsError, ParameterError
from vismic.io.writers import write_video
from vismic.simulate import (
    MODES,
    TEXTURE_KINDS,
    Scene,
    builtin_sound,
    load_sound,
    load_texture,
    make_texture,
    render,
)

# --------------------------------------------------------------------------- helpers

# (amplitude, cycles along rows, cycles along cols, phase): integer cycles keep the texture periodic
WAVES = [(0.20, 0, 3, 0.3), (0.12, 2, 5, 1.1), (0.08, 7, -4, 2.0), (0.05, 11, 9, 0.7)]


def analytic(shape: tuple[int, int], dy, dx, *, origin=(0, 0), period=None):
    """Sinusoidal texture at (row + origin - dy, col + origin - dx); dy/dx broadcast over (n, rows, cols)."""
    rows, cols = shape
    R, C = period
    y = np.arange(rows)[:, None] + origin[0] - dy
    x = np.arange(cols)[None, :] + origin[1] - dx
    out = 0.5
    for amp, cy, cx, ph in WAVES:
        out = out + amp * np.sin(2 * np.pi * (cy * y / R + cx * x / C) + ph)
    return out


def analytic_grad(shape, direction_deg, *, origin, period):
    """Exact derivative of :func:`analytic` along the motion direction (per pixel)."""
    rows, cols = shape
    R, C = period
    ux, uy = math.cos(math.radians(direction_deg)), math.sin(math.radians(direction_deg))
    y = np.arange(rows)[:, None] + origin[0]
    x = np.arange(cols)[None, :] + origin[1]
    g = 0.0
    for amp, cy, cx, ph in WAVES:
        k_u = 2 * np.pi * (cy / R * uy + cx / C * ux)
        g = g + amp * k_u * np.cos(2 * np.pi * (cy * y / R + cx * x / C) + ph)
    return g


def analytic_texture(period=(80, 72)):
    return analytic(period, 0.0, 0.0, period=period)


def all_clean(scene: Scene, **kw) -> np.ndarray:
    return np.concatenate(list(scene.clean_frames(**kw)))


def all_frames(scene: Scene, **kw) -> np.ndarray:
    return np.concatenate(list(scene.frames(**kw)))


def phase_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Shift (dy, dx) with b(x) ~ a(x - d): windowed phase correlation refined by upsampled DFTs."""
    rows, cols = a.shape
    win = np.outer(np.hanning(rows), np.hanning(cols))
    A = np.fft.fft2((a - a.mean()) * win)
    B = np.fft.fft2((b - b.mean()) * win)
    Rx = B * np.conj(A)
    Rx /= np.abs(Rx) + 1e-30
    corr = np.abs(np.fft.ifft2(Rx))
    iy, ix = np.unravel_index(np.argmax(corr), corr.shape)
    peak = np.array([iy if iy <= rows // 2 else iy - rows, ix if ix <= cols // 2 else ix - cols], float)
    ky = 2 * np.pi * np.fft.fftfreq(rows)
    kx = 2 * np.pi * np.fft.fftfreq(cols)
    for half_width, step in ((1.0, 0.05), (0.06, 0.002)):
        off = np.arange(-half_width, half_width + step / 2, step)
        sy, sx = peak[0] + off, peak[1] + off
        c = np.exp(1j * np.outer(sy, ky)) @ Rx @ np.exp(1j * np.outer(kx, sx))
        j, k = np.unravel_index(np.argmax(c.real), c.shape)
        peak = np.array([sy[j], sx[k]])
    return float(peak[0]), float(peak[1])


def decode_y(path) -> np.ndarray:
    """Decode every frame with PyAV and return the first (Y / gray / G) plane, bit for bit."""
    import av

    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.planes[0]
            dt = np.dtype(np.uint16) if "16" in frame.format.name else np.dtype(np.uint8)
            buf = np.frombuffer(plane, dt).reshape(plane.height, plane.line_size // dt.itemsize)
            out.append(buf[:, : frame.width].copy())
    return np.stack(out)


@pytest.fixture(scope="module")
def pink() -> np.ndarray:
    return make_texture("pink", (96, 96), seed=3)


# --------------------------------------------------------------------------- textures and sounds


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_make_texture_is_periodic_bandlimited_unit_range(kind):
    tex = make_texture(kind, (64, 80), seed=1)
    assert tex.shape == (64, 80) and tex.dtype == np.float32
    assert tex.min() >= 0 and tex.max() <= 1
    if kind == "flat":
        assert np.all(tex == 0.5)
        return
    assert tex.min() == 0 and tex.max() == 1, "min-max scaled"
    spec = np.abs(np.fft.fft2(tex.astype(np.float64)))
    # the Nyquist row/column would not survive a sub-pixel shift: zero up to float32 rounding
    assert spec[32, :].max() < 1e-4 * spec.sum() / spec.size * 100, "Nyquist row not zero"
    assert spec[:, 40].max() < 1e-4 * spec.sum() / spec.size * 100, "Nyquist column not zero"
    other = make_texture(kind, (64, 80), seed=2)
    if kind in ("pink", "white"):
        assert not np.array_equal(tex, other), "seed has no effect"
    if kind == "stripes":
        assert np.allclose(tex, tex[:1], atol=1e-6), "stripes vary along x only"


def test_pink_texture_has_one_over_f_spectrum():
    tex = make_texture("pink", (256, 256), seed=0).astype(np.float64)
    spec = np.abs(np.fft.fft2(tex - tex.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    lo = spec[(f > 0.02) & (f < 0.04)].mean()
    hi = spec[(f > 0.16) & (f < 0.32)].mean()
    # power ~ 1/f^2: an octave-and-a-half ratio of 8 in f gives ~64 in power (loose: random)
    assert 30 < lo / hi < 130, f"power ratio {lo / hi:.1f} is not 1/f^2-like"


def test_builtin_sounds_unit_rms_length_and_band():
    rate, dur = 2200.0, 1.0
    for name in ("tone", "chirp", "melody", "noise"):
        x = builtin_sound(name, rate=rate, duration=dur)
        assert x.dtype == np.float64 and x.shape == (2200,)
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-12)
        power = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(x.size, 1 / rate)
        above = power[f > 0.46 * rate].sum() / power.sum()
        assert above < 1e-3, f"{name}: {above:.2e} of the power above 0.45 rate"
        if name in ("chirp", "noise"):
            below = power[f < rate / 40 * 0.8].sum() / power.sum()
            assert below < 0.02, f"{name}: {below:.3f} of the power below rate/40"
    x = builtin_sound("tone", rate=rate, duration=dur, freq=300.0)
    f = np.fft.rfftfreq(x.size, 1 / rate)
    assert f[np.argmax(np.abs(np.fft.rfft(x)))] == pytest.approx(300.0)
    with pytest.raises(ParameterError, match="freq"):
        builtin_sound("tone", rate=600.0, duration=1.0)  # 440 Hz >= 300 Hz Nyquist
    with pytest.raises(ParameterError, match="freq"):
        builtin_sound("chirp", rate=rate, duration=1.0, freq=100.0)
    with pytest.raises(ParameterError, match="name"):
        builtin_sound("speech", rate=rate, duration=1.0)
    with pytest.raises(ParameterError, match="duration"):
        builtin_sound("tone", rate=rate, duration=0.0)
    low = builtin_sound("melody", rate=500.0, duration=2.0)  # notes moved down by octaves
    power = np.abs(np.fft.rfft(low)) ** 2
    assert power[np.fft.rfftfreq(low.size, 1 / 500.0) > 225].sum() < 1e-3 * power.sum()


def test_load_sound_mixes_to_mono_and_resamples(tmp_path):
    sf = pytest.importorskip("soundfile")
    fs, dur = 16000, 1.0
    t = np.arange(int(fs * dur)) / fs
    left = 0.5 * np.sin(2 * np.pi * 300 * t) + 0.3 * np.sin(2 * np.pi * 1500 * t)  # 1500 Hz > 1100 Nyquist
    right = 0.5 * np.sin(2 * np.pi * 300 * t)
    path = tmp_path / "s.wav"
    sf.write(path, np.stack([left, right], axis=1), fs)
    x = load_sound(path, 2200.0)
    assert x.shape == (2200,) and np.sqrt(np.mean(x**2)) == pytest.approx(1.0)
    power = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / 2200.0)
    assert f[np.argmax(power)] == pytest.approx(300.0, abs=1.0)
    alias = power[(f > 690) & (f < 710)].sum()  # 1500 Hz would alias to 700 Hz without a filter
    assert alias < 1e-6 * power.sum(), "content above the frame-rate Nyquist aliased"
    assert load_sound(path, 2200.0, duration=0.5).shape == (1100,)


def test_load_texture_grey_mean_of_rgb_crop_and_tile(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    pattern = (rng.random((40, 50)) * 255).astype(np.uint8)
    zeros = np.zeros_like(pattern)
    red, blue = tmp_path / "r.png", tmp_path / "b.png"
    Image.fromarray(np.stack([pattern, zeros, zeros], -1)).save(red)
    Image.fromarray(np.stack([zeros, zeros, pattern], -1)).save(blue)
    a, b = load_texture(red), load_texture(blue)
    assert a.shape == (40, 50) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-6, err_msg="grey must be the plain mean of R, G, B")
    assert np.corrcoef(a.ravel(), pattern.ravel())[0, 1] > 0.95
    assert a.min() == 0 and a.max() == 1
    big = load_texture(red, (100, 120))  # mirror-tiled
    small = load_texture(red, (20, 30))  # centre crop
    assert big.shape == (100, 120) and small.shape == (20, 30)
    assert np.corrcoef(small.ravel(), pattern[10:30, 10:40].ravel())[0, 1] > 0.95
    assert load_texture(red, scale=0.5).shape == (20, 25)
    with pytest.raises(OSError):
        load_texture(tmp_path / "missing.png")


# --------------------------------------------------------------------------- rendering truth


@pytest.mark.parametrize("direction", [0.0, 30.0, 90.0, 200.0])
def test_rigid_render_equals_analytic_shift(direction):
    period, shape = (80, 72), (48, 40)
    sound = np.array([0.0, 1.0, -0.37, 2.5, -1.9, 0.01])
    sc = Scene(analytic_texture(period), sound, 1000.0, rms_px=0.3, direction_deg=direction, shape=shape,
               contrast=1.0, noise_sigma=0.0)
    a = sc.truth()
    assert np.sqrt(np.mean(a**2)) == pytest.approx(0.3)
    ux, uy = math.cos(math.radians(direction)), math.sin(math.radians(direction))
    want = analytic(shape, (a * uy)[:, None, None], (a * ux)[:, None, None], origin=sc.origin, period=period)
    got = all_clean(sc, batch=4)
    err = np.abs(got - want).max()
    assert err < 1e-11, f"exact Fourier shift off by {err:.2e} (full scale)"


def test_frame_difference_is_first_order_motion_times_gradient():
    period, shape = (80, 72), (48, 40)
    sound = builtin_sound("tone", rate=1000.0, duration=0.02, freq=90.0)
    sc = Scene(analytic_texture(period), sound, 1000.0, rms_px=0.002, direction_deg=0.0, shape=shape,
               contrast=1.0, noise_sigma=0.0)
    frames = all_clean(sc)
    grad = analytic_grad(shape, 0.0, origin=sc.origin, period=period)
    a = sc.truth()
    pred = -(a - a[0])[:, None, None] * grad
    diff = frames - frames[:1]
    rel = np.linalg.norm(diff - pred) / np.linalg.norm(pred)
    # second-order term / first-order term ~ |da| * k / 2 < 0.006 * 1.4 / 2
    assert rel < 5e-3, f"frame difference departs from -u dI/dx by {rel:.2e} (relative)"


def test_whole_pixel_shift_equals_np_roll(pink):
    shape = (64, 64)
    for direction, axis in ((0.0, 1), (90.0, 0)):
        sc = Scene(pink, np.array([1.0, -1.0]), 500.0, rms_px=1.0, direction_deg=direction, shape=shape,
                   contrast=1.0, noise_sigma=0.0)
        r0, c0 = sc.origin
        got = all_clean(sc)
        for k, step in enumerate((1, -1)):
            want = np.roll(pink.astype(np.float64), step, axis=axis)[r0 : r0 + 64, c0 : c0 + 64]
            err = np.abs(got[k] - want).max()
            assert err < 1e-6, f"{step:+d} px shift along axis {axis} differs from np.roll by {err:.2e}"


@pytest.mark.parametrize("drift", [0.0, 1.7])
def test_membrane_and_array_modes_match_analytic_per_pixel_shift(drift):
    period, shape = (80, 72), (48, 40)
    sound = builtin_sound("noise", rate=1000.0, duration=0.012, seed=4)
    sc = Scene(analytic_texture(period), sound, 1000.0, rms_px=0.05, direction_deg=60.0, shape=shape,
               mode="membrane", contrast=1.0, noise_sigma=0.0, drift_px=drift)
    m = sc.mode_shape()
    assert m.max() == pytest.approx(1.0, abs=1e-3) and m.min() > 0 and m[0, 0] < 0.01, "drum mode"
    ux, uy = math.cos(math.radians(60.0)), math.sin(math.radians(60.0))
    d = m[None] * sc.truth()[:, None, None] + sc.drift_track()[:, None, None]
    want = analytic(shape, d * uy, d * ux, origin=sc.origin, period=period)
    err = np.abs(all_clean(sc, batch=5) - want).max()
    assert err < 1e-8, f"smooth-mode rendering off by {err:.2e} (full scale)"
    # a user array with many values takes the same path
    rng = np.random.default_rng(0)
    mode = rng.uniform(-1, 1, shape)
    sc2 = Scene(analytic_texture(period), sound, 1000.0, rms_px=0.05, direction_deg=60.0, shape=shape,
                mode=mode, contrast=1.0, noise_sigma=0.0, drift_px=drift)
    d = mode[None] * sc2.truth()[:, None, None] + sc2.drift_track()[:, None, None]
    want = analytic(shape, d * uy, d * ux, origin=sc2.origin, period=period)
    assert np.abs(all_clean(sc2) - want).max() < 1e-8


def test_halves_move_in_opposite_directions():
    period, shape = (80, 72), (48, 40)
    sound = np.array([0.0, 1.0, -1.0, 0.5])
    kw = dict(rms_px=0.2, shape=shape, contrast=1.0, noise_sigma=0.0)
    sc = Scene(analytic_texture(period), sound, 1000.0, mode="halves", **kw)
    a = sc.truth()
    left = analytic(shape, 0.0, a[:, None, None], origin=sc.origin, period=period)
    right = analytic(shape, 0.0, -a[:, None, None], origin=sc.origin, period=period)
    got = all_clean(sc)
    half = shape[1] // 2
    assert np.abs(got[..., :half] - left[..., :half]).max() < 1e-11, "left half must move by +s"
    assert np.abs(got[..., half:] - right[..., half:]).max() < 1e-11, "right half must move by -s"
    ctrl = Scene(analytic_texture(period), sound, 1000.0, mode="halves-in-phase", **kw)
    rigid = Scene(analytic_texture(period), sound, 1000.0, mode="rigid", **kw)
    np.testing.assert_array_equal(all_clean(ctrl), all_clean(rigid), err_msg="control scene = rigid")


def test_drift_moves_texture_by_requested_pixels():
    tex = make_texture("pink", (160, 160), seed=5)
    sound = builtin_sound("tone", rate=1000.0, duration=0.005)
    sc = Scene(tex, sound, 1000.0, rms_px=0.0, direction_deg=30.0, shape=(96, 96), drift_px=3.3,
               noise_sigma=0.0)
    clean = all_clean(sc)
    dy, dx = phase_correlation(clean[0], clean[-1])
    want = (3.3 * math.sin(math.radians(30)), 3.3 * math.cos(math.radians(30)))
    assert math.hypot(dy - want[0], dx - want[1]) < 0.05, f"measured drift ({dy:.3f}, {dx:.3f}) != {want}"
    assert sc.drift_track()[-1] == pytest.approx(3.3)
    noisy = all_frames(Scene(tex, sound, 1000.0, rms_px=0.0, direction_deg=30.0, shape=(96, 96),
                             drift_px=3.3, noise_sigma=2.0)).astype(float)
    dy, dx = phase_correlation(noisy[0], noisy[-1])
    assert math.hypot(dy - want[0], dx - want[1]) < 0.1


# --------------------------------------------------------------------------- camera model


def test_streamed_frames_equal_single_batch(pink):
    sound = builtin_sound("chirp", rate=2000.0, duration=0.03)
    sc = Scene(pink, sound, 2000.0, rms_px=0.05, shape=(48, 56), mode="membrane", noise_sigma=3.0,
               shot_noise=True, flicker=0.02, drift_px=0.4, seed=7)
    whole = next(sc.frames(batch=10_000))
    assert whole.shape == (60, 48, 56) and whole.dtype == np.uint8
    np.testing.assert_array_equal(all_frames(sc, batch=7), whole)
    np.testing.assert_array_equal(all_frames(sc, start=5, stop=41, batch=4), whole[5:41])
    np.testing.assert_array_equal(all_clean(sc, batch=3), next(sc.clean_frames(batch=100)))
    again = all_frames(Scene(pink, sound, 2000.0, rms_px=0.05, shape=(48, 56), mode="membrane",
                             noise_sigma=3.0, shot_noise=True, flicker=0.02, drift_px=0.4, seed=8))
    assert not np.array_equal(again, whole), "the seed must change the noise"


def test_noise_level_and_quantisation_follow_the_model():
    flat = make_texture("flat", (40, 40))
    sound = np.array([1.0, -1.0] * 20)
    sc = Scene(flat, sound, 100.0, shape=(32, 32), noise_sigma=3.0, shot_noise=True, full_well=5000.0,
               bits=16, mean=0.5, contrast=0.5)
    frames = all_frames(sc)
    assert frames.dtype == np.uint16
    resid = frames / 65535.0 - 0.5
    want = (3.0 / 255) ** 2 + 0.5 / 5000.0
    assert np.var(resid) == pytest.approx(want, rel=0.03), "read + shot variance"
    np.testing.assert_allclose(sc.noise_variance(), want + (1 / 65535) ** 2 / 12, rtol=1e-9)
    # no noise: frames are the rounded clean frames, clipped to the bit depth
    tex = make_texture("white", (40, 40), seed=2)
    for bits, top in ((8, 255), (12, 4095)):
        quiet = Scene(tex, sound, 100.0, shape=(32, 32), noise_sigma=0.0, bits=bits, contrast=1.0,
                      flicker=0.3, flicker_hz=7.0)
        got, clean = all_frames(quiet), all_clean(quiet)
        want_q = np.clip(np.rint(clean * top), 0, top)
        assert int(got.max()) == top, "flicker should saturate some pixels"
        assert np.abs(got - want_q).max() <= 1  # float32 rounding may flip exact .5 ties
        assert np.mean(got != want_q) < 1e-3


def test_flicker_modulates_the_lighting():
    flat = make_texture("flat", (40, 40))
    rate = 2200.0
    sound = builtin_sound("tone", rate=rate, duration=0.05)
    sc = Scene(flat, sound, rate, rms_px=0.0, shape=(16, 16), flicker=0.1, flicker_hz=120.0, noise_sigma=0.0)
    means = all_clean(sc).mean(axis=(1, 2))
    t = np.arange(sound.size) / rate
    np.testing.assert_allclose(means, 0.5 * (1 + 0.1 * np.sin(2 * np.pi * 120 * t)), rtol=1e-12)


def test_memory_does_not_grow_with_clip_length():
    tex = make_texture("pink", (24, 24))
    n = 40_000  # the full float64 clip would be 82 MB
    sc = Scene(tex, np.sin(np.arange(n) * 0.3), 2200.0, shape=(16, 16), noise_sigma=0.0)
    next(sc.frames(batch=64))  # build the spectra before measuring
    tracemalloc.start()
    count = 0
    for frames in sc.frames(batch=64):
        count += frames.shape[0]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == n
    assert peak < 4e6, f"peak {peak / 1e6:.1f} MB: rendering is not streamed"


# --------------------------------------------------------------------------- Cramer-Rao bound


def test_crb_matches_the_analytic_fisher_information():
    period, shape = (80, 72), (48, 40)
    sc = Scene(analytic_texture(period), np.array([1.0, -1.0]), 100.0, rms_px=0.01, direction_deg=25.0,
               shape=shape, contrast=1.0, noise_sigma=2.0, shot_noise=True, bits=8)
    g = analytic_grad(shape, 25.0, origin=sc.origin, period=period)
    img = analytic(shape, 0.0, 0.0, origin=sc.origin, period=period)
    var = (2 / 255) ** 2 + img / 10_000 + (1 / 255) ** 2 / 12
    want = 1 / np.sum(g**2 / var)
    crb = sc.cramer_rao()
    assert crb["var_px2"] == pytest.approx(want, rel=1e-9)
    assert crb["std_px"] == pytest.approx(math.sqrt(want))
    assert crb["snr_db"] == pytest.approx(10 * math.log10(0.01**2 / want))


def test_crb_scales_with_noise_variance_and_motion():
    tex = make_texture("pink", (96, 96))
    snd = np.array([1.0, -1.0])
    base = dict(shape=(64, 64), bits=16)
    v2 = Scene(tex, snd, 100.0, noise_sigma=2.0, **base).cramer_rao()
    v4 = Scene(tex, snd, 100.0, noise_sigma=4.0, **base).cramer_rao()
    assert v4["var_px2"] / v2["var_px2"] == pytest.approx(4.0, rel=1e-5)
    big = Scene(tex, snd, 100.0, noise_sigma=2.0, rms_px=0.02, **base).cramer_rao()
    assert big["snr_db"] - v2["snr_db"] == pytest.approx(20 * math.log10(2), rel=1e-9)
    halves = Scene(tex, snd, 100.0, noise_sigma=2.0, mode="halves", **base).cramer_rao()
    assert halves["var_px2"] == pytest.approx(v2["var_px2"], rel=1e-12), "|m| = 1 everywhere"


def test_crb_is_infinite_without_texture():
    for tex, contrast in ((make_texture("flat", (96, 96)), 0.8), (make_texture("pink", (96, 96)), 0.0)):
        crb = Scene(tex, np.array([1.0, -1.0]), 100.0, shape=(64, 64), contrast=contrast).cramer_rao()
        assert crb["var_px2"] == math.inf and crb["snr_db"] == -math.inf


@pytest.mark.parametrize("shot", [False, True])
def test_efficient_estimator_reaches_the_crb(shot):
    """Weighted least squares with the true template is efficient: its variance must equal the bound."""
    period, shape = (80, 72), (48, 40)
    rate = 1000.0
    sound = builtin_sound("noise", rate=rate, duration=0.3, seed=1)
    sc = Scene(analytic_texture(period), sound, rate, rms_px=0.01, direction_deg=40.0, shape=shape,
               contrast=1.0, noise_sigma=1.0 if shot else 4.0, shot_noise=shot, full_well=2000.0, bits=16,
               seed=11)
    g = analytic_grad(shape, 40.0, origin=sc.origin, period=period)
    rest = analytic(shape, 0.0, 0.0, origin=sc.origin, period=period)
    w = 1 / sc.noise_variance()
    frames = all_frames(sc) / 65535.0
    est = -np.einsum("tij,ij->t", frames - rest, w * g) / np.sum(w * g * g)
    err = est - sc.truth()
    crb = sc.cramer_rao()["var_px2"]
    # 300 frames: the sample variance has a relative std of ~8%; first-order bias is < 1e-3 of it
    assert np.var(err) / crb == pytest.approx(1.0, abs=0.3), f"estimator var / CRB = {np.var(err) / crb:.3f}"


# --------------------------------------------------------------------------- validation


SOUND = np.array([1.0, -1.0, 0.5])


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"rate": 0.0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rms_px": -0.1}, "rms_px"),
        ({"rms_px": float("inf")}, "rms_px"),
        ({"direction_deg": float("nan")}, "direction_deg"),
        ({"shape": (2, 64)}, "shape"),
        ({"shape": (64,)}, "shape"),
        ({"mode": "wobble"}, "mode"),
        ({"mode": np.ones((10, 10))}, "mode"),
        ({"noise_sigma": -1.0}, "noise_sigma"),
        ({"shot_noise": "yes"}, "shot_noise"),
        ({"full_well": 0.0}, "full_well"),
        ({"bits": 0}, "bits"),
        ({"bits": 17}, "bits"),
        ({"bits": 8.0}, "bits"),
        ({"drift_px": float("nan")}, "drift_px"),
        ({"drift_px": 200.0}, "texture"),
        ({"flicker": 1.0}, "flicker"),
        ({"flicker_hz": 0.0}, "flicker_hz"),
        ({"contrast": 1.5}, "contrast"),
        ({"mean": 0.9}, "contrast"),
        ({"seed": -1}, "seed"),
        ({"texture": np.ones(100)}, "texture"),
        ({"texture": np.full((96, 96), 2.0)}, "texture"),
        ({"texture": np.full((60, 60), 0.5)}, "texture"),
        ({"sound": np.ones((3, 2))}, "sound"),
        ({"sound": np.array([1.0, np.nan])}, "sound"),
        ({"sound": np.zeros(5)}, "sound"),
    ],
)
def test_bad_scene_parameters_raise(kw, name, pink):
    args = {"texture": pink, "sound": SOUND, "rate": 100.0, "shape": (64, 64)} | kw
    with pytest.raises(ParameterError, match=name):
        Scene(**args)


def test_other_bad_parameters_raise(pink, tmp_path):
    sc = Scene(pink, SOUND, 100.0, shape=(64, 64))
    with pytest.raises(ParameterError, match="start"):
        next(sc.frames(start=-1))
    with pytest.raises(ParameterError, match="batch"):
        next(sc.frames(batch=0))
    with pytest.raises(ParameterError, match="kind"):
        make_texture("marble", (64, 64))
    with pytest.raises(ParameterError, match="shape"):
        make_texture("pink", (3, 64))
    with pytest.raises(ParameterError, match="rms_px"):  # smooth modes: Taylor series would not converge
        next(Scene(make_texture("pink", (96, 96)), SOUND, 100.0, shape=(64, 64), mode="membrane",
                   rms_px=5.0).frames())
    frames = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(ParameterError, match="suffix"):
        write_video(tmp_path / "a.gif", [frames], rate=100.0)
    with pytest.raises(ParameterError, match="FFV1"):
        write_video(tmp_path / "a.mp4", [frames.astype(np.uint16)], rate=100.0, bits=16)
    with pytest.raises(ParameterError, match="dtype"):
        write_video(tmp_path / "a.mkv", [frames.astype(np.uint16)], rate=100.0, bits=8)
    with pytest.raises(ParameterError, match="rate"):
        write_video(tmp_path / "a.mkv", [frames], rate=-5.0)
    assert list(tmp_path.iterdir()) == [], "failed writes must leave nothing behind"


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("suffix", "rate", "shape", "bits"),
    [
        (".mkv", 2200.0, (48, 64), 8),
        (".mkv", 2200.0, (33, 47), 16),
        (".nut", 2200.0, (48, 64), 8),
        (".avi", 2200.0, (33, 47), 8),
        (".avi", 29.97, (48, 64), 12),
        (".mp4", 2200.0, (33, 47), 8),
    ],
)
def test_video_round_trip_is_bit_exact(tmp_path, suffix, rate, shape, bits):
    rng = np.random.default_rng(0)
    dtype = np.uint8 if bits <= 8 else np.uint16
    frames = rng.integers(0, 2**bits, size=(37, *shape)).astype(dtype)  # worst case: incompressible
    path = tmp_path / f"v{suffix}"
    info = write_video(path, (frames[i : i + 10] for i in range(0, 37, 10)), rate=rate, bits=bits)
    assert info["n_frames"] == 37 and info["true_rate"] == rate and info["lossless"]
    decoded = decode_y(path)
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, frames, err_msg=f"{suffix} ({info['codec']}) is not lossless")
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "temporary file left behind"


def test_render_writes_lossless_video_truth_and_metadata(tmp_path, pink):
    sf = pytest.importorskip("soundfile")
    sound = builtin_sound("melody", rate=2200.0, duration=0.05)
    sc = Scene(pink, sound, 2200.0, shape=(64, 64), shot_noise=True)
    calls = []
    meta = render(sc, tmp_path / "scene.mkv", progress=lambda done, total: calls.append((done, total)),
                  batch=32)
    json.dumps(meta, allow_nan=False)
    assert meta["n_frames"] == 110 and meta["rate"] == 2200.0 and meta["video"]["container_rate"] == "1000"
    assert calls[-1] == (110, 110) and len(calls) == 4
    assert meta["crb"]["snr_db"] == pytest.approx(sc.cramer_rao()["snr_db"])
    np.testing.assert_array_equal(decode_y(tmp_path / "scene.mkv"), all_frames(sc))
    truth, fs = sf.read(meta["truth_path"], dtype="float32")
    info = sf.info(meta["truth_path"])
    assert fs == 2200 and info.subtype == "FLOAT"
    np.testing.assert_array_equal(truth, sc.truth().astype(np.float32))
    with pytest.raises(OutputExistsError):
        render(sc, tmp_path / "scene.mkv")
    render(sc, tmp_path / "scene.mkv", force=True)
    meta = render(sc, tmp_path / "scene.npy", truth_path=tmp_path / "t.wav")
    np.testing.assert_array_equal(np.load(tmp_path / "scene.npy"), all_frames(sc))
    flat = Scene(make_texture("flat", (96, 96)), sound, 2200.0, shape=(64, 64))
    meta = render(flat, tmp_path / "flat.nut")
    assert meta["crb"]["var_px2"] is None, "non-finite CRB must be JSON null"
    json.dumps(meta, allow_nan=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["flat.nut", "flat.truth.wav", "scene.mkv", "scene.npy", "scene.truth.wav", "t.wav"]


def test_modes_constant_is_complete():
    assert set(MODES) == {"rigid", "membrane", "halves", "halves-in-phase"}
