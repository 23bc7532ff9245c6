"""How much does `vismic magnify` magnify, measured by vismic itself?

Magnifies a clip (lossless .mkv output), then measures the band's displacement in every region of a
grid on the input and on the output with `vismic.analysis.spectra.motion_spectrum` and prints the
ratio: in the regions that move most in the band, and in the quietest ones.

For a rendered scene it also renders the truth, the same scene moving ``factor`` times more, and
measures it the same way: what a perfect magnifier would read. Where the magnified motion passes the
finest bands' quarter wavelength (0.7-1 px), the phase measurement itself reads less than the
factor; the truth column says how much less.

    python benchmarks/magnify_check.py ../shared/data/video/guitar.mp4 --fps 600 --band 75,90 --factor 30
    python benchmarks/magnify_check.py --scene object --factor 20   # a textured object over a still background
    python benchmarks/magnify_check.py --scene string --rms 0.01    # a thin string over a still board
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
from scipy.ndimage import gaussian_filter

from vismic import simulate as sim
from vismic.analysis.spectra import motion_spectrum
from vismic.magnify import magnify


def band_rms(path, fps, band, grid):
    ms = motion_spectrum(path, fps=fps, grid=grid)
    sel = (ms.freqs >= band[0]) & (ms.freqs <= band[1])
    return np.sqrt(np.trapezoid(ms.region_psd[..., sel], ms.freqs[sel], axis=-1)), ms


def object_scene(rms):
    """A 48 px pink-textured square moving at 100 Hz over a still pink background, 1 kHz, noise 2."""
    rate = 1000.0
    mask = np.zeros((160, 160))
    mask[56:104, 56:104] = 1
    snd = sim.builtin_sound("tone", rate=rate, duration=1.0, freq=100.0)

    def make(amp):
        return sim.Scene(texture=sim.make_texture("pink", (192, 192), seed=3), sound=snd, rate=rate, rms_px=amp,
                         shape=(160, 160), noise_sigma=2.0, seed=3, mode=mask)

    return make, rms or 0.02, rate, (80.0, 120.0), (5, 5)


def string_scene(rms):
    """A thin dark string (Gaussian profile, sigma 0.7 px), 4 degrees off horizontal, moving across
    itself at 82 Hz over a still, lens-blurred pink board; 600 fps, 0.5 s, noise 2 grey levels (a
    guitar's low string: thin structures live in the finest bands, whose linear range is smallest)."""
    rate, (rows, cols), (tr, tc) = 600.0, (128, 256), (160, 288)
    board = gaussian_filter(sim.make_texture("pink", (tr, tc), seed=5), 1.2)
    board = 0.5 + 0.6 * (board - board.mean())
    yy, xx = np.mgrid[0:tr, 0:tc]
    across = yy - (tr / 2 + np.tan(np.radians(4)) * (xx - tc / 2))
    near = np.exp(-0.5 * (across / 3.0) ** 2)  # the board is plain right next to the string
    texture = np.clip(board * (1 - near) + 0.5 * near - 0.45 * np.exp(-0.5 * (across / 0.7) ** 2), 0, 1)
    r0, c0 = (tr - rows) // 2, (tc - cols) // 2
    strip = (np.abs(across[r0:r0 + rows, c0:c0 + cols]) < 4.5).astype(float)  # what moves: the string
    snd = sim.builtin_sound("tone", rate=rate, duration=0.5, freq=82.0)

    def make(amp):
        return sim.Scene(texture=texture, sound=snd, rate=rate, rms_px=amp, shape=(rows, cols), noise_sigma=2.0,
                         seed=3, mode=strip, direction_deg=90.0)

    return make, rms or 0.01, rate, (75.0, 90.0), (4, 8)


SCENES = {"object": object_scene, "string": string_scene}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?")
    p.add_argument("--fps", type=float)
    p.add_argument("--band", default="75,90")
    p.add_argument("--factor", type=float, default=30.0)
    p.add_argument("--grid", default="6x13", help="region grid ROWSxCOLS of the measurement")
    p.add_argument("--scene", choices=sorted(SCENES), help="a rendered scene instead of a video")
    p.add_argument("--rms", type=float, help="the rendered scene's RMS motion in px (object 0.02, string 0.01)")
    p.add_argument("--no-denoise", action="store_true")
    a = p.parse_args()
    if not a.scene and not (a.video and a.fps):
        p.error("give a video and --fps, or --scene")
    warnings.simplefilter("ignore")
    truth = None
    with tempfile.TemporaryDirectory() as tmp:
        if a.scene:
            make, rms, fps, band, grid = SCENES[a.scene](a.rms)
            video, label = os.path.join(tmp, "scene.mkv"), f"rendered {a.scene}, {rms:g} px RMS"
            sim.render(make(rms), video)
        else:
            video, fps, label = a.video, a.fps, a.video
            band = tuple(float(v) for v in a.band.split(","))
            grid = tuple(int(v) for v in a.grid.split("x"))
        out = os.path.join(tmp, "magnified.mkv")
        t0 = time.perf_counter()
        res = magnify(video, out, fps=fps, band=band, factor=a.factor, denoise=not a.no_denoise)
        secs = time.perf_counter() - t0
        before, ms = band_rms(video, fps, band, grid)
        after, _ = band_rms(out, fps, band, grid)
        if a.scene:
            sim.render(make(rms * a.factor), os.path.join(tmp, "truth.mkv"))
            truth = band_rms(os.path.join(tmp, "truth.mkv"), fps, band, grid)[0] / before
    ratio = after / before
    print(f"{label}: band {band[0]:g}-{band[1]:g} Hz, factor {a.factor:g}, denoise {not a.no_denoise}; "
          f"{res['frames']} frames in {secs:.1f} s ({res['frames'] / secs:.1f} frames/s); linear range: "
          f"safe factor {res['safe_factor']:.3g}, clipping took {100 * res['past_linear_share']:.1f} % of the energy")
    order = np.argsort(before, axis=None)
    also = " (the truth, rendered x factor, reads)" if truth is not None else ""
    print(f"regions moving most in the band (input RMS px -> measured ratio{also}):")
    for idx in order[::-1][:5]:
        r = np.unravel_index(idx, before.shape)
        extra = f"  (x{truth[r]:.1f})" if truth is not None else ""
        print(f"  {ms.regions[idx]}  {before[r]:.4f} px  x{ratio[r]:.1f}{extra}")
    print("quietest regions:")
    for idx in order[:5]:
        r = np.unravel_index(idx, before.shape)
        print(f"  {ms.regions[idx]}  {before[r]:.5f} px  x{ratio[r]:.1f}")
    np.set_printoptions(precision=1, suppress=True, linewidth=160)
    print("ratio per region:")
    print(ratio)
    if truth is not None:
        print("the truth's ratio per region:")
        print(truth)


if __name__ == "__main__":
    main()
