"""Lossless video writing with PyAV (used by :func:`vismic.simulate.render` and tools).

High-speed clips do not fit ordinary containers: ffmpeg refuses AVI above 1000 fps and
Matroska stores millisecond timestamps, so at 2200 fps consecutive frames share a
timestamp. :func:`write_video` therefore stores frames in order with a *nominal* container
rate that the container can represent, and records the true rate in the file's metadata
(tag ``VISMIC_RATE`` where the container keeps custom tags, and a ``comment``). Readers
must take the rate from the user or the sidecar metadata, never from the container.

Codecs
------
* ``.mkv``, ``.nut``, ``.avi``: FFV1 (level 3, intra-only, slice CRCs), ``gray`` for 8-bit
  frames and ``gray16le`` for 9-16 bit frames. Bit-exact.
* ``.mp4``: H.264 in lossless mode (``qp=0``): ``libx264`` with ``gray`` (the decoder
  returns the exact luma plane) or ``libx264rgb`` with R = G = B; 8-bit only.

How exactness was verified: frames of uniform random bytes (worst case for a codec) and
rendered scenes were written at 2200 fps and 1000 fps, including odd sizes (33 x 47), and
decoded again with PyAV; the Y (luma/gray) plane read straight from the decoded frame's
buffer was compared with ``np.array_equal`` (see ``tests/test_simulate.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .._validation import check_int, check_number
from ..errors import InputError, ParameterError
from .atomic import atomic_path

__all__ = ["write_video", "write_viewing_video", "output_container", "VIDEO_SUFFIXES", "VIEWING_SUFFIXES"]

#: suffix -> (PyAV container format, default codec)
VIDEO_SUFFIXES: dict[str, tuple[str, str]] = {
    ".mkv": ("matroska", "ffv1"),
    ".nut": ("nut", "ffv1"),
    ".avi": ("avi", "ffv1"),
    ".mp4": ("mp4", "libx264"),
}
_CODECS = ("ffv1", "libx264", "libx264rgb")
#: containers whose timestamps cannot order frames above 1000 fps (AVI refuses, MKV has 1 ms ticks)
_MAX_NOMINAL_RATE = {"matroska": 1000, "avi": 1000}
#: codec / pixel-format pairs that subsample chroma and so need even frame sizes
_NEEDS_EVEN = {("libx264", "yuv420p"), ("libx264", "yuv422p")}


@contextlib.contextmanager
def output_container(path: str | os.PathLike, fmt: str) -> Iterator[Any]:
    """An FFmpeg output container on ``path`` (a staged temporary file), closed when the block ends.

    If the block fails the container is closed quietly: the block's own error is the one that
    matters, not what closing a half-written file says after it.
    """
    container = av.open(os.fspath(path), mode="w", format=fmt)
    try:
        yield container
    except BaseException:
        with contextlib.suppress(Exception):
            container.close()
        raise
    container.close()


def _put(container, stream, frame) -> None:
    """Encode one frame (None: flush the encoder) and mux the packets it gives."""
    for packet in stream.encode(frame):
        container.mux(packet)


def _nominal_rate(rate: float, fmt: str) -> Fraction:
    """A container rate that keeps frames strictly ordered in ``fmt``; the true rate goes in metadata."""
    frac = Fraction(rate).limit_denominator(1001)
    if abs(float(frac) - rate) > 1e-9 * rate:
        frac = Fraction(max(1, round(rate)))
    cap = _MAX_NOMINAL_RATE.get(fmt)
    if cap is not None and frac > cap:
        frac = Fraction(cap)
    return frac


def write_video(
    path: str | os.PathLike[str],
    batches: Iterable[np.ndarray],
    *,
    rate: float,
    codec: str | None = None,
    bits: int = 8,
) -> dict[str, Any]:
    """Write greyscale frames to a lossless video, atomically.

    Parameters
    ----------
    path : path-like
        Output file; the suffix picks the container (``.mkv``, ``.nut``, ``.avi``, ``.mp4``).
        The file appears only when complete (written to a temporary file in the same
        folder, then renamed with :func:`os.replace`); an existing file is replaced.
    batches : iterable of ndarray
        Frames in order, each ``(n, rows, cols)`` (or one ``(rows, cols)`` frame), all of
        the same size; ``uint8`` for ``bits <= 8``, ``uint16`` with values below
        ``2**bits`` otherwise. Consumed once, streamed: memory does not grow with the clip.
    rate : float
        The true frame rate in Hz (> 0). Stored in the metadata; the container gets a
        nominal rate it can hold (``rate`` itself for NUT and MP4, at most 1000 fps for
        Matroska and AVI).
    codec : {"ffv1", "libx264", "libx264rgb"} or None
        ``None`` picks FFV1 for .mkv/.nut/.avi and libx264 for .mp4.
    bits : int
        Bit depth of the frames, 1-16; above 8 needs FFV1 (``gray16le``).

    Returns
    -------
    dict
        ``path``, ``format``, ``codec``, ``pix_fmt``, ``true_rate``, ``container_rate``
        (string fraction), ``n_frames``, ``rows``, ``cols``, ``bits``, ``lossless`` (True).

    Raises
    ------
    ParameterError
        Unknown suffix or codec, bad rate or bit depth, 16-bit frames for H.264, a dtype
        that does not match ``bits``, odd frame sizes for a codec that needs even ones.
    InputError
        No frames, or frames that change size or are not 2-D/3-D.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ParameterError(f"video path {str(path)!r} has suffix {suffix!r}; use one of "
                             f"{sorted(VIDEO_SUFFIXES)} (or .npy for an array)")
    fmt, default_codec = VIDEO_SUFFIXES[suffix]
    codec = default_codec if codec is None else codec
    if codec not in _CODECS:
        raise ParameterError(f"codec={codec!r} is not one of {_CODECS}; use codec=None for the default")
    true_rate = check_number("rate", rate, lo=0.0, lo_open=True, unit="Hz", fix="give e.g. rate=2200.0")
    bits = check_int("bits", bits, 1, 16, fix="use bits=8 or 16")
    deep = bits > 8
    if deep and codec != "ffv1":
        raise ParameterError(f"bits={bits} needs 16-bit storage, which {codec} cannot do losslessly; "
                             "write .mkv/.nut/.avi (FFV1 gray16le) instead")
    if codec == "ffv1" and fmt == "mp4":
        raise ParameterError("FFV1 in .mp4 is not supported here; use .mkv for FFV1 or codec=None for H.264")
    if codec != "ffv1" and fmt != "mp4":
        raise ParameterError(f"codec={codec!r} is only used with .mp4; use FFV1 (codec=None) for {suffix}")
    dtype = np.dtype(np.uint16 if deep else np.uint8)
    pix_fmt = {"ffv1": "gray16le" if deep else "gray", "libx264": "gray", "libx264rgb": "rgb24"}[codec]
    options = {"ffv1": {"level": "3", "g": "1", "slicecrc": "1"},
               "libx264": {"qp": "0", "preset": "veryfast"},
               "libx264rgb": {"qp": "0", "preset": "veryfast"}}[codec]
    nominal = _nominal_rate(true_rate, fmt)

    n = 0
    shape: tuple[int, int] | None = None
    with atomic_path(path) as tmp, output_container(tmp, fmt) as container:
        container.metadata["comment"] = (
            f"vismic: true frame rate {true_rate!r} Hz; the container rate is nominal"
        )
        container.metadata["VISMIC_RATE"] = repr(true_rate)
        stream = None
        for arr in batches:
            arr = np.asarray(arr)
            if arr.ndim == 2:
                arr = arr[None]
            if arr.ndim != 3:
                raise InputError(f"frames must be (n, rows, cols) arrays, got shape {arr.shape}")
            if arr.dtype != dtype:
                raise ParameterError(f"frames of dtype {arr.dtype} do not match bits={bits}; give {dtype} "
                                     "frames (or set bits to match)")
            if arr.shape[0] == 0:
                continue
            if stream is None:
                shape = (int(arr.shape[1]), int(arr.shape[2]))
                if (codec, pix_fmt) in _NEEDS_EVEN and (shape[0] % 2 or shape[1] % 2):
                    raise ParameterError(f"{codec} with {pix_fmt} needs even frame sizes, got {shape[0]} x "
                                         f"{shape[1]}; crop to {shape[0] // 2 * 2} x {shape[1] // 2 * 2} "
                                         "or write .mkv (FFV1)")
                stream = container.add_stream(codec, rate=nominal, options=options)
                stream.width, stream.height = shape[1], shape[0]
                stream.pix_fmt = pix_fmt
                stream.codec_context.thread_count = 0
            elif arr.shape[1:] != shape:
                raise InputError(f"frame size changed from {shape} to {arr.shape[1:]} at frame {n}")
            if deep and bits < 16 and int(arr.max()) >= 2**bits:
                raise ParameterError(f"frame {n} holds values >= 2**{bits}; set bits to the true depth")
            for frame in arr:
                if pix_fmt == "rgb24":
                    vf = av.VideoFrame.from_ndarray(np.repeat(frame[..., None], 3, axis=-1), format="rgb24")
                else:
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=pix_fmt)
                vf.pts = n
                _put(container, stream, vf)
                n += 1
        if stream is None:
            raise InputError(f"no frames to write to {str(path)!r}")
        _put(container, stream, None)
    assert shape is not None
    return {
        "path": str(path),
        "format": fmt,
        "codec": codec,
        "pix_fmt": pix_fmt,
        "true_rate": true_rate,
        "container_rate": str(nominal),
        "n_frames": n,
        "rows": shape[0],
        "cols": shape[1],
        "bits": int(bits),
        "lossless": True,
    }


#: suffixes of :func:`write_viewing_video`: suffix -> (container, codec)
VIEWING_SUFFIXES: dict[str, tuple[str, str]] = {".mp4": ("mp4", "libx264"), ".mkv": ("matroska", "ffv1")}


def write_viewing_video(
    path: str | os.PathLike[str],
    batches: Iterable[np.ndarray],
    *,
    play_rate: float,
    capture_rate: float,
    crf: int = 14,
) -> dict[str, Any]:
    """Write frames for people to watch, atomically: H.264 any player shows, or lossless FFV1.

    Parameters
    ----------
    path : path-like
        ``.mp4`` (H.264, yuv420p, constant quality ``crf``: what browsers and players show; odd
        sizes are padded by one edge row or column) or ``.mkv`` (FFV1, lossless).
    batches : iterable of ndarray
        ``uint8`` frames, ``(n, rows, cols)`` grey or ``(n, rows, cols, 3)`` RGB, all of one size;
        streamed.
    play_rate : float
        The rate the container plays at (e.g. 30 for a slow-motion view of a 600 fps capture).
    capture_rate : float
        The true capture rate, stored in the metadata (``VISMIC_RATE``) for a later recovery.
    crf : int
        H.264 constant-rate factor (0-51; 14 is visually lossless).

    Returns
    -------
    dict
        ``path``, ``codec``, ``pix_fmt``, ``play_rate``, ``capture_rate``, ``n_frames``, ``rows``,
        ``cols`` (as given, before any padding), ``colour``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIEWING_SUFFIXES:
        raise ParameterError(f"video path {str(path)!r} must end in one of {sorted(VIEWING_SUFFIXES)}")
    play_rate = check_number("play_rate", play_rate, lo=0.0, lo_open=True, unit="Hz", fix="give e.g. 30")
    capture_rate = check_number("capture_rate", capture_rate, lo=0.0, lo_open=True, unit="Hz",
                                fix="give the true capture rate, e.g. 600")
    crf = check_int("crf", crf, 0, 51, fix="lower is better; 14 looks lossless")
    fmt, codec = VIEWING_SUFFIXES[suffix]
    nominal = _nominal_rate(float(play_rate), fmt)
    n = 0
    info: dict[str, Any] = {}
    with atomic_path(path) as tmp, output_container(tmp, fmt) as container:
        container.metadata["VISMIC_RATE"] = repr(float(capture_rate))
        container.metadata["comment"] = (f"vismic: captured at {float(capture_rate)!r} Hz, "
                                         f"plays at {float(play_rate):g} fps")
        stream = None
        for arr in batches:
            arr = np.asarray(arr)
            if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3):
                raise InputError(f"frames must be uint8 (n, rows, cols) or (n, rows, cols, 3), got "
                                 f"{arr.dtype} {arr.shape}")
            if stream is None:
                colour = arr.ndim == 4
                rows, cols = int(arr.shape[1]), int(arr.shape[2])
                pad = (rows % 2, cols % 2) if codec == "libx264" else (0, 0)
                stream = container.add_stream(codec, rate=nominal,
                                              options={"crf": str(crf), "preset": "medium"}
                                              if codec == "libx264" else {"level": "3", "g": "1"})
                stream.width, stream.height = cols + pad[1], rows + pad[0]
                stream.pix_fmt = "yuv420p" if codec == "libx264" else ("bgr0" if colour else "gray")
                stream.codec_context.thread_count = 0
                info = {"rows": rows, "cols": cols, "colour": colour}
            elif arr.shape[1:3] != (info["rows"], info["cols"]) or (arr.ndim == 4) != info["colour"]:
                raise InputError(f"frame size changed at frame {n}")
            if any(pad):
                widths = [(0, 0), (0, pad[0]), (0, pad[1])] + [(0, 0)] * (arr.ndim - 3)
                arr = np.pad(arr, widths, mode="edge")
            for frame in arr:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                format="rgb24" if info["colour"] else "gray")
                if vf.format.name != stream.pix_fmt:
                    vf = vf.reformat(format=stream.pix_fmt)
                vf.pts = n
                _put(container, stream, vf)
                n += 1
        if stream is None:
            raise InputError(f"no frames to write to {str(path)!r}")
        _put(container, stream, None)
    return {"path": str(path), "codec": codec, "pix_fmt": stream.pix_fmt, "play_rate": float(play_rate),
            "capture_rate": float(capture_rate), "n_frames": n, **info}

