"""The exact path's pruned inverse FFTs and compiled phase step equal the plain numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from vismic import _backends, motion
from vismic.pyramid import ComplexSteerablePyramid

CASES = [
    # shape, scales, orientations, high band, grid, mode
    ((64, 64), 3, 2, False, (1, 1), "reference"),
    ((101, 77), 3, 4, True, (2, 2), "increment"),
    ((96, 130), 2, 3, False, (1, 2), "increment"),
    ((48, 200), 2, 2, True, (3, 1), "reference"),
]


def _frames(shape, n=12, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(shape).astype(np.float32)
    # a sub-pixel drift (phase ramp) plus noise, so that phases change from frame to frame
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.fftfreq(shape[1])[None, :]
    spec = np.fft.fft2(base)
    out = [np.fft.ifft2(spec * np.exp(-2j * np.pi * (kx * 0.03 * t + ky * 0.01 * t))).real for t in range(n)]
    return (np.stack(out) + 0.02 * rng.standard_normal((n, *shape))).astype(np.float32)


def _run(case, frames, *, kernel, prune_min):
    shape, scales, k, high, grid, mode = case
    pyr = ComplexSteerablePyramid(shape, scales=scales, orientations=k, high_band=high, workers=1)
    saved_kernel, saved_min = list(_backends._KERNEL), motion._PRUNE_MIN_AREA
    try:
        _backends._KERNEL[:] = [] if kernel else [None]
        motion._PRUNE_MIN_AREA = prune_min
        est = motion.MotionEstimator(pyr, mode=mode, grid=grid)
        first = est.process(frames[:5])
        rest = est.process(frames[5:])
        return np.concatenate([first, rest]), est
    finally:
        _backends._KERNEL[:] = saved_kernel
        motion._PRUNE_MIN_AREA = saved_min


def _rel(a, b):
    rms = np.sqrt(np.mean(a[1:] ** 2, axis=0))
    return float(np.max(np.abs(a[1:] - b[1:]) / rms))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0][1]}x{c[0][0]}-K{c[2]}-{c[5]}")
def test_pruned_inverse_fft_equals_whole(case):
    frames = _frames(case[0])
    whole, est_w = _run(case, frames, kernel=False, prune_min=10**9)
    pruned, est_p = _run(case, frames, kernel=False, prune_min=0)
    assert all(w.plans is None for w in est_w._work)
    axes = [p.axis for w in est_p._work for p in w.plans]
    assert 0 in axes or 1 in axes  # some bands really were pruned
    assert np.all(np.isfinite(whole[1:]))
    assert _rel(whole, pruned) < 1e-4


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0][1]}x{c[0][0]}-K{c[2]}-{c[5]}")
def test_compiled_phase_step_equals_numpy(case):
    pytest.importorskip("numba")
    frames = _frames(case[0], seed=1)
    plain, _ = _run(case, frames, kernel=False, prune_min=0)
    compiled, est = _run(case, frames, kernel=True, prune_min=0)
    assert _rel(plain, compiled) < 1e-4
    # the motion is real (not all noise) and both agree on it
    assert np.corrcoef(plain[1:, 0], compiled[1:, 0])[0, 1] > 0.9999


def test_compiled_atan2_every_quadrant():
    pytest.importorskip("numba")
    from vismic._jit import phase_sums

    rng = np.random.default_rng(3)
    z = (rng.standard_normal(4000) * 10.0 ** rng.uniform(-3, 3, 4000)
         + 1j * rng.standard_normal(4000) * 10.0 ** rng.uniform(-3, 3, 4000))
    special = [1, -1, 1j, -1j, 1 + 1j, -1 - 1j, 3 - 1e-6j, -3 + 1e-6j, 1e-6 + 2j, 0]
    z = np.concatenate([z, special]).astype(np.complex64)
    n = z.size
    c = z.reshape(1, n)
    a = np.ones((1, n), np.complex64)  # conj(anchor) = 1, so z itself is summed
    num = np.zeros((1, n))
    den = np.zeros((1, n))
    # one region per coefficient: num = |z| angle(z), den = |z|
    phase_sums(c.view(np.float32), a.view(np.float32), True, np.zeros(1, np.int64), np.arange(n + 1, dtype=np.int64),
               num, den)
    z64 = z.astype(np.complex128)
    assert np.allclose(den[0], np.abs(z64), rtol=1e-6, atol=0)
    got = np.divide(num[0], den[0], out=np.zeros(n), where=den[0] > 0)
    want = np.angle(z64)
    err = np.abs(np.angle(np.exp(1j * (got - want))))  # +pi and -pi are the same angle
    assert err.max() < 1e-6
    assert num[0, -1] == 0 and den[0, -1] == 0  # zero coefficient: no weight, no NaN


def test_compiled_step_moves_or_keeps_the_anchor():
    pytest.importorskip("numba")
    from vismic._jit import phase_sums

    c = (np.arange(12) + 1j).astype(np.complex64).reshape(2, 6)
    a = np.full((2, 6), 2 - 1j, np.complex64)
    args = (np.zeros(2, np.int64), np.array([0, 6], np.int64), np.zeros((1, 1)), np.zeros((1, 1)))
    kept = a.copy()
    phase_sums(c.view(np.float32), kept.view(np.float32), True, *args)
    assert np.array_equal(kept, a)
    moved = a.copy()
    phase_sums(c.view(np.float32), moved.view(np.float32), False, *args)
    assert np.array_equal(moved, np.conj(c))


def test_vismic_jit_0_selects_numpy(monkeypatch):
    saved = list(_backends._KERNEL)
    try:
        monkeypatch.setenv("VISMIC_JIT", "0")
        _backends._KERNEL[:] = []
        assert _backends.jit_kernel() is None
        assert _backends.warm_jit() is False
    finally:
        _backends._KERNEL[:] = saved


def test_recover_reports_the_phase_step(tmp_path):
    from vismic import simulate as sim
    from vismic.pipeline import RecoveryParams, recover

    pytest.importorskip("numba")
    from vismic._jit import phase_sums

    sound = sim.builtin_sound("noise", rate=2000.0, duration=0.2, seed=2)
    tex = sim.make_texture("pink", (96, 96), seed=2)
    scene = sim.Scene(texture=tex, sound=sound, rate=2000.0, rms_px=0.02, shape=(64, 64), noise_sigma=1.0, seed=2)
    path = tmp_path / "s.npy"
    np.save(path, np.concatenate(list(scene.frames(batch=512))))
    saved = list(_backends._KERNEL)
    try:  # the choice is set here, so that VISMIC_JIT in the environment does not decide the test
        _backends._KERNEL[:] = [phase_sums]
        rec = recover(str(path), RecoveryParams(fps=2000.0, processes=1, mode="anchored"))
        _backends._KERNEL[:] = [None]
        rec2 = recover(str(path), RecoveryParams(fps=2000.0, processes=1, mode="anchored"))
    finally:
        _backends._KERNEL[:] = saved
    assert rec.timings["phase_step"] == "numba"
    assert rec2.timings["phase_step"] == "numpy"
    assert np.corrcoef(rec.audio, rec2.audio)[0, 1] > 0.9999
    fast = recover(str(path), RecoveryParams(fps=2000.0, processes=1, mode="fast"))
    assert "phase_step" not in fast.timings
