"""Image sequences (a folder or a glob of PNG/TIFF/...) and ``.npy`` frame stacks."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator

import numpy as np

from ..errors import InputError, VideoReadError
from .base import ROI, FrameSource

__all__ = ["ImageSequenceSource", "NpySource", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".pgm", ".ppm")


def _scale_for(dtype: np.dtype) -> float:
    if np.issubdtype(dtype, np.integer):
        return 1.0 / float(np.iinfo(dtype).max)
    return 1.0


def _grey(arr: np.ndarray, where: str) -> np.ndarray:
    """Plain mean of RGB (alpha dropped) scaled by the integer type's full range, float32."""
    scale = _scale_for(arr.dtype)
    a = arr.astype(np.float32)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    elif a.ndim != 2:
        raise InputError(f"{where}: expected a 2-D grey or 3-D colour image, got shape {arr.shape}")
    return a * np.float32(scale)


class ImageSequenceSource(FrameSource):
    """Frames from image files, sorted by name (natural order of zero-padded numbers).

    Parameters
    ----------
    path : str
        A folder (every image file in it) or a glob pattern such as ``"shots/frame_*.png"``.
    """

    kind = "images"

    def __init__(self, path: str) -> None:
        from PIL import Image

        self.path = str(path)
        if os.path.isdir(self.path):
            files = [os.path.join(self.path, f) for f in os.listdir(self.path)]
        else:
            files = glob.glob(self.path)
        files = sorted(f for f in files if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(f))
        if not files:
            raise VideoReadError(
                f"{self.path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found; check the folder or glob"
            )
        self.files = files
        try:
            with Image.open(files[0]) as im:
                first = np.asarray(im)
        except OSError as exc:
            raise VideoReadError(f"{files[0]}: not an image Pillow can read ({exc})") from exc
        self.shape = tuple(int(v) for v in first.shape[:2])  # type: ignore[assignment]
        self.bit_depth = int(np.dtype(first.dtype).itemsize * 8) if first.dtype != bool else 1
        self.n_frames = len(files)
        self.header_rate = None

    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        from PIL import Image

        rows, cols = self.shape
        sl = roi.check(rows, cols).slices() if roi is not None else (slice(None), slice(None))
        buf: list[np.ndarray] = []
        for f in self.files[start:stop]:
            try:
                with Image.open(f) as im:
                    arr = np.asarray(im)
            except OSError as exc:
                raise VideoReadError(f"{f}: not an image Pillow can read ({exc})") from exc
            if arr.shape[:2] != self.shape:
                raise InputError(
                    f"{f}: image is {arr.shape[1]}x{arr.shape[0]}, the first was {cols}x{rows}; "
                    "all frames of a sequence must have the same size"
                )
            buf.append(_grey(arr, f)[sl])
            if len(buf) == batch:
                yield np.stack(buf)
                buf = []
        if buf:
            yield np.stack(buf)


class NpySource(FrameSource):
    """A ``.npy`` stack of shape ``(n, rows, cols)`` or ``(n, rows, cols, channels)``, memory-mapped.

    Integer stacks are scaled by their type's range; float stacks are used as they are.  NaN or
    infinite values raise :class:`InputError` naming the first bad frame.
    """

    kind = "npy"

    def __init__(self, path: str) -> None:
        self.path = str(path)
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError as exc:
            raise VideoReadError(f"{self.path}: no such file; check the path") from exc
        except (ValueError, OSError, EOFError) as exc:
            raise VideoReadError(f"{self.path}: not a readable .npy array ({exc})") from exc
        if arr.ndim not in (3, 4) or not (
            np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        ):
            raise InputError(
                f"{self.path}: expected a numeric array of shape (frames, rows, cols[, channels]), "
                f"got {arr.dtype} {arr.shape}"
            )
        self._arr = arr
        self.shape = (int(arr.shape[1]), int(arr.shape[2]))
        self.n_frames = int(arr.shape[0])
        self.header_rate = None
        self.bit_depth = int(arr.dtype.itemsize * 8)

    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        rows, cols = self.shape
        sl = roi.check(rows, cols).slices() if roi is not None else (slice(None), slice(None))
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        for i in range(start, stop, batch):
            chunk = np.asarray(self._arr[i : min(i + batch, stop)])
            grey = np.stack([_grey(a, self.path) for a in chunk])[(slice(None), *sl)]
            bad = ~np.isfinite(grey)
            if bad.any():
                j = i + int(np.argmax(bad.reshape(len(grey), -1).any(axis=1)))
                raise InputError(
                    f"{self.path}: frame {j} contains NaN or inf; clean the array (e.g. np.nan_to_num) first"
                )
            yield grey
