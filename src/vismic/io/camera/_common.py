"""What the camera readers share: bit unpacking, the memory-mapped source, file checks (private)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ...errors import ParameterError, VideoReadError
from ..base import ROI, FrameSource

PHOTRON_EXTENSIONS = (".cih", ".cihx", ".mraw")
#: largest frame (in pixels) accepted; a header declaring more is taken as damaged
_MAX_PIXELS = 16384 * 16384
CINE_EXTENSIONS = (".cine",)


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


def _unpack12(packed: np.ndarray) -> np.ndarray:
    """Unpack big-endian 12-bit samples, 2 pixels in 3 bytes, along the last axis.

    ``p0 = b0 << 4 | b1 >> 4`` and ``p1 = (b1 & 0xF) << 8 | b2`` (Photron MRAW and Phantom P12L).

    Parameters
    ----------
    packed : ndarray of uint8, shape (..., 3 * k)
        Packed bytes.

    Returns
    -------
    ndarray of uint16, shape (..., 2 * k)
    """
    b = packed.reshape(*packed.shape[:-1], -1, 3).astype(np.uint16)
    out = np.empty((*b.shape[:-1], 2), dtype=np.uint16)
    out[..., 0] = (b[..., 0] << 4) | (b[..., 1] >> 4)
    out[..., 1] = ((b[..., 1] & 0xF) << 8) | b[..., 2]
    return out.reshape(*packed.shape[:-1], -1)


def _unpack10(packed: np.ndarray) -> np.ndarray:
    """Unpack big-endian 10-bit samples, 4 pixels in 5 bytes, along the last axis (Phantom P10).

    The 5 bytes are read as one 40-bit big-endian word whose four 10-bit fields, most
    significant first, are the four pixels.

    Parameters
    ----------
    packed : ndarray of uint8, shape (..., 5 * k)

    Returns
    -------
    ndarray of uint16, shape (..., 4 * k)
    """
    b = packed.reshape(*packed.shape[:-1], -1, 5).astype(np.uint16)
    out = np.empty((*b.shape[:-1], 4), dtype=np.uint16)
    out[..., 0] = (b[..., 0] << 2) | (b[..., 1] >> 6)
    out[..., 1] = ((b[..., 1] & 0x3F) << 4) | (b[..., 2] >> 4)
    out[..., 2] = ((b[..., 2] & 0x0F) << 6) | (b[..., 3] >> 2)
    out[..., 3] = ((b[..., 3] & 0x03) << 8) | b[..., 4]
    return out.reshape(*packed.shape[:-1], -1)


def _decode_rows(raw: np.ndarray, bits: int, cols: int) -> np.ndarray:
    """Decode whole rows of stored samples ``(..., row_bytes)`` into integers ``(..., cols)``."""
    if bits == 8:
        return raw
    if bits == 16:
        return raw.view("<u2")
    if bits == 12:
        return _unpack12(raw)[..., :cols]
    if bits == 10:
        return _unpack10(raw)[..., :cols]
    raise AssertionError(bits)  # pragma: no cover - guarded by the constructors


def _row_aligned(cols: int, bits: int) -> bool:
    """True when every row starts on a whole packing group, so rows can be sliced before unpacking."""
    group = {8: 8, 16: 16, 12: 24, 10: 40}[bits]
    return (cols * bits) % group == 0


class _CameraSource(FrameSource):
    """Common batching, cropping and scaling for the camera readers.

    Subclasses fill ``shape``, ``n_frames``, ``_bits`` (stored bits per sample: 8, 10, 12 or
    16), ``_full_scale``, ``_flip_rows`` (rows stored bottom-up) and ``_mm`` (the memory map),
    and implement ``_read_rows(i0, i1, r0, r1)`` returning the stored bytes of rows ``r0:r1`` of
    frames ``i0:i1`` as ``(n, r1 - r0, row_bytes)``, and ``_read_flat(i0, i1)`` returning whole
    frames as ``(n, frame_bytes)`` (used when rows do not start on a packing group).
    """

    _bits: int
    _full_scale: int
    _flip_rows: bool = False

    def _raw_batch(self, i0: int, i1: int, roi: ROI | None) -> np.ndarray:
        """Integer samples of frames ``i0:i1``, cropped to ``roi``, row 0 at the top."""
        rows, cols = self.shape
        y0, y1, x0, x1 = (0, rows, 0, cols) if roi is None else (roi.y, roi.y + roi.h, roi.x, roi.x + roi.w)
        if _row_aligned(cols, self._bits):
            # Slice whole stored rows first so that only the rows needed are touched and unpacked.
            if self._flip_rows:
                s0, s1 = rows - y1, rows - y0
            else:
                s0, s1 = y0, y1
            raw = self._read_rows(i0, i1, s0, s1)
            vals = _decode_rows(raw, self._bits, cols)
            if self._flip_rows:
                vals = vals[:, ::-1]
            return vals[:, :, x0:x1]
        flat = self._read_flat(i0, i1)
        n = flat.shape[0]
        if self._bits == 12:
            vals = _unpack12(flat)
        else:
            vals = _unpack10(flat)
        vals = vals[:, : rows * cols].reshape(n, rows, cols)
        if self._flip_rows:
            vals = vals[:, ::-1]
        return vals[:, y0:y1, x0:x1]

    def _read_rows(self, i0: int, i1: int, r0: int, r1: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _read_flat(self, i0: int, i1: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def iter_batches(
        self, *, batch: int = 32, roi: ROI | None = None, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        """Yield float32 arrays of shape ``(n <= batch, h, w)`` scaled to ``[0, 1]``.

        Parameters
        ----------
        batch : int
            Largest number of frames per array (>= 1).
        roi : ROI, optional
            Crop every frame to this rectangle; it must lie inside the frame.
        start, stop : int
            Frame range ``start:stop``; ``stop`` beyond the end is clipped, a ``start`` at or
            past the end yields nothing.

        Yields
        ------
        ndarray of float32, shape (n, h, w)

        Raises
        ------
        ParameterError
            If ``batch < 1``, ``start < 0``, ``stop < start`` or the ROI lies outside the frame.
        """
        if int(batch) < 1:
            raise ParameterError(f"batch={batch} must be at least 1")
        if int(start) < 0:
            raise ParameterError(f"start={start} must be >= 0 (frames are counted from 0)")
        if stop is not None and int(stop) < int(start):
            raise ParameterError(f"stop={stop} is before start={start}; give stop >= start")
        if roi is not None:
            roi.check(*self.shape)
        if self._mm is None:
            raise VideoReadError(f"{self.path}: the source is closed; open the file again")
        n = int(self.n_frames or 0)
        stop = n if stop is None else min(int(stop), n)
        scale = np.float32(self._full_scale)
        for i in range(int(start), stop, int(batch)):
            raw = self._raw_batch(i, min(i + int(batch), stop), roi)
            yield np.divide(raw, scale, dtype=np.float32)

    def close(self) -> None:
        """Drop the memory map (the OS mapping closes when no array refers to it)."""
        self._mm = None


def _check_file(path: str, what: str) -> int:
    """Return the size of ``path`` or raise VideoReadError when it is missing or unreadable."""
    if not os.path.exists(path):
        raise VideoReadError(f"{path}: no such file; check the path")
    if not os.path.isfile(path):
        raise VideoReadError(f"{path}: not a regular file (expected a {what})")
    if not os.access(path, os.R_OK):
        raise VideoReadError(f"{path}: permission denied; make the {what} readable")
    return os.path.getsize(path)


def _find_sibling(stem: str, exts: tuple[str, ...]) -> str | None:
    """First existing ``stem + ext`` trying each extension in lower and upper case."""
    for ext in exts:
        for cand in (stem + ext, stem + ext.upper()):
            if os.path.isfile(cand):
                return cand
    return None
