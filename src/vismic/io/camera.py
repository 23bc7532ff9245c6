"""Readers for high-speed camera files: Photron ``.cih``/``.cihx`` + ``.mraw`` and Phantom ``.cine``.

Both readers memory-map the raw data and decode one batch at a time, so a recording larger
than RAM streams in constant memory.  Packed 10- and 12-bit samples are unpacked per batch with
vectorised numpy, never for the whole file.

Intensities are scaled so that the full scale of the stored samples maps to 1.0:

* Photron: ``2**Color Bit - 1``, except when the header says the significant bits are the
  *lower* ``EffectiveBit Depth`` bits of a wider sample (e.g. 12 significant bits in a 16-bit
  word), where it is ``2**EffectiveBit Depth - 1``.  An 8-bit file from a 12-bit sensor (Color
  Bit 8, EffectiveBit Depth 12) holds full-range 8-bit samples and is scaled by 255.
* Phantom: ``2**RealBPP - 1`` for unpacked 8/16-bit frames, ``1023`` for packed 10-bit (P10)
  and ``4095`` for packed 12-bit (P12L) frames.

The frame rate stored by the camera is the true capture rate, so both readers set
``rate_is_trusted = True``.  A Photron file saved with a frame step (``Save Step`` > 1, every
n-th recorded frame kept) has ``header_rate = Record Rate / Save Step``: the rate of the frames
in the file, which is what the audio must be sampled at.
"""

from __future__ import annotations

import os
import struct
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from ..errors import InputError, ParameterError, VideoReadError
from .base import ROI, FrameSource

__all__ = ["PhotronSource", "CineSource", "open_camera_file", "PHOTRON_EXTENSIONS", "CINE_EXTENSIONS"]

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


# --------------------------------------------------------------------------------------------
# Photron
# --------------------------------------------------------------------------------------------

# .cihx element paths (relative to <cih>) mapped onto the .cih key names.
_CIHX_PATHS = {
    "Record Rate(fps)": "recordInfo/recordRate",
    "Shutter Speed(s)": "recordInfo/shutterSpeed",
    "Total Frame": "frameInfo/totalFrame",
    "Original Total Frame": "frameInfo/recordedFrame",
    "Start Frame": "frameInfo/startFrame",
    "Save Step": "frameInfo/skipFrame",
    "Image Width": "imageDataInfo/resolution/width",
    "Image Height": "imageDataInfo/resolution/height",
    "Color Type": "imageDataInfo/colorInfo/type",
    "Color Bit": "imageDataInfo/colorInfo/bit",
    "EffectiveBit Depth": "imageDataInfo/effectiveBit/depth",
    "EffectiveBit Side": "imageDataInfo/effectiveBit/side",
    "File Format": "imageFileInfo/fileFormat",
    "Camera Type": "deviceInfo/deviceName",
    "Date": "fileInfo/date",
}


def _parse_cih_text(text: str) -> dict[str, str]:
    """``Key : Value`` lines of a ``.cih`` header; the first occurrence of a key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        out.setdefault(key.strip(), value.strip())
    return out


def _parse_cihx_bytes(data: bytes, path: str) -> dict[str, str]:
    """The ``<cih>...</cih>`` XML document of a ``.cihx`` header (any binary prefix skipped)."""
    i0 = data.find(b"<cih>")
    i1 = data.rfind(b"</cih>")
    if i0 < 0 or i1 < i0:
        raise VideoReadError(f"{path}: no <cih> ... </cih> XML document found; not a Photron .cihx header")
    xml = data[i0 : i1 + len(b"</cih>")].decode("utf-8", errors="replace")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise VideoReadError(f"{path}: malformed .cihx XML ({exc})") from exc
    out: dict[str, str] = {}
    for key, xpath in _CIHX_PATHS.items():
        el = root.find(xpath)
        if el is not None and el.text is not None and el.text.strip():
            out[key] = el.text.strip()
    return out


def _parse_seconds(text: str) -> float | None:
    """Exposure in seconds from ``'1/15371'``, ``'0.0000651'`` or a bare denominator ``'200000'``."""
    try:
        if "/" in text:
            value = float(Fraction(text.replace(" ", "")))
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        return None
    if value <= 0:
        return None
    # .cihx stores the shutter as the denominator of 1/x s (e.g. 200000 for 1/200000 s).
    return 1.0 / value if value >= 1.0 else value


class PhotronSource(_CameraSource):
    """Frames of a Photron FASTCAM recording: a ``.cih``/``.cihx`` header beside its ``.mraw`` data.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.cih``, ``.cihx`` or ``.mraw`` file; the other file of the pair (same name, other
        extension, same folder) is found automatically.

    Attributes
    ----------
    header_path, data_path : str
        The header and ``.mraw`` files in use.
    header : dict of str
        Raw header values keyed by their ``.cih`` names (``.cihx`` fields are mapped onto them).
    record_rate : float
        ``Record Rate(fps)``: the camera's capture rate.
    save_step : int
        Frame step used when the file was saved (1 = every frame).
    effective_bit_depth : int or None
        ``EffectiveBit Depth`` (significant bits of the sensor data).
    exposure_s : float or None
        Exposure time from ``Shutter Speed(s)``.

    Raises
    ------
    VideoReadError
        If a file is missing, the header is malformed, the file is colour or not MRaw, or the
        bit depth is not 8, 12 or 16.
    InputError
        If the ``.mraw`` holds no whole frame.

    Warns
    -----
    UserWarning
        If the ``.mraw`` is shorter than the header says; the whole frames present are used.
    """

    kind = "photron"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._mm: np.memmap | None = None
        stem, ext = os.path.splitext(self.path)
        ext = ext.lower()
        if ext not in PHOTRON_EXTENSIONS:
            raise VideoReadError(f"{self.path}: not a Photron file (expected .cih, .cihx or .mraw)")
        _check_file(self.path, "Photron file")
        if ext == ".mraw":
            header = _find_sibling(stem, (".cihx", ".cih"))
            if header is None:
                raise VideoReadError(
                    f"{self.path}: its header {os.path.basename(stem)}.cih (or .cihx) is missing; "
                    "put the header saved with the recording next to the .mraw under the same name"
                )
            self.header_path, self.data_path = header, self.path
        else:
            data = _find_sibling(stem, (".mraw",))
            if data is None:
                raise VideoReadError(
                    f"{self.path}: its image data {os.path.basename(stem)}.mraw is missing; "
                    "put the .mraw saved with the recording next to the header under the same name"
                )
            self.header_path, self.data_path = self.path, data
        self.header = self._read_header(self.header_path)
        self._interpret_header()
        self._open_data()

    # -- header ------------------------------------------------------------------------------

    @staticmethod
    def _read_header(path: str) -> dict[str, str]:
        try:
            with open(path, "rb") as fh:
                data = fh.read(4 * 1024 * 1024)
        except OSError as exc:
            raise VideoReadError(f"{path}: cannot read the header ({exc.strerror or exc})") from exc
        if b"<cih>" in data or path.lower().endswith(".cihx"):
            return _parse_cihx_bytes(data, path)
        return _parse_cih_text(data.decode("utf-8", errors="replace"))

    def _get(self, key: str, kind: type, *, required: bool = True):
        raw = self.header.get(key)
        if raw is None or raw == "":
            if required:
                raise VideoReadError(
                    f"{self.header_path}: header has no '{key}' entry; "
                    "not a complete Photron .cih/.cihx header"
                )
            return None
        try:
            if kind is int:
                return int(float(raw))
            if kind is float:
                return float(raw)
        except (ValueError, OverflowError) as exc:
            raise VideoReadError(f"{self.header_path}: '{key}' is {raw!r}, not a number") from exc
        return raw

    def _interpret_header(self) -> None:
        hp = self.header_path
        fmt = self._get("File Format", str, required=False)
        if fmt is not None and fmt.strip().lower() != "mraw":
            raise VideoReadError(
                f"{hp}: File Format is {fmt!r}; only MRaw recordings are supported (save as MRAW in PFV)"
            )
        self.record_rate = float(self._get("Record Rate(fps)", float))
        if not np.isfinite(self.record_rate) or self.record_rate <= 0:
            raise VideoReadError(f"{hp}: Record Rate(fps) is {self.record_rate}; expected a positive rate")
        cols = int(self._get("Image Width", int))
        rows = int(self._get("Image Height", int))
        if rows <= 0 or cols <= 0:
            raise VideoReadError(f"{hp}: image size {cols}x{rows} is not positive")
        if rows * cols > _MAX_PIXELS:
            raise VideoReadError(f"{hp}: image size {cols}x{rows} is implausibly large (damaged header?)")
        color_type = self._get("Color Type", str, required=False)
        bits = int(self._get("Color Bit", int))
        if (color_type is not None and color_type.strip().lower() != "mono") or bits > 16:
            what = color_type if color_type is not None else f"{bits}-bit"
            raise VideoReadError(
                f"{hp}: colour recording (Color Type {what!r}, Color Bit {bits}) is unsupported; "
                "save the recording as monochrome (Mono) MRAW"
            )
        if bits not in (8, 12, 16):
            raise VideoReadError(f"{hp}: Color Bit {bits} is unsupported; expected 8, 12 or 16")
        if bits == 12 and (rows * cols) % 2:
            raise VideoReadError(
                f"{hp}: 12-bit frames with an odd pixel count ({cols}x{rows}) are unsupported"
            )
        total = int(self._get("Total Frame", int))
        if total <= 0:
            raise InputError(f"{hp}: Total Frame is {total}; the recording has no frames")
        eff = self._get("EffectiveBit Depth", int, required=False)
        side = (self._get("EffectiveBit Side", str, required=False) or "").strip().lower()
        step = self._get("Save Step", int, required=False)
        self.save_step = int(step) if step is not None and step > 0 else 1

        self.shape = (rows, cols)
        self.bit_depth = bits
        self._bits = bits
        self.effective_bit_depth = int(eff) if eff is not None and eff > 0 else None
        self.effective_bit_side = side or None
        if self.effective_bit_depth is not None and self.effective_bit_depth < bits and side != "higher":
            self._full_scale = 2**self.effective_bit_depth - 1
        else:
            self._full_scale = 2**bits - 1
        self.header_rate = self.record_rate / self.save_step
        self.rate_is_trusted = True
        self._n_header = total
        shutter = self.header.get("Shutter Speed(s)")
        self.exposure_s = _parse_seconds(shutter) if shutter else None
        self.camera_model = self.header.get("Camera Type") or None

    # -- data --------------------------------------------------------------------------------

    def _open_data(self) -> None:
        rows, cols = self.shape
        self._frame_bytes = rows * cols * self._bits // 8
        size = _check_file(self.data_path, ".mraw data file")
        expected = self._n_header * self._frame_bytes
        n = self._n_header
        if size < expected:
            n = size // self._frame_bytes
            if n == 0:
                raise InputError(
                    f"{self.data_path}: {size} bytes hold no whole {cols}x{rows} {self._bits}-bit frame "
                    f"({self._frame_bytes} bytes each); the file is empty or truncated"
                )
            warnings.warn(
                f"{self.data_path}: the file holds {n} whole frame(s) but the header says "
                f"{self._n_header}; using the {n} frame(s) present (truncated copy?)",
                stacklevel=3,
            )
        self.n_frames = int(n)
        try:
            self._mm = np.memmap(self.data_path, dtype=np.uint8, mode="r", shape=(n, self._frame_bytes))
        except (OSError, ValueError) as exc:
            raise VideoReadError(f"{self.data_path}: cannot memory-map the .mraw ({exc})") from exc

    def _read_rows(self, i0: int, i1: int, r0: int, r1: int) -> np.ndarray:
        rows = self.shape[0]
        return np.asarray(self._mm[i0:i1].reshape(i1 - i0, rows, -1)[:, r0:r1])

    def _read_flat(self, i0: int, i1: int) -> np.ndarray:
        return np.asarray(self._mm[i0:i1])

    def describe(self) -> dict:
        """Base facts plus the camera's: model, exposure, bit depths, record rate, save step."""
        d = super().describe()
        d.update(
            header_path=self.header_path,
            data_path=self.data_path,
            camera_model=self.camera_model,
            exposure_s=self.exposure_s,
            record_rate=self.record_rate,
            save_step=self.save_step,
            color_bit=self.bit_depth,
            effective_bit_depth=self.effective_bit_depth,
            effective_bit_side=self.effective_bit_side,
            full_scale=self._full_scale,
            n_frames_in_header=self._n_header,
            n_frames_used=self.n_frames,
        )
        return d


# --------------------------------------------------------------------------------------------
# Phantom .cine
# --------------------------------------------------------------------------------------------

# CINEFILEHEADER (44 bytes, little-endian, packed).
_CINE_HEADER = struct.Struct("<2sHHHiIiIIIIQ")
# BITMAPINFOHEADER (40 bytes).
_BITMAP_HEADER = struct.Struct("<IiiHHIIiiII")
# Byte offsets of the SETUP fields used here (the structure is packed with 1-byte alignment).
_SETUP_FIELDS = {
    "FrameRate16": (0, "<H"),
    "Shutter16": (2, "<H"),
    "Mark": (140, "2s"),
    "Length": (142, "<H"),
    "Serial": (743, "<I"),
    "FrameRate": (768, "<I"),
    "Shutter": (772, "<I"),  # microseconds
    "CameraVersion": (792, "<I"),
    "SoftwareVersion": (800, "<I"),
    "CFA": (808, "<I"),
    "RealBPP": (896, "<I"),
    "ShutterNs": (1568, "<I"),
    "BlackLevel": (5732, "<i"),
    "WhiteLevel": (5736, "<i"),
}
_BI_RGB, _BI_PACKED10, _BI_PACKED12L = 0, 256, 1024
_TAG_TIME_ONLY = 1002


class CineSource(_CameraSource):
    """Frames of a Phantom ``.cine`` file (monochrome; 8/16-bit, packed 10-bit P10 or 12-bit P12L).

    Frames are read lazily through the image offset table; each image is preceded by an
    annotation block whose first uint32 is its size.  Unpacked (``BI_RGB``) frames are stored
    bottom-up when ``biHeight > 0`` and are flipped so that row 0 is the top; packed frames are
    stored top-down.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.cine`` file.

    Attributes
    ----------
    real_bpp : int or None
        ``SETUP.RealBPP``: significant bits per pixel.
    exposure_s : float or None
        Exposure time from ``SETUP.ShutterNs``.
    packing : str
        ``"none"``, ``"P10"`` or ``"P12L"``.

    Notes
    -----
    P10 frames hold the camera's companded 10-bit code values, returned here scaled by 1023 and
    not linearised back to 12-bit sensor values (the vendor curve is a lookup table).  A static
    monotonic tone curve leaves the motion of the image content unchanged, so motion estimates
    are unaffected; absolute intensities are not linear in light.

    Raises
    ------
    VideoReadError
        If the file is missing, not a cine file, malformed, colour or compressed.
    InputError
        If it holds no frames.
    """

    kind = "cine"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._mm: np.memmap | None = None
        size = _check_file(self.path, ".cine file")
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(_CINE_HEADER.size)
                if len(head) < _CINE_HEADER.size or head[:2] != b"CI":
                    raise VideoReadError(f"{self.path}: not a Phantom .cine file (no 'CI' signature)")
                h = _CINE_HEADER.unpack(head)
                compression, first_movie, total_count, first_no, count = h[2], h[4], h[5], h[6], h[7]
                off_bi, off_setup, off_offsets = h[8], h[9], h[10]
                for name, off in (
                    ("BITMAPINFOHEADER", off_bi),
                    ("SETUP", off_setup),
                    ("offsets", off_offsets),
                ):
                    if off < _CINE_HEADER.size or off >= size:
                        raise VideoReadError(f"{self.path}: {name} offset {off} lies outside the file")
                fh.seek(off_bi)
                bi = fh.read(_BITMAP_HEADER.size)
                if len(bi) < _BITMAP_HEADER.size:
                    raise VideoReadError(f"{self.path}: truncated BITMAPINFOHEADER")
                _, width, height, _, bit_count, bi_compression, _, _, _, _, _ = _BITMAP_HEADER.unpack(bi)
                fh.seek(off_setup)
                setup = fh.read(max(0, min(off_offsets, size) - off_setup))
                if count == 0:
                    raise InputError(f"{self.path}: the cine holds no frames (ImageCount 0)")
                if 8 * count > size - off_offsets:
                    raise VideoReadError(
                        f"{self.path}: image offset table of {count} entries does not fit in the file "
                        "(truncated or damaged header)"
                    )
                fh.seek(off_offsets)
                table = fh.read(8 * count)
                if len(table) < 8 * count:
                    raise VideoReadError(f"{self.path}: image offset table is truncated")
        except OSError as exc:
            if isinstance(exc, VideoReadError):
                raise
            raise VideoReadError(f"{self.path}: cannot read ({exc.strerror or exc})") from exc

        self.setup = self._parse_setup(setup)
        self.first_image_no = int(first_no)
        self.first_movie_image = int(first_movie)
        self.total_image_count = int(total_count)
        rows, cols = abs(int(height)), int(width)
        if rows == 0 or cols <= 0:
            raise VideoReadError(f"{self.path}: image size {width}x{height} is not valid")
        if rows * cols > _MAX_PIXELS:
            raise VideoReadError(
                f"{self.path}: declared image size {cols}x{rows} is implausibly large (damaged header?)"
            )
        self.shape = (rows, cols)

        cfa = self.setup.get("CFA") or 0
        if compression != 0 or bit_count in (24, 48) or (cfa & 0xFF) != 0:
            raise VideoReadError(
                f"{self.path}: colour cine (CFA code {cfa & 0xFF}, {bit_count} bits/pixel, "
                f"compression {compression}) is unsupported; save the cine as monochrome (grey) "
                "in Phantom PCC"
            )
        real_bpp = self.setup.get("RealBPP")
        self.real_bpp = int(real_bpp) if real_bpp else None
        if bi_compression == _BI_RGB and bit_count in (8, 16):
            self._bits = int(bit_count)
            self.packing = "none"
            rb = self.real_bpp if self.real_bpp and self.real_bpp <= bit_count else bit_count
            self._full_scale = 2**rb - 1
            self._flip_rows = height > 0
        elif bi_compression == _BI_PACKED10:
            self._bits, self.packing, self._full_scale = 10, "P10", 1023
        elif bi_compression == _BI_PACKED12L:
            self._bits, self.packing, self._full_scale = 12, "P12L", 4095
        else:
            raise VideoReadError(
                f"{self.path}: pixel format biCompression={bi_compression}, biBitCount={bit_count} is "
                "unsupported; vismic reads unpacked 8/16-bit, P10 and P12L monochrome cines"
            )
        if not _row_aligned(cols, self._bits) and (rows * cols * self._bits) % 8:
            raise VideoReadError(
                f"{self.path}: {self.packing} frame of {cols}x{rows} does not fill whole bytes"
            )
        self.bit_depth = self.real_bpp or self._bits
        self._frame_bytes = rows * cols * self._bits // 8

        rate = self.setup.get("FrameRate") or self.setup.get("FrameRate16")
        if not rate:
            raise VideoReadError(f"{self.path}: SETUP holds no frame rate; cannot time the frames")
        self.header_rate = float(rate)
        self.rate_is_trusted = True
        ns = self.setup.get("ShutterNs")
        us = self.setup.get("Shutter")
        self.exposure_s = ns * 1e-9 if ns else (us * 1e-6 if us else None)
        self.timestamp_rate = self._timestamp_rate(off_setup, off_offsets, count)

        # Locate every image behind its annotation block (vectorised over the offset table).
        offsets = np.frombuffer(table, dtype="<i8").astype(np.int64)
        self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        inside = (offsets >= 0) & (offsets <= size - 8)  # not offsets + 8: that can wrap around int64
        n_ok = int(np.argmin(inside)) if not inside.all() else count
        offs = offsets[:n_ok]
        four = np.arange(4)
        ann = self._mm[offs[:, None] + four].view("<u4")[:, 0].astype(np.int64)
        bad = (ann < 8) | (offs + ann > size)
        if bad.any():
            i = int(np.argmax(bad))
            raise VideoReadError(f"{self.path}: frame {i}: malformed annotation block (size {int(ann[i])})")
        img_size = self._mm[(offs + ann - 4)[:, None] + four].view("<u4")[:, 0].astype(np.int64)
        short = (img_size > 0) & (img_size < self._frame_bytes)
        if short.any():
            i = int(np.argmax(short))
            raise VideoReadError(
                f"{self.path}: frame {i} stores {int(img_size[i])} bytes but a {cols}x{rows} "
                f"{self.packing}/{self._bits}-bit frame needs {self._frame_bytes}"
            )
        data_starts = offs + ann
        whole = data_starts + self._frame_bytes <= size
        if not whole.all():
            n_ok = int(np.argmin(whole))
        if n_ok == 0:
            raise InputError(f"{self.path}: no whole frame in the file (truncated cine?)")
        if n_ok < count:
            warnings.warn(
                f"{self.path}: the file holds {n_ok} whole frame(s) but the header says {count}; "
                f"using the {n_ok} frame(s) present (truncated copy?)",
                stacklevel=2,
            )
        self._n_header = int(count)
        self.n_frames = int(n_ok)
        self._starts = data_starts[:n_ok]
        self.black_level = self.setup.get("BlackLevel")
        self.white_level = self.setup.get("WhiteLevel")

    @staticmethod
    def _parse_setup(setup: bytes) -> dict:
        """The SETUP fields listed in ``_SETUP_FIELDS`` that lie inside the stored setup length."""
        out: dict = {}
        length = len(setup)
        if length >= 144:
            declared = struct.unpack_from("<H", setup, 142)[0]
            if 144 <= declared <= length:
                length = declared
        for name, (off, fmt) in _SETUP_FIELDS.items():
            if off + struct.calcsize(fmt) <= length:
                out[name] = struct.unpack_from(fmt, setup, off)[0]
        return out

    def _timestamp_rate(self, off_setup: int, off_offsets: int, count: int) -> float | None:
        """Rate from the median spacing of the per-image time stamps (tagged block 1002), if any."""
        length = self.setup.get("Length") or 0
        pos = length
        try:
            with open(self.path, "rb") as fh:
                while 0 < pos and off_setup + pos + 8 <= off_offsets:
                    fh.seek(off_setup + pos)
                    block_size, tag = struct.unpack("<IH", fh.read(6))
                    if block_size < 8:
                        return None
                    if tag == _TAG_TIME_ONLY and block_size - 8 >= 8 * count >= 16:
                        fh.seek(off_setup + pos + 8)
                        t = np.frombuffer(fh.read(8 * count), dtype="<u4").reshape(count, 2)
                        sec = t[:, 1].astype(np.float64) + t[:, 0] / 2.0**32
                        dt = float(np.median(np.diff(sec)))
                        return 1.0 / dt if dt > 0 else None
                    pos += block_size
        except (OSError, struct.error, ValueError):
            return None
        return None

    def _read_rows(self, i0: int, i1: int, r0: int, r1: int) -> np.ndarray:
        rows = self.shape[0]
        fb = self._frame_bytes
        row_bytes = fb // rows
        return np.stack(
            [
                self._mm[s + r0 * row_bytes : s + r1 * row_bytes].reshape(r1 - r0, row_bytes)
                for s in self._starts[i0:i1]
            ]
        )

    def _read_flat(self, i0: int, i1: int) -> np.ndarray:
        fb = self._frame_bytes
        return np.stack([self._mm[s : s + fb] for s in self._starts[i0:i1]])

    def describe(self) -> dict:
        """Base facts plus the camera's: version, serial, exposure, real bit depth, packing, levels."""
        d = super().describe()
        d.update(
            camera_model=(
                f"Phantom (camera version {self.setup['CameraVersion']})"
                if self.setup.get("CameraVersion")
                else None
            ),
            camera_serial=self.setup.get("Serial"),
            exposure_s=self.exposure_s,
            effective_bit_depth=self.real_bpp,
            packing=self.packing,
            full_scale=self._full_scale,
            black_level=self.black_level,
            white_level=self.white_level,
            first_image_no=self.first_image_no,
            timestamp_rate=self.timestamp_rate,
            n_frames_in_header=self._n_header,
            n_frames_used=self.n_frames,
        )
        if self.packing == "P10":
            d["note"] = "P10 code values (companded), scaled by 1023, not linearised"
        return d


# --------------------------------------------------------------------------------------------


def open_camera_file(path: str | os.PathLike) -> FrameSource | None:
    """Open a camera file by its extension.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.cih``, ``.cihx``, ``.mraw`` (Photron) or ``.cine`` (Phantom) file.

    Returns
    -------
    FrameSource or None
        The reader, or None when the extension is not a camera format.

    Raises
    ------
    VideoReadError, InputError
        As raised by :class:`PhotronSource` or :class:`CineSource`.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in PHOTRON_EXTENSIONS:
        return PhotronSource(path)
    if ext in CINE_EXTENSIONS:
        return CineSource(path)
    return None
