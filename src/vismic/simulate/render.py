"""Rendering a scene to a file (video, ``.npy``) with its truth beside it."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .._typing import ProgressFn
from .._validation import bad
from ..errors import InputError, OutputExistsError
from ..io.atomic import atomic_path
from ..io.writers import write_video
from .scene import (
    Scene,
)


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None


def render(
    scene: Scene,
    video_path: str | os.PathLike[str],
    *,
    truth_path: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    codec: str | None = None,
    batch: int = 64,
    force: bool = False,
) -> dict[str, Any]:
    """Render a scene to a lossless video (or ``.npy``) plus its truth as a WAV.

    Parameters
    ----------
    scene : Scene
    video_path : path-like
        ``.mkv``/``.nut``/``.avi`` (FFV1), ``.mp4`` (lossless H.264, 8-bit only), or
        ``.npy`` (a memory-mapped ``(n_frames, rows, cols)`` array, written streamed).
        Container frame rates are nominal (see :func:`vismic.io.writers.write_video`); the
        true rate is ``scene.rate``, returned here.
    truth_path : path-like or None
        Where to write :meth:`Scene.truth` (pixels) as a float32 WAV at
        ``round(rate)`` samples/s; default: the video path with suffix ``.truth.wav``.
    progress : callable(done, total) or None
        Called after every batch with the number of frames written so far.
    codec : str or None
        Override the codec (see :func:`~vismic.io.writers.write_video`).
    batch : int
        Frames rendered at a time (memory is bounded by it, not by the clip length).
    force : bool
        Overwrite existing files; otherwise :class:`~vismic.errors.OutputExistsError`.

    Returns
    -------
    dict
        JSON-able metadata: the scene parameters (:meth:`Scene.to_dict`), ``crb``
        (:meth:`Scene.cramer_rao`, non-finite values as ``None``), ``truth_rms_px``,
        ``n_frames``, ``video_path``, ``truth_path``, ``video`` (what the writer stored)
        and ``render_seconds``.

    Raises
    ------
    OutputExistsError
        An output exists and ``force`` is False.
    ParameterError
        Unsupported suffix or codec.
    """
    video_path = Path(video_path)
    truth = Path(truth_path) if truth_path is not None else video_path.with_suffix(".truth.wav")
    if truth.resolve() == video_path.resolve():
        raise bad("truth_path", str(truth), "is the video path", "give another file name")
    for p in (video_path, truth):
        if p.exists() and not force:
            raise OutputExistsError(f"{str(p)!r} exists; pass force=True to overwrite it")
    t0 = time.perf_counter()
    total = scene.n_frames

    def batches() -> Iterator[np.ndarray]:
        done = 0
        for frames in scene.frames(batch=batch):
            yield frames
            done += frames.shape[0]
            if progress is not None:
                progress(done, total)

    if video_path.suffix.lower() == ".npy":
        video_info = _write_npy(video_path, batches(), (total, *scene.shape), scene.dtype)
    else:
        video_info = write_video(video_path, batches(), rate=scene.rate, codec=codec, bits=scene.bits)

    with atomic_path(truth) as tmp:
        sf.write(tmp, scene.truth().astype(np.float32), max(1, round(scene.rate)),
                 subtype="FLOAT", format="WAV")
    crb = {k: _json_float(v) for k, v in scene.cramer_rao().items()}
    meta = scene.to_dict()
    meta.update(
        crb=crb,
        truth_rms_px=float(np.sqrt(np.mean(scene.truth() ** 2))),
        truth_wav_rate=max(1, round(scene.rate)),
        video_path=str(video_path),
        truth_path=str(truth),
        video=video_info,
        render_seconds=time.perf_counter() - t0,
    )
    return meta


def _write_npy(path: Path, batches: Iterator[np.ndarray], shape: tuple[int, ...], dtype: np.dtype) -> dict:
    with atomic_path(path) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        i = 0
        for frames in batches:
            mm[i : i + frames.shape[0]] = frames
            i += frames.shape[0]
        if i != shape[0]:
            raise InputError(f"got {i} frames, expected {shape[0]}")
        mm.flush()
        del mm
    return {"path": str(path), "format": "npy", "dtype": str(np.dtype(dtype)), "n_frames": shape[0],
            "rows": shape[1], "cols": shape[2], "lossless": True}
