"""Image sequences (a folder or a glob of PNG/TIFF/...) and ``.npy`` frame stacks.

Damaged inputs (docs/reliability.md): an unreadable *first* image or ``.npy`` header is an error;
an image that cannot be decoded later in a sequence ends the sequence there (with a warning giving
the number of frames used), like a truncated video; a ``.npy`` file shorter than its header says
(a truncated copy) gives its whole frames, with a warning.  Images whose declared size exceeds
:data:`~vismic.io.video.MAX_PIXELS`, sequences whose frame sizes differ, and NaN or infinite values
are errors.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image

from ..errors import InputError, VideoReadError
from .base import ROI, FrameSource

__all__ = ["ImageSequenceSource", "NpySource", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".pgm", ".ppm")
#: largest image (in pixels) accepted, as for videos
MAX_PIXELS = 16384 * 16384
#: largest magnitude accepted in float frames: beyond it the pyramid's float32 sums overflow
MAX_ABS = 1e12
#: Pillow modes converted before use: palettes to their colours, other colour spaces to RGB
_CONVERT = {"P": "RGBA", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def _scale_for(dtype: np.dtype) -> float:
    if np.issubdtype(dtype, np.integer):
        return 1.0 / float(np.iinfo(dtype).max)
    return 1.0


def _full_scale(dtype: np.dtype, peak: float) -> float:
    """Full scale of integer samples: the type's range, except for types wider than 16 bits, whose
    data usually hold 8- to 16-bit values (``np.save`` of Python ints gives int64): the smallest
    of 255, 4095, 65535 and the type's range that holds ``peak`` (decided once, on the first frame)."""
    if not np.issubdtype(dtype, np.integer):
        return 1.0
    top = float(np.iinfo(dtype).max)
    if np.dtype(dtype).itemsize <= 2:
        return top
    for fs in (255.0, 4095.0, 65535.0):
        if peak <= fs:
            return fs
    return top


def _grey(arr: np.ndarray, where: str, full_scale: float | None = None) -> np.ndarray:
    """Plain mean of RGB (alpha dropped) scaled by the integer type's full range, float32."""
    scale = _scale_for(arr.dtype) if full_scale is None else 1.0 / full_scale
    if arr.ndim == 3 and arr.shape[2] == 0:
        raise InputError(f"{where}: images with zero colour channels (shape {arr.shape})")
    if arr.ndim not in (2, 3):
        raise InputError(f"{where}: expected a 2-D grey or 3-D colour image, got shape {arr.shape}")
    # values beyond float32 (or signalling NaNs) become inf/NaN here, quietly: callers reject them
    with np.errstate(over="ignore", invalid="ignore"):
        a = arr.astype(np.float32)
        if a.ndim == 3:
            a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
        return a * np.float32(scale)


def _check_values(grey: np.ndarray, where: str, first: int = 0) -> None:
    """Raise InputError naming the first frame of ``grey`` holding NaN, inf or absurd magnitudes."""
    if grey.size == 0:
        return
    hi, lo = float(np.max(grey)), float(np.min(grey))  # NaN propagates through both
    if -MAX_ABS <= lo and hi <= MAX_ABS:
        return  # the common case: two passes, no temporaries
    finite = np.isfinite(grey)
    with np.errstate(invalid="ignore"):
        huge = finite & (np.abs(grey) > MAX_ABS)
    for bad, what, fix in (
        (~finite, "NaN or inf", "clean the array (e.g. np.nan_to_num) first"),
        (huge, f"values beyond +-{MAX_ABS:g}", "rescale the frames (e.g. to [0, 1])"),
    ):
        if bad.any():
            j = first + int(np.argmax(bad.reshape(len(grey), -1).any(axis=1)))
            raise InputError(f"{where}: frame {j} contains {what}; {fix}")


def _load_image(path: str) -> np.ndarray:
    """Decode one image file to an array; any decoder failure is a :class:`VideoReadError`.

    Pillow's plugins raise many kinds of exceptions on damaged files (OSError, ValueError,
    SyntaxError, struct.error, ...), so every ``Exception`` but MemoryError is caught here.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS or w < 1 or h < 1:
                    raise VideoReadError(f"{path}: declared image size {w}x{h} is implausible (damaged header?)")
                if im.mode in _CONVERT:
                    im = im.convert(_CONVERT[im.mode])
                arr = np.asarray(im)
    except (VideoReadError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        raise VideoReadError(f"{path}: declared image size is implausibly large (damaged header?)") from exc
    except Exception as exc:
        raise VideoReadError(f"{path}: not an image Pillow can read ({exc.__class__.__name__}: {exc})") from exc
    if arr.dtype == object or arr.ndim not in (2, 3) or arr.size == 0:
        raise VideoReadError(f"{path}: image decodes to an unusable array ({arr.dtype} {arr.shape})")
    return arr


class ImageSequenceSource(FrameSource):
    """Frames from image files, sorted by name (natural order of zero-padded numbers).

    Parameters
    ----------
    path : str
        A folder (every image file in it) or a glob pattern such as ``"shots/frame_*.png"``.

    Warns
    -----
    UserWarning
        When an image after the first cannot be decoded: the frames before it are used and the
        warning gives their number.
    """

    kind = "images"

    def __init__(self, path: str) -> None:
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
        first = _load_image(files[0])
        self.shape = tuple(int(v) for v in first.shape[:2])  # type: ignore[assignment]
        peak = float(first.max()) if np.issubdtype(first.dtype, np.integer) else 0.0
        self._full_scale = _full_scale(first.dtype, peak)
        if first.dtype == bool:
            self.bit_depth = 1
        elif np.issubdtype(first.dtype, np.integer):
            self.bit_depth = int(np.log2(self._full_scale + 1) + 0.5)
        else:
            self.bit_depth = int(first.dtype.itemsize * 8)
        self.n_frames = len(files)
        self.header_rate = None

    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        rows, cols = self.shape
        sl = roi.check(rows, cols).slices() if roi is not None else (slice(None), slice(None))
        buf: list[np.ndarray] = []
        used = 0
        for f in self.files[start:stop]:
            try:
                arr = _load_image(f)
            except VideoReadError as exc:
                warnings.warn(
                    f"{exc}; the sequence is cut there: using the {used} frame(s) before it",
                    stacklevel=2,
                )
                break
            if arr.shape[:2] != self.shape:
                raise InputError(
                    f"{f}: image is {arr.shape[1]}x{arr.shape[0]}, the first was {cols}x{rows}; "
                    "all frames of a sequence must have the same size"
                )
            grey = _grey(arr, f, self._full_scale if np.issubdtype(arr.dtype, np.integer) else None)[sl]
            _check_values(grey[None], f, start + used)
            buf.append(grey)
            used += 1
            if len(buf) == batch:
                yield np.stack(buf)
                buf = []
        if buf:
            yield np.stack(buf)


def _open_npy(path: str):
    """Memory-map a ``.npy`` file; a file shorter than its header says yields its whole frames.

    Returns ``(array, declared_frames)``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged header can make numpy's literal parser warn
            return np.load(path, mmap_mode="r", allow_pickle=False), None
    except FileNotFoundError as exc:
        raise VideoReadError(f"{path}: no such file; check the path") from exc
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, ... on damaged files
        first_error = exc
    # np.load refuses a file shorter than its header declares: read the header, keep whole frames
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = fmt.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unknown .npy version {version}")
            offset = fh.tell()
        size = os.path.getsize(path)
    except Exception as exc:  # numpy's header parser raises several kinds on damaged bytes
        raise VideoReadError(f"{path}: not a readable .npy array ({first_error})") from exc
    if (
        fortran or dtype.hasobject or not isinstance(shape, tuple) or len(shape) not in (3, 4)
        or dtype.itemsize == 0 or any(int(v) < 0 for v in shape)
    ):
        raise VideoReadError(f"{path}: not a readable .npy array ({first_error})")
    frame_bytes = int(np.prod(shape[1:], dtype=object)) * dtype.itemsize
    if frame_bytes == 0 or size <= offset:
        raise InputError(f"{path}: the .npy file holds no whole frame (declared {shape}, {size} bytes)")
    n = (size - offset) // frame_bytes
    if n == 0:
        raise InputError(
            f"{path}: the .npy file holds no whole frame ({size - offset} data bytes, {frame_bytes} per frame); "
            "it is empty or truncated"
        )
    try:
        arr = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(n, *shape[1:]))
    except (ValueError, OSError) as exc:
        raise VideoReadError(f"{path}: not a readable .npy array ({exc})") from exc
    return arr, int(shape[0])


class NpySource(FrameSource):
    """A ``.npy`` stack of shape ``(n, rows, cols)`` or ``(n, rows, cols, channels)``, memory-mapped.

    Integer stacks are scaled by their type's range (types wider than 16 bits: by the smallest of
    255, 4095 and 65535 that holds the first frame); float stacks are used as they are.  NaN or
    infinite values raise :class:`InputError` naming the first bad frame.

    Warns
    -----
    UserWarning
        When the file is shorter than its header says: its whole frames are used and the warning
        gives their number.
    """

    kind = "npy"

    def __init__(self, path: str) -> None:
        self.path = str(path)
        arr, declared = _open_npy(self.path)
        if arr.ndim not in (3, 4) or arr.dtype.kind not in "uif":  # not bool, complex, timedelta64 ('m'), ...
            raise InputError(
                f"{self.path}: expected a numeric array of shape (frames, rows, cols[, channels]), "
                f"got {arr.dtype} {arr.shape}"
            )
        if arr.ndim == 4 and arr.shape[3] == 0:
            raise InputError(f"{self.path}: the stack has zero colour channels (shape {arr.shape})")
        if arr.shape[1] == 0 or arr.shape[2] == 0:
            raise InputError(f"{self.path}: frames of {arr.shape[2]}x{arr.shape[1]} pixels are empty")
        if int(arr.shape[1]) * int(arr.shape[2]) > MAX_PIXELS:
            raise InputError(f"{self.path}: frames of {arr.shape[2]}x{arr.shape[1]} pixels are implausibly large")
        if declared is not None:
            warnings.warn(
                f"{self.path}: the file holds {arr.shape[0]} whole frame(s) but its header says {declared}; "
                f"using the {arr.shape[0]} frame(s) present (truncated copy?)",
                stacklevel=2,
            )
        self._arr = arr
        self.shape = (int(arr.shape[1]), int(arr.shape[2]))
        self.n_frames = int(arr.shape[0])
        self.header_rate = None
        self._full_scale: float | None = None
        if np.issubdtype(arr.dtype, np.integer) and arr.dtype.itemsize > 2 and self.n_frames:
            self._full_scale = _full_scale(arr.dtype, float(np.max(arr[0])))
        self.bit_depth = (
            int(np.log2(self._full_scale + 1) + 0.5) if self._full_scale else int(arr.dtype.itemsize * 8)
        )

    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        rows, cols = self.shape
        sl = roi.check(rows, cols).slices() if roi is not None else (slice(None), slice(None))
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        plain = self._arr.ndim == 3 and self._arr.dtype.kind in "ui" and self._arr.dtype.itemsize <= 2
        scale = np.float32(_scale_for(self._arr.dtype) if self._full_scale is None else 1.0 / self._full_scale)
        for i in range(start, stop, batch):
            j = min(i + batch, stop)
            if plain:
                # grey integer frames: crop the mapped frames, then convert and scale in one pass
                part = self._arr[i:j, sl[0], sl[1]]
                grey = np.empty(part.shape, np.float32)
                np.multiply(part, scale, out=grey, casting="unsafe")
            else:
                chunk = np.asarray(self._arr[i:j])
                grey = np.stack([_grey(a, self.path, self._full_scale) for a in chunk])[(slice(None), *sl)]
            _check_values(grey, self.path, i)
            yield grey
