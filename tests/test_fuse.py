"""Fusion: maximum-ratio weights from a one-factor fit, bounded lags, signs."""

import numpy as np
import pytest

from vismic.errors import InputError, NoTextureError, ParameterError
from vismic.fuse import bounded_lag, fuse


def _channels(rng, n=4000, gains=(1.0, -0.5, 2.0, 0.3), noise=(0.5, 0.5, 2.0, 0.1), lags=None):
    s = rng.standard_normal(n)
    s = np.convolve(s, np.ones(4) / 4, mode="same")  # some bandwidth so lags are identifiable
    s /= s.std()
    cols = []
    for j, (g, sd) in enumerate(zip(gains, noise, strict=True)):
        lag = 0 if lags is None else lags[j]
        cols.append(g * np.roll(s, lag) + sd * rng.standard_normal(n))
    return s, np.stack(cols, axis=1)


def test_snr_estimates_and_weights_match_truth(rng):
    gains = np.array([1.0, -0.5, 2.0, 0.3])
    noise = np.array([0.5, 0.5, 2.0, 0.1])
    s, x = _channels(rng, gains=gains, noise=noise)
    f = fuse(x)
    true_snr = 10 * np.log10(gains**2 / noise**2)
    # 4000 samples: variance estimates are good to a few %, i.e. ~0.3 dB; allow 1 dB
    assert np.allclose(f.snr_db, true_snr, atol=1.0), (f.snr_db, true_snr)
    assert list(f.signs * np.sign(f.signs[0])) == list(np.sign(gains) * np.sign(gains[0]))
    mrc = gains / noise**2
    mrc = mrc / np.abs(mrc).sum()
    assert np.allclose(np.abs(f.weights), np.abs(mrc), atol=0.03)
    # the fused signal is as good as the maximum-ratio combination of known weights
    best = x @ (gains / noise**2)
    assert abs(np.corrcoef(f.signal, best)[0, 1]) > 0.999
    fused_true = 10 * np.log10(np.sum(gains**2 / noise**2))
    assert abs(f.fused_snr_db - fused_true) < 1.0


def test_opposite_phase_channels_do_not_cancel(rng):
    s, x = _channels(rng, gains=(1.0, -1.0, 1.0, -1.0), noise=(0.3, 0.3, 0.3, 0.3))
    f = fuse(x)
    assert abs(np.corrcoef(f.signal, s)[0, 1]) > 0.98
    naive = x.sum(axis=1)
    assert abs(np.corrcoef(naive, s)[0, 1]) < 0.2  # what an unsigned sum would have given


def test_bounded_lag_finds_small_lag_and_ignores_far_ones(rng):
    s, x = _channels(rng, gains=(1, 1, 1, 1), noise=(0.2, 0.2, 0.2, 0.2), lags=(0, 3, -2, 0))
    f = fuse(x, max_lag=5)
    assert list(f.lags - f.lags[0]) == [0, 3, -2, 0]
    # trap: an unbounded search locks onto a spurious lag far away; with a bound of 1 sample
    # the 3-sample lag is out of reach and is not invented
    f1 = fuse(x, max_lag=1)
    assert abs(f1.lags[1]) <= 1


def test_bounded_lag_keeps_zero_without_evidence(rng):
    a = rng.standard_normal(2000)
    b = a + rng.standard_normal(2000)
    lag, c = bounded_lag(a, b, 10)
    assert lag == 0 and c > 0.5
    lag, c = bounded_lag(-a, b, 10)
    assert lag == 0 and c < -0.5  # polarity is kept, not hidden by a signed maximum


def test_polarity_follows_best_channel(rng):
    s, x = _channels(rng, gains=(3.0, 0.5, 0.5, 0.5), noise=(0.1, 1, 1, 1))
    f = fuse(x)
    # positive output = opposite sign of the best channel's phase (phase falls for +x motion)
    assert np.corrcoef(f.signal, s)[0, 1] < -0.99


def test_unusable_inputs():
    with pytest.raises(NoTextureError):
        fuse(np.full((100, 3), np.nan))
    with pytest.raises(NoTextureError):
        fuse(np.zeros((100, 3)))
    with pytest.raises(InputError):
        fuse(np.zeros((5, 3)))
    with pytest.raises(ParameterError):
        fuse(np.zeros(100))
    with pytest.raises(ParameterError):
        fuse(np.ones((100, 2)), max_lag=-1)


def test_nan_channel_is_left_out(rng):
    s, x = _channels(rng)
    x[:, 2] = np.nan
    f = fuse(x)
    assert not f.used[2] and f.weights[2] == 0
    assert abs(np.corrcoef(f.signal, s)[0, 1]) > 0.95


def test_polarity_reference_stays_in_one_orientation_group(rng):
    """Ties between equally good channels of different sign conventions must not flip the output."""
    s, x = _channels(rng, gains=(1.0, -1.0, 1.0, -1.0), noise=(0.1, 0.1, 0.1, 0.1))
    groups = np.array([0, 1, 0, 1])
    a = fuse(x, groups=groups)
    b = fuse(-x, groups=groups)
    assert np.corrcoef(a.signal, b.signal)[0, 1] < -0.999


def test_overwrite_x_gives_the_same_fusion_and_only_then_touches_the_input(rng):
    s, x = _channels(rng, n=6000, lags=[0, 2, -1, 0])
    x = np.column_stack([x, np.full(len(x), np.nan), x[:, 0] * 0.7 + rng.standard_normal(len(x))]).astype(np.float32)
    kept = x.copy()
    a = fuse(x, max_lag=4)
    assert np.array_equal(x, kept, equal_nan=True)  # default: the input is left as it was
    b = fuse(x, max_lag=4, overwrite_x=True)
    assert not np.array_equal(x, kept, equal_nan=True)  # used as the working copy
    assert np.array_equal(a.signal, b.signal)
    assert np.array_equal(a.lags, b.lags) and np.array_equal(a.weights, b.weights)
    assert not b.used[4] and b.used.sum() == 5
    # float64 or read-only inputs cannot be the working copy: left untouched
    x64 = kept.astype(np.float64)
    c = fuse(x64, max_lag=4, overwrite_x=True)
    assert np.array_equal(x64, kept.astype(np.float64), equal_nan=True)
    assert np.allclose(c.signal, a.signal, atol=1e-5)
    ro = kept.copy()
    ro.flags.writeable = False
    fuse(ro, max_lag=4, overwrite_x=True)
    assert np.array_equal(ro, kept, equal_nan=True)


def test_fusion_of_a_long_clip_allocates_little_beyond_its_input(rng):
    import tracemalloc

    from vismic.fuse import column_block

    n, c = 60000, 24
    s = rng.standard_normal(n)
    x = (s[:, None] * rng.uniform(0.5, 2.0, c) + 2.0 * rng.standard_normal((n, c))).astype(np.float32)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        f = fuse(x, max_lag=8, overwrite_x=True)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert abs(np.corrcoef(f.signal, s)[0, 1]) > 0.9
    # a second (n, c) working copy would be x.nbytes (5.8 MB) and float64 blocks of the whole clip
    # twice that; what is left is the lag search's FFTs of one channel (~10 samples' worth a frame)
    assert peak < 0.6 * x.nbytes + 12 * 8 * n, peak
    assert column_block(10) == 16 and column_block(10**9) == 1 and 1 <= column_block(n) * n * 8 <= 2**21


def _banded(rng, *, amp, n=4000, regions=4, shared=3.0, mode=None):
    """Band channels of ``regions`` regions: phase = -omega u . d + noise.  In region 0 two bands
    that overlap in frequency share a strong noise (as overlapping bands share pixel noise)."""
    s = rng.standard_normal(n)
    mode = np.ones(regions) if mode is None else np.asarray(mode, float)
    cols, geo = [], []
    for r in range(regions):
        for omega in (2.4, 1.2, 0.6):
            for k in range(4):
                th = np.pi * k / 4
                u = -omega * np.array([np.cos(th), np.sin(th)])
                cols.append(u[0] * amp * mode[r] * s + rng.standard_normal(n))
                geo.append([r, *u])
    x = np.stack(cols, 1)
    common = shared * rng.standard_normal(n)
    x[:, 1] += common  # region 0, level 0, orientations 45 and 90 deg
    x[:, 2] += common
    return s, x, np.array(geo)


def test_weak_signal_is_combined_by_band_geometry(rng):
    """Per-channel SNR -10 to -30 dB: the blind fit locks onto the shared noise; the geometric
    estimate (regions' displacements from the band physics) finds the sound."""
    s, x, geo = _banded(rng, amp=0.1)
    blind = fuse(x)
    f = fuse(x, geometry=geo)
    assert f.method == "geometric" and f.agreement < 0.9
    assert abs(np.corrcoef(blind.signal, s)[0, 1]) < 0.3
    # the best any combination can do here (known gains, independent noise) is 0.61
    assert np.corrcoef(f.signal, s)[0, 1] > 0.55  # positive: displacement along +x
    true_snr = 4 * (2.4**2 + 1.2**2 + 0.6**2) * 2 * 0.1**2
    assert abs(f.fused_snr_db - 10 * np.log10(true_snr)) < 1.5
    assert np.all(f.lags == 0) and any("geometry" in n for n in f.notes)


def test_strong_signal_keeps_the_blind_fit(rng):
    s, x, geo = _banded(rng, amp=0.5, mode=(1.0, -1.0, 0.5, 1.0))
    blind = fuse(x)
    f = fuse(x, geometry=geo)
    assert f.method == "blind" and f.agreement >= 0.9
    np.testing.assert_array_equal(f.signal, blind.signal)


def test_geometric_estimate_keeps_regions_in_opposite_phase(rng):
    s, x, geo = _banded(rng, amp=0.1, mode=(1.0, -1.0, 1.0, -1.0), shared=4.0)
    f = fuse(x, geometry=geo)
    assert f.method == "geometric"
    assert abs(np.corrcoef(f.signal, s)[0, 1]) > 0.55


def test_geometry_is_validated(rng):
    _, x, geo = _banded(rng, amp=0.1, n=100)
    with pytest.raises(ParameterError, match="geometry"):
        fuse(x, geometry=geo[:, :2])
    bad = geo.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ParameterError, match="geometry"):
        fuse(x, geometry=bad)


def test_a_sound_seen_by_one_region_keeps_the_blind_fit(rng):
    """The geometric fit learns only from covariances between regions: a sound that one region sees
    is invisible to it.  The blind factor is then physical (one displacement explains it) and kept."""
    s, x, geo = _banded(rng, amp=0.4, mode=(1.0, 0.0, 0.0, 0.0), shared=0.0)
    f = fuse(x, geometry=geo)
    assert f.method == "blind"
    assert abs(np.corrcoef(f.signal, s)[0, 1]) > 0.8  # the best possible here: 0.84
