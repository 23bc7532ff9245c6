"""The motion stage over a whole clip: which estimator measures it, and how its frames are spread.

:func:`build_estimator` picks the estimator of a recovery (exact, fast or PyTorch, with the automatic
scales and region grid); :func:`measure_motion` runs it over every frame, streamed in one pass or
chunk by chunk over worker processes (:func:`vismic._parallel.spread`), a Dask cluster or any
executor, with finished chunks saved to and resumed from a checkpoint folder. :func:`motion_range`
is the unit of work of the parallel runs: frames ``[start, stop)`` of an input, equal to the same
rows of one uninterrupted pass.

Nothing here fuses or filters: :mod:`vismic.pipeline` composes this stage with the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings

import numpy as np

from . import __version__
from ._backends import fft_backend, fft_wisdom, jit_wanted, learn_fft_wisdom, one_blas_thread, warm_jit
from ._parallel import spread, usable_cores
from ._typing import Estimator, ProgressFn
from .checkpoint import Checkpoint
from .errors import ParameterError
from .io import FrameSource, open_source
from .io.base import ROI
from .io.stream import check_length as _check_length
from .io.stream import check_texture as _check_texture
from .io.stream import prefetched
from .motion import ANCHOR_CELL, FastMotionEstimator, MotionEstimator
from .params import RecoveryParams
from .pyramid import ComplexSteerablePyramid, max_scales

__all__ = ["build_estimator", "measure_motion", "motion_range"]


def _auto_scales(shape: tuple[int, int]) -> int:
    top = max_scales(shape)
    if top < 1:
        raise ParameterError(
            f"the region is {shape[1]}x{shape[0]} pixels; at least 8x8 is needed (use a larger ROI)"
        )
    return min(4, top)


def _auto_grid(shape: tuple[int, int], n_bands: int, n_frames: int | None, coarse: int) -> tuple[int, int]:
    """Up to 2x2 regions of >= 48 px, each keeping >= 4 coarsest-level coefficients per axis.

    Two regions per axis are enough for the common mode shapes (halves, quadrants moving in
    opposite phase) while keeping the channel count, hence memory and the fit's variance, small.
    The choice depends on the ROI only (and, when the container states it, on a very short clip),
    so the same footage gives the same channels whatever file it comes in.
    """
    rows, cols = shape
    gy = int(np.clip(rows // 48, 1, 2))
    gx = int(np.clip(cols // 48, 1, 2))
    gy = max(1, min(gy, (rows // coarse) // 4))
    gx = max(1, min(gx, (cols // coarse) // 4))
    if n_frames:
        while gy * gx > 1 and n_bands * gy * gx > n_frames / 5:
            if gy >= gx:
                gy -= 1
            else:
                gx -= 1
    return gy, gx


def build_estimator(params: RecoveryParams, shape: tuple[int, int], *, n_frames: int | None = None,
                    compiled: bool = True) -> tuple[Estimator, int, tuple[int, int]]:
    """The motion estimator of a recovery for an ROI of ``shape`` ``(rows, cols)`` (``compiled``: see
    :class:`~vismic.motion.MotionEstimator`).

    Returns
    -------
    estimator : Estimator
        A MotionEstimator, FastMotionEstimator or TorchMotionEstimator (:class:`vismic._typing.Estimator`).
    scales : int
    grid : tuple of int

    Raises
    ------
    ParameterError
        The ROI is too small for the requested scales or grid.
    """
    scales = params.scales if params.scales is not None else _auto_scales(shape)
    if scales > max_scales(shape):
        raise ParameterError(
            f"--scales {scales} is too many for a {shape[1]}x{shape[0]} region (at most "
            f"{max(max_scales(shape), 0)}); lower --scales or enlarge the ROI"
        )
    n_bands = params.orientations * (scales + bool(params.high_band))
    grid = params.grid or _auto_grid(shape, n_bands, n_frames, 2 ** (scales - 1))
    if params.mode == "fast":
        tile = (shape[0] // grid[0], shape[1] // grid[1])
        top = max_scales(tile) if min(tile) >= 8 else 0
        if scales > top:
            if params.scales is not None or top < 1:
                raise ParameterError(
                    f"--grid {grid[0]}x{grid[1]} cuts the {shape[1]}x{shape[0]} region into {tile[1]}x{tile[0]} "
                    f"tiles, too small for {scales} scales in fast mode; use fewer regions or scales"
                )
            scales = top
        est = FastMotionEstimator(shape, scales=scales, orientations=params.orientations,
                                  high_band=params.high_band, grid=grid, workers=params.workers)
    else:
        pyr = ComplexSteerablePyramid(shape, scales=scales, orientations=params.orientations,
                                      high_band=params.high_band, workers=params.workers)
        if params.backend == "torch":
            from .gpu import TorchMotionEstimator  # the optional extra vismic[gpu] (PyTorch)

            est = TorchMotionEstimator(pyr, mode=params.mode, grid=grid)
        else:
            est = MotionEstimator(pyr, mode=params.mode, grid=grid,
                                  compiled=compiled and params.backend == "auto")
    return est, scales, grid


def _fits(n_frames: int, n_channels: int) -> bool:
    """Whether a declared length is plausible enough to allocate its signals up front (2 GB at most):
    a damaged header may declare billions of frames."""
    return n_frames * n_channels <= 2**29


def _on_anchor_grid(size: int) -> int:
    """``size`` rounded up to a multiple of :data:`vismic.motion.ANCHOR_CELL`: chunks then start
    where every run renews its anchor, so each chunk equals the same frames of one whole pass."""
    return -(-int(size) // ANCHOR_CELL) * ANCHOR_CELL


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


# One estimator per worker (process or thread) and configuration: the pyramid's masks (or the fast
# path's weights) are built once per worker, not once per chunk.  Estimators carry state, so the
# cache is per thread.
_WORKER_CACHE = threading.local()
_WISDOM_FILE = "fftw-wisdom.bin"  # in a checkpoint folder: the FFTW plans its chunks were made with


def _import_post() -> None:
    """Import what the post-processing needs (scipy.signal, ~0.5 s) while worker processes start.

    Not in a thread beside the motion loop: an import holds the GIL for most of its time, and
    each of the loop's FFT and ufunc calls then waited for it (the first 16 frames of a 512^2 clip
    took 0.93 s instead of 0.12 s).  A serial run imports it where it is used, after the motion.
    A failure here is left to that import, which reports it.
    """
    try:
        import scipy.signal  # noqa: F401
    except Exception:  # pragma: no cover - the real import, at the point of use, reports it
        pass


def _task_key(task: dict) -> str:
    """What makes two tasks share an estimator (input, parameters, ROI, declared length, FFTW plans)."""
    wisdom = task.get("fft_wisdom")
    plans = hashlib.sha256(wisdom).hexdigest() if wisdom is not None else None
    return json.dumps([task["path"], task["params"], task["roi"], task.get("n_frames"), plans], sort_keys=True)


def motion_range(task: dict) -> dict:
    """Per-channel motion of frames ``[start, stop)`` of an input, computed on its own.

    The unit of work of parallel, distributed and resumed runs.  The estimator is primed with
    the frame before ``start`` (frame-to-frame modes) or with frame 0 (``"reference"``), so the
    rows equal those of one uninterrupted pass over the clip.

    Parameters
    ----------
    task : dict
        ``path``, ``params`` (a :meth:`RecoveryParams.to_dict`), ``roi`` ``[x, y, w, h]``,
        ``shape`` ``[rows, cols]`` of the ROI, ``n_frames`` (for the automatic grid), ``start``,
        ``stop``; optional ``offset`` (the file's frame that is the run's frame 0, for
        ``--start``), ``decode_threads`` (:attr:`FrameSource.decode_threads`, default 0) and
        ``fft_wisdom`` (the FFTW plans of the process that started the run,
        :func:`vismic._backends.fft_wisdom`, followed here so every chunk rounds alike).

    Returns
    -------
    dict
        ``start``, ``stop``, ``signals`` (float32, ``(frames read, n_channels)``; fewer rows
        than asked when the input ends early), ``weight`` (per-channel weight sums) and
        ``warnings`` (messages raised while reading).
    """
    params = RecoveryParams.from_dict(task["params"])
    roi = ROI(*task["roi"])
    start, stop = int(task["start"]), int(task["stop"])
    off = int(task.get("offset", 0))  # frame 0 of the run is frame ``off`` of the file (--start)
    key = _task_key(task)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = getattr(_WORKER_CACHE, "estimator", None) if getattr(_WORKER_CACHE, "key", None) == key else None
        if est is None:
            learn_fft_wisdom(task.get("fft_wisdom"))
            est, _, _ = build_estimator(params, tuple(task["shape"]), n_frames=task.get("n_frames"))
            _WORKER_CACHE.key, _WORKER_CACHE.estimator = key, est
        rows: list[np.ndarray] = []
        with open_source(task["path"]) as src, one_blas_thread():
            src.decode_threads = int(task.get("decode_threads", 0))
            first = start
            # the estimator is primed with the frame before ``start`` (the frame-to-frame difference,
            # the anchor renewed there) or with frame 0 ("reference"); the fast path, which transforms
            # a batch at once, with the whole batch that holds it in one pass, so that it rounds alike
            prime = params.batch if isinstance(est, FastMotionEstimator) else 1
            if start > 0 and params.mode == "reference":
                est.reset()
                for frames in src.iter_batches(batch=prime, roi=roi, start=off, stop=off + min(prime, start)):
                    est.process(frames)
                    est.mean_weight[:] = 0.0
            else:
                if start > 0:
                    first = max(0, start - prime)
                est.reset(first)  # the estimator's next frame is the run's frame ``first``
            skip = start - first
            for frames in prefetched(src.iter_batches(batch=params.batch, roi=roi, start=off + first,
                                                      stop=off + stop)):
                out = est.process(frames)
                if skip:  # the priming frames (the first batch holds them all: skip <= batch)
                    out, skip = out[skip:], 0
                    est.mean_weight[:] = 0.0
                rows.append(out)
    signals = np.concatenate(rows) if rows else np.zeros((0, est.n_channels), np.float32)
    return {"start": start, "stop": stop, "signals": signals, "weight": est.mean_weight.copy(),
            "warnings": [str(w.message) for w in caught]}


def _identity(src: FrameSource, params: RecoveryParams, roi: ROI, n_frames: int | None) -> dict:
    """What a checkpoint must match: the input file and every parameter shaping the chunk signals."""
    try:
        st = os.stat(src.path)
        stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except OSError:
        stamp = {}
    motion = {k: v for k, v in params.to_dict().items()
              if k in ("scales", "orientations", "high_band", "mode", "grid", "chunk", "fps", "backend")}
    return {"vismic": __version__, "input": os.path.abspath(src.path), **stamp, "n_frames": n_frames,
            "offset": int(getattr(src, "offset", 0)), "roi": roi.as_list(), "motion": motion}


def measure_motion(src: FrameSource, est: Estimator, params: RecoveryParams, roi: ROI, *,
                   progress: ProgressFn | None, checkpoint: str | None, executor,
                   rate: float) -> tuple[np.ndarray, int, float, dict]:
    """Per-channel motion of the whole clip: streamed in one pass, or chunk by chunk over processes
    (or a Dask cluster), with finished chunks saved to and resumed from a checkpoint folder.

    Returns ``(signals float32 (frames, channels), frames, seconds, facts for the timings)``.
    """
    t0 = time.perf_counter()
    n = src.n_frames
    procs = params.processes
    if executor is None and params.backend == "torch":
        procs = 1  # one process drives the GPU
    if not n and (executor is not None or procs is None or procs > 1):
        # Matroska states no count: a demux-only scan counts the frames when workers can seek to them
        indexed = getattr(src, "indexed_frames", None)
        n = indexed() if indexed is not None else None
    if executor is None and procs is None:
        # Worker start-up costs about a second: worth it when the serial run takes several.  The
        # work scales with pixels x frames: 2 default chunks of 192x192 frames.  Measured on 2 cores,
        # 192x192 FFV1 Matroska at 2,200 fps, whole command: exact path, 1 s of clip breaks even
        # (6.1-8.5 s vs 7.7-8.0 s), 3 s runs 1.56x faster in two processes; the fast path, whose
        # decoding is most of the work, 3 s: 6.8-7.0 s vs 7.1-8.5 s (96x96 at 20 kHz, 1 s: 6.7-8.3 s
        # vs 9.1-9.2 s)
        work = (n or 0) * roi.w * roi.h
        enough = 2 * 2048 * 192 * 192
        procs = usable_cores() if n and work >= enough else 1
    parallel = executor is not None or (procs or 1) > 1
    if parallel and n and not _fits(n, est.n_channels):
        n = None  # an implausible declared length (damaged header?): stream it in one pass instead
    if parallel and not n:
        if executor is not None:
            raise ParameterError(
                f"{src.path} does not state its frame count, so it cannot be split across workers; "
                "run without --dask (or remux it into a container that stores the count, e.g. .mp4)"
            )
        parallel = False
    store = None
    if checkpoint is not None:
        store = Checkpoint(checkpoint, _identity(src, params, roi, src.n_frames), n_channels=est.n_channels)
    # the parallel path may use smaller chunks
    facts: dict = {"processes": 1, "chunk_frames": _on_anchor_grid(params.chunk)}
    exact = isinstance(est, MotionEstimator)
    fftw = exact and est.compiled and fft_backend() == "fftw"
    if exact:
        facts["fft"] = "fftw" if fftw else "scipy"
    if fftw and store is not None:
        # a resumed run follows the FFTW plans of the run that saved the chunks: the same rounding
        saved = store.load_blob(_WISDOM_FILE)
        learn_fft_wisdom(saved)
        est.prepare()
        if saved is None:
            store.save_blob(_WISDOM_FILE, fft_wisdom())
    if exact and not parallel:
        facts["phase_step"] = "numba" if est.compiled and warm_jit() else "numpy"
    if not parallel:
        with one_blas_thread():
            signals, done, resumed = _motion_serial(src, est, params, roi, progress, store)
        facts["chunks_resumed"] = resumed
        return signals, done, time.perf_counter() - t0, facts

    # -- chunked, in worker processes or on a Dask cluster ------------------------------------------
    _check_texture(next(src.iter_batches(batch=1, roi=roi, stop=1), None), roi, src)
    size = _on_anchor_grid(params.chunk)
    if executor is None:
        # at least four chunks per process: short clips of large frames use every core, and the
        # share of the last chunk (which one process finishes alone) stays small
        size = _on_anchor_grid(max(min(size, 128), min(size, -(-n // (4 * procs)))))
    spans = _chunks(n, size)
    # every process (or Dask worker) decodes its own range on one core: one decoder thread each
    base = {"path": os.path.abspath(src.path), "params": params.to_dict(), "roi": roi.as_list(),
            "shape": [roi.h, roi.w], "n_frames": src.n_frames, "decode_threads": 1,
            "offset": int(getattr(src, "offset", 0))}
    if fftw:
        # plan here first (done above when resuming); the other processes follow these plans, so
        # every chunk rounds alike
        est.prepare()
        base["fft_wisdom"] = fft_wisdom()
    results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if store is not None:
        for i, (a, b) in enumerate(spans):
            got = store.load(a, b)
            if got is not None and got[0].shape[0] == b - a:
                results[i] = got
    todo = [i for i in range(len(spans)) if i not in results]
    out = np.empty((n, est.n_channels), np.float32)
    for i, (sig, _) in results.items():
        out[spans[i][0] : spans[i][1]] = sig
    done = sum(spans[i][1] - spans[i][0] for i in results)
    if progress is not None:
        progress(done, n)
    seen: set[str] = set()
    ends = n
    broken = False
    weight = np.zeros(est.n_channels)
    for _, w in results.values():
        weight += w

    def task(i: int) -> dict:
        return {**base, "start": spans[i][0], "stop": spans[i][1]}

    def in_this_process(i: int) -> dict:
        # Worker processes that die at start-up: typically a script that calls vismic at import
        # time, without ``if __name__ == "__main__":``, which every new process re-runs.
        nonlocal broken
        if not broken:
            broken = True
            warnings.warn(
                "worker processes could not run (if you call vismic from a script, put the call under "
                "`if __name__ == \"__main__\":`); continuing in one process",
                stacklevel=5,
            )
        return motion_range(task(i))

    def record(i: int, res: dict) -> None:
        nonlocal ends, done
        a, b = spans[i]
        sig = res["signals"]
        for msg in res["warnings"]:
            if msg not in seen:
                seen.add(msg)
                warnings.warn(msg, stacklevel=5)
        out[a : a + len(sig)] = sig
        weight[:] += res["weight"]
        if len(sig) < b - a:
            ends = min(ends, a + len(sig))
        elif store is not None:
            store.save(a, b, sig, res["weight"])
        done += len(sig)
        if progress is not None:
            progress(done, n)

    if executor is None:
        # this process's chunks reuse the estimator built for the run (same key as motion_range's)
        _WORKER_CACHE.key, _WORKER_CACHE.estimator = _task_key(base), est
        try:
            facts["processes"] = spread(
                todo, procs, task=task, record=record, pooled=_in_worker, here=motion_range,
                instead=in_this_process, while_starting=_import_post,
                # workers fork with numpy/scipy/av imported (and the compiled phase step loaded, when used)
                preload="vismic._warm" if exact and est.compiled and jit_wanted() else "vismic.measure")
        finally:
            _WORKER_CACHE.key = _WORKER_CACHE.estimator = None
        if broken:
            facts["processes"] = 1
    else:
        facts["processes"] = "dask"
        # every chunk goes to the cluster at once; results are taken in order
        futures = [(i, _submit(executor, task(i))) for i in todo]
        for i, fut in futures:
            record(i, fut.result())
    if exact:
        facts["phase_step"] = "numba" if est.compiled and warm_jit() else "numpy"
    est.mean_weight = weight
    if ends < n:
        warnings.warn(
            f"{src.path}: the file says {n} frames but only {ends} could be read; the recovery uses those",
            stacklevel=4,
        )
        out = out[:ends]
        _check_length(ends, src)
    facts["chunks_resumed"] = len(results)
    facts["chunk_frames"] = size
    return out, len(out), time.perf_counter() - t0, facts


def _in_worker(task: dict) -> dict:
    """:func:`motion_range` as the pool runs it (pickled by this name, resolved in the worker)."""
    return motion_range(task)


def _submit(executor, task: dict):
    """Submit one chunk to a concurrent.futures executor or a dask.distributed Client."""
    if hasattr(executor, "scheduler_info"):  # a dask.distributed Client: tasks are not pure functions of args
        return executor.submit(motion_range, task, pure=False)
    return executor.submit(motion_range, task)


def _motion_serial(src: FrameSource, est, params: RecoveryParams, roi: ROI, progress: ProgressFn | None,
                   store) -> tuple[np.ndarray, int, int]:
    """One pass over the clip; with a checkpoint, finished chunks are saved as they complete and
    chunks found in it are skipped (the estimator is primed again after a skipped stretch)."""
    size = _on_anchor_grid(params.chunk)
    parts: list[np.ndarray] = []
    pending: list[np.ndarray] = []  # rows of the current chunk
    pending_n = 0
    weight = np.zeros(est.n_channels)
    chunk_w = np.zeros(est.n_channels)
    done = 0
    resumed = 0
    skipping = False
    # the last frames read and the first batch: they prime the estimator after a skipped chunk (the
    # whole batch, so that the fast path, which transforms a batch at once, rounds as in one pass)
    prev: np.ndarray | None = None
    batch0: np.ndarray | None = None
    n = src.n_frames
    # rows go straight into one array when the length is known (no list + concatenate at the end)
    sink = np.empty((n, est.n_channels), np.float32) if n and _fits(n, est.n_channels) else None
    filled = 0

    def keep(sig: np.ndarray) -> None:
        nonlocal sink, filled
        if sink is not None and filled + len(sig) > len(sink):  # more frames than the file said
            parts.append(sink[:filled])
            sink = None
        if sink is not None:
            sink[filled : filled + len(sig)] = sig
        else:
            parts.append(sig)
        filled += len(sig)

    def span_end(c0: int) -> int:
        return c0 + size if not n else min(c0 + size, n)

    def flush(c0: int) -> None:
        nonlocal pending, pending_n, chunk_w
        if not pending:
            return
        sig = np.concatenate(pending)
        if store is not None and pending_n == span_end(c0) - c0:
            store.save(c0, span_end(c0), sig, chunk_w)
        keep(sig)
        pending, pending_n, chunk_w = [], 0, np.zeros(est.n_channels)

    for frames in prefetched(src.iter_batches(batch=params.batch, roi=roi)):
        if done == 0:
            _check_texture(frames, roi, src)
            batch0 = frames
        pos = 0
        while pos < len(frames):
            index = done + pos
            c0 = (index // size) * size
            take = min(len(frames) - pos, c0 + size - index)  # never across a chunk boundary
            part = frames[pos : pos + take]
            if index == c0:  # entering a chunk: is it already in the checkpoint?
                got = store.load(c0, span_end(c0)) if store is not None else None
                if got is not None and got[0].shape[0] == span_end(c0) - c0:
                    keep(got[0])
                    weight += got[1]
                    resumed += 1
                    skipping = True
                elif skipping:
                    if params.mode == "reference":
                        est.reset()
                        est.process(batch0)
                    else:
                        est.reset(index - len(prev))
                        est.process(prev)
                    est.mean_weight[:] = 0.0
                    skipping = False
            if not skipping:
                before = est.mean_weight.copy()
                pending.append(est.process(part))
                pending_n += take
                chunk_w += est.mean_weight - before
                weight += est.mean_weight - before
                if index + take == span_end(c0):
                    flush(c0)
            prev = part  # a view of this batch (batches are fresh arrays; nothing writes to them)
            pos += take
        done += len(frames)
        if progress is not None:  # Matroska states no count: its duration x rate gives the bar a total
            progress(done, n or (max(src.frames_estimate, done) if src.frames_estimate else None))
    if done and not skipping:
        flush((done - 1) // size * size)
    _check_length(done, src)
    est.mean_weight = weight
    signals = sink[:filled] if sink is not None else (np.concatenate(parts) if len(parts) > 1 else parts[0])
    return signals, done, resumed
