"""How closely ``--mode fast`` follows the exact path, scene by scene (prints a table; asserts nothing).

For each rendered scene (vismic.simulate, known truth) it runs the exact path (``mode="anchored"``),
``mode="fast"`` and the default ``mode="auto"`` with otherwise equal parameters, and prints the
correlation between the exact and fast outputs, each one's SNR against the truth (high-passed like
the recovery), the SNR difference, the motion-stage speed ratio, and which path ``auto`` chose with
its SNR.  With ``--data`` the photographed textures of the shared data folder (lens-blurred by
1 px) join the procedural ones: structured textures are where the fast path's tiles lose most.  The
scenes cover what the first-order approximation assumes (small rigid motion) and what breaks it
(large motion, motion that differs inside a region, drift, flicker, heavy noise).

Usage::

    .venv/bin/python benchmarks/fast_mode_quality.py            # ~3-4 min on 2 cores
    .venv/bin/python benchmarks/fast_mode_quality.py --quick    # fewer, shorter scenes
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
import warnings

import numpy as np

from vismic import simulate as sim
from vismic.denoise import highpass
from vismic.metrics import correlation, snr
from vismic.pipeline import RecoveryParams, recover

RATE = 2200.0


def scenes(quick: bool) -> list[tuple[str, dict]]:
    rigid = [(f"rigid {tex}, {rms} px", {"texture": tex, "rms_px": rms})
             for tex in ("pink", "white", "checker") for rms in (0.003, 0.01, 0.03)]
    hard = [
        ("rigid pink, 0.3 px", {"rms_px": 0.3}),
        ("rigid pink, 1 px", {"rms_px": 1.0}),
        ("halves in opposite phase, 0.01 px", {"mode": "halves"}),
        ("membrane (first drum mode), 0.03 px", {"mode": "membrane", "rms_px": 0.03}),
        ("drift 10 px + 1% flicker, 0.01 px", {"drift_px": 10.0, "flicker": 0.01}),
        ("noise sigma 8 grey levels, 0.01 px", {"noise_sigma": 8.0}),
        ("noise sigma 8 grey levels, 0.003 px", {"noise_sigma": 8.0, "rms_px": 0.003}),
    ]
    if quick:
        return rigid[:3] + hard[:3]
    return rigid + hard


def photo_scenes(data: str | None) -> list[tuple[str, dict]]:
    if not data:
        return []
    out = []
    for name in ("brick", "crinklepaper", "paper", "burlap", "gravel"):
        path = os.path.join(data, "textures", f"{name}.png")
        if os.path.isfile(path):
            out.append((f"rigid {name} (photo, blur 1 px), 0.01 px", {"texture": path, "rms_px": 0.01}))
    path = os.path.join(data, "textures", "brick.png")
    if os.path.isfile(path):
        out.append(("brick object over a still background, across the tile borders, 0.01 px",
                    {"texture": path, "rms_px": 0.01, "mode": "_corner"}))
    return out


def _texture(kind: str, shape: tuple[int, int], seed: int) -> np.ndarray:
    if os.path.isfile(kind):
        return sim.blur_texture(sim.load_texture(kind, shape=shape), 1.0)
    return sim.make_texture(kind, shape, seed=seed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="six scenes of 0.5 s")
    ap.add_argument("--size", type=int, default=128, help="frame side in pixels (default 128)")
    ap.add_argument("--data", help="the shared data folder: add its photographed textures")
    args = ap.parse_args(argv)
    duration = 0.5 if args.quick else 1.0
    warnings.simplefilter("ignore")
    print("Command: " + shlex.join([sys.executable, *sys.argv]))
    print(f"Scenes: {args.size}x{args.size} px, {duration} s at {RATE:g} fps, band-limited noise sound, "
          "read noise 2 grey levels unless said, 8-bit. Every run: defaults (4 orientations, high band, auto grid), "
          "processes=1.")
    print()
    print("| scene | corr(exact, fast) | SNR exact dB | SNR fast dB | fast - exact dB | motion speed-up | auto chose |")
    print("|---|---:|---:|---:|---:|---:|---|")
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vismic-fastq-") as tmp:
        for i, (name, kw) in enumerate(scenes(args.quick) + photo_scenes(args.data)):
            kw = dict(kw)
            tex_kind = kw.pop("texture", "pink")
            if kw.get("mode") == "_corner":  # an object over a still background, straddling the 2x2 tiles
                m = np.zeros((args.size, args.size))
                m[int(0.55 * args.size) : int(0.94 * args.size), int(0.16 * args.size) : int(0.62 * args.size)] = 1.0
                kw["mode"] = m
            sound = sim.builtin_sound("noise", rate=RATE, duration=duration, seed=i)
            base = dict(sound=sound, rate=RATE, shape=(args.size, args.size), seed=i, direction_deg=30.0,
                        rms_px=kw.pop("rms_px", 0.01), noise_sigma=kw.pop("noise_sigma", 2.0), **kw)
            probe = sim.Scene(texture=_texture(tex_kind, (args.size + 64,) * 2, i), **base)
            scene = sim.Scene(texture=_texture(tex_kind, probe.texture_shape_needed, i), **base)
            path = os.path.join(tmp, f"s{i}.npy")
            np.save(path, np.concatenate(list(scene.frames(batch=256))))
            exact = recover(path, RecoveryParams(fps=RATE, mode="anchored", processes=1))
            truth = highpass(scene.truth(), rate=RATE, cutoff=exact.params.highpass)
            fast = recover(path, RecoveryParams(fps=RATE, mode="fast", processes=1))
            auto = recover(path, RecoveryParams(fps=RATE, processes=1))
            s_e, s_f = snr(truth, exact.audio), snr(truth, fast.audio)
            speed = exact.timings["motion_s"] / max(fast.timings["motion_s"], 1e-9)
            print(f"| {name} | {correlation(exact.audio, fast.audio):.4f} | {s_e:.2f} | {s_f:.2f} | {s_f - s_e:+.2f} | "
                  f"{speed:.1f}x | {auto.diagnostics['mode']['chosen']} ({snr(truth, auto.audio):.2f}) |", flush=True)
    print()
    print(f"total {time.perf_counter() - t_all:.0f} s; load average at end "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
