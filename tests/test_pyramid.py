"""The complex steerable pyramid against pyrtools (oracle) and against its own invariants."""

import numpy as np
import pytest

from vismic.errors import ParameterError
from vismic.pyramid import ComplexSteerablePyramid, max_scales


@pytest.mark.parametrize(
    "shape, scales, orientations",
    [((64, 64), 3, 2), ((48, 80), 2, 4), ((50, 66), 3, 2), ((45, 63), 2, 3), ((128, 96), 4, 2)],
)
def test_bands_equal_pyrtools(shape, scales, orientations):
    pt = pytest.importorskip("pyrtools")
    rng = np.random.default_rng(1)
    im = rng.standard_normal(shape)
    with pytest.warns(UserWarning) if (shape[0] % 2 or shape[1] % 2) else _nothing():
        ref = pt.pyramids.SteerablePyramidFreq(im, height=scales, order=orientations - 1, is_complex=True)
    pyr = ComplexSteerablePyramid(shape, scales=scales, orientations=orientations)
    levels = pyr.decompose(im)
    for lev in range(scales):
        for k in range(orientations):
            a = ref.pyr_coeffs[(lev, k)]
            b = levels[lev][0, k]
            assert a.shape == b.shape
            # float32 FFTs: relative error ~1e-7; 1e-5 leaves room for odd sizes and FFT backends
            err = np.abs(a - b).max() / np.abs(a).max()
            assert err < 1e-5, f"level {lev} orientation {k}: relative error {err:.2e}"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@pytest.mark.parametrize("high_band", [False, True])
@pytest.mark.parametrize("orientations", [2, 4])
def test_tight_frame(high_band, orientations):
    """The real parts of the analytic bands plus the residuals tile the spectrum: sum |H|^2 = 1."""
    pyr = ComplexSteerablePyramid((64, 64), scales=3, orientations=orientations, high_band=high_band)
    bands, lo, hi = pyr.frequency_response()
    total = np.abs(lo) ** 2 + np.abs(hi) ** 2
    for h in bands:
        # real part of an analytic band: (H(k) + conj H(-k)) / 2; -k on the fftshift grid of an
        # even size is the index reflection around the centre
        hm = np.roll(h[::-1, ::-1], (1, 1), axis=(0, 1))
        total = total + np.abs((h + np.conj(hm)) / 2) ** 2
    if high_band:
        # the Nyquist row/column is its own mirror for real images: no analytic band holds it
        # (and it carries no usable phase), so the carved high bands leave it out
        total = total[1:, 1:]
    assert np.allclose(total, 1.0, atol=1e-5), f"max deviation {np.abs(total - 1).max():.2e}"


def test_bands_are_analytic():
    """Each band passes one half-plane only, so its phase is well defined (no real-signal mirror)."""
    pyr = ComplexSteerablePyramid((64, 64), scales=3, orientations=2, high_band=True)
    bands, _, _ = pyr.frequency_response()
    rows, cols = 64, 64
    fy, fx = np.meshgrid(np.arange(rows) - rows // 2, np.arange(cols) - cols // 2, indexing="ij")
    for b, h in zip(pyr.bands, bands, strict=True):
        direction = np.cos(b.angle) * fx + np.sin(b.angle) * fy
        assert np.abs(h[direction < 0]).max() < 1e-6, b.name


def test_shift_changes_phase_by_k_dot_d():
    """A sub-pixel shift d of a band-limited texture rotates each band's phase by about k.d."""
    rng = np.random.default_rng(2)
    n = 64
    spec = np.fft.fft2(rng.standard_normal((n, n)))
    fx = np.fft.fftfreq(n) * 2 * np.pi
    d = 0.01
    shifted = np.real(np.fft.ifft2(spec * np.exp(-1j * fx[None, :] * d)))
    base = np.real(np.fft.ifft2(spec))
    pyr = ComplexSteerablePyramid((n, n), scales=3, orientations=2)
    a, b = pyr.decompose(np.stack([base, shifted]))[0][:, 0]
    dphi = np.angle(b * np.conj(a))
    w = np.abs(a) ** 2
    mean_dphi = float(np.sum(w * dphi) / np.sum(w))
    # level 0 is centred on pi/2 rad/px along x: expect about -pi/2 * d (within the band's spread)
    assert -0.9 * np.pi * d < mean_dphi < -0.3 * np.pi * d


def test_batch_equals_single_frames():
    rng = np.random.default_rng(3)
    frames = rng.random((5, 40, 56)).astype(np.float32)
    pyr = ComplexSteerablePyramid((40, 56), scales=2, orientations=2, high_band=True)
    batch = pyr.decompose(frames)
    for i in range(5):
        one = pyr.decompose(frames[i])
        for lb, lo in zip(batch, one, strict=True):
            assert np.allclose(lb[i], lo[0], atol=1e-6)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="scales"):
        ComplexSteerablePyramid((32, 32), scales=max_scales((32, 32)) + 1)
    with pytest.raises(ParameterError, match="too small"):
        ComplexSteerablePyramid((4, 32))
    with pytest.raises(ParameterError, match="orientations"):
        ComplexSteerablePyramid((32, 32), scales=1, orientations=0)
    pyr = ComplexSteerablePyramid((32, 32), scales=1)
    with pytest.raises(ParameterError, match="shape"):
        pyr.decompose(np.zeros((2, 16, 16)))
