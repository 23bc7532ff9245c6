"""Shared fixtures. Test data are made here; nothing is read from outside the repository."""

from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def _plan_cache(tmp_path_factory):
    """FFTW's plan cache (extra vismic[fftw]) lives in the session's temporary folder, not the user's."""
    if "VISMIC_CACHE_DIR" not in os.environ:
        os.environ["VISMIC_CACHE_DIR"] = str(tmp_path_factory.mktemp("plan-cache"))


def pink_texture(shape, seed=0):
    """A periodic 1/f texture in [0, 1] (test-local; independent of vismic.simulate)."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    r = np.sqrt(fx**2 + fy**2)
    r[0, 0] = 1.0
    spec = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / r
    spec[0, 0] = 0
    t = np.real(np.fft.ifft2(spec))
    t = (t - t.min()) / (t.max() - t.min())
    return t


def shifted_frames(texture, dx, dy=None):
    """Frames of ``texture`` shifted by ``dx[t]`` (and ``dy[t]``) pixels, exactly (Fourier shift)."""
    dx = np.asarray(dx, dtype=np.float64)
    dy = np.zeros_like(dx) if dy is None else np.asarray(dy, dtype=np.float64)
    spec = np.fft.fft2(texture)
    ky = 2 * np.pi * np.fft.fftfreq(texture.shape[0])[:, None]
    kx = 2 * np.pi * np.fft.fftfreq(texture.shape[1])[None, :]
    out = np.empty((len(dx),) + texture.shape, dtype=np.float32)
    for i in range(len(dx)):
        out[i] = np.real(np.fft.ifft2(spec * np.exp(-1j * (kx * dx[i] + ky * dy[i]))))
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def make_scene(*, rate=2200.0, rms=0.01, shape=(96, 96), duration=1.0, seed=0, sound="noise", texture="pink",
               sigma=2.0, **kw):
    """The tests' rendered scene: a ``texture`` (32 px larger than the frame) moved ``rms`` px RMS by a
    built-in ``sound``, read noise ``sigma`` grey levels; ``kw`` goes to :class:`vismic.simulate.Scene`."""
    from vismic import simulate as sim

    s = sim.builtin_sound(sound, rate=rate, duration=duration, seed=seed)
    tex = sim.make_texture(texture, (shape[0] + 32, shape[1] + 32), seed=seed)
    return sim.Scene(texture=tex, sound=s, rate=rate, rms_px=rms, shape=shape, noise_sigma=sigma, seed=seed, **kw)

