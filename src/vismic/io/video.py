"""Streaming video reader on PyAV that reads the luma plane directly (no RGB round trip).

PyAV/swscale's ``to_ndarray(format="gray")`` re-quantises video-range luma, so for YUV and grey
pixel formats the Y plane's bytes are used as they are; RGB formats are averaged as plain
``(R + G + B) / 3`` (no luma weights), following the reference implementation.

Damaged files are read as far as they go (docs/reliability.md):

* the first frame is decoded when the file is opened, so an empty, header-only or undecodable
  video fails at once with one clear error, before any work;
* decoding that stops early (a decoder error; fewer frames than the container declares or than
  its duration holds; a Matroska/AVI/NUT file that ends inside frame data, without the index
  written at the end: a truncated copy) keeps the frames decoded so far and warns with the number
  of frames used;
* frames the decoder flags as damaged (concealed) and irregular frame timestamps (variable frame
  rate) are reported as warnings; frames are always used in order as if evenly spaced at the rate
  the pipeline is given.

FFmpeg's log is left off: capturing it (to count concealed errors such as FFV1 slice CRC
mismatches, which set no flag) calls back into Python from decoder threads, which can deadlock
(seen here) and prints stray tracebacks when the level is restored; so concealed damage that the
decoder does not flag goes unreported (it costs a click at most).
"""

from __future__ import annotations

import math
import os
import warnings
from array import array
from collections.abc import Iterator

import av
import numpy as np

from ..errors import InputError, VideoReadError
from .base import ROI, FrameSource

__all__ = ["VideoSource", "MAX_PIXELS"]

_LUMA_PREFIXES = ("yuv", "yuvj", "gray", "nv12", "nv21", "nv16", "nv24", "ya", "p010", "p016")
#: largest frame (in pixels) accepted: a header declaring more is taken as damaged
MAX_PIXELS = 16384 * 16384


def _rate(value) -> float | None:
    try:
        r = float(value) if value else None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return r if r is not None and math.isfinite(r) and r > 0 else None


_PTS_CACHE: dict[tuple, np.ndarray | None] = {}


def _presentation_pts(path: str) -> np.ndarray | None:
    """Timestamps of every frame of a video's first stream in display order, from a demux-only scan.

    Frame ``i`` of the clip (in display order) is the frame whose timestamp is the ``i``-th
    smallest.  ``None`` when frames cannot be located by timestamp: missing or repeated
    timestamps (e.g. Matroska's millisecond clock at high frame rates), a damaged file.  Cached
    per (path, size, modification time).
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key in _PTS_CACHE:
        return _PTS_CACHE[key]
    result = None
    try:
        with av.open(path, metadata_errors="replace") as container:
            stream = container.streams.video[0]
            pts = array("q")
            ok = True
            for packet in container.demux(stream):
                if not packet.size:
                    continue  # the flush packet at the end
                if packet.pts is None:
                    ok = False
                    break
                pts.append(int(packet.pts))
            arr = np.sort(np.frombuffer(pts, dtype=np.int64))
            if ok and len(arr) and np.all(np.diff(arr) > 0):
                result = arr
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        result = None
    if len(_PTS_CACHE) > 64:
        _PTS_CACHE.clear()
    _PTS_CACHE[key] = result
    return result


class _Relocate(Exception):
    """A seek landed where frames cannot be numbered with certainty: read from the start instead."""


class VideoSource(FrameSource):
    """Frames of the first video stream of a container, decoded one at a time.

    Parameters
    ----------
    path : str
        Any container/codec FFmpeg (bundled with PyAV) decodes.

    Raises
    ------
    VideoReadError
        If the file is missing, not a video, has no video stream, declares an implausible frame
        size, or its first frame cannot be decoded.
    InputError
        If the video stream holds no frame.

    Warns
    -----
    UserWarning
        While reading: decoding stopped early or the file is shorter than its container says
        (the frames decoded are used; the warning gives their number), the decoder reported
        damage it concealed, or the frame timestamps are irregular (variable frame rate).
    """

    kind = "video"

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self._grey_plans: dict[str, tuple] = {}  # pixel format -> how its frames become grey
        container = self._open()
        try:
            if not container.streams.video:
                raise VideoReadError(f"{self.path}: the file has no video stream")
            stream = container.streams.video[0]
            cc = stream.codec_context
            if cc is None:
                raise VideoReadError(f"{self.path}: the video stream's codec is unknown to FFmpeg (damaged file?)")
            if not cc.width or not cc.height or cc.width < 0 or cc.height < 0:
                raise VideoReadError(f"{self.path}: the video stream declares no frame size")
            if cc.width * cc.height > MAX_PIXELS:
                raise VideoReadError(
                    f"{self.path}: declared frame size {cc.width}x{cc.height} is implausibly large "
                    "(damaged header?)"
                )
            self.codec = cc.name
            self._format = str(getattr(container.format, "name", "") or "")
            first = None
            try:
                for frame in container.decode(stream):
                    first = frame
                    break
            except av.error.FFmpegError as exc:
                raise VideoReadError(
                    f"{self.path}: the first frame cannot be decoded ({exc.__class__.__name__}); "
                    "the file is damaged or not a video"
                ) from exc
            except (ValueError, MemoryError) as exc:
                raise VideoReadError(
                    f"{self.path}: the first frame cannot be decoded ({exc.__class__.__name__}: {exc})"
                ) from exc
            if first is None:
                raise InputError(
                    f"{self.path}: no frames could be decoded (an empty, header-only or truncated video); "
                    "give a video of at least 8 frames"
                )
            if first.width * first.height > MAX_PIXELS or first.width < 1 or first.height < 1:
                raise VideoReadError(f"{self.path}: decoded frame size {first.width}x{first.height} is implausible")
            self.shape = (int(first.height), int(first.width))
            self.pix_fmt = first.format.name
            comps = first.format.components
            self.bit_depth = int(comps[0].bits) if comps and comps[0].bits else 8
            self._to_grey(first)  # an unconvertible pixel format fails here, before any work
            frames = stream.frames
            self.n_frames = int(frames) if frames and frames > 0 else None
            self.header_rate = (
                _rate(stream.average_rate) or _rate(stream.guessed_rate) or _rate(stream.base_rate)
            )
            dur = None
            if stream.duration and stream.time_base and stream.duration > 0:
                dur = float(stream.duration * stream.time_base)
            elif container.duration and container.duration > 0:
                dur = container.duration / 1e6  # AV_TIME_BASE
            self._duration_s = dur if dur is not None and math.isfinite(dur) else None
            tb = stream.time_base
            self._tick = float(tb) if tb else 0.0
        finally:
            container.close()

    def _open(self):
        try:
            return av.open(self.path, metadata_errors="replace")
        except FileNotFoundError as exc:
            raise VideoReadError(f"{self.path}: no such file; check the path") from exc
        except av.error.EOFError as exc:
            raise VideoReadError(
                f"{self.path}: the file ends before any video data (empty or truncated video)"
            ) from exc
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoReadError(
                f"{self.path}: not a video FFmpeg can decode, or a damaged one ({exc.__class__.__name__}); "
                "give a video file, an image folder/glob, a .npy stack or a camera file"
            ) from exc

    @property
    def frames_estimate(self) -> int | None:
        """The container's frame count, else its duration times its rate (Matroska states no count)."""
        if self.n_frames:
            return self.n_frames
        if self._duration_s and self.header_rate:
            return max(1, int(round(self._duration_s * self.header_rate)))
        return None

    def indexed_frames(self) -> int | None:
        """Frames of the file as a demux-only scan counts them (cached), when every frame can be sought
        to by its timestamp (distinct timestamps); else None.

        Matroska states no frame count; at up to 1,000 fps its millisecond timestamps are distinct,
        so a run can still be split into frame ranges that workers seek to.
        """
        pts = _presentation_pts(self.path)
        return len(pts) if pts is not None else None

    def describe(self) -> dict:
        d = super().describe()
        d.update(codec=self.codec, pix_fmt=self.pix_fmt)
        return d

    def _to_grey(self, frame, sl: tuple[slice, slice] = (slice(None), slice(None)), out: np.ndarray | None = None
                 ) -> np.ndarray:
        """Frame as float32 grey in [0, 1], cropped to ``sl`` (before conversion where possible),
        written into ``out`` when given (of the cropped shape)."""
        fmt = frame.format
        name = fmt.name
        plan = self._grey_plans.get(name)
        if plan is None:  # what a pixel format needs, worked out once per format
            comps = fmt.components
            bits = int(comps[0].bits) if comps and comps[0].bits else 8
            luma = name.startswith(_LUMA_PREFIXES) and "f32" not in name and "f16" not in name and 1 <= bits <= 16
            dtype = np.dtype(np.uint8) if bits <= 8 else np.dtype(">u2" if name.endswith("be") else "<u2")
            step = 2 if name.startswith("ya") else 1  # ya8/ya16: grey and alpha interleaved
            plan = self._grey_plans[name] = (luma, bits, dtype, step, name.startswith(("p010", "p016")),
                                              np.float32(1.0 / (2**bits - 1)))
        luma, bits, dtype, step, shifted, scale = plan
        w, h = frame.width, frame.height
        try:
            if luma:
                plane = frame.planes[0]
                row = plane.line_size // dtype.itemsize
                buf = np.frombuffer(plane, dtype=dtype)
                if row < w * step or buf.size < h * row:
                    raise ValueError(f"plane of {buf.size} samples does not hold {w}x{h} pixels")
                arr = buf[: h * row].reshape(h, row)[:, : w * step : step]
                arr = arr[sl]
                if shifted:
                    arr = arr >> (16 - bits) if bits < 16 else arr
                grey = np.empty(arr.shape, np.float32) if out is None else out
                np.multiply(arr, scale, out=grey, casting="unsafe")  # convert and scale in one pass
                return grey
            if bits > 8:
                rgb = frame.to_ndarray(format="rgb48le")[sl].astype(np.float32) * np.float32(1.0 / 65535)
            else:
                rgb = frame.to_ndarray(format="rgb24")[sl].astype(np.float32) * np.float32(1.0 / 255)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise VideoReadError(
                f"{self.path}: frames in pixel format {name!r} cannot be converted to grey ({exc})"
            ) from exc
        return rgb.mean(axis=2, out=out)

    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        """See :meth:`FrameSource.iter_batches`.

        A range that starts later than frame 0 seeks to the keyframe before it when every frame
        can be numbered by its timestamp (distinct timestamps, found by a demux-only scan of the
        file, cached): frames then get their display-order index from their timestamp, so
        reordered (B-)frames are placed right.  The seek must land at or before ``start`` and the
        frames from ``start`` on must follow one another; otherwise, and for files whose
        timestamps repeat, the frames before ``start`` are decoded and skipped.
        """
        rows, cols = self.shape
        sl = roi.check(rows, cols).slices() if roi is not None else (slice(None), slice(None))
        located = _presentation_pts(self.path) if start > 0 else None
        if located is not None and start >= len(located):
            located = None  # the scan says the range is past the end: let plain reading tell
        if located is not None:
            try:
                yield from self._read(batch, sl, start, stop, located)
                return
            except _Relocate:
                pass
        yield from self._read(batch, sl, start, stop, None)

    def _read(self, batch: int, sl, start: int, stop: int | None, located: np.ndarray | None) -> Iterator[np.ndarray]:
        rows, cols = self.shape
        size = (len(range(rows)[sl[0]]), len(range(cols)[sl[1]]))
        buf = np.empty((batch, *size), np.float32)  # frames are converted straight into their batch
        filled = 0
        index = -1
        used = 0
        corrupt = 0
        times = array("d")
        ends = [0]
        failure: Exception | None = None
        container = self._open()
        try:
            stream = container.streams.video[0]
            if located is not None:
                try:
                    container.seek(int(located[start]), stream=stream, backward=True, any_frame=False)
                except (av.error.FFmpegError, ValueError) as exc:
                    raise _Relocate from exc
            stream.thread_type = "AUTO"
            if self.decode_threads > 0:
                stream.codec_context.thread_count = self.decode_threads
            try:
                for frame in self._frames(container, stream, ends):
                    if located is None:
                        index += 1
                    else:
                        pos = int(np.searchsorted(located, frame.pts)) if frame.pts is not None else -1
                        if pos < 0 or pos >= len(located) or located[pos] != frame.pts:
                            if used == 0 and not filled:
                                raise _Relocate
                            raise VideoReadError(f"{self.path}: frame after {index} has a timestamp the file's "
                                                 "index does not hold (damaged file?)")
                        if used == 0 and index < 0 and pos > start:
                            raise _Relocate  # the seek overshot
                        if pos < start:
                            index = pos
                            continue
                        if pos != max(index, start - 1) + 1:
                            if used == 0 and not filled:
                                raise _Relocate
                            raise VideoReadError(f"{self.path}: frames {index + 1}..{pos - 1} are missing after "
                                                 "a seek (damaged file?)")
                        index = pos
                    if index < start:
                        continue
                    if stop is not None and index >= stop:
                        break
                    if (frame.height, frame.width) != self.shape:
                        raise InputError(
                            f"{self.path}: frame {index} is {frame.width}x{frame.height}, the first "
                            f"was {cols}x{rows}; frame size changes mid-stream are not supported"
                        )
                    corrupt += bool(getattr(frame, "is_corrupt", False))
                    t = frame.time
                    times.append(float(t) if t is not None else math.nan)
                    self._to_grey(frame, sl, out=buf[filled])
                    filled += 1
                    used += 1
                    if filled == batch:
                        yield buf  # a new array for every batch: the consumer may keep it
                        buf = np.empty((batch, *size), np.float32)
                        filled = 0
            except av.error.FFmpegError as exc:
                if located is not None and used == 0 and not filled:
                    raise _Relocate from exc
                failure = exc
            cut = self._ends_in_data(container, ends[0])
        finally:
            container.close()
        if filled:
            yield buf[:filled]
        self._report(used=used, decoded=index + 1, failure=failure, corrupt=corrupt,
                     times=np.frombuffer(times, dtype=np.float64), to_end=stop is None, cut=cut)

    @staticmethod
    def _frames(container, stream, ends: list[int]):
        """Decoded frames, packet by packet, noting in ``ends[0]`` where the last packet's data ends."""
        for packet in container.demux(stream):
            pos, size = packet.pos, packet.size
            if size and pos is not None and pos >= 0:
                ends[0] = max(ends[0], pos + size)
            yield from packet.decode()

    def _ends_in_data(self, container, end: int) -> bool:
        """True for a container that writes an index or trailer after the last frame (Matroska, AVI,
        NUT) whose file ends inside or right after a frame's data: a copy cut short."""

        fmt = getattr(container.format, "name", "") or ""
        if not end or not fmt.startswith(("matroska", "avi", "nut")):
            return False
        try:
            return end >= os.path.getsize(self.path)
        except OSError:
            return False

    def _report(self, *, used: int, decoded: int, failure, corrupt: int, times: np.ndarray, to_end: bool,
                cut: bool = False) -> None:
        """Warnings about a read that did not go cleanly (see the module docs)."""
        if failure is not None:
            warnings.warn(
                f"{self.path}: decoding stopped after frame {decoded} ({failure.__class__.__name__}: the file is "
                f"damaged or truncated there); using the {used} frame(s) decoded before the damage",
                stacklevel=3,
            )
        elif to_end:
            short = None  # why the file looks shorter than its container says, if it does
            if self.n_frames:
                if decoded < self.n_frames:
                    short = f"its container declares {self.n_frames} frames but decoding ended after {decoded}"
            else:
                ok = times[np.isfinite(times)]
                step = float(ok[-1] - ok[0]) / (ok.size - 1) if ok.size > 2 else 0.0  # mean: right for VFR too
                if self._duration_s and step > 0:
                    missing = self._duration_s - (float(ok[-1] - ok[0]) + step)
                    if missing > 0.5 * step + self._jitter(ok) * 1.001:
                        short = (f"its container says it lasts {self._duration_s:g} s, {missing:.3g} s (about "
                                 f"{max(1, round(missing / step))} frame(s)) more than the frames decoded")
            if short:
                warnings.warn(
                    f"{self.path}: the file looks truncated: {short}; using the {used} frame(s) decoded",
                    stacklevel=3,
                )
            elif cut:
                warnings.warn(
                    f"{self.path}: the file looks truncated: it ends inside or right after the data of frame "
                    f"{decoded}, without the index its container writes at the end; using the {used} frame(s) "
                    "decoded",
                    stacklevel=3,
                )
        if corrupt:
            warnings.warn(
                f"{self.path}: the decoder flagged {corrupt} frame(s) as damaged (concealed); using the {used} "
                "frame(s) decoded, some of which hold wrong pixels, heard as clicks",
                stacklevel=3,
            )
        ok = times[np.isfinite(times)]
        if ok.size > 3:
            d = np.diff(ok)
            step = float(np.median(d))
            if step > 0:
                off = np.abs(d - step) > 0.5 * step + self._jitter(ok) * 1.001
                if off.any():
                    warnings.warn(
                        f"{self.path}: frame timestamps are irregular (variable frame rate, or frames lost: "
                        f"{int(off.sum())} of {d.size} intervals differ from the median {step * 1e3:.4g} ms by more "
                        f"than half); using the {used} frame(s) decoded in order as if evenly spaced, so the sound "
                        "is distorted where frames were dropped or repeated",
                        stacklevel=3,
                    )

    def _jitter(self, times: np.ndarray) -> float:
        """Rounding error of the timestamps: 0 when nearly all intervals are the same whole number of
        ticks (exact timestamps), else one tick (e.g. 2,200 fps in a container counting milliseconds)."""
        if not self._tick or times.size < 3:
            return self._tick
        d = np.diff(times)
        same = np.abs(d - np.median(d)) < 0.01 * self._tick
        return 0.0 if same.mean() >= 0.9 else self._tick
