"""The optional torch backend against the numpy motion step (prints figures; asserts nothing).

For each frame size and setting it times the motion step alone (no reading, no fusion) on random
frames: numpy ``MotionEstimator`` (one CPU core, one frame at a time) and
``TorchMotionEstimator`` on the GPU (or the CPU when there is none) in batches, after a warm-up,
and reports the largest difference between their outputs relative to the signal scale.

Usage (needs only numpy, scipy and torch, so it runs where the rest of vismic's dependencies are
not installed)::

    PYTHONPATH=src python benchmarks/bench_gpu.py [--frames 512] [--batch 128]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import torch

    from vismic.gpu import TorchMotionEstimator
    from vismic.motion import MotionEstimator
    from vismic.pyramid import ComplexSteerablePyramid

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args(argv)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if dev == "cuda" else platform.processor() or "cpu"
    print(f"Command: {' '.join([sys.executable, *sys.argv])}")
    print(f"torch {torch.__version__} on {dev} ({name}); numpy {np.__version__}; {args.frames} frames, "
          f"torch batch {args.batch}; numpy path: one thread, one frame at a time")
    print()
    print("| size | setting | numpy frames/s | torch frames/s | speed-up | max diff / max signal |")
    print("|---|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    settings = {"reference settings (4x2, 1x1, reference)": dict(orientations=2, high_band=False, mode="reference",
                                                                 grid=(1, 1)),
                "defaults (4x4 + high band, 2x2, increment)": dict(orientations=4, high_band=True, mode="increment",
                                                                   grid=(2, 2))}
    for rows, cols in ((192, 192), (512, 512), (400, 704)):
        base = rng.random((rows + 64, cols + 64)).astype(np.float32)
        frames = np.stack([base[t % 8 : t % 8 + rows, (t // 8) % 8 : (t // 8) % 8 + cols]
                           for t in range(args.frames)]).astype(np.float32)
        for label, s in settings.items():
            pyr = ComplexSteerablePyramid((rows, cols), scales=4, orientations=s["orientations"],
                                          high_band=s["high_band"])
            ref = MotionEstimator(pyr, mode=s["mode"], grid=s["grid"])
            n_cpu = min(args.frames, 128)
            ref.process(frames[:2])
            ref.reset()
            t = time.perf_counter()
            a = ref.process(frames[:n_cpu])
            t_cpu = (time.perf_counter() - t) / n_cpu
            gpu = TorchMotionEstimator(pyr, mode=s["mode"], grid=s["grid"], device=dev)
            gpu.process(frames[: args.batch])  # warm-up (plans, kernels)
            gpu.reset()
            if dev == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            b = np.concatenate([gpu.process(frames[i : i + args.batch]) for i in range(0, args.frames, args.batch)])
            if dev == "cuda":
                torch.cuda.synchronize()
            t_gpu = (time.perf_counter() - t) / args.frames
            diff = float(np.nanmax(np.abs(b[:n_cpu] - a)) / np.nanmax(np.abs(a)))
            print(f"| {cols}x{rows} | {label} | {1 / t_cpu:.0f} | {1 / t_gpu:.0f} | {t_cpu / t_gpu:.1f}x | "
                  f"{diff:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
