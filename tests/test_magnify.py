"""Phase-based motion magnification: the band's motion comes out K times larger, the rest unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vismic import simulate as sim
from vismic.analysis.spectra import motion_spectrum
from vismic.errors import ParameterError
from vismic.magnify import MotionMagnifier, magnify

RATE = 1000.0


def _grating(n=300, period=12.0, amp=0.02, hz=100.0, shape=(64, 64)):
    t = np.arange(n) / RATE
    d = amp * np.sin(2 * np.pi * hz * t)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    k = 2 * np.pi / period
    return np.stack([0.5 + 0.3 * np.cos(k * (xx - di)) for di in d]).astype(np.float32), k


def _displacement(frames, k):
    """Displacement of a grating along x, from the phase of its Fourier coefficient (centre crop)."""
    yy, xx = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]].astype(float)
    c = (frames[:, 16:-16, 16:-16] * np.exp(-1j * k * xx[16:-16, 16:-16])).sum(axis=(1, 2))
    d = -np.unwrap(np.angle(c * np.conj(c[0]))) / k
    return d - d.mean()


def _band_rms(path, rate, band, grid):
    """RMS displacement within ``band`` of every region of ``grid``, as vismic's motion spectrum measures it."""
    ms = motion_spectrum(path, fps=rate, grid=grid)
    sel = (ms.freqs >= band[0]) & (ms.freqs <= band[1])
    return np.sqrt(np.trapezoid(ms.region_psd[..., sel], ms.freqs[sel], axis=-1))


def _run(mag, frames, batch=16):
    return np.concatenate([mag.process(frames[i : i + batch]) for i in range(0, len(frames), batch)])


@pytest.mark.parametrize("factor", [5.0, 20.0])
def test_the_bands_motion_comes_out_factor_times_larger(factor):
    frames, k = _grating()
    out = _run(MotionMagnifier(frames.shape[1:], rate=RATE, band=(80, 120), factor=factor, denoise=False), frames)
    a, b = _displacement(frames, k)[100:], _displacement(out, k)[100:]
    gain = float(np.dot(a, b) / np.dot(a, a))
    assert abs(gain - factor) < 0.03 * factor, gain
    assert np.corrcoef(a, b)[0, 1] > 0.99


def test_motion_well_outside_the_band_is_left_alone():
    frames, k = _grating(hz=20.0)
    out = _run(MotionMagnifier(frames.shape[1:], rate=RATE, band=(80, 120), factor=10, denoise=False), frames)
    a, b = _displacement(frames, k)[100:], _displacement(out, k)[100:]
    assert 0.85 < float(np.dot(a, b) / np.dot(a, a)) < 1.15


def test_factor_one_changes_nothing_and_batches_do_not_matter():
    frames, _ = _grating(n=64)
    same = _run(MotionMagnifier(frames.shape[1:], rate=RATE, band=(80, 120), factor=1.0), frames)
    np.testing.assert_allclose(same, frames, atol=1e-6)
    one = _run(MotionMagnifier(frames.shape[1:], rate=RATE, band=(80, 120), factor=10), frames, batch=5)
    two = _run(MotionMagnifier(frames.shape[1:], rate=RATE, band=(80, 120), factor=10), frames, batch=16)
    np.testing.assert_allclose(one, two, atol=2e-5)


def test_an_object_is_magnified_and_its_still_background_is_not(tmp_path):
    """A textured square moving 0.02 px at 100 Hz over a still textured background, read noise 2 grey
    levels: measured by vismic's own motion spectrum, the object's band motion grows many times and
    the background's stays within 3x (the noise gate keeps the background's noise from being magnified)."""
    mask = np.zeros((160, 160))
    mask[56:104, 56:104] = 1
    snd = sim.builtin_sound("tone", rate=RATE, duration=0.5, freq=100.0)
    sc = sim.Scene(texture=sim.make_texture("pink", (192, 192), seed=3), sound=snd, rate=RATE, rms_px=0.02,
                   shape=(160, 160), noise_sigma=2.0, seed=3, mode=mask)
    sim.render(sc, tmp_path / "in.mkv")
    # x15: 0.02 px RMS (0.028 px at its peaks) stays within the finest bands' quarter wavelength (0.67 px)
    res = magnify(tmp_path / "in.mkv", tmp_path / "out.mkv", fps=RATE, band=(80, 120), factor=15)
    assert res["frames"] == sc.n_frames and res["video"]["codec"] == "ffv1"

    def band_rms(path):
        return _band_rms(path, RATE, (80, 120), (5, 5))

    ratio = band_rms(tmp_path / "out.mkv") / band_rms(tmp_path / "in.mkv")
    # the centre tile lies inside the object; the outer ring of tiles is >= 24 px from it (the
    # pyramid's coarse filters carry some of the magnified motion across the object's border)
    ring = np.concatenate([ratio[0], ratio[4], ratio[1:4, 0], ratio[1:4, 4]])
    assert ratio[2, 2] > 8.0, ratio
    assert ring.max() < 3.0, ratio


def test_past_the_linear_range_it_warns(tmp_path):
    frames, _ = _grating(amp=0.3, period=6.0)
    np.save(tmp_path / "g.npy", frames)
    with pytest.warns(UserWarning, match="linear range"):
        res = magnify(tmp_path / "g.npy", tmp_path / "g.mp4", fps=RATE, band=(80, 120), factor=20, denoise=False)
    assert res["safe_factor"] < 20 and res["past_linear_share"] > 0.01


@pytest.mark.parametrize("kw, match", [
    ({"band": (80, 600)}, "half the capture rate"),
    ({"band": (120, 80)}, "0 < lo < hi"),
    ({"factor": 0}, "factor"),
    ({"view": "3d"}, "view"),
])
def test_bad_parameters_are_refused(tmp_path, kw, match):
    frames, _ = _grating(n=16)
    np.save(tmp_path / "g.npy", frames)
    args = {"band": (80, 120), "factor": 10, **kw}
    with pytest.raises(ParameterError, match=match):
        magnify(tmp_path / "g.npy", tmp_path / "g.mp4", fps=RATE, **args)
    assert not (tmp_path / "g.mp4").exists()


def test_cli_writes_a_video_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    from vismic.cli import main

    frames, _ = _grating(n=48)
    np.save(tmp_path / "g.npy", frames)
    out = tmp_path / "g.mp4"
    assert main(["magnify", str(tmp_path / "g.npy"), "--fps", "1000", "--band", "80,120", "--factor", "10",
                 "-o", str(out), "--view", "side-by-side", "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert out.exists() and res["video"]["cols"] == 2 * 64 + 4 and res["video"]["pix_fmt"] == "yuv420p"
    assert main(["magnify", str(tmp_path / "g.npy"), "--fps", "1000", "--band", "80,120", "--factor", "10",
                 "-o", str(tmp_path / "g.avi")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must be one of" in err[0]


def test_the_noise_gate_keeps_motion_that_fills_the_frame(tmp_path):
    """With no still part in the picture the gate still tells motion from noise (split halves of each
    block, no noise floor taken from 'quiet' blocks): a rigid scene comes out magnified."""
    snd = sim.builtin_sound("tone", rate=RATE, duration=0.4, freq=100.0)
    sc = sim.Scene(texture=sim.make_texture("pink", (96, 96), seed=4), sound=snd, rate=RATE, rms_px=0.02,
                   shape=(64, 64), noise_sigma=2.0, seed=4)
    sim.render(sc, tmp_path / "in.mkv")
    magnify(tmp_path / "in.mkv", tmp_path / "out.mkv", fps=RATE, band=(80, 120), factor=10)

    def band_rms(path):
        return float(_band_rms(path, RATE, (80, 120), (1, 1))[0, 0])

    assert band_rms(tmp_path / "out.mkv") / band_rms(tmp_path / "in.mkv") > 6.0


def _string_scene(rms, rows=160, cols=192):
    """A thin dark string (sigma 0.7 px), 4 degrees off horizontal, moving across itself at 82 Hz over
    a still, blurred pink board, 600 fps, noise 2 grey levels; returns the scene maker's arguments."""
    from scipy.ndimage import gaussian_filter

    tr, tc = rows + 32, cols + 32
    board = gaussian_filter(sim.make_texture("pink", (tr, tc), seed=5), 1.2)
    board = 0.5 + 0.6 * (board - board.mean())
    yy, xx = np.mgrid[0:tr, 0:tc]
    across = yy - (tr / 2 + np.tan(np.radians(4)) * (xx - tc / 2))
    near = np.exp(-0.5 * (across / 3.0) ** 2)
    texture = np.clip(board * (1 - near) + 0.5 * near - 0.45 * np.exp(-0.5 * (across / 0.7) ** 2), 0, 1)
    strip = (np.abs(across[16:16 + rows, 16:16 + cols]) < 4.5).astype(float)
    snd = sim.builtin_sound("tone", rate=600.0, duration=0.4, freq=82.0)
    return sim.Scene(texture=texture, sound=snd, rate=600.0, rms_px=rms, shape=(rows, cols), noise_sigma=2.0,
                     seed=3, mode=strip, direction_deg=90.0)


def test_a_thin_string_is_magnified_as_far_as_its_true_motion_measures(tmp_path):
    """A string 1-2 px wide moving 0.01 px over a still board (what the finest bands see): the gate finds
    it (the block displacement pools every band, weighted by its noise; an earlier gate pooled phases
    in radians and measured x1.3-4.6 here), the output reads close to the truth rendered 30x larger
    and the board stays still."""
    sim.render(_string_scene(0.01), tmp_path / "in.mkv")
    sim.render(_string_scene(0.3), tmp_path / "truth.mkv")
    magnify(tmp_path / "in.mkv", tmp_path / "out.mkv", fps=600.0, band=(75, 90), factor=30)

    def band_rms(path):
        return _band_rms(path, 600.0, (75, 90), (5, 6))

    before = band_rms(tmp_path / "in.mkv")
    ratio, truth = band_rms(tmp_path / "out.mkv") / before, band_rms(tmp_path / "truth.mkv") / before
    # the string crosses the middle row of tiles; the top and bottom rows are >= 40 px from it
    assert np.median(ratio[2]) > 0.75 * np.median(truth[2]) and np.median(ratio[2]) > 18, (ratio, truth)
    # (in 0.4 s a noise-only block's measured SNR scatters by a few dB: a few pass the gate in part)
    still = np.concatenate([ratio[0], ratio[4]])
    assert np.median(still) < 2.5 and still.max() < 5.0, ratio


def test_a_thin_string_past_the_linear_range_is_warned_about(tmp_path):
    """The string is a small part of the picture but most of the motion: at 0.06 px RMS (0.085 px at its
    peaks) x30 it passes the finest band's quarter wavelength (0.67 px; a safe factor near 9), and the
    warning says so (a quantile over all coefficients by amplitude would not see it); at 0.02 px x10
    it does not."""
    sim.render(_string_scene(0.06), tmp_path / "in.mkv")
    with pytest.warns(UserWarning, match="linear range"):
        res = magnify(tmp_path / "in.mkv", tmp_path / "out.mkv", fps=600.0, band=(75, 90), factor=30)
    assert 6 < res["safe_factor"] < 11, res
    sim.render(_string_scene(0.02), tmp_path / "small.mkv")
    res = magnify(tmp_path / "small.mkv", tmp_path / "small-out.mkv", fps=600.0, band=(75, 90), factor=10)
    assert res["safe_factor"] > 15, res


def test_a_flat_video_is_refused_and_flat_blocks_stay_quiet(tmp_path):
    """A picture without texture has no motion to magnify: one clear error, no output (it was written
    unchanged). A picture that is flat in part (a blank wall beside the
    object) magnifies without a warning."""
    from vismic.errors import NoTextureError

    np.save(tmp_path / "flat.npy", np.full((32, 48, 64), 0.5, np.float32))
    with pytest.raises(NoTextureError, match="flat"):
        magnify(tmp_path / "flat.npy", tmp_path / "flat.mkv", fps=RATE, band=(80, 120), factor=10)
    assert not (tmp_path / "flat.mkv").exists()
    frames, _ = _grating(n=64)
    frames[:, :, 32:] = 0.5
    np.save(tmp_path / "half.npy", frames)
    res = magnify(tmp_path / "half.npy", tmp_path / "half.mkv", fps=RATE, band=(80, 120), factor=5)
    assert res["frames"] == 64 and np.isfinite(res["past_linear_share"])
