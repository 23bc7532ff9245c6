"""The frame-source interface every reader implements.

A frame source streams greyscale frames as float32 batches of shape
``(n, rows, cols)``.  Readers never hold the whole video in memory: they decode,
memory-map or load one batch at a time.  Intensities are scaled so that the
format's full scale maps to 1.0 (8-bit: /255, 12-bit: /4095, ...); the motion
estimator is invariant to that scale, the scale only keeps numbers readable.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

__all__ = ["ROI", "FrameSource", "FrameRange", "parse_roi"]


@dataclass(frozen=True)
class ROI:
    """A rectangle in pixel units: ``x, y`` top-left corner, ``w, h`` size."""

    x: int
    y: int
    w: int
    h: int

    def check(self, rows: int, cols: int) -> ROI:
        """Return self if it lies inside a ``rows x cols`` frame, else raise ParameterError."""
        if self.w <= 0 or self.h <= 0:
            raise ParameterError(f"ROI {self} has zero or negative size; give X,Y,W,H with W,H > 0")
        if self.x < 0 or self.y < 0 or self.x + self.w > cols or self.y + self.h > rows:
            raise ParameterError(
                f"ROI x={self.x},y={self.y},w={self.w},h={self.h} lies outside the {cols}x{rows} "
                f"frame; choose X+W <= {cols} and Y+H <= {rows}"
            )
        return self

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def parse_roi(text: str | None) -> ROI | None:
    """Parse ``"X,Y,W,H"`` into an :class:`ROI` (``None`` or ``""`` -> None)."""
    if text is None or text == "" or text == "full":
        return None
    parts = text.replace(" ", "").split(",")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise ParameterError(f"--roi {text!r} is not X,Y,W,H (four integers in pixels, e.g. 10,20,128,96)")
    return ROI(*vals)


class FrameSource(abc.ABC):
    """Streams greyscale frames from a file.

    Attributes
    ----------
    path : str
        Where the frames come from.
    shape : tuple of int
        ``(rows, cols)`` of a full frame.
    n_frames : int or None
        Number of frames if the container says so (``None`` when unknown).
    header_rate : float or None
        Frame rate stored in the file, in Hz. For video containers this is often
        *not* the capture rate of a high-speed camera.
    rate_is_trusted : bool
        True when ``header_rate`` is the true capture rate (camera files).
    bit_depth : int
        Bits per sample of the stored frames.
    decode_threads : int
        Threads a decoder may use (0: its own choice).  Readers that do not decode with threads
        ignore it.  Runs spread over processes set 1: every process then decodes its own frame
        range, and threaded decoders beside them only compete for the same cores.
    """

    path: str
    shape: tuple[int, int]
    n_frames: int | None
    header_rate: float | None
    rate_is_trusted: bool = False
    bit_depth: int = 8
    kind: str = "unknown"
    decode_threads: int = 0

    @abc.abstractmethod
    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        """Yield float32 arrays of shape ``(n <= batch, h, w)`` in frame order.

        ``roi`` crops every frame (checked against :attr:`shape`); ``start``/``stop``
        select a frame range.  Implementations must not load frames outside the
        current batch.
        """

    @property
    def frames_estimate(self) -> int | None:
        """:attr:`n_frames`, or an estimate where the container states no count (None: unknown).

        For decisions that need only the order of magnitude (whether to checkpoint a long run,
        a progress total); never for indexing frames.
        """
        return self.n_frames

    def close(self) -> None:  # noqa: B027 - optional hook, most readers hold no handle
        """Release file handles (readers that keep none need not override this)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict:
        """Facts about the input for the JSON sidecar."""
        return {
            "path": self.path,
            "kind": self.kind,
            "rows": int(self.shape[0]),
            "cols": int(self.shape[1]),
            "n_frames_header": self.n_frames,
            "header_rate": self.header_rate,
            "rate_is_trusted": self.rate_is_trusted,
            "bit_depth": self.bit_depth,
        }


class FrameRange(FrameSource):
    """Frames ``[start, stop)`` of another source, numbered from 0 (``--start``/``--duration``).

    Parameters
    ----------
    source : FrameSource
        The whole input (closed with this one).
    start, stop : int
        Frame range; ``stop`` None: to the end.

    Raises
    ------
    ParameterError
        A negative or empty range, or one that starts past a known end.
    """

    def __init__(self, source: FrameSource, start: int, stop: int | None) -> None:
        total = source.n_frames
        if start < 0 or (stop is not None and stop <= start):
            raise ParameterError(f"the frame range [{start}, {stop}) is empty or negative; give --start >= 0 and "
                                 "--duration > 0")
        if total is not None and start >= total:
            raise ParameterError(f"--start is frame {start}, but {source.path} has {total} frames")
        self.source = source
        self.offset = int(start)
        self.stop = None if stop is None else int(stop if total is None else min(stop, total))
        self.path = source.path
        self.shape = source.shape
        self.n_frames = None if self.stop is None else self.stop - self.offset
        if self.n_frames is None and total is not None:
            self.n_frames = total - self.offset
        self.header_rate = source.header_rate
        self.rate_is_trusted = source.rate_is_trusted
        self.bit_depth = source.bit_depth
        self.kind = source.kind
        self.decode_threads = source.decode_threads

    @property
    def frames_estimate(self) -> int | None:
        if self.n_frames is not None:
            return self.n_frames
        est = self.source.frames_estimate
        return None if est is None else max(0, est - self.offset)

    def iter_batches(self, *, batch: int = 32, roi: ROI | None = None, start: int = 0,
                     stop: int | None = None) -> Iterator[np.ndarray]:
        self.source.decode_threads = self.decode_threads
        end = self.stop if stop is None else min(self.offset + stop, self.stop or self.offset + stop)
        yield from self.source.iter_batches(batch=batch, roi=roi, start=self.offset + start, stop=end)

    def close(self) -> None:
        self.source.close()

    def describe(self) -> dict:
        d = self.source.describe()
        d["frame_range"] = [self.offset, self.stop]
        return d
