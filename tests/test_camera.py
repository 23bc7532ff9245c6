"""Tests of the Photron (.cih/.cihx + .mraw) and Phantom (.cine) readers on small synthetic files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from vismic.errors import InputError, ParameterError, VideoReadError
from vismic.io.base import ROI
from vismic.io.camera import CineSource, PhotronSource, open_camera_file

RNG = np.random.default_rng(1234)


def _frames(n: int, rows: int, cols: int, bits: int) -> np.ndarray:
    return RNG.integers(0, 2**bits, size=(n, rows, cols), dtype=np.uint32).astype(np.uint16)


def _expected(vals: np.ndarray, full_scale: int) -> np.ndarray:
    return vals.astype(np.float32) / np.float32(full_scale)


def _read_all(src, **kw) -> np.ndarray:
    return np.concatenate(list(src.iter_batches(**kw)))


# ----------------------------------------------------------------------------- packers (oracles)


def _pack12(vals: np.ndarray) -> bytes:
    """Two 12-bit pixels in three bytes, most significant bits first."""
    v = vals.astype(np.uint32).reshape(-1, 2)
    word = (v[:, 0] << 12) | v[:, 1]  # 24-bit big-endian word
    out = np.stack([(word >> 16) & 0xFF, (word >> 8) & 0xFF, word & 0xFF], axis=1)
    return out.astype(np.uint8).tobytes()


def _pack10(vals: np.ndarray) -> bytes:
    """Four 10-bit pixels in five bytes, most significant bits first."""
    v = vals.astype(np.uint64).reshape(-1, 4)
    word = (v[:, 0] << 30) | (v[:, 1] << 20) | (v[:, 2] << 10) | v[:, 3]  # 40-bit big-endian word
    out = np.stack([(word >> np.uint64(8 * k)) & np.uint64(0xFF) for k in (4, 3, 2, 1, 0)], axis=1)
    return out.astype(np.uint8).tobytes()


def test_pack_oracles_match_documented_layout():
    # p0 = b0 << 4 | b1 >> 4 ; p1 = (b1 & 0xF) << 8 | b2
    assert _pack12(np.array([0xABC, 0x123])) == bytes([0xAB, 0xC1, 0x23])
    assert _pack10(np.array([0x3FF, 0, 0, 1])) == bytes([0xFF, 0xC0, 0, 0, 1])


# ----------------------------------------------------------------------------- Photron writers


def _write_photron(
    tmp_path: Path,
    vals: np.ndarray,
    bits: int,
    *,
    name: str = "rec",
    header: str = ".cih",
    color: str = "Mono",
    eff: int | None = None,
    side: str = "Lower",
    rate: float = 20000,
    step: int | None = None,
    fmt: str = "MRaw",
    cut_bytes: int = 0,
    write_mraw: bool = True,
) -> tuple[Path, Path]:
    n, rows, cols = vals.shape
    if bits == 8:
        data = vals.astype(np.uint8).tobytes()
    elif bits == 16:
        data = vals.astype("<u2").tobytes()
    else:
        data = _pack12(vals)
    mraw = tmp_path / f"{name}.mraw"
    if write_mraw:
        mraw.write_bytes(data[: len(data) - cut_bytes])
    fields = {
        "Camera Type": "FASTCAM TEST",
        "Record Rate(fps)": f"{rate:g}",
        "Shutter Speed(s)": "1/40000",
        "Total Frame": str(n),
        "Image Width": str(cols),
        "Image Height": str(rows),
        "Color Type": color,
        "Color Bit": str(bits),
        "File Format": fmt,
        "EffectiveBit Depth": str(eff if eff is not None else bits),
        "EffectiveBit Side": side,
    }
    if step is not None:
        fields["Save Step"] = str(step)
    hdr = tmp_path / f"{name}{header}"
    if header == ".cih":
        lines = ["#Camera Information Header", "Date : 2024/01/02", "Time : 12:48"]
        lines += [f"{k} : {v}" for k, v in fields.items()]
        lines += ["Not Use : ", "END", "", "Record Rate(fps) : 1"]  # later duplicates are ignored
        hdr.write_text("\n".join(lines) + "\n")
    else:
        skip = f"<skipFrame>{step}</skipFrame>" if step is not None else ""
        xml = (
            "<cih><fileInfo><date>2024/01/02</date></fileInfo>"
            f"<deviceInfo><deviceName>FASTCAM TEST</deviceName></deviceInfo>"
            f"<recordInfo><recordRate>{rate:g}</recordRate><shutterSpeed>40000</shutterSpeed></recordInfo>"
            f"<frameInfo><totalFrame>{n}</totalFrame><recordedFrame>{n}</recordedFrame>{skip}</frameInfo>"
            "<imageDataInfo>"
            f"<resolution><width>{cols}</width><height>{rows}</height></resolution>"
            f"<colorInfo><type>{color}</type><bit>{bits}</bit></colorInfo>"
            f"<effectiveBit><depth>{eff if eff is not None else bits}</depth>"
            f"<side>{side}</side></effectiveBit>"
            "</imageDataInfo>"
            f"<imageFileInfo><fileFormat>{fmt}</fileFormat></imageFileInfo></cih>"
        )
        hdr.write_bytes(b"\x00\x07\xffPHOTRON-BIN\x00" + xml.encode())
    return hdr, mraw


# ----------------------------------------------------------------------------- Photron tests


@pytest.mark.parametrize(
    ("bits", "rows", "cols"),
    [(8, 6, 10), (16, 6, 10), (12, 6, 10), (12, 6, 5)],  # 6x5 @ 12 bit: rows not byte-aligned
)
def test_photron_pixels_round_trip(tmp_path, bits, rows, cols):
    vals = _frames(7, rows, cols, bits)
    hdr, _ = _write_photron(tmp_path, vals, bits)
    with PhotronSource(hdr) as src:
        assert src.shape == (rows, cols) and src.n_frames == 7 and src.bit_depth == bits
        assert src.kind == "photron" and src.rate_is_trusted and src.header_rate == 20000.0
        out = _read_all(src, batch=3)
    full = 2**bits - 1
    assert out.dtype == np.float32 and out.shape == (7, rows, cols)
    np.testing.assert_array_equal(out, _expected(vals, full))
    np.testing.assert_array_equal(np.rint(out.astype(np.float64) * full), vals)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_photron_memmaps_data(tmp_path):
    hdr, _ = _write_photron(tmp_path, _frames(3, 4, 8, 16), 16)
    src = PhotronSource(hdr)
    assert isinstance(src._mm, np.memmap)
    src.close()
    with pytest.raises(VideoReadError, match="closed"):
        next(src.iter_batches())


@pytest.mark.parametrize(
    ("bits", "eff", "side", "full"),
    [(16, 12, "Lower", 4095), (16, 12, "Higher", 65535), (8, 12, "Higher", 255), (8, 12, "Lower", 255),
     (16, 16, "Lower", 65535), (12, 10, "Lower", 1023)],
)  # fmt: skip
def test_photron_scaling_follows_effective_bits(tmp_path, bits, eff, side, full):
    vals = np.minimum(_frames(2, 4, 8, bits), full)
    hdr, _ = _write_photron(tmp_path, vals, bits, eff=eff, side=side)
    src = PhotronSource(hdr)
    np.testing.assert_array_equal(_read_all(src), _expected(vals, full))
    assert src.describe()["effective_bit_depth"] == eff
    assert src.describe()["full_scale"] == full


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_photron_roi_batches_start_stop(tmp_path, bits):
    vals = _frames(10, 8, 12, bits)
    hdr, _ = _write_photron(tmp_path, vals, bits)
    src = PhotronSource(hdr)
    full = _expected(vals, 2**bits - 1)
    sizes = [b.shape[0] for b in src.iter_batches(batch=3)]
    assert sizes == [3, 3, 3, 1]
    roi = ROI(x=3, y=2, w=5, h=4)
    parts = list(src.iter_batches(batch=4, roi=roi, start=2, stop=8))
    assert [p.shape for p in parts] == [(4, 4, 5), (2, 4, 5)]
    np.testing.assert_array_equal(np.concatenate(parts), full[2:8, 2:6, 3:8])
    np.testing.assert_array_equal(_read_all(src, stop=100), full)  # stop clipped
    assert list(src.iter_batches(start=10)) == []
    with pytest.raises(ParameterError):
        next(src.iter_batches(roi=ROI(x=10, y=0, w=5, h=2)))
    with pytest.raises(ParameterError):
        next(src.iter_batches(batch=0))
    with pytest.raises(ParameterError):
        next(src.iter_batches(start=-1))


def test_photron_opens_from_mraw_and_cihx_with_binary_prefix(tmp_path):
    vals = _frames(4, 6, 8, 8)
    hdr, mraw = _write_photron(tmp_path, vals, 8, header=".cihx", rate=50000, step=10)
    for path in (hdr, mraw):
        src = open_camera_file(path)
        assert isinstance(src, PhotronSource)
        assert src.header_path == str(hdr) and src.data_path == str(mraw)
        np.testing.assert_array_equal(_read_all(src), _expected(vals, 255))
        d = src.describe()
        assert d["camera_model"] == "FASTCAM TEST"
        assert d["exposure_s"] == pytest.approx(1 / 40000)
        assert d["record_rate"] == 50000.0 and d["save_step"] == 10
        assert src.header_rate == 5000.0  # frames in the file are every 10th recorded frame


def test_photron_cih_fields(tmp_path):
    hdr, _ = _write_photron(tmp_path, _frames(2, 4, 8, 8), 8, rate=15000, step=1)
    d = PhotronSource(hdr).describe()
    assert d["header_rate"] == 15000.0 and d["exposure_s"] == pytest.approx(1 / 40000)
    assert d["rows"] == 4 and d["cols"] == 8 and d["n_frames_header"] == 2


def test_photron_missing_sibling(tmp_path):
    hdr, mraw = _write_photron(tmp_path, _frames(2, 4, 8, 8), 8, write_mraw=False)
    with pytest.raises(VideoReadError, match=r"rec\.mraw is missing"):
        PhotronSource(hdr)
    lone = tmp_path / "lone.mraw"
    lone.write_bytes(b"\x00" * 64)
    with pytest.raises(VideoReadError, match=r"lone\.cih .*missing"):
        PhotronSource(lone)
    with pytest.raises(VideoReadError, match="no such file"):
        PhotronSource(tmp_path / "absent.cih")


def test_photron_truncated_mraw_warns_and_uses_whole_frames(tmp_path):
    vals = _frames(5, 4, 8, 16)
    hdr, _ = _write_photron(tmp_path, vals, 16, cut_bytes=3 * 4 * 8 * 2 - 7)  # 2 whole frames + 7 bytes
    with pytest.warns(UserWarning, match=r"holds 2 whole frame\(s\) but the header says 5"):
        src = PhotronSource(hdr)
    assert src.n_frames == 2
    np.testing.assert_array_equal(_read_all(src), _expected(vals[:2], 65535))


def test_photron_no_whole_frame_is_input_error(tmp_path):
    hdr, _ = _write_photron(tmp_path, _frames(2, 4, 8, 8), 8, cut_bytes=2 * 32 - 5)
    with pytest.raises(InputError, match="no whole"):
        PhotronSource(hdr)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"color": "Color"}, "colour"),
        ({"fmt": "TIFF"}, "MRaw"),
        ({"header": ".cihx", "color": "Color"}, "colour"),
    ],
)
def test_photron_unsupported_files(tmp_path, kw, match):
    hdr, _ = _write_photron(tmp_path, _frames(2, 4, 8, 8), 8, **kw)
    with pytest.raises(VideoReadError, match=match):
        PhotronSource(hdr)


def test_photron_garbage_header(tmp_path):
    (tmp_path / "junk.cih").write_bytes(RNG.integers(0, 256, 300, dtype=np.uint8).tobytes())
    (tmp_path / "junk.mraw").write_bytes(b"\x00" * 100)
    with pytest.raises(VideoReadError, match="header has no"):
        PhotronSource(tmp_path / "junk.cih")
    (tmp_path / "junk2.cihx").write_bytes(b"\x00\x01<cih><recordInfo>")
    (tmp_path / "junk2.mraw").write_bytes(b"\x00" * 100)
    with pytest.raises(VideoReadError, match="cihx"):
        PhotronSource(tmp_path / "junk2.cihx")


# ----------------------------------------------------------------------------- Phantom .cine writer

_SETUP_LEN = 5744


def _write_cine(
    path: Path,
    vals: np.ndarray,
    *,
    bits: int = 8,
    packing: str | None = None,
    real_bpp: int | None = None,
    rate: int = 4000,
    cfa: int = 0,
    bottom_up: bool = True,
    annotation: int = 8,
    cut_bytes: int = 0,
    count: int | None = None,
) -> None:
    n, rows, cols = vals.shape
    count = n if count is None else count
    if packing == "P10":
        frame_bytes = [_pack10(v) for v in vals]
        bi_comp, bit_count = 256, 16
    elif packing == "P12L":
        frame_bytes = [_pack12(v) for v in vals]
        bi_comp, bit_count = 1024, 16
    else:
        stored = vals[:, ::-1] if bottom_up else vals
        dt = np.uint8 if bits == 8 else np.dtype("<u2")
        frame_bytes = [v.astype(dt).tobytes() for v in stored]
        bi_comp, bit_count = 0, bits
    off_bi, off_setup = 44, 84
    off_offsets = off_setup + _SETUP_LEN
    first_image = off_offsets + 8 * count
    offsets, blob, pos = [], bytearray(), first_image
    for fb in frame_bytes:
        offsets.append(pos)
        ann = bytearray(annotation)
        struct.pack_into("<I", ann, 0, annotation)
        struct.pack_into("<I", ann, annotation - 4, len(fb))
        blob += ann + fb
        pos += annotation + len(fb)
    header = struct.pack(
        "<2sHHHiIiIIIIQ", b"CI", 44, 0, 1, 0, count, 0, count, off_bi, off_setup, off_offsets, 0
    )
    height = rows if bottom_up else -rows
    bmp = struct.pack(
        "<IiiHHIIiiII", 40, cols, height, 1, bit_count, bi_comp, len(frame_bytes[0]), 0, 0, 0, 0
    )
    setup = bytearray(_SETUP_LEN)
    struct.pack_into("<H", setup, 0, min(rate, 65535))
    struct.pack_into("2s", setup, 140, b"ST")
    struct.pack_into("<H", setup, 142, _SETUP_LEN)
    struct.pack_into("<I", setup, 743, 4242)  # Serial
    struct.pack_into("<I", setup, 768, rate)  # FrameRate
    struct.pack_into("<I", setup, 792, 2512)  # CameraVersion
    struct.pack_into("<I", setup, 808, cfa)  # CFA
    struct.pack_into("<I", setup, 896, real_bpp or 0)  # RealBPP
    struct.pack_into("<I", setup, 1568, 20000)  # ShutterNs
    struct.pack_into("<ii", setup, 5732, 64, 1000)  # BlackLevel, WhiteLevel
    table = struct.pack(f"<{count}q", *(offsets + [pos] * max(0, count - n))[:count])
    data = header + bmp + bytes(setup) + table + bytes(blob)
    path.write_bytes(data[: len(data) - cut_bytes])


# ----------------------------------------------------------------------------- Phantom tests


@pytest.mark.parametrize(
    ("kw", "store_bits", "full"),
    [
        ({"bits": 8}, 8, 255),
        ({"bits": 8, "bottom_up": False}, 8, 255),
        ({"bits": 16, "real_bpp": 12}, 12, 4095),
        ({"bits": 16, "real_bpp": 14, "annotation": 24}, 14, 16383),
        ({"packing": "P10", "real_bpp": 10}, 10, 1023),
        ({"packing": "P12L", "real_bpp": 12}, 12, 4095),
    ],
)
def test_cine_pixels_round_trip(tmp_path, kw, store_bits, full):
    vals = _frames(6, 5, 8, store_bits)
    path = tmp_path / "clip.cine"
    _write_cine(path, vals, **kw)
    src = CineSource(path)
    assert src.shape == (5, 8) and src.n_frames == 6 and src.kind == "cine"
    assert src.header_rate == 4000.0 and src.rate_is_trusted
    out = _read_all(src, batch=4)
    np.testing.assert_array_equal(out, _expected(vals, full))  # row 0 is the top row
    np.testing.assert_array_equal(np.rint(out.astype(np.float64) * full), vals)
    d = src.describe()
    assert d["exposure_s"] == pytest.approx(20e-6) and d["camera_serial"] == 4242
    assert d["full_scale"] == full and d["black_level"] == 64


@pytest.mark.parametrize("kw", [{"bits": 16, "real_bpp": 12}, {"packing": "P10"}, {"packing": "P12L"}])
def test_cine_roi_batches_start_stop(tmp_path, kw):
    vals = _frames(9, 6, 8, 10)
    path = tmp_path / "clip.cine"
    _write_cine(path, vals, **kw)
    src = open_camera_file(path)
    assert isinstance(src, CineSource)
    full = _expected(vals, src.describe()["full_scale"])
    parts = list(src.iter_batches(batch=2, roi=ROI(x=1, y=1, w=4, h=3), start=3, stop=8))
    assert [p.shape for p in parts] == [(2, 3, 4), (2, 3, 4), (1, 3, 4)]
    np.testing.assert_array_equal(np.concatenate(parts), full[3:8, 1:4, 1:5])
    with pytest.raises(ParameterError):
        next(src.iter_batches(roi=ROI(x=0, y=4, w=2, h=3)))


def test_cine_packed_odd_width_not_row_aligned(tmp_path):
    vals = _frames(3, 4, 6, 10)  # 6 px per row: a row is not a whole number of 5-byte groups
    path = tmp_path / "odd.cine"
    _write_cine(path, vals, packing="P10")
    src = CineSource(path)
    np.testing.assert_array_equal(_read_all(src, roi=ROI(1, 1, 4, 2)), _expected(vals, 1023)[:, 1:3, 1:5])


def test_cine_colour_unsupported(tmp_path):
    path = tmp_path / "colour.cine"
    _write_cine(path, _frames(2, 4, 8, 8), cfa=3)
    with pytest.raises(VideoReadError, match="colour"):
        CineSource(path)


def test_cine_garbage_and_missing(tmp_path):
    junk = tmp_path / "junk.cine"
    junk.write_bytes(RNG.integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="CI"):
        CineSource(junk)
    with pytest.raises(VideoReadError, match="no such file"):
        CineSource(tmp_path / "absent.cine")
    short = tmp_path / "short.cine"
    short.write_bytes(b"CI")
    with pytest.raises(VideoReadError):
        CineSource(short)


def test_cine_truncated_warns(tmp_path):
    vals = _frames(4, 4, 8, 8)
    path = tmp_path / "cut.cine"
    _write_cine(path, vals, cut_bytes=10)
    with pytest.warns(UserWarning, match=r"holds 3 whole frame\(s\) but the header says 4"):
        src = CineSource(path)
    np.testing.assert_array_equal(_read_all(src), _expected(vals[:3], 255))


def test_cine_zero_frames(tmp_path):
    path = tmp_path / "empty.cine"
    _write_cine(path, _frames(1, 4, 8, 8), count=0)
    with pytest.raises(InputError, match="no frames"):
        CineSource(path)


def test_open_camera_file_dispatch(tmp_path):
    assert open_camera_file(tmp_path / "movie.mp4") is None
    assert open_camera_file(tmp_path / "frames.npy") is None
    with pytest.raises(VideoReadError):
        open_camera_file(tmp_path / "absent.CINE")
