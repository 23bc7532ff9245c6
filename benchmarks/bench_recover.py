"""Throughput and peak memory of ``vismic.pipeline.recover`` against a plain reference implementation.

This is a benchmark, not a test: it prints figures and asserts nothing.

What it measures, all in one run on the same machine:

* ``reference_recover`` (defined below): the authors' recipe as plain numpy/pyrtools code — a
  pyrtools ``SteerablePyramidFreq(frame, height=4, order=1, is_complex=True)`` rebuilt for every
  frame, then per band the amplitude-weighted phase difference against the first frame summed over
  the frame (vectorised per band), then the band signals aligned and summed.  Timed on a subset of
  frames (``--ref-frames``) because it is slow.
* ``vismic.pipeline.recover`` at the reference's exact settings (4 scales, 2 orientations, no high
  band, one region, first-frame reference) so the ratio compares like with like, and at the
  defaults (``RecoveryParams(fps=2200.0)``), from a raw ``.npy`` stack (decode cost ~0) and from a
  lossless FFV1 ``.mkv``.
* FFV1 decode alone (the frame source iterated, nothing computed), reported separately.
* Peak memory: every case runs in a fresh subprocess which reports its own ``VmHWM`` (peak resident
  set) from ``/proc/self/status`` and the peak of ``RssAnon`` (heap; sampled every 2 ms), so a
  memory-mapped ``.npy``'s file pages (counted in ``VmHWM``, reclaimable) can be told from the heap.
  The 192x192 default case runs at two clip lengths (``--mem-frames``) from both inputs to show
  whether memory grows with the clip.

Scenes come from :mod:`vismic.simulate`: a pink-noise texture moved rigidly by 0.01 px RMS of
band-limited noise at 2,200 fps, 2 grey levels of read noise, 8-bit.  All files live in a
temporary directory that is removed at the end.

Usage::

    .venv/bin/python benchmarks/bench_recover.py            # ~4-5 min on 2 idle cores
    .venv/bin/python benchmarks/bench_recover.py --quick    # ~1 min, short clips
    .venv/bin/python benchmarks/bench_recover.py --profile  # also cProfile one default run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

FPS = 2200.0
RMS_PX = 0.01
NOISE_GREY = 2.0
BATCH = 16  # RecoveryParams' default batch

# Children run single-threaded maths libraries so "single worker" means one core for the maths.
# (PyAV's FFV1 decoder still uses its own threads: the CPU/wall column shows it.)
CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --------------------------------------------------------------------------- the plain reference
def reference_recover(frames, *, height: int = 4, order: int = 1, max_lag: int = 4):
    """Plain reference recovery: pyrtools pyramid per frame, phase against the first frame.

    This is what the authors' MATLAB code (and a straightforward pyrtools port of it) does: build a
    complex steerable pyramid from scratch for every frame (masks included), then for every band
    ``C_t`` take ``prod = C_t * conj(C_0)`` and sum ``|prod| * angle(prod)`` over the frame,
    normalised by ``sum |prod|`` (the same amplitude weighting as vismic's ``mode="reference"``).
    The band signals are then aligned to the first band by the lag (within ``+-max_lag``) and sign
    of their largest cross-correlation and summed.

    Parameters
    ----------
    frames : iterable of ndarray, shape (rows, cols)
        Integer frames are scaled by their type's range, as vismic does.
    height, order : int
        pyrtools' ``height`` (scales) and ``order`` (orientations - 1).
    max_lag : int
        Alignment lag bound in frames.

    Returns
    -------
    audio : ndarray, shape (n,)
        The aligned sum of the band signals, mean removed.
    signals : ndarray, shape (n, n_bands)
        Per-band phase signals in radians (pyrtools' band order: scale-major, then orientation).
    """
    import pyrtools as pt

    keys: list[tuple[int, int]] | None = None
    ref_conj: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    for frame in frames:
        frame = np.asarray(frame)
        im = frame.astype(np.float64)
        if np.issubdtype(frame.dtype, np.integer):
            im /= np.iinfo(frame.dtype).max
        pyr = pt.pyramids.SteerablePyramidFreq(im, height=height, order=order, is_complex=True)
        if keys is None:
            keys = [k for k in pyr.pyr_coeffs if isinstance(k, tuple)]
            ref_conj = [np.conj(pyr.pyr_coeffs[k]) for k in keys]
        row = np.empty(len(keys))
        for j, k in enumerate(keys):
            prod = pyr.pyr_coeffs[k] * ref_conj[j]
            w = np.abs(prod)
            row[j] = np.sum(w * np.angle(prod)) / np.sum(w)
        rows.append(row)
    signals = np.asarray(rows)
    x = signals - signals.mean(axis=0)
    out = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        best, best_lag = 0.0, 0
        for lag in range(-max_lag, max_lag + 1):
            c = float(np.dot(x[max(0, lag) : len(x) + min(0, lag), 0], x[max(0, -lag) : len(x) - max(0, lag), j]))
            if abs(c) > abs(best):
                best, best_lag = c, lag
        out += math.copysign(1.0, best) * np.roll(x[:, j], best_lag)
    return out - out.mean(), signals


# --------------------------------------------------------------------------- child side
def _status() -> dict[str, float]:
    """VmHWM, VmRSS and RssAnon of this process in MB (Linux /proc)."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) / 1024.0
    return out


class _AnonPeak:
    """Peak RssAnon (heap, no file pages) sampled by a background thread every ``interval`` s.

    Large numpy temporaries are returned to the OS when freed, so sampling only between batches
    would miss them; a thread sampling every 2 ms catches all but the briefest (numpy and scipy.fft
    release the GIL in their loops).  Calling the object adds a sample.
    """

    def __init__(self, interval: float = 0.002) -> None:
        import threading

        self.peak = _status().get("RssAnon", 0.0)
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self()

    def __call__(self, *_args) -> None:
        self.peak = max(self.peak, _status().get("RssAnon", 0.0))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self()
        return self.peak


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _child(spec: dict) -> dict:
    warnings.simplefilter("ignore")
    import pyrtools  # noqa: F401  (imported in every child so the baselines are comparable)

    from vismic.io import open_source
    from vismic.pipeline import RecoveryParams, recover

    base = _status()
    peak = _AnonPeak()
    kind = spec["kind"]
    info: dict = {}
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    if kind == "vismic":
        rec = recover(spec["path"], RecoveryParams(**spec["params"]), progress=peak)
        frames = int(rec.input["frames_used"])
        info = {
            "grid": rec.params.grid,
            "bands": len(rec.diagnostics["bands"]),
            "channels": rec.diagnostics["n_channels"],
            "snr_db": round(float(rec.diagnostics["estimated_snr_db"]), 1),
            "motion_fps": rec.timings["frames_per_s"],
            "fuse_s": rec.timings["fuse_s"],
        }
    elif kind == "decode":
        src = open_source(spec["path"])
        frames = 0
        for b in src.iter_batches(batch=BATCH):
            frames += len(b)
            peak()
        src.close()
    elif kind == "reference":
        arr = np.load(spec["path"], mmap_mode="r")
        n = min(int(spec["frames"]), len(arr))

        def stream():
            for i in range(n):
                yield arr[i]
                if i % BATCH == 0:
                    peak()

        _audio, signals = reference_recover(stream())
        frames = n
    else:
        raise SystemExit(f"unknown child kind {kind!r}")
    elapsed = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    peak.stop()
    end = _status()
    result = {
        "frames": frames,
        "seconds": elapsed,
        "fps": frames / elapsed,
        "cpu_per_wall": cpu / elapsed,
        "fps_cpu": frames / cpu if cpu > 0 else float("nan"),
        "hwm_mb": end["VmHWM"],
        "anon_peak_mb": peak.peak,
        "base_hwm_mb": base["VmHWM"],
        **info,
    }
    if kind == "reference":
        # Correctness cross-check (after the memory reading): vismic's reference-mode motion on the
        # same frames must give the same per-band signals as the plain pyrtools code.
        from vismic.motion import MotionEstimator
        from vismic.pyramid import ComplexSteerablePyramid

        pyr = ComplexSteerablePyramid(arr.shape[1:], scales=4, orientations=2, high_band=False)
        est = MotionEstimator(pyr, mode="reference", grid=(1, 1))
        scale = np.float32(1.0 / np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
        ours = np.concatenate(
            [est.process(np.asarray(arr[i : min(i + BATCH, n)], dtype=np.float32) * scale) for i in range(0, n, BATCH)]
        )
        rms = float(np.sqrt(np.mean(signals**2)))
        result["check_rel_err"] = float(np.max(np.abs(ours - signals))) / rms if rms > 0 else float("nan")
    return result


def _profile_child(spec: dict, top: int) -> None:
    import cProfile
    import pstats

    warnings.simplefilter("ignore")
    from vismic.pipeline import RecoveryParams, recover

    prof = cProfile.Profile()
    prof.enable()
    rec = recover(spec["path"], RecoveryParams(**spec["params"]))
    prof.disable()
    print(f"cProfile of one default recover() of {spec['label']} ({rec.input['frames_used']} frames, "
          f"total {rec.timings['total_s']:.1f} s under the profiler), top {top} by own time:")
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    print(f"  {'own s':>7} {'share':>6} {'calls':>8}  function")
    for (fname, line, func), (_cc, nc, tt, _ct, _callers) in rows:
        where = f"{Path(fname).name}:{line}" if line else fname
        print(f"  {tt:7.2f} {tt / total:6.1%} {nc:8d}  {func} ({where})")


# --------------------------------------------------------------------------- parent side
def _machine() -> list[str]:
    import scipy

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}", f"scipy {scipy.__version__}"]
    for mod in ("pyrtools", "av", "vismic"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001 - informative only
            pass
    return [
        f"vismic source: {_git_state()}",
        f"CPU: {model}, {os.cpu_count()} logical cores ({usable} usable)",
        f"OS: {platform.platform()}",
        "Versions: " + ", ".join(versions),
    ]


def _git_state() -> str:
    """Commit of the checkout the benchmark sits in, and whether src/ has uncommitted changes (read-only git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}" + (" + uncommitted changes in src/" if dirty else "")


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _scene(side: int, n: int, seed: int):
    from vismic.simulate import Scene, builtin_sound, make_texture

    sound = builtin_sound("noise", rate=FPS, duration=n / FPS, seed=seed)
    kw = dict(sound=sound, rate=FPS, rms_px=RMS_PX, noise_sigma=NOISE_GREY, shape=(side, side), seed=seed)
    probe = Scene(texture=make_texture("pink", (side + 16, side + 16), seed=seed), **kw)
    return Scene(texture=make_texture("pink", probe.texture_shape_needed, seed=seed), **kw)


def _write_inputs(scene, npy: Path, mkv: Path | None, each=None) -> None:
    """Render the scene once, streaming it into a memory-mapped .npy and (optionally) a lossless video.

    ``mkv``: an FFV1 file (``.mkv`` or ``.avi``, by ``write_video``); ``each(batch)``, if given, is
    called with every rendered batch (another writer).  Memory stays bounded by the render batch
    whatever the clip length.
    """
    from vismic.io.writers import write_video

    mm = np.lib.format.open_memmap(npy, mode="w+", dtype=scene.dtype, shape=(scene.n_frames, *scene.shape))

    def tee():
        i = 0
        for b in scene.frames(batch=256):
            mm[i : i + len(b)] = b
            i += len(b)
            if each is not None:
                each(b)
            yield b

    if mkv is None:
        for _ in tee():
            pass
    else:
        write_video(mkv, tee(), rate=scene.rate, bits=scene.bits)
    mm.flush()


def _run_child(spec: dict) -> dict:
    env = {**os.environ, **CHILD_ENV}
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
        capture_output=True, text=True, env=env,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark case {spec.get('label')} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _note(name: str, kind: str, r: dict) -> str:
    return (f"{name} {kind}, {r['frames']} frames: {r['bands']} bands, grid {r['grid'][0]}x{r['grid'][1]}, "
            f"{r['channels']} channels, "
            f"motion stage {r['motion_fps']:.0f} frames/s, fuse {r['fuse_s']:.2f} s, estimated SNR {r['snr_db']} dB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=2000, help="frames of the 192x192 clips (default 2000)")
    ap.add_argument("--frames-512", type=int, default=200, help="frames of the 512x512 clips (default 200)")
    ap.add_argument("--ref-frames", type=int, default=100, help="frames the slow reference runs on (default 100)")
    ap.add_argument("--mem-frames", default="1000,8000",
                    help="two clip lengths for the memory-growth check at 192x192 (default 1000,8000)")
    ap.add_argument("--quick", action="store_true",
                    help="short clips (300 / 60 frames, reference on 30, memory at 300,2400)")
    ap.add_argument("--no-mkv", action="store_true", help="skip the FFV1 .mkv cases")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile one default run of the 192x192 .mkv and of the 512x512 .npy")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--profile-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    if args.profile_child:
        _profile_child(json.loads(args.profile_child), top=12)
        return 0

    if args.quick:
        args.frames, args.frames_512, args.ref_frames, args.mem_frames = 300, 60, 30, "300,2400"
    mem_lengths = [int(v) for v in args.mem_frames.split(",")]
    if len(mem_lengths) != 2 or min(mem_lengths) < 16:
        ap.error("--mem-frames takes two lengths >= 16, e.g. 1000,8000")
    if min(args.frames, args.frames_512) < 16 or args.ref_frames < 2:
        ap.error("clips need >= 16 frames and the reference >= 2")
    sizes = {192: args.frames, 512: args.frames_512}
    inputs = [".npy"] if args.no_mkv else [".npy", ".mkv"]

    print("# vismic.pipeline.recover benchmark")
    print()
    print("Command: " + shlex.join([sys.executable, *sys.argv]))
    for line in _machine():
        print(line)
    from vismic.pipeline import RecoveryParams

    shown = ("scales", "orientations", "high_band", "mode", "grid", "batch", "workers")
    d = RecoveryParams(fps=FPS).to_dict()
    print("Defaults measured: RecoveryParams(fps=2200.0) -> " + ", ".join(f"{k}={d[k]}" for k in shown)
          + " (scales/grid None = chosen from the frame size and clip length)")
    print(f"Scenes: pink texture, rigid motion {RMS_PX} px RMS of band-limited noise at {FPS:g} fps, "
          f"read noise {NOISE_GREY:g} grey levels, 8-bit. Each case in a fresh subprocess; maths single-threaded.")
    print()

    default = {"fps": FPS}
    like_ref = {"fps": FPS, "scales": 4, "orientations": 2, "high_band": False, "grid": [1, 1], "mode": "reference"}
    rows: list[tuple[str, str, dict, dict | None]] = []
    notes: list[str] = []
    load0 = _load()
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vismic-bench-") as tmp:
        tmpd = Path(tmp)
        for side, n in sizes.items():
            label = f"{side}x{side}"
            t0 = time.perf_counter()
            files = {".npy": tmpd / f"s{side}.npy", ".mkv": tmpd / f"s{side}.mkv"}
            _write_inputs(_scene(side, n, seed=side), files[".npy"], None if args.no_mkv else files[".mkv"])
            sizes_mb = ", ".join(f"{k} {files[k].stat().st_size / 1e6:.1f} MB" for k in inputs)
            print(f"rendered {label}: {n} frames in {time.perf_counter() - t0:.1f} s ({sizes_mb})", flush=True)

            ref = _run_child({"kind": "reference", "path": str(files[".npy"]), "frames": args.ref_frames,
                              "label": label})
            rows.append((f"reference (pyrtools per frame) {label}", ".npy", ref, ref))
            notes.append(f"reference {label}: its per-band signals equal vismic's mode=reference motion on the same "
                         f"frames to {ref['check_rel_err']:.1e} of their RMS (max abs difference)")
            cases = [("vismic, reference settings", ".npy", like_ref)] + [("vismic, defaults", k, default)
                                                                          for k in inputs]
            for name, kind, params in cases:
                r = _run_child({"kind": "vismic", "path": str(files[kind]), "params": params, "label": label})
                rows.append((f"{name} {label}", kind, r, ref))
                notes.append(_note(f"{name} {label}", kind, r))
            if not args.no_mkv:
                r = _run_child({"kind": "decode", "path": str(files[".mkv"]), "label": label})
                rows.append((f"FFV1 decode only {label}", ".mkv", r, None))
            print(f"  {label} cases done ({time.perf_counter() - t_all:.0f} s so far)", flush=True)

        t0 = time.perf_counter()
        for m in mem_lengths:
            files = {".npy": tmpd / f"mem{m}.npy", ".mkv": tmpd / f"mem{m}.mkv"}
            _write_inputs(_scene(192, m, seed=7), files[".npy"], None if args.no_mkv else files[".mkv"])
            for kind in inputs:
                r = _run_child({"kind": "vismic", "path": str(files[kind]), "params": default, "label": f"mem{m}"})
                rows.append(("vismic, defaults 192x192 (memory check)", kind, r, None))
                notes.append(_note("memory check 192x192", kind, r))
                files[kind].unlink()
        print(f"  memory check done ({time.perf_counter() - t0:.0f} s)", flush=True)

        print()
        head = ["case", "input", "frames", "seconds", "frames/s", "vs reference", "frames/CPU-s", "vs ref (CPU)",
                "CPU/wall", "peak RSS MB", "peak heap MB"]
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
        for name, kind, r, ref in rows:
            ratio = f"{r['fps'] / ref['fps']:.1f}x" if ref else "-"
            ratio_cpu = f"{r['fps_cpu'] / ref['fps_cpu']:.1f}x" if ref else "-"
            print(f"| {name} | {kind} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.1f} | {ratio} | "
                  f"{r['fps_cpu']:.1f} | {ratio_cpu} | {r['cpu_per_wall']:.2f} | {r['hwm_mb']:.0f} | "
                  f"{r['anon_peak_mb']:.0f} |")
        print()
        base = min(r["base_hwm_mb"] for _, _, r, _ in rows)
        print("frames/s: frames / wall time of the whole call (read + decode + pyramid + motion + fuse + post); "
              "the reference's own figure is for its --ref-frames subset. 'vs reference' divides by the "
              "reference's frames/s at the same frame size. frames/CPU-s: frames / process CPU time "
              "(robust to other load on the machine); 'vs ref (CPU)' is the same ratio on those. "
              "CPU/wall: process CPU time / wall time; well below 1.00 means the case was slowed by other load.")
        print(f"Load average at start {load0}, at end {_load()}.")
        print(f"Peak RSS = VmHWM of the child: includes ~{base:.0f} MB of interpreter + numpy/scipy/pyrtools/vismic "
              "imports, and every page of a memory-mapped .npy that was read (file-backed, reclaimable). "
              "Peak heap = highest RssAnon (no file pages) sampled every 2 ms.")
        for line in notes:
            print("- " + line)

        if args.profile:
            env = {**os.environ, **CHILD_ENV}
            targets = [("192x192", ".npy" if args.no_mkv else ".mkv"), ("512x512", ".npy")]
            for label, kind in targets:
                print()
                spec = {"path": str(tmpd / f"s{label.split('x')[0]}{kind}"), "params": default,
                        "label": f"{label} {kind}"}
                subprocess.run([sys.executable, os.path.abspath(__file__), "--profile-child", json.dumps(spec)],
                               env=env, check=True)
    print()
    print(f"total benchmark time {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
