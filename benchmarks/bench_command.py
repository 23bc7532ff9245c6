"""Frames per second of the whole ``vismic recover`` command, beside the plain pyrtools reference.

This is a benchmark, not a test: it prints a Markdown table and asserts nothing.

What it measures, in one run on one machine (issue 16):

* Clips rendered with ``vismic simulate`` (known truth): a speech scene of 192x192 pixels at
  2,200 fps, 3 s (6,600 frames) as lossless FFV1 in Matroska and as H.264 (libx264, 1 bit per
  pixel, yuv420p); a speech scene of 96x96 pixels at 20,000 fps, 1 s (20,000 frames) as FFV1 in
  Matroska.  The speech is ARCTIC ``arctic_a0007.wav`` when ``--data`` names the shared data
  folder, else vismic's built-in melody.  Rigid pink texture, 0.01 px RMS (0.02 px at 20 kHz),
  2 grey levels of read noise.
* For each clip: decoding alone (PyAV, FFmpeg's threads, nothing computed); then ``vismic recover``
  as a user types it, in a fresh process (start-up, decoding, motion, fusion, WAV/JSON writing all
  included): the default (``--mode auto``), ``--mode fast`` and ``--mode anchored`` (the exact
  path), each with every core (the default) and ``--processes 1``.  Wall clock, frames per second
  of the clip, peak resident memory of the command's largest process, the SNR of its audio
  against the truth (high-passed like the recovery), and the mode ``auto`` chose.
* The plain reference (``bench_recover.reference_recover``: a pyrtools pyramid rebuilt per frame,
  phase against the first frame) on the first ``--ref-frames`` frames of each clip's raw frames
  (decoding not counted), for the ratio column.

Each case runs ``--repeat`` times, interleaved (case A, B, C, then A, B, C again), and the table
gives the fastest and the slowest run: on a shared machine the spread is part of the result.

Usage::

    .venv/bin/python benchmarks/bench_command.py --data ../shared/data      # ~10-15 min on 2 cores
    .venv/bin/python benchmarks/bench_command.py --quick                    # 1 s clips, one repeat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_recover import reference_recover  # noqa: E402  (the plain reference, one definition)


def _vismic() -> list[str]:
    return [sys.executable, "-m", "vismic"]


def _render(out: Path, *, fps: float, size: str, seconds: float, rms: float, sound: str) -> int:
    cmd = [*_vismic(), "simulate", str(out), "--fps", f"{fps:g}", "--size", size, "--duration", f"{seconds:g}",
           "--rms-px", f"{rms:g}", "--sound", sound, "--quiet", "--force"]
    subprocess.run(cmd, check=True)
    return int(json.loads(out.with_suffix(".truth.json").read_text())["n_frames"])


def _h264(src: Path, dst: Path, fps: float, bpp: float) -> None:
    """The FFV1 clip re-encoded as H.264 at ``bpp`` bits per pixel (the rolling-shutter benchmark's encoder)."""
    import av
    from rolling_shutter_quality import _h264 as encode

    with av.open(str(src)) as c:
        frames = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)])
    npy = dst.with_suffix(".npy")
    np.save(npy, frames)
    encode(str(npy), str(dst), fps, bpp)
    npy.unlink()


def _decode_fps(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        t = time.perf_counter()
        n = sum(1 for _ in c.decode(s))
        return n / (time.perf_counter() - t)


def _command(path: Path, fps: float, extra: list[str], out: Path) -> dict:
    """Run ``vismic recover`` in a fresh process; wall clock and the largest process's peak RSS."""
    cmd = ["/usr/bin/time", "-f", "%M", *_vismic(), "recover", str(path), "--fps", f"{fps:g}", "-o", str(out),
           "--force", "--quiet", *extra]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {res.stderr.strip()}")
    peak_mb = int(res.stderr.strip().splitlines()[-1]) / 1024
    side = json.loads(out.with_suffix(".json").read_text())
    return {"wall": wall, "peak_mb": peak_mb, "sidecar": side}


def _snr(out: Path, truth: Path, highpass_hz: float) -> float:
    import soundfile as sf

    from vismic.denoise import highpass
    from vismic.metrics import snr

    x, rate = sf.read(str(out))
    t, _ = sf.read(str(truth))
    t = highpass(np.asarray(t, float), rate=rate, cutoff=highpass_hz)
    n = min(len(x), len(t))
    return snr(t[:n], x[:n], max_lag=3)


def _reference_fps(path: Path, n: int) -> float:
    import av

    with av.open(str(path)) as c:
        frames = []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="gray"))
            if len(frames) == n:
                break
    t = time.perf_counter()
    reference_recover(frames)
    return len(frames) / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="the shared data folder (its ARCTIC speech clip); else the built-in melody")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved runs of every case (default 2)")
    ap.add_argument("--ref-frames", type=int, default=60, help="frames the slow reference runs on (default 60)")
    ap.add_argument("--quick", action="store_true", help="1 s and 0.25 s clips, one repeat")
    a = ap.parse_args(argv)
    repeat = 1 if a.quick else a.repeat
    speech = os.path.join(a.data, "audio", "arctic_a0007.wav") if a.data else "melody"
    if a.data and not os.path.isfile(speech):
        raise SystemExit(f"{speech} not found")
    print("command: python " + " ".join([os.path.relpath(__file__), *(argv if argv is not None else sys.argv[1:])]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}, load before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        clips = []
        n = _render(tmpd / "s192.mkv", fps=2200, size="192x192", seconds=1 if a.quick else 3, rms=0.01, sound=speech)
        clips.append(("192x192, 2,200 fps, FFV1 .mkv", tmpd / "s192.mkv", 2200.0, n, tmpd / "s192.truth.wav"))
        _h264(tmpd / "s192.mkv", tmpd / "s192.mp4", 2200.0, 1.0)
        clips.append(("192x192, 2,200 fps, H.264 1 bit/px .mp4", tmpd / "s192.mp4", 2200.0, n,
                      tmpd / "s192.truth.wav"))
        n = _render(tmpd / "s96.mkv", fps=20000, size="96x96", seconds=0.25 if a.quick else 1, rms=0.02, sound=speech)
        clips.append(("96x96, 20,000 fps, FFV1 .mkv", tmpd / "s96.mkv", 20000.0, n, tmpd / "s96.truth.wav"))
        cases = [("default (auto)", []), ("--mode fast", ["--mode", "fast"]), ("--mode anchored (exact)",
                                                                                ["--mode", "anchored"])]
        procs = [("every core", []), ("1 process", ["--processes", "1"])]
        print()
        print("| clip | command | processes | wall s | frames/s | x reference | peak MB | SNR dB | auto chose |")
        print("|---|---|---|---:|---:|---:|---:|---:|---|")
        for label, path, fps, frames, truth in clips:
            ref = _reference_fps(path, a.ref_frames)
            dec = _decode_fps(path)
            runs: dict[tuple[str, str], list[dict]] = {}
            for _ in range(repeat):
                for cname, cargs in cases:
                    for pname, pargs in procs:
                        r = _command(path, fps, cargs + pargs, tmpd / "out.wav")
                        r["snr"] = _snr(tmpd / "out.wav", truth, r["sidecar"]["diagnostics"]["highpass_hz"])
                        runs.setdefault((cname, pname), []).append(r)
            print(f"| {label} | decoding alone (PyAV) | 1 | {frames / dec:.2f} | {dec:,.0f} | "
                  f"{dec / ref:.0f} | | | |")
            print(f"| {label} | pyrtools reference ({a.ref_frames} frames, no decoding) | 1 | "
                  f"{frames / ref:.1f} | {ref:,.0f} | 1 | | | |")
            for (cname, pname), rs in runs.items():
                walls = sorted(r["wall"] for r in rs)
                fps_lo, fps_hi = frames / walls[-1], frames / walls[0]
                used = rs[0]["sidecar"]["timings"].get("processes")
                chose = rs[0]["sidecar"]["diagnostics"].get("mode", {}).get("chosen", "")
                wall = f"{walls[0]:.2f}" + (f"-{walls[-1]:.2f}" if len(walls) > 1 else "")
                rate = f"{fps_lo:,.0f}" + (f"-{fps_hi:,.0f}" if len(walls) > 1 else "")
                print(f"| {label} | {cname} | {pname} ({used}) | {wall} | {rate} | {fps_hi / ref:.0f} | "
                      f"{max(r['peak_mb'] for r in rs):.0f} | {np.mean([r['snr'] for r in rs]):.2f} | "
                      f"{chose if cname.startswith('default') else ''} |", flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
