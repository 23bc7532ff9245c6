"""Phantom ``.cine`` files (see :mod:`vismic.io.camera`)."""

from __future__ import annotations

import os
import struct
import warnings

import numpy as np

from ...errors import InputError, VideoReadError
from ._common import _MAX_PIXELS, _CameraSource, _check_file, _row_aligned

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
