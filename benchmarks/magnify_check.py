"""How much does `vismic magnify` magnify, measured by vismic itself?

Magnifies a clip (lossless .mkv output), then measures the band's displacement in every region of a
grid on the input and on the output with `vismic.analysis.spectra.motion_spectrum` and prints the
ratio: in the regions that move most in the band, and in the quietest ones.

    python benchmarks/magnify_check.py ../shared/data/video/guitar.mp4 --fps 600 --band 75,90 --factor 30
    python benchmarks/magnify_check.py --scene      # a rendered object over a still background
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

from vismic.analysis.spectra import motion_spectrum
from vismic.magnify import magnify


def band_rms(path, fps, band, grid):
    ms = motion_spectrum(path, fps=fps, grid=grid)
    sel = (ms.freqs >= band[0]) & (ms.freqs <= band[1])
    return np.sqrt(np.trapezoid(ms.region_psd[..., sel], ms.freqs[sel], axis=-1)), ms


def scene(folder):
    from vismic import simulate as sim

    rate = 1000.0
    mask = np.zeros((160, 160))
    mask[56:104, 56:104] = 1
    snd = sim.builtin_sound("tone", rate=rate, duration=1.0, freq=100.0)
    sc = sim.Scene(texture=sim.make_texture("pink", (192, 192), seed=3), sound=snd, rate=rate, rms_px=0.02,
                   shape=(160, 160), noise_sigma=2.0, seed=3, mode=mask)
    path = os.path.join(folder, "scene.mkv")
    sim.render(sc, path)
    return path, rate, (80.0, 120.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?")
    p.add_argument("--fps", type=float)
    p.add_argument("--band", default="75,90")
    p.add_argument("--factor", type=float, default=30.0)
    p.add_argument("--grid", default="6x13", help="region grid ROWSxCOLS of the measurement")
    p.add_argument("--scene", action="store_true", help="a rendered object over a still background instead")
    p.add_argument("--no-denoise", action="store_true")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        if a.scene:
            video, fps, band = scene(tmp)
            grid = (5, 5)
        else:
            video, fps, band = a.video, a.fps, tuple(float(v) for v in a.band.split(","))
            grid = tuple(int(v) for v in a.grid.split("x"))
        out = os.path.join(tmp, "magnified.mkv")
        t0 = time.perf_counter()
        res = magnify(video, out, fps=fps, band=band, factor=a.factor, denoise=not a.no_denoise)
        secs = time.perf_counter() - t0
        before, ms = band_rms(video, fps, band, grid)
        after, _ = band_rms(out, fps, band, grid)
    ratio = after / before
    print(f"{video if not a.scene else 'rendered object over a still background'}: band {band[0]:g}-{band[1]:g} Hz, "
          f"factor {a.factor:g}, denoise {not a.no_denoise}; {res['frames']} frames in {secs:.1f} s "
          f"({res['frames'] / secs:.1f} frames/s); linear range: {100 * res['past_linear_share']:.1f} % past, "
          f"safe factor {res['safe_factor']:.3g}")
    order = np.argsort(before, axis=None)
    print("regions moving most in the band (input RMS px -> measured ratio):")
    for idx in order[::-1][:5]:
        r = np.unravel_index(idx, before.shape)
        print(f"  {ms.regions[idx]}  {before[r]:.4f} px  x{ratio[r]:.1f}")
    print("quietest regions:")
    for idx in order[:5]:
        r = np.unravel_index(idx, before.shape)
        print(f"  {ms.regions[idx]}  {before[r]:.5f} px  x{ratio[r]:.1f}")
    np.set_printoptions(precision=1, suppress=True, linewidth=160)
    print("ratio per region:")
    print(ratio)


if __name__ == "__main__":
    main()
