"""The exact path through FFTW (extra vismic[fftw]) equals scipy.fft; plans are shared and cached."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_jit import CASES, _frames, _rel
from test_scale import RATE, _npy, _scene, _Stop

from vismic import _backends, measure, motion
from vismic import pipeline as pl
from vismic.pyramid import ComplexSteerablePyramid


@pytest.fixture
def fft_choice():
    """Set the FFT library of estimators built in the test (restored afterwards)."""
    saved = list(_backends._FFT)

    def use(name: str) -> None:
        _backends._FFT[:] = [name]

    yield use
    _backends._FFT[:] = saved


def _run(case, frames, *, fft, prune_min, use):
    shape, scales, k, high, grid, mode = case
    saved_kernel, saved_min = list(_backends._KERNEL), motion._PRUNE_MIN_AREA
    try:
        use(fft)
        _backends._KERNEL[:] = [None]  # the numpy phase step: only the FFT differs
        motion._PRUNE_MIN_AREA = prune_min
        est = motion.MotionEstimator(ComplexSteerablePyramid(shape, scales=scales, orientations=k, high_band=high),
                                     mode=mode, grid=grid)
        return np.concatenate([est.process(frames[:5]), est.process(frames[5:])]), est
    finally:
        _backends._KERNEL[:] = saved_kernel
        motion._PRUNE_MIN_AREA = saved_min


@pytest.mark.parametrize("prune_min", [0, 10**9], ids=["pruned", "whole"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0][1]}x{c[0][0]}-K{c[2]}-{c[5]}")
def test_fftw_equals_scipy(case, prune_min, fft_choice):
    pytest.importorskip("pyfftw")
    frames = _frames(case[0], seed=2)
    ref, est_s = _run(case, frames, fft="scipy", prune_min=prune_min, use=fft_choice)
    got, est_f = _run(case, frames, fft="fftw", prune_min=prune_min, use=fft_choice)
    assert est_s._forward is None and est_f._forward is not None  # really two libraries
    assert np.all(np.isfinite(ref[1:]))
    assert _rel(ref, got) < 1e-4  # float32 rounding, as between the pruned and whole inverses
    np.testing.assert_allclose(est_f.mean_weight, est_s.mean_weight, rtol=1e-5)  # normalised alike


@pytest.mark.parametrize("fft", ["scipy", "fftw"])
def test_reset_keeps_the_plans_and_starts_afresh(fft, fft_choice):
    if fft == "fftw":
        pytest.importorskip("pyfftw")
    fft_choice(fft)
    case = CASES[1]
    frames = _frames(case[0], seed=3)
    est = motion.MotionEstimator(ComplexSteerablePyramid(case[0], scales=3, orientations=4, high_band=True),
                                 mode="increment", grid=(2, 2))
    first = est.process(frames)
    work = est._work
    est.reset()
    again = est.process(frames[::-1].copy())
    est.reset()
    np.testing.assert_array_equal(est.process(frames), first)
    assert est._work is work and not np.array_equal(again, first)


def test_vismic_fft_scipy_selects_scipy(monkeypatch, fft_choice):
    fft_choice("unset")
    _backends._FFT[:] = []
    monkeypatch.setenv("VISMIC_FFT", "scipy")
    assert _backends.fft_backend() == "scipy" and _backends.fft_wisdom() is None
    _backends._FFT[:] = []
    monkeypatch.delenv("VISMIC_FFT")
    try:
        import pyfftw  # noqa: F401
    except ImportError:
        assert _backends.fft_backend() == "scipy"
    else:
        assert _backends.fft_backend() == "fftw"


_PLAN = (
    "import sys, time\n"
    "from vismic import _fftw, motion\n"
    "from vismic.pyramid import ComplexSteerablePyramid\n"
    "est = motion.MotionEstimator(ComplexSteerablePyramid((90, 110), scales=3, orientations=2))\n"
    "t = time.perf_counter(); est.prepare()\n"
    "print(_fftw._state['saved'] is not None, _fftw.cache_file())\n"
)


def _plan_in_new_process(cache: str) -> tuple[bool, str]:
    env = {**os.environ, "VISMIC_CACHE_DIR": cache}
    env.pop("VISMIC_FFT", None)
    r = subprocess.run([sys.executable, "-c", _PLAN], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    held, path = r.stdout.split()
    return held == "True", path


def test_plans_are_cached_on_disk(tmp_path):
    pytest.importorskip("pyfftw")
    cache = tmp_path / "cache"
    held, path = _plan_in_new_process(str(cache))
    assert os.path.isfile(path) and os.path.dirname(path) == str(cache)
    assert held  # written after planning
    before = os.path.getmtime(path)
    held, path2 = _plan_in_new_process(str(cache))
    assert path2 == path and held and os.path.getmtime(path) == before  # read, nothing new to write
    # switched off: nothing written; a folder that cannot be made: planning still works
    assert _plan_in_new_process("off")[1] == "None"
    (tmp_path / "file").write_text("not a folder")
    held, path3 = _plan_in_new_process(str(tmp_path / "file" / "sub"))
    assert not held and not os.path.exists(path3)


def test_every_chunk_follows_the_plans_of_the_run(tmp_path, monkeypatch, fft_choice):
    """The run's FFTW plans travel with every chunk and the workers plan by them."""
    pytest.importorskip("pyfftw")
    fft_choice("fftw")
    learned = []
    real = measure.learn_fft_wisdom
    monkeypatch.setattr(measure, "learn_fft_wisdom", lambda w: (learned.append(w), real(w)))
    tasks = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, task):
            tasks.append(task)
            return super().submit(fn, task)

    path = _npy(_scene(duration=0.5), tmp_path / "s.npy")
    params = pl.RecoveryParams(fps=RATE, chunk=256, mode="anchored")
    with Recording(max_workers=2) as pool:
        spread = pl.recover(path, params, executor=pool)
    serial = pl.recover(path, pl.RecoveryParams(fps=RATE, chunk=256, processes=1, mode="anchored"))
    wisdom = tasks[0]["fft_wisdom"]
    assert isinstance(wisdom, bytes) and b"fftwf_wisdom" in wisdom
    assert all(t["fft_wisdom"] == wisdom for t in tasks)
    assert learned and all(w == wisdom for w in learned)  # each pool thread built its estimator by them
    assert spread.timings["fft"] == serial.timings["fft"] == "fftw"
    np.testing.assert_array_equal(spread.audio, serial.audio)


def test_a_resumed_run_follows_the_plans_of_its_checkpoint(tmp_path, monkeypatch, fft_choice):
    pytest.importorskip("pyfftw")
    fft_choice("fftw")
    path = _npy(_scene(duration=1.0), tmp_path / "s.npy")
    params = pl.RecoveryParams(fps=RATE, chunk=256, processes=1, mode="anchored")
    clean = pl.recover(path, params)
    ck = tmp_path / "ck"

    def interrupt(done, total):
        if done >= 2 * 256:
            raise _Stop

    with pytest.raises(_Stop):
        pl.recover(path, params, progress=interrupt, checkpoint=ck)
    saved = (ck / measure._WISDOM_FILE).read_bytes()
    assert b"fftwf_wisdom" in saved
    learned = []
    real = measure.learn_fft_wisdom
    monkeypatch.setattr(measure, "learn_fft_wisdom", lambda w: (learned.append(w), real(w)))
    resumed = pl.recover(path, params, checkpoint=ck)
    assert resumed.timings["chunks_resumed"] >= 2 and learned == [saved]
    np.testing.assert_array_equal(resumed.audio, clean.audio)


def test_backend_numpy_runs_plain_scipy_and_numpy_and_says_so(tmp_path):
    """params.backend is the one switch a run records: "numpy" takes scipy.fft and numpy whatever is
    installed; "auto" takes what _backends picks; both agree to float32 rounding."""
    sc = _scene(duration=0.3)
    path = _npy(sc, tmp_path / "s.npy")
    plain = pl.recover(path, pl.RecoveryParams(fps=RATE, mode="anchored", backend="numpy", processes=1))
    auto = pl.recover(path, pl.RecoveryParams(fps=RATE, mode="anchored", processes=1))
    assert plain.timings["fft"] == "scipy" and plain.timings["phase_step"] == "numpy"
    assert auto.params.backend == "auto" and auto.timings["fft"] == _backends.fft_backend()
    assert plain.sidecar()["params"]["backend"] == "numpy"
    np.testing.assert_allclose(plain.raw, auto.raw, rtol=0, atol=1e-4 * np.abs(auto.raw).max())
