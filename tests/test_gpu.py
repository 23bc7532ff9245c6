"""The optional PyTorch backend equals the numpy motion step (run on the CPU where no GPU is present)."""

from __future__ import annotations

import numpy as np
import pytest

from vismic.errors import ParameterError
from vismic.motion import MotionEstimator
from vismic.pipeline import RecoveryParams, recover
from vismic.pyramid import ComplexSteerablePyramid

torch = pytest.importorskip("torch", reason='the torch backend is optional: pip install "vismic[gpu]"')

from vismic.gpu import TorchMotionEstimator  # noqa: E402  (after the skip)


@pytest.mark.parametrize("mode", ["increment", "reference"])
def test_torch_motion_equals_numpy_motion(mode):
    rng = np.random.default_rng(1)
    base = rng.random((64, 80)).astype(np.float32)
    # a drifting texture plus noise: non-trivial phases in every band
    frames = np.stack([np.roll(base, t // 4, axis=1) + 0.01 * rng.standard_normal(base.shape) for t in range(24)])
    frames = frames.astype(np.float32)
    pyr = ComplexSteerablePyramid((64, 80), scales=3, orientations=4, high_band=True)
    ref = MotionEstimator(pyr, mode=mode, grid=(2, 2))
    gpu = TorchMotionEstimator(pyr, mode=mode, grid=(2, 2), device="cpu")
    a = np.concatenate([ref.process(frames[i : i + 5]) for i in range(0, 24, 5)])
    b = np.concatenate([gpu.process(frames[i : i + 7]) for i in range(0, 24, 7)])
    assert [c.name for c in ref.channels] == [c.name for c in gpu.channels]
    # float32 FFTs of two libraries: agreement to a few 1e-6 of the signal scale
    np.testing.assert_allclose(b, a, atol=2e-5 * np.nanmax(np.abs(a)), err_msg=f"torch != numpy ({mode})")


def test_recover_with_the_torch_backend(tmp_path):
    from vismic import simulate as sim

    s = sim.builtin_sound("noise", rate=2200.0, duration=0.3, seed=0)
    scene = sim.Scene(texture=sim.make_texture("pink", (96, 96), seed=0), sound=s, rate=2200.0, rms_px=0.01,
                      shape=(64, 64))
    path = tmp_path / "s.npy"
    np.save(path, np.concatenate(list(scene.frames(batch=256))))
    a = recover(path, RecoveryParams(fps=2200.0, processes=1))
    b = recover(path, RecoveryParams(fps=2200.0, backend="torch", batch=64))
    assert b.params.backend == "torch"
    assert np.corrcoef(a.audio, b.audio)[0, 1] > 0.9999


def test_torch_backend_refuses_fast_mode():
    with pytest.raises(ParameterError, match="fast"):
        RecoveryParams(backend="torch", mode="fast")
