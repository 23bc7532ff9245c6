"""Scale and speed of ``vismic.pipeline.recover`` (issue 4): exact and fast modes, processes, Dask, long clips.

This is a benchmark, not a test: it prints figures (Markdown tables) and asserts nothing.

What it measures, all in one run on the same machine:

* Throughput at 192x192, 512x512 and 704x400 (cols x rows; 400 rows x 704 columns) of

  - the plain pyrtools-per-frame reference (``bench_recover.reference_recover``: 4 scales,
    2 orientations, phase against the first frame), on a subset of frames because it is slow;
  - vismic's exact path at the reference's settings (``scales=4, orientations=2,
    high_band=False, grid=(1, 1), mode="reference"``) with ``processes=1`` and ``processes=2``,
    the latter also with the numpy phase step (``VISMIC_JIT=0``), with scipy.fft instead of FFTW
    (``VISMIC_FFT=scipy``) and with neither extra (both); FFTW's plans for each size are made
    once before the timed cases (the time is in the notes) into a plan cache of this run;
  - vismic's default exact path (``RecoveryParams(fps=2200.0, processes=2)``);
  - vismic's fast mode (``mode="fast"``, otherwise defaults) with ``processes=1`` and ``2``;

  each from a raw ``.npy`` stack (memory-mapped, decode cost ~0) and from a lossy H.264 ``.mp4``
  (libx264, CRF 18, preset veryfast, yuv420p, written here with PyAV), plus decode-only rows
  (the frame source iterated, nothing computed).  At 192x192 fast mode also runs on a lossless
  FFV1 ``.avi`` (decode-bound; reported separately) and on the same clip encoded at CRF 8 and 1
  (more bits per frame: what decoding costs once enough of a 0.01 px motion survives the codec).
* Equal output: the reference's per-band signals against vismic's ``mode="reference"`` motion
  on the same frames (``check_rel_err``, from ``bench_recover``); the final audio of
  ``processes=1`` against ``processes=2``; and fast against exact mode (correlation of the final
  audio, and each one's SNR against the scene's truth high-passed like the recovery (40 Hz)) on two rigid
  scenes (pink and white textures).
* Peak memory of the default exact and the fast mode at 192x192 for 1,000, 10,000 and 100,000
  frames of H.264 (a 500-frame rendered segment encoded once and its packets repeated, so the
  100k-frame file takes seconds to make), with the default chunk of 2048 frames; at 100k fast
  mode also runs with 4 chunks of 25,000 frames, and exact mode only that way (each worker decodes
  the video from its start up to its own chunk), and only when 10x the 10k exact run fits in
  ``--exact-100k-limit`` seconds (a skipped run is said in the notes).
* Dask: the 192x192 ``.npy`` clip on a ``LocalCluster`` of 2 single-threaded workers
  (``vismic.distributed.dask_client``) with ``malloc_fix=True`` and ``False``, against
  ``processes=2`` locally.

Every case runs in a fresh subprocess with single-threaded maths libraries
(``bench_recover.CHILD_ENV``) and ``workers=1``.  The child reports its wall time; its CPU time
plus that of its worker processes (read from ``/proc/<pid>/stat`` of every descendant, sampled
every 0.25 s and after every finished chunk); its own ``VmHWM`` and the largest ``VmHWM`` of any
descendant (sampled the same way, and ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` for children it
reaped itself); and the peak ``RssAnon`` (heap, no file pages) of itself (sampled every 2 ms)
and of its largest worker (sampled every 0.25 s); and the peak sum of ``Pss`` (proportional set
size, shared library pages counted once across the processes) over itself and all descendants.

Scenes come from :mod:`vismic.simulate`: a texture moved rigidly by 0.01 px RMS of band-limited
noise at 2,200 fps, 2 grey levels of read noise, 8-bit.  All files live in a temporary directory
that is removed at the end.

Usage::

    .venv/bin/python benchmarks/bench_scale.py               # full run, ~15-25 min on 2 cores
    .venv/bin/python benchmarks/bench_scale.py --quick       # smoke test: short clips, 192x192 and 704x400,
                                                             # memory at 1k/2k frames; ~3-4 min when loaded
    .venv/bin/python benchmarks/bench_scale.py --skip-100k   # full run without the 100k-frame clip
    .venv/bin/python benchmarks/bench_scale.py --exact-only  # the exact-mode target alone (~6 min)
    VISMIC_JIT=0 .venv/bin/python benchmarks/bench_scale.py ...  # every case without the compiled phase step
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_recover as br  # noqa: E402  (sibling benchmark: reference, samplers, machine facts)

FPS = br.FPS
RMS_PX = br.RMS_PX
NOISE_GREY = br.NOISE_GREY
CRF = 18
PRESET = "veryfast"
SEGMENT = 500  # frames rendered once for the long memory clips
SWEEP_CRF = (8, 1)  # lower CRFs tried on the 192x192 clip (more bits: the signal survives, decoding costs more)
#: (rows, cols) -> label
SIZES = {(192, 192): "192x192", (512, 512): "512x512", (400, 704): "704x400"}
LIKE_REF = {"scales": 4, "orientations": 2, "high_band": False, "grid": [1, 1], "mode": "reference"}


# --------------------------------------------------------------------------- child side
def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick


def _proc_mem(pid: int) -> tuple[float, float]:
    """(VmHWM, RssAnon) of a process in MB; zeros if it is gone."""
    out = {"VmHWM": 0.0, "RssAnon": 0.0}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in out:
                    out[key] = int(rest.split()[0]) / 1024.0
    except OSError:
        pass
    return out["VmHWM"], out["RssAnon"]


def _proc_pss(pid: int) -> float:
    """Proportional set size of a process in MB (shared pages divided among their users); 0 if gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class _Descendants:
    """CPU time and peak memory of every descendant process (worker pools, Dask workers).

    A background thread scans ``/proc`` every ``interval`` s; :meth:`scan` adds a scan (called
    after every finished chunk).  CPU time is the last value seen per process, so a process's
    last ``interval`` before it exits can be missed (workers idle then: results come back first).
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.me = os.getpid()
        self.cpu: dict[int, float] = {}
        self.hwm: dict[int, float] = {}
        self.anon: dict[int, float] = {}
        self.pss_peak = 0.0  # largest sum of PSS over this process and its descendants at one scan
        self._lock = threading.Lock()
        self._last = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self.scan()

    def scan(self, min_gap: float = 0.0) -> None:
        now = time.perf_counter()
        if now - self._last < min_gap:
            return
        with self._lock:
            self._last = now
            parent: dict[int, int] = {}
            cpu: dict[int, float] = {}
            for name in os.listdir("/proc"):
                if name.isdigit():
                    st = _proc_stat(int(name))
                    if st is not None:
                        parent[int(name)], cpu[int(name)] = st
            kids: dict[int, list[int]] = {}
            for pid, pp in parent.items():
                kids.setdefault(pp, []).append(pid)
            todo, seen = list(kids.get(self.me, [])), []
            while todo:
                pid = todo.pop()
                seen.append(pid)
                todo.extend(kids.get(pid, []))
            pss = _proc_pss(self.me)
            for pid in seen:
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu[pid])
                hwm, anon = _proc_mem(pid)
                self.hwm[pid] = max(self.hwm.get(pid, 0.0), hwm)
                self.anon[pid] = max(self.anon.get(pid, 0.0), anon)
                pss += _proc_pss(pid)
            self.pss_peak = max(self.pss_peak, pss)

    def snapshot(self) -> dict[int, float]:
        self.scan()
        with self._lock:
            return dict(self.cpu)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _child(spec: dict) -> dict:
    """Run one case in this (fresh) process and return its figures."""
    warnings.simplefilter("ignore")
    kind = spec["kind"]
    if kind in ("reference", "decode"):
        r = br._child(spec)  # single process: no descendants
        r.update(cpu_s=r["frames"] / r["fps_cpu"], child_hwm_mb=0.0, child_anon_peak_mb=0.0, pss_total_mb=None)
        return r

    if kind == "plan":  # make (or read) the FFTW plans of a size before the timed cases
        from vismic._backends import fft_backend
        from vismic.measure import build_estimator
        from vismic.pipeline import RecoveryParams

        t0 = time.perf_counter()
        for params in spec["param_sets"]:
            est, _, _ = build_estimator(RecoveryParams.from_dict({"fps": FPS, **params}), tuple(spec["shape"]),
                                        n_frames=spec["n"])
            est.prepare()
        return {"fft": fft_backend(), "seconds": time.perf_counter() - t0}

    if not spec.get("memory"):
        import pyrtools  # noqa: F401  (the same imports in every child, as bench_recover does)

    from vismic.pipeline import RecoveryParams, recover

    base = br._status()
    params = RecoveryParams.from_dict({"fps": FPS, **spec["params"]})
    fam = _Descendants()
    peak = br._AnonPeak()
    info: dict = {}

    def progress(_done, _total):
        peak()
        fam.scan(min_gap=0.05)

    def run(executor=None) -> dict:
        before = fam.snapshot()
        cpu0 = br._cpu_s()
        t0 = time.perf_counter()
        rec = recover(spec["path"], params, progress=progress, executor=executor)
        elapsed = time.perf_counter() - t0
        cpu_main = br._cpu_s() - cpu0
        after = fam.snapshot()
        cpu_kids = sum(v - before.get(pid, 0.0) for pid, v in after.items())
        if spec.get("audio_out"):
            np.save(spec["audio_out"], rec.audio.astype(np.float64))
        return {
            "frames": int(rec.input["frames_used"]),
            "seconds": elapsed,
            "cpu_s": cpu_main + cpu_kids,
            "cpu_children_s": cpu_kids,
            "processes": rec.timings.get("processes"),
            "phase_step": rec.timings.get("phase_step"),
            "fft": rec.timings.get("fft"),
            "motion_s": rec.timings["motion_s"],
            "fuse_s": rec.timings["fuse_s"],
            "grid": list(rec.params.grid),
            "scales": rec.params.scales,
            "channels": rec.diagnostics["n_channels"],
            "snr_est_db": round(float(rec.diagnostics["estimated_snr_db"]), 1),
        }

    if spec.get("dask") is not None:
        from vismic.distributed import dask_client

        t0 = time.perf_counter()
        with dask_client(n_workers=2, malloc_fix=bool(spec["dask"])) as client:
            client.wait_for_workers(2)
            info["cluster_start_s"] = time.perf_counter() - t0
            res = run(client)
    else:
        res = run()
    fam.stop()
    peak.stop()
    end = br._status()
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    res.update(info)
    res.update(
        fps=res["frames"] / res["seconds"],
        fps_cpu=res["frames"] / res["cpu_s"] if res["cpu_s"] > 0 else float("nan"),
        cpu_per_wall=res["cpu_s"] / res["seconds"],
        hwm_mb=end["VmHWM"],
        anon_peak_mb=peak.peak,
        child_hwm_mb=max([reaped, *fam.hwm.values()]),
        child_anon_peak_mb=max([0.0, *fam.anon.values()]),
        pss_total_mb=fam.pss_peak,
        base_hwm_mb=base["VmHWM"],
    )
    return res


# --------------------------------------------------------------------------- inputs
class _H264:
    """Lossy H.264 (libx264, CRF ``crf``, preset veryfast, yuv420p) .mp4 writer fed with uint8 frames.

    The luma plane is the frame itself (chroma flat at 128), so decoding returns the frame up to
    the codec's loss; vismic reads the Y plane as it is.
    """

    def __init__(self, path: Path, shape: tuple[int, int], crf: int = CRF) -> None:
        import av

        self.container = av.open(str(path), mode="w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=Fraction(int(FPS)),
                                                options={"crf": str(crf), "preset": PRESET})
        self.stream.width, self.stream.height = shape[1], shape[0]
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.thread_count = 0
        self.shape = shape
        self.buf = np.full((shape[0] * 3 // 2, shape[1]), 128, np.uint8)
        self.n = 0
        self.packets: list | None = None

    def write(self, frames: np.ndarray) -> None:
        import av

        for frame in frames:
            self.buf[: self.shape[0]] = frame
            vf = av.VideoFrame.from_ndarray(self.buf, format="yuv420p")
            vf.pts = self.n
            self.n += 1
            self._mux(self.stream.encode(vf))

    def _mux(self, packets) -> None:
        for p in packets:
            if self.packets is not None:  # keep a copy for repeat()
                self.packets.append((bytes(p), p.pts, p.dts, p.is_keyframe, p.time_base))
            self.container.mux(p)

    def flush(self) -> None:
        self._mux(self.stream.encode(None))

    def repeat(self, times: int) -> None:
        """Append ``times - 1`` more copies of everything written so far (each copy starts with an IDR
        frame and ends with the encoder flushed, so the copies decode on their own)."""
        import av

        assert self.packets is not None, "call keep() before writing"
        length = self.n
        for k in range(1, times):
            for data, pts, dts, key, tb in self.packets:
                p = av.Packet(data)
                p.pts, p.dts = pts + k * length, dts + k * length
                p.time_base = tb
                p.is_keyframe = key
                p.stream = self.stream
                self.container.mux(p)
        self.n = length * times

    def keep(self) -> None:
        self.packets = []

    def close(self) -> None:
        self.container.close()


def _scene(shape: tuple[int, int], n: int, seed: int, texture: str = "pink"):
    from vismic.simulate import Scene, builtin_sound, make_texture

    sound = builtin_sound("noise", rate=FPS, duration=n / FPS, seed=seed)
    kw = dict(sound=sound, rate=FPS, rms_px=RMS_PX, noise_sigma=NOISE_GREY, shape=shape, seed=seed)
    probe = Scene(texture=make_texture(texture, (shape[0] + 16, shape[1] + 16), seed=seed), **kw)
    return Scene(texture=make_texture(texture, probe.texture_shape_needed, seed=seed), **kw)


def _write_inputs(scene, npy: Path, mp4: Path | None, avi: Path | None = None) -> None:
    """Render the scene once, streaming it into a memory-mapped .npy, an H.264 .mp4 and an FFV1 .avi."""
    enc = _H264(mp4, scene.shape) if mp4 is not None else None
    br._write_inputs(scene, npy, avi, each=enc.write if enc is not None else None)
    if enc is not None:
        enc.flush()
        enc.close()


def _long_mp4(path: Path, n: int, seed: int) -> float:
    """An n-frame 192x192 H.264 .mp4: a SEGMENT-frame scene encoded once, its packets repeated."""
    if n % SEGMENT:
        raise SystemExit(f"memory clip lengths must be multiples of {SEGMENT}, got {n}")
    t0 = time.perf_counter()
    scene = _scene((192, 192), SEGMENT, seed=seed)
    enc = _H264(path, scene.shape)
    enc.keep()
    for b in scene.frames(batch=250):
        enc.write(b)
    enc.flush()
    enc.repeat(n // SEGMENT)
    enc.close()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- parent side
def _run_child(spec: dict) -> dict:
    env = {**os.environ, **br.CHILD_ENV, **spec.get("env", {})}
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark case {spec.get('label')} failed (exit {proc.returncode})")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["load1"] = load
    return r


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _mb(r: dict, key: str) -> str:
    main, kid = r[key], r["child_" + key]
    return f"{main:.0f}" if kid <= 0 else f"{main + kid:.0f} ({main:.0f}+{kid:.0f})"


def _row(name: str, kind: str, r: dict, ref: dict | None) -> str:
    ratio = f"{r['fps'] / ref['fps']:.1f}x" if ref else "-"
    ratio_cpu = f"{r['fps_cpu'] / ref['fps_cpu']:.1f}x" if ref else "-"
    return (f"| {name} | {kind} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.0f} | {ratio} | "
            f"{r['fps_cpu']:.0f} | {ratio_cpu} | {r['cpu_per_wall']:.2f} | {_mb(r, 'hwm_mb')} | "
            f"{_mb(r, 'anon_peak_mb')} | {_pss(r)} | {r['load1']:.1f} |")


def _pss(r: dict) -> str:
    v = r.get("pss_total_mb")
    return "-" if not v else f"{v:.0f}"


HEAD = ["case", "input", "frames", "wall s", "frames/s", "vs ref", "frames/CPU-s", "vs ref (CPU)", "CPU/wall",
        "peak RSS MB (main+worker)", "peak heap MB (main+worker)", "peak PSS MB (all processes)", "load"]


def _table(rows: list[tuple[str, str, dict, dict | None]]) -> None:
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(HEAD) - 2)) + "|")
    for name, kind, r, ref in rows:
        print(_row(name, kind, r, ref))


def _corr_snr(a: np.ndarray, b: np.ndarray, truth: np.ndarray | None) -> tuple[float, float, float]:
    from vismic.metrics import correlation, snr

    c = correlation(a, b, max_lag=8)
    if truth is None:
        return c, float("nan"), float("nan")
    return c, snr(truth, a, max_lag=8), snr(truth, b, max_lag=8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short clips (192x192: 1024 frames, larger sizes: 64; memory at 1000 and 4000 frames, "
                         "no 100k clip), ~2 min")
    ap.add_argument("--skip-100k", action="store_true", help="leave out the 100,000-frame memory clip")
    ap.add_argument("--exact-100k-limit", type=float, default=300.0,
                    help="run the 100k-frame exact case only if the 10k one predicts at most this many seconds "
                         "(default 300)")
    ap.add_argument("--mem-frames", help="comma-separated clip lengths of the memory section, multiples of "
                    f"{SEGMENT} (default 1000,10000,100000); with three, the last gets the long-clip treatment")
    ap.add_argument("--memory-only", action="store_true", help="run only the memory section")
    ap.add_argument("--exact-only", action="store_true",
                    help="run only the exact-mode target: the reference and vismic at the reference's settings "
                         "(1 and 2 processes) at every size, .npy and .mp4, with the equality checks (~6 min)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0

    if args.quick:
        frames = {(192, 192): 1024, (400, 704): 64}
        ref_frames = {(192, 192): 20, (400, 704): 10}
        mem_lengths = [1000, 2000]
        other_frames = 512
    else:
        frames = {(192, 192): 16384, (512, 512): 2048, (400, 704): 2048}
        ref_frames = {(192, 192): 200, (512, 512): 60, (400, 704): 60}
        mem_lengths = [1000, 10000] if args.skip_100k else [1000, 10000, 100000]
        other_frames = 4096
    if args.mem_frames:
        mem_lengths = [int(v) for v in args.mem_frames.split(",")]
    if args.memory_only:
        frames = {}
    if args.exact_only:
        mem_lengths = []

    print("# vismic scale/speed benchmark (issue 4)")
    print()
    print("Command: " + shlex.join([sys.executable, *sys.argv]))
    print("Date: " + time.strftime("%Y-%m-%d %H:%M %Z"))
    for line in br._machine():
        print(line)
    print(f"Scenes: rigid motion {RMS_PX} px RMS of band-limited noise at {FPS:g} fps, read noise {NOISE_GREY:g} "
          "grey levels, 8-bit, pink texture unless said. H.264 inputs: libx264 via PyAV, "
          f"CRF {CRF}, preset {PRESET}, yuv420p (default GOP, B-frames on). Lossless: FFV1 in .avi (write_video).")
    print("Each case in a fresh subprocess; maths single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1), workers=1.")
    print()

    rows: list[tuple[str, str, dict, dict | None]] = []
    lossless: list[tuple[str, str, dict, dict | None]] = []
    checks: list[str] = []
    quality: list[str] = []
    notes: list[str] = []
    load0 = br._load()
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vismic-scale-") as tmp:
        tmpd = Path(tmp)
        # FFTW plans (extra vismic[fftw]) go to a cache of this run: every size starts unplanned
        os.environ["VISMIC_CACHE_DIR"] = str(tmpd / "plans")
        audio: dict[str, np.ndarray] = {}
        n_case = [0]

        def vismic(label: str, path: Path, params: dict, *, key: str | None = None, **extra) -> dict:
            n_case[0] += 1
            out = tmpd / f"audio{n_case[0]}.npy"
            r = _run_child({"kind": "vismic", "path": str(path), "params": params, "label": label,
                            "audio_out": str(out), **extra})
            if key:
                audio[key] = np.load(out)
            out.unlink()
            return r

        truths: dict[str, np.ndarray] = {}
        crf_rows: list[tuple[str, str, dict, dict | None]] = []
        dask_rows: list[tuple[str, str, dict, dict | None]] = []
        bitrate: list[tuple[int, float, float]] = []
        mp4_bytes: dict[str, float] = {}
        from vismic.metrics import snr
        for shape, n in frames.items():
            from vismic.denoise import default_highpass, highpass

            label = SIZES[shape]
            chunk = max(16, -(-n // 4))  # 4 chunks: processes=2 gets two each
            t0 = time.perf_counter()
            f = {".npy": tmpd / f"s{label}.npy", ".mp4": tmpd / f"s{label}.mp4", ".avi": tmpd / f"s{label}.avi"}
            big = shape == (192, 192)
            scene = _scene(shape, n, seed=shape[1])
            _write_inputs(scene, f[".npy"], f[".mp4"], f[".avi"] if big else None)
            truths[label] = highpass(scene.truth(), rate=FPS, cutoff=default_highpass(FPS)[0])
            mp4_bytes[label] = f[".mp4"].stat().st_size / n
            kinds = [".npy", ".mp4"]
            sizes_mb = ", ".join(f"{k} {f[k].stat().st_size / 1e6:.1f} MB" for k in (kinds + [".avi"] * big))
            _say(f"rendered {label}: {n} frames in {time.perf_counter() - t0:.1f} s ({sizes_mb})")
            from vismic.io import open_source

            for k in kinds + [".avi"] * big:
                with open_source(str(f[k])) as src:
                    if src.n_frames != n:
                        raise SystemExit(f"{f[k].name}: n_frames {src.n_frames}, expected {n}")

            ref = _run_child({"kind": "reference", "path": str(f[".npy"]), "frames": ref_frames[shape],
                              "label": label})
            rows.append((f"reference (pyrtools per frame) {label}", ".npy", ref, ref))
            checks.append(f"{label}: the reference's per-band signals equal vismic's mode=reference motion on the "
                          f"same {ref['frames']} frames to {ref['check_rel_err']:.1e} of their RMS (max abs diff)")
            plan = _run_child({"kind": "plan", "shape": list(shape), "n": n, "label": label,
                               "param_sets": [LIKE_REF, {}]})
            if plan["fft"] == "fftw":
                notes.append(f"FFTW plans for {label} (reference settings and defaults) made before the timed "
                             f"cases, into this run's plan cache: {plan['seconds']:.1f} s (a first run on a new "
                             "size pays this once; the timed runs read the cache, as a user's later runs do)")
            cases = [("exact, reference settings, 1 process", {**LIKE_REF, "processes": 1}, "ref1"),
                     ("exact, reference settings, 2 processes", {**LIKE_REF, "processes": 2}, "ref2"),
                     ("exact, reference settings, 2 processes, VISMIC_JIT=0", {**LIKE_REF, "processes": 2}, "ref2np",
                      {"VISMIC_JIT": "0"}),
                     ("exact, reference settings, 2 processes, VISMIC_FFT=scipy", {**LIKE_REF, "processes": 2},
                      "ref2sp", {"VISMIC_FFT": "scipy"}),
                     ("exact, reference settings, 2 processes, no extras (VISMIC_JIT=0 VISMIC_FFT=scipy)",
                      {**LIKE_REF, "processes": 2}, "ref2plain", {"VISMIC_JIT": "0", "VISMIC_FFT": "scipy"}),
                     ("exact, defaults, 2 processes", {"mode": "anchored", "processes": 2}, "exact2"),
                     ("fast, 1 process", {"mode": "fast", "processes": 1}, "fast1"),
                     ("fast, 2 processes", {"mode": "fast", "processes": 2}, "fast2")]
            if args.exact_only:
                cases = cases[:5]
            for kind in kinds:
                for name, params, key, *env in cases:
                    r = vismic(label, f[kind], {**params, "chunk": chunk}, key=f"{label}{kind}{key}",
                               **({"env": env[0]} if env else {}))
                    rows.append((f"{name} {label}", kind, r, ref))
                    notes.append(f"{name} {label} {kind}: {r['channels']} channels (grid {r['grid'][0]}x"
                                 f"{r['grid'][1]}, {r['scales']} scales), processes={r['processes']}, "
                                 f"phase step {r.get('phase_step') or '-'}, FFT {r.get('fft') or '-'}, motion "
                                 f"{r['motion_s']:.2f} s, fuse {r['fuse_s']:.2f} s, estimated SNR {r['snr_est_db']} dB")
                for a, b in (("ref1", "ref2"),) + (() if args.exact_only else (("fast1", "fast2"),)):
                    x, y = audio[f"{label}{kind}{a}"], audio[f"{label}{kind}{b}"]
                    same = "identical" if np.array_equal(x, y) else f"max abs diff {np.max(np.abs(x - y)):.1e}"
                    checks.append(f"{label} {kind}: {a} vs {b} (1 vs 2 processes): final audio {same}")
                if args.exact_only:
                    continue
                r = _run_child({"kind": "decode", "path": str(f[kind]), "label": label})
                rows.append((f"decode only {label}", kind, r, None))
                c, s_exact, s_fast = _corr_snr(audio[f"{label}{kind}exact2"], audio[f"{label}{kind}fast2"],
                                               truths[label])
                quality.append(f"| pink | {label} | {kind} | {n} | {c:.4f} | {s_exact:.1f} | {s_fast:.1f} |")
            if big and args.exact_only:
                f[".avi"].unlink(missing_ok=True)
                f[".npy"].unlink(missing_ok=True)
                big = False
            if big:
                r = _run_child({"kind": "decode", "path": str(f[".avi"]), "label": label})
                lossless.append((f"decode only {label}", ".avi (FFV1)", r, None))
                for name, params, _key in cases[-2:]:
                    r = vismic(label, f[".avi"], {**params, "chunk": chunk})
                    lossless.append((f"{name} {label}", ".avi (FFV1)", r, ref))
            for k in kinds + [".avi"]:
                if k != ".npy" or not big:
                    f[k].unlink(missing_ok=True)
            _say(f"  {label} cases done ({time.perf_counter() - t_all:.0f} s so far)")

            if big:
                # Dask on the same .npy clip, then a second texture for fast vs exact.
                t0 = time.perf_counter()
                for name, params in (("exact, defaults", {"mode": "anchored", "chunk": chunk}),
                                     ("fast", {"mode": "fast", "chunk": chunk})):
                    for fix in (True, False):
                        r = vismic(label, f[".npy"], params, dask=fix)
                        dask_rows.append((f"{name} {label}, Dask 2 workers, malloc_fix={fix}", ".npy", r, ref))
                _say(f"  Dask cases done ({time.perf_counter() - t0:.0f} s)")

                # H.264 bitrate: the same clip at lower CRFs (CRF 18 is the main table's).
                t0 = time.perf_counter()
                stack = np.load(f[".npy"], mmap_mode="r")
                for crf in SWEEP_CRF:
                    mp4 = tmpd / f"crf{crf}.mp4"
                    enc = _H264(mp4, shape, crf=crf)
                    for i in range(0, n, 256):
                        enc.write(np.asarray(stack[i : i + 256]))
                    enc.flush()
                    enc.close()
                    kind = f".mp4 CRF {crf}"
                    r = _run_child({"kind": "decode", "path": str(mp4), "label": label})
                    crf_rows.append((f"decode only {label}", kind, r, None))
                    for name, params, key in cases[-2:]:
                        r = vismic(label, mp4, {**params, "chunk": chunk}, key=f"crf{crf}{key}")
                        crf_rows.append((f"{name} {label}", kind, r, ref))
                    s_fast = snr(truths[label], audio[f"crf{crf}fast2"], max_lag=8)
                    bitrate.append((crf, mp4.stat().st_size / n, s_fast))
                    mp4.unlink()
                del stack
                _say(f"  CRF sweep done ({time.perf_counter() - t0:.0f} s)")
                f[".npy"].unlink()

                t0 = time.perf_counter()
                scene = _scene(shape, other_frames, seed=11, texture="white")
                npy = tmpd / "white.npy"
                _write_inputs(scene, npy, None)
                for _name, params, key in cases[-3:]:
                    if key != "fast1":
                        vismic(label, npy, {**params, "chunk": max(16, -(-other_frames // 4))}, key=f"white{key}")
                c, s_exact, s_fast = _corr_snr(audio["whiteexact2"], audio["whitefast2"],
                                               highpass(scene.truth(), rate=FPS, cutoff=default_highpass(FPS)[0]))
                quality.append(f"| white | {label} | .npy | {other_frames} | {c:.4f} | {s_exact:.1f} | {s_fast:.1f} |")
                npy.unlink()
                _say(f"  white texture done ({time.perf_counter() - t0:.0f} s)")

        # -- memory against clip length, from H.264
        mem_rows: list[tuple[str, str, dict, dict | None]] = []
        exact_prev: tuple[int, float] | None = None
        long_clip = mem_lengths[-1] if len(mem_lengths) >= 3 else None
        for m in mem_lengths:
            path = tmpd / f"mem{m}.mp4"
            made = _long_mp4(path, m, seed=7)
            from vismic.io import open_source

            with open_source(str(path)) as src:
                if src.n_frames != m:
                    raise SystemExit(f"{path.name}: n_frames {src.n_frames}, expected {m}")
            _say(f"made {path.name} ({m} frames, {path.stat().st_size / 1e6:.1f} MB) in {made:.1f} s")
            # Memory children do not import pyrtools (it pulls in matplotlib): their baseline is vismic's own.
            todo = [("fast, 1 process", {"mode": "fast", "processes": 1}),
                    ("fast, 2 processes", {"mode": "fast", "processes": 2}),
                    ("defaults (auto), every core", {}),
                    ("exact (anchored), 1 process", {"mode": "anchored", "processes": 1}),
                    ("exact (anchored), 2 processes", {"mode": "anchored", "processes": 2})]
            for name, params in todo:
                if name.startswith("exact") and m == long_clip:
                    guess = exact_prev[1] * m / exact_prev[0] if exact_prev else float("inf")
                    if guess > args.exact_100k_limit:
                        notes.append(f"{name}, {m} frames: not run (the {exact_prev[0]}-frame exact run predicts "
                                     f"{guess:.0f} s, over --exact-100k-limit {args.exact_100k_limit:g} s)")
                        continue
                r = vismic(f"mem{m}", path, params, memory=True)
                mem_rows.append((f"{name}, 192x192", f".mp4 {m / 1000:g}k", r, None))
                if name.startswith("exact"):
                    exact_prev = (m, r["seconds"])
                notes.append(f"memory {name} {m} frames: {r['channels']} channels, processes={r['processes']}, "
                             f"motion {r['motion_s']:.1f} s, fuse {r['fuse_s']:.2f} s")
                _say(f"  {name} {m} frames: {r['seconds']:.0f} s")
            path.unlink()

    if rows:
        print("## Throughput")
        print()
        _table(rows)
        print()
        if not args.exact_only:
            print("## Lossless FFV1 input at 192x192 (decode-bound)")
            print()
            _table(lossless)
            print()
            print("## H.264 bitrate at 192x192: decode cost and what survives of a 0.01 px motion")
            print()
            print("| CRF | bytes/frame | SNR of fast, 2 processes, dB |")
            print("|---:|---:|---:|")
            if "192x192" in mp4_bytes:
                s18 = _corr_snr(audio["192x192.mp4fast2"], audio["192x192.mp4fast2"], truths["192x192"])[1]
                print(f"| {CRF} (main table) | {mp4_bytes['192x192']:.0f} | {s18:.1f} |")
            for crf, per_frame, s in bitrate:
                print(f"| {crf} | {per_frame:.0f} | {s:.1f} |")
            s_npy = _corr_snr(audio["192x192.npyfast2"], audio["192x192.npyfast2"], truths["192x192"])[1]
            print(f"| raw .npy | {192 * 192} | {s_npy:.1f} |")
            print()
            _table(crf_rows)
            print()
            print("## Fast mode against the exact path (default settings, 2 processes)")
            print()
            print("| texture | size | input | frames | corr(fast, exact) | SNR exact dB | SNR fast dB |")
            print("|---|---|---|---:|---:|---:|---:|")
            for line in quality:
                print(line)
            print()
            print("SNR: vismic.metrics.snr against the scene's truth high-passed like the recovery (40 Hz; lag "
                  "within 8 samples); correlation: vismic.metrics.correlation of the two final audio signals "
                  "(lag within 8 samples).")
            print()
    if mem_rows:
        print("## Memory against clip length (192x192 H.264, 2 processes, chunk 2048 unless said)")
        print()
        _table(mem_rows)
        print()
    if dask_rows:
        print("## Dask LocalCluster (2 single-threaded workers) on the 192x192 .npy clip")
        print()
        _table(dask_rows + [r for r in rows if r[0].startswith(("exact, defaults, 2 processes 192",
                                                                 "fast, 2 processes 192")) and r[1] == ".npy"])
        print()
        print("cluster start-up (not in the wall time above): "
              + ", ".join(f"{r[2]['cluster_start_s']:.1f} s" for r in dask_rows))
        print()
    print("## Notes")
    print()
    print(f"- Load average at start {load0}, at end {br._load()}; the 'load' column is the 1-minute load when "
          "the case started (2 cores: above 2 means other jobs competed).")
    print("- frames/s: frames / wall time of the whole recover() call (read + decode + motion + fuse + post; "
          "worker start-up included). The reference runs on a subset of the clip's frames (its own 'frames'). "
          "'vs ref' divides by the reference's frames/s at the same size; '(CPU)' uses frames per CPU-second.")
    print("- CPU = the case process plus all its descendants (worker processes; /proc sampled every 0.25 s and "
          "after each chunk). CPU/wall near 2 means both cores were used; below means waiting or other load.")
    print("- Peak RSS = VmHWM of the case process + the largest VmHWM of any descendant (one worker), "
          "and getrusage(RUSAGE_CHILDREN) for children it reaped. A memory-mapped .npy's pages count in VmHWM. "
          "Peak heap = peak RssAnon: main sampled every 2 ms, workers every 0.25 s.")
    print("- Peak PSS = the largest sum, at one scan, of Pss (/proc/<pid>/smaps_rollup) over the case process "
          "and all its descendants (scans every 0.25 s and after each batch, at most every 0.05 s): the "
          "physical memory of the run with every shared page (a library mapped by several processes) counted "
          "once in total, where the RSS sum counts it in each process. Sampled: a peak shorter than a scan "
          "interval can be missed.")
    for line in checks + notes:
        print("- " + line)
    print()
    print(f"total benchmark time {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
