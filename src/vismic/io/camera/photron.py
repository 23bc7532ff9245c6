"""Photron ``.cih``/``.cihx`` headers with their ``.mraw`` raw data (see :mod:`vismic.io.camera`)."""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np

from ...errors import InputError, VideoReadError
from ._common import _MAX_PIXELS, PHOTRON_EXTENSIONS, _CameraSource, _check_file, _find_sibling

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
