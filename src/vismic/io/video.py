"""Streaming video reader on PyAV that reads the luma plane directly (no RGB round trip).

PyAV/swscale's ``to_ndarray(format="gray")`` re-quantises video-range luma, so for YUV and grey
pixel formats the Y plane's bytes are used as they are; RGB formats are averaged as plain
``(R + G + B) / 3`` (no luma weights), following the reference implementation.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from ..errors import InputError, VideoReadError
from .base import ROI, FrameSource

__all__ = ["VideoSource"]

_LUMA_PREFIXES = ("yuv", "yuvj", "gray", "nv12", "nv21", "nv16", "nv24", "ya", "p010", "p016")


class VideoSource(FrameSource):
    """Frames of the first video stream of a container, decoded one at a time.

    Parameters
    ----------
    path : str
        Any container/codec FFmpeg (bundled with PyAV) decodes.

    Raises
    ------
    VideoReadError
        If the file is missing, not a video, or has no video stream.
    """

    kind = "video"

    def __init__(self, path: str) -> None:
        import av

        self.path = str(path)
        try:
            container = av.open(self.path)
        except FileNotFoundError as exc:
            raise VideoReadError(f"{self.path}: no such file; check the path") from exc
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoReadError(
                f"{self.path}: not a video FFmpeg can decode ({exc.__class__.__name__}); "
                "give a video file, an image folder/glob, a .npy stack or a camera file"
            ) from exc
        try:
            if not container.streams.video:
                raise VideoReadError(f"{self.path}: the file has no video stream")
            stream = container.streams.video[0]
            cc = stream.codec_context
            if not cc.width or not cc.height:
                raise VideoReadError(f"{self.path}: the video stream declares no frame size")
            if cc.width * cc.height > 16384 * 16384:
                raise VideoReadError(
                    f"{self.path}: declared frame size {cc.width}x{cc.height} is implausibly large"
                )
            self.shape = (int(cc.height), int(cc.width))
            self.n_frames = int(stream.frames) if stream.frames else None
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.header_rate = float(rate) if rate else None
            self.codec = cc.name
            self.pix_fmt = cc.format.name if cc.format is not None else None
            self.bit_depth = 8
        finally:
            container.close()

    def describe(self) -> dict:
        d = super().describe()
        d.update(codec=self.codec, pix_fmt=self.pix_fmt)
        return d

    @staticmethod
    def _to_grey(frame) -> np.ndarray:
        fmt = frame.format
        name = fmt.name
        w, h = frame.width, frame.height
        bits = fmt.components[0].bits if fmt.components else 8
        if name.startswith(_LUMA_PREFIXES):
            plane = frame.planes[0]
            dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
            itemsize = np.dtype(dtype).itemsize
            buf = np.frombuffer(plane, dtype=dtype)
            arr = buf.reshape(h, plane.line_size // itemsize)[:, :w]
            if name.startswith(("p010", "p016")):
                arr = arr >> (16 - bits) if bits < 16 else arr
            return arr.astype(np.float32) * np.float32(1.0 / (2**bits - 1))
        if bits > 8:
            rgb = frame.to_ndarray(format="rgb48le").astype(np.float32) * np.float32(1.0 / 65535)
        else:
            rgb = frame.to_ndarray(format="rgb24").astype(np.float32) * np.float32(1.0 / 255)
        return rgb.mean(axis=2)

    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        import av

        rows, cols = self.shape
        sl = roi.check(rows, cols).slices() if roi is not None else (slice(None), slice(None))
        container = av.open(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            buf: list[np.ndarray] = []
            index = -1
            try:
                for frame in container.decode(stream):
                    index += 1
                    if index < start:
                        continue
                    if stop is not None and index >= stop:
                        break
                    if (frame.height, frame.width) != self.shape:
                        raise InputError(
                            f"{self.path}: frame {index} is {frame.width}x{frame.height}, the first "
                            f"was {cols}x{rows}; frame size changes mid-stream are not supported"
                        )
                    buf.append(self._to_grey(frame)[sl])
                    if len(buf) == batch:
                        yield np.stack(buf)
                        buf = []
            except av.error.FFmpegError as exc:
                warnings.warn(
                    f"{self.path}: decoding stopped at frame {index + 1} ({exc.__class__.__name__}); "
                    f"using the {index + 1 - start} frame(s) decoded before the damage",
                    stacklevel=2,
                )
            if buf:
                yield np.stack(buf)
        finally:
            container.close()
