"""Band motion signals from known sub-pixel shifts."""

import numpy as np
import pytest
from conftest import pink_texture, shifted_frames

from vismic.errors import ParameterError
from vismic.motion import MotionEstimator, global_lucas_kanade, integrate
from vismic.pyramid import ComplexSteerablePyramid


def _signals(frames, mode, grid=(1, 1), batch=7, **pyr_kw):
    pyr = ComplexSteerablePyramid(frames.shape[1:], **({"scales": 3, "orientations": 2} | pyr_kw))
    est = MotionEstimator(pyr, mode=mode, grid=grid)
    out = np.concatenate([est.process(frames[i : i + batch]) for i in range(0, len(frames), batch)])
    return est, out


def test_phase_signal_is_linear_in_shift_and_signed():
    tex = pink_texture((64, 64), seed=1)
    d = np.array([0.0, 0.01, -0.01, 0.02, 0.04])
    est, sig = _signals(shifted_frames(tex, d), "reference")
    ch = [i for i, c in enumerate(est.channels) if c.band.level == 0 and c.band.orientation == 0][0]
    s = sig[:, ch]
    assert abs(s[0]) < 1e-6
    # phase decreases for +x motion; linear to < 2% at these sub-pixel shifts
    slope = s[1] / d[1]
    assert slope < 0
    assert np.allclose(s[1:], slope * d[1:], rtol=0.02), (s, slope * d)


def test_increment_mode_telescopes_to_reference_mode(rng):
    tex = pink_texture((64, 64), seed=2)
    d = 0.02 * rng.standard_normal(200)
    # diagonal motion, so that every band (both orientations) carries signal
    frames = shifted_frames(tex, d, 0.7 * d) + rng.normal(0, 0.002, (200, 64, 64)).astype(np.float32)
    _, ref = _signals(frames, "reference")
    _, inc = _signals(frames, "increment")
    disp = integrate(inc)
    for c in range(ref.shape[1]):
        r = np.corrcoef(ref[:, c], disp[:, c])[0, 1]
        assert r > 0.999, f"channel {c}: r={r:.5f}"


def test_drift_of_many_pixels_does_not_wrap(rng):
    """Trap of ALGORITHM.md 4: phase against frame 1 wraps once the object drifts (10 px here)."""
    n = 400
    t = np.arange(n)
    vib = 0.02 * np.sin(2 * np.pi * t / 9.0)
    drift = np.linspace(0, 10, n)
    tex = pink_texture((96, 96), seed=3)
    frames = shifted_frames(tex, vib + drift)
    est, inc = _signals(frames, "increment", batch=16)
    _, ref = _signals(frames, "reference", batch=16)
    ch = [i for i, c in enumerate(est.channels) if c.band.level == 0 and c.band.orientation == 0][0]

    def vib_corr(x):
        x = x - np.polyval(np.polyfit(t, x, 3), t)  # remove the drift trend
        return abs(np.corrcoef(x, vib)[0, 1])

    assert vib_corr(integrate(inc)[:, ch]) > 0.95
    assert vib_corr(ref[:, ch].astype(np.float64)) < 0.8  # the reference mode breaks, as documented


def test_regions_see_opposite_motion():
    tex = pink_texture((64, 128), seed=4)
    n = 40
    d = 0.02 * np.sin(np.arange(n))
    left = shifted_frames(tex, d)
    right = shifted_frames(tex, -d)
    frames = np.concatenate([left[:, :, :64], right[:, :, 64:]], axis=2)
    est, sig = _signals(frames, "reference", grid=(1, 2))
    lvl0 = [i for i, c in enumerate(est.channels) if c.band.level == 0 and c.band.orientation == 0]
    by_region = {est.channels[i].region: sig[:, i] for i in lvl0}
    r = np.corrcoef(by_region[(0, 0)], by_region[(0, 1)])[0, 1]
    assert r < -0.95


def test_flat_region_gives_nan():
    frames = np.full((5, 32, 32), 0.5, dtype=np.float32)
    _, sig = _signals(frames, "increment", scales=2)
    assert np.all(np.isnan(sig[:, :]) | (sig == 0))


def test_grid_too_fine_is_an_error():
    pyr = ComplexSteerablePyramid((32, 32), scales=3)
    with pytest.raises(ParameterError, match="grid"):
        MotionEstimator(pyr, grid=(16, 16))
    with pytest.raises(ParameterError, match="mode"):
        MotionEstimator(pyr, mode="nope")


def test_lucas_kanade_baseline_recovers_shift():
    # a smooth texture: central differences are exact enough there (on textures with energy up
    # to Nyquist they underestimate the gradient, and plain LK over-estimates the shift)
    tex = pink_texture((64, 64), seed=5)
    k2 = np.add.outer(np.fft.fftfreq(64) ** 2, np.fft.fftfreq(64) ** 2)
    tex = np.real(np.fft.ifft2(np.fft.fft2(tex) * np.exp(-k2 / (2 * 0.08**2))))
    d = np.array([0.0, 0.01, -0.02])
    est = global_lucas_kanade(shifted_frames(tex, d))
    assert np.allclose(est, d, atol=1e-3), est


def _weak_static_frames(n=2048, seed=5):
    """A still, weakly textured patch under read noise: every band is mostly noise."""
    rng = np.random.default_rng(seed)
    tex = pink_texture((64, 64), seed=6)
    tex = 0.5 + 0.05 * (tex - tex.mean()) / tex.std()
    return (tex[None] + rng.normal(0, 0.02, (n, 64, 64))).astype(np.float32)


def test_anchored_noise_stays_white_where_increments_random_walk():
    """Issue 15 item 2: the integrated noise of frame-to-frame increments of noisy coefficients
    random-walks (excess at low frequencies); phases against an anchor telescope exactly."""
    import scipy.signal as ss

    frames = _weak_static_frames()
    pyr = ComplexSteerablePyramid((64, 64), scales=3, orientations=4)
    excess = {}
    for mode in ("anchored", "increment"):
        est = MotionEstimator(pyr, mode=mode)
        x = integrate(np.concatenate([est.process(frames[i : i + 64]) for i in range(0, len(frames), 64)]))
        f, p = ss.welch(x, axis=0, nperseg=256)
        excess[mode] = 10 * np.log10(p[(f > 0.01) & (f < 0.05)].mean(0) / p[f > 0.25].mean(0))
    assert np.all(np.abs(excess["anchored"]) < 2.0), excess["anchored"]  # white within the estimate's scatter
    assert excess["increment"].max() > 6.0, excess["increment"]  # the random walk the default avoids


def test_anchored_with_a_renewal_every_frame_is_the_increment_mode(monkeypatch, rng):
    import vismic.motion as motion

    tex = pink_texture((48, 48), seed=7)
    d = 0.03 * rng.standard_normal(60)
    frames = shifted_frames(tex, d, 0.5 * d) + rng.normal(0, 0.003, (60, 48, 48)).astype(np.float32)
    _, inc = _signals(frames, "increment")
    monkeypatch.setattr(motion, "ANCHOR_CELL", 1)
    _, anc = _signals(frames, "anchored")
    np.testing.assert_allclose(anc, inc, atol=1e-6)


def test_anchored_mode_follows_drift_by_renewing_its_anchor(rng):
    """10 px of drift: the anchor is renewed as the phase turns, and the vibration survives."""
    n = 400
    t = np.arange(n)
    vib = 0.02 * np.sin(2 * np.pi * t / 9.0)
    frames = shifted_frames(pink_texture((96, 96), seed=3), vib + np.linspace(0, 10, n))
    est, anc = _signals(frames, "anchored", batch=16)
    assert est.renewals >= 10  # 10 px in 400 frames: far more turn than the 3 cells' renewals allow
    ch = [i for i, c in enumerate(est.channels) if c.band.level == 0 and c.band.orientation == 0][0]
    x = integrate(anc)[:, ch]
    x = x - np.polyval(np.polyfit(t, x, 3), t)
    assert abs(np.corrcoef(x, vib)[0, 1]) > 0.95


def test_every_estimator_follows_the_one_protocol_and_layout():
    """The exact and fast estimators answer the composer's Estimator protocol; the exact one's regions
    are motion.region_layout's (the layout the PyTorch estimator takes too)."""
    from vismic._typing import Estimator
    from vismic.motion import FastMotionEstimator, MotionEstimator, region_layout
    from vismic.pyramid import ComplexSteerablePyramid

    pyr = ComplexSteerablePyramid((64, 80), scales=3, orientations=2)
    exact = MotionEstimator(pyr, grid=(2, 3))
    fast = FastMotionEstimator((64, 80), scales=2, orientations=2, grid=(2, 3))
    for est in (exact, fast):
        assert isinstance(est, Estimator)
        out = est.process(np.zeros((3, 64, 80), np.float32) + np.arange(80, dtype=np.float32) % 7)
        assert out.shape == (3, est.n_channels) and len(est.channels) == est.n_channels
    edges, channels = region_layout(pyr, (2, 3))
    assert channels == exact.channels and len(edges) == len(pyr.levels)
    plan = pyr.level_plan(0)
    assert plan.filters.shape[0] == pyr.orientations and plan.filters.shape[1:] == (len(plan.rows), len(plan.cols))
