"""Frames in, motion out: the one place that turns a frame source into a stream for an estimator.

:func:`resolve_rate` is the one rule for the capture rate (``--fps``, else a camera file's rate,
else the container's with a warning); :func:`stream_motion` feeds the ROI of every batch to a
streaming estimator with the texture and length checks; :func:`prefetched` overlaps decoding with
compute. Used by the global-shutter pipeline, the rolling-shutter recovery and the analyses.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import warnings
from collections.abc import Callable

import numpy as np

from .._backends import one_blas_thread
from .._typing import ProgressFn
from .._validation import check_rate
from ..errors import InputError, NoTextureError, ParameterError
from . import open_source
from .base import ROI, FrameSource

__all__ = ["resolve_rate", "stream_motion", "check_texture", "check_length", "prefetched", "run_on_source",
           "input_facts"]


def resolve_rate(src: FrameSource, fps: float | None, *, stacklevel: int = 3) -> tuple[float, str]:
    """The capture rate in Hz and where it came from: ``fps`` (``"user"``), else a camera file's rate
    (``"camera header"``), else the container's with a warning (``"container (unverified)"``).

    Raises
    ------
    ParameterError
        No rate anywhere, or a rate no WAV can hold (:func:`vismic._validation.check_rate`).
    """
    header = src.header_rate

    def checked(source: str) -> tuple[float, str]:
        try:
            return check_rate(header, what=f"frame rate ({source})"), source
        except ParameterError as exc:
            raise ParameterError(f"{src.path}: {exc}; pass --fps") from None

    if fps is not None:
        fps = check_rate(fps)
        if src.rate_is_trusted and header and abs(fps - header) > 0.01 * header:
            warnings.warn(
                f"--fps {fps:g} differs from the {header:g} fps recorded by the camera in {src.path}; "
                "using --fps as given",
                stacklevel=stacklevel,
            )
        return float(fps), "user"
    if src.rate_is_trusted and header:
        facts = src.describe()
        step = facts.get("save_step") or 1
        if step > 1:
            warnings.warn(
                f"{src.path} keeps every {step}th frame of a {facts.get('record_rate', header * step):g} fps "
                f"recording: the samples are {header:g} Hz apart, so sound above {header / 2:g} Hz is lost",
                stacklevel=stacklevel,
            )
        return checked("camera header")
    if header:
        warnings.warn(
            f"no --fps given: using the container's {header:g} fps; high-speed cameras usually store a "
            "wrong rate in video files and rolling-shutter timing needs the exact one (59.94 is not 60), "
            "so pass --fps with the true capture rate",
            stacklevel=stacklevel,
        )
        return checked("container (unverified)")
    raise ParameterError(
        f"{src.path}: the frame rate is unknown (no rate in the file); pass --fps with the capture rate in Hz"
    )


def input_facts(src: FrameSource, **more) -> dict:
    """The input's facts for a sidecar: :meth:`FrameSource.describe`, its size in bytes, and ``more``."""

    try:
        size = os.path.getsize(src.path) if os.path.isfile(src.path) else None
    except OSError:
        size = None
    return {**src.describe(), "size_bytes": size, **more}


def stream_motion(
    src: FrameSource,
    process: Callable[[np.ndarray], np.ndarray],
    *,
    roi: ROI,
    batch: int,
    progress: ProgressFn | None = None,
    stop: int | None = None,
    min_frames: int = 8,
    what: str = "to recover a signal",
) -> tuple[list[np.ndarray], int, float]:
    """Feed the ROI of every frame batch (up to frame ``stop``) to a streaming motion estimator.

    The first frame must have texture, and the clip at least ``min_frames`` frames (the error
    says they are needed ``what``).

    Returns
    -------
    chunks : list of ndarray
        ``process(batch)`` for each batch, in order.
    frames : int
        Frames read.
    seconds : float
        Time spent reading and processing.

    Raises
    ------
    NoTextureError
        The ROI of the first frame is flat (contrast below a quarter grey level).
    InputError
        Fewer than 8 frames.
    """
    t0 = time.perf_counter()
    chunks: list[np.ndarray] = []
    done = 0
    known = src.n_frames or src.frames_estimate  # an estimate (Matroska) only sizes the progress bar
    total = min(known, stop) if known and stop is not None else (known or stop)
    with one_blas_thread():
        for frames in src.iter_batches(batch=batch, roi=roi, stop=stop):
            if done == 0:
                check_texture(frames, roi, src)
            chunks.append(process(frames))
            done += len(frames)
            if progress is not None:
                progress(done, max(total, done) if total else None)
    seconds = time.perf_counter() - t0
    check_length(done, src, min_frames=min_frames, what=what)
    return chunks, done, seconds


def check_texture(frames: np.ndarray | None, roi: ROI, src: FrameSource) -> None:
    if frames is None or len(frames) == 0:
        raise InputError(f"{src.path}: no frames could be read")
    spread = float(np.std(frames[0]))
    if not np.isfinite(spread) or spread < 0.25 / 255:
        raise NoTextureError(
            f"the region x={roi.x},y={roi.y},w={roi.w},h={roi.h} is flat (contrast {spread * 255:.2f} "
            "grey levels); choose an ROI on a textured part of the object"
        )


def check_length(done: int, src: FrameSource, *, min_frames: int = 8, what: str = "to recover a signal") -> None:
    if done == 0:
        raise InputError(f"{src.path}: no frames could be read")
    if done < 2:
        raise InputError(f"{src.path}: only one frame; motion needs a video of at least 2 frames")
    if done < min_frames:
        raise InputError(f"{src.path}: only {done} frames; at least {min_frames} are needed {what}")


def prefetched(batches, *, depth: int = 3):
    """Iterate ``batches`` with the next ones read in a background thread (decode overlaps compute).

    Readers spend their time in PyAV/FFmpeg, numpy or the OS, all of which release the GIL, so a
    reader thread runs while the motion estimator works on the previous batch.  At most ``depth``
    batches wait in the queue (memory stays bounded).  An exception raised by the reader is raised
    here, unchanged; leaving the loop early (an error, Ctrl-C) stops the reader and closes it.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        it = iter(batches)
        try:
            for b in it:
                if not put((b, None)):
                    break
            else:
                put((end, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((None, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    t = threading.Thread(target=run, name="vismic-reader", daemon=True)
    t.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is end:
                break
            yield item
    finally:
        stop.set()
        t.join()


def run_on_source(source, run: Callable[[FrameSource], object]):
    """``run(src)`` on ``source`` (a path is opened, and closed afterwards), its warnings recorded.

    The warnings are emitted again once ``run`` is over and set as the result's ``warnings``
    (their messages), so a :class:`~vismic.params.Recovery` carries what was said during it.
    """
    own = not isinstance(source, FrameSource)
    src = open_source(os.fspath(source)) if own else source
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run(src)
    finally:
        if own:
            src.close()
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    result.warnings = [str(w.message) for w in caught]
    return result
