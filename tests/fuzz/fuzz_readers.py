#!/usr/bin/env python
"""Bounded fuzzing of vismic's frame readers (videos, images, ``.npy``, Photron and Phantom files).

Usage::

    python tests/fuzz/fuzz_readers.py --seconds 600            # what ``make fuzz`` runs
    python tests/fuzz/fuzz_readers.py --seconds 60 --engine atheris   # coverage-guided, if atheris is installed

Seeds are generated here (small valid files written with PyAV, Pillow, numpy and the camera-file
layouts); nothing is downloaded.  Each execution mutates one file of a seed (bit flips, interesting
integers, truncation, chunk deletion/duplication/insertion, splices, header-number edits), opens it
with :func:`vismic.io.open_source`, reads every frame, checks the frames (float32, finite, of the
declared size and count), and now and then runs the whole :func:`vismic.pipeline.recover` on it.

An execution *passes* when it ends normally or with a :class:`vismic.errors.VismicError`; warnings
are fine.  Anything else is a finding:

* another exception, a non-``UserWarning`` warning, or a broken frame invariant: the input is
  saved under ``tests/fuzz/regressions/<target>-<hash>/`` (files + ``meta.json`` with the
  traceback), at most three per distinct signature;
* a hang (one execution over ``--timeout`` seconds) or a hard crash of the interpreter: the
  worker process dies, and the parent saves the input it was running.

The parent runs the fuzzing in a worker process (restarted after a hard crash) under an address
space limit, so a runaway allocation becomes a ``MemoryError`` finding instead of an OOM kill.
It prints a JSON summary (executions and outcomes per target, findings, slowest execution) and
exits 1 if anything was found.  ``tests/test_reliability.py`` replays every saved regression.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE / "regressions"
TARGETS = ("video", "image", "npy", "photron", "cine")

# --------------------------------------------------------------------------------------------- seeds


@dataclass
class Case:
    """One input: the files to write into a folder, the path to open, and which files may be mutated."""

    target: str
    name: str
    files: dict[str, bytes]
    open_name: str
    mutable: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.mutable:
            self.mutable = tuple(self.files)


def texture_frames(n: int = 12, rows: int = 24, cols: int = 24, *, seed: int = 0, peak: int = 255) -> np.ndarray:
    """``n`` frames of a random texture drifting by a pixel every few frames (integers in [0, peak])."""
    rng = np.random.default_rng(seed)
    base = rng.random((rows + 8, cols + 8))
    out = np.empty((n, rows, cols), dtype=np.float64)
    for i in range(n):
        dx = (i // 3) % 4
        out[i] = base[4 : 4 + rows, dx : dx + cols]
    return np.rint(out * peak)


def _encode_video(fmt: str, codec: str, pix: str, frames: np.ndarray, *, rate: int = 1000, deep: bool = False) -> bytes:
    import av

    buf = io.BytesIO()
    c = av.open(buf, "w", format=fmt)
    s = c.add_stream(codec, rate=rate)
    s.width, s.height = frames.shape[2], frames.shape[1]
    s.pix_fmt = pix
    for i, f in enumerate(frames):
        if deep:
            vf = av.VideoFrame.from_ndarray(f.astype(np.uint16), format="gray16le")
        else:
            vf = av.VideoFrame.from_ndarray(np.repeat(f.astype(np.uint8)[..., None], 3, axis=2), format="rgb24")
        if vf.format.name != pix:
            vf = vf.reformat(format=pix)
        vf.pts = i
        for p in s.encode(vf):
            c.mux(p)
    for p in s.encode(None):
        c.mux(p)
    c.close()
    return buf.getvalue()


VIDEO_SEEDS = (
    # (name, container format, codec, pixel format, 16-bit input)
    ("ffv1-gray.mkv", "matroska", "ffv1", "gray", False),
    ("ffv1-gray16.nut", "nut", "ffv1", "gray16le", True),
    ("ffv1-yuv420.avi", "avi", "ffv1", "yuv420p", False),
    ("h264.mp4", "mp4", "libx264", "yuv420p", False),
    ("mjpeg.avi", "avi", "mjpeg", "yuvj420p", False),
    ("png-gray16be.mov", "mov", "png", "gray16be", True),
    ("png-ya8.mov", "mov", "png", "ya8", False),
    ("mpeg4.avi", "avi", "mpeg4", "yuv420p", False),
    ("vp9.webm", "webm", "libvpx-vp9", "yuv420p", False),
    ("prores10.mov", "mov", "prores", "yuv422p10le", False),
    ("qtrle-rgb555.mov", "mov", "qtrle", "rgb555be", False),
    ("tiff-rgb48.mov", "mov", "tiff", "rgb48le", True),
    ("raw.y4m", "yuv4mpegpipe", "rawvideo", "gray", False),
)


def video_seeds() -> list[Case]:
    from PIL import Image

    out = []
    for name, fmt, codec, pix, deep in VIDEO_SEEDS:
        frames = texture_frames(12, 24, 24, seed=len(out), peak=65535 if deep else 255)
        try:
            data = _encode_video(fmt, codec, pix, frames, deep=deep)
        except Exception:  # an encoder missing from this PyAV build: skip that seed
            continue
        out.append(Case("video", name, {name: data}, name))
    frames = texture_frames(12, 24, 24, seed=99).astype(np.uint8)
    buf = io.BytesIO()
    ims = [Image.fromarray(f).convert("P") for f in frames]
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=10, loop=0)
    out.append(Case("video", "pal8.gif", {"pal8.gif": buf.getvalue()}, "pal8.gif"))
    return out


IMAGE_SEEDS = (
    # (name, extension, Pillow mode, dtype peak)
    ("png-L", ".png", "L", 255),
    ("png-I16", ".png", "I;16", 65535),
    ("png-RGB", ".png", "RGB", 255),
    ("png-P", ".png", "P", 255),
    ("png-LA", ".png", "LA", 255),
    ("tif-F", ".tif", "F", 1),
    ("tif-I16", ".tif", "I;16", 65535),
    ("bmp-RGB", ".bmp", "RGB", 255),
    ("jpg-L", ".jpg", "L", 255),
    ("pgm-16", ".pgm", "I", 65535),
    ("ppm-RGB", ".ppm", "RGB", 255),
    ("tif-CMYK", ".tif", "CMYK", 255),
)


def _image_bytes(frame: np.ndarray, ext: str, mode: str) -> bytes:
    from PIL import Image

    if mode == "F":
        im = Image.fromarray(frame.astype(np.float32) / 255.0, mode="F")
    elif mode in ("I;16", "I"):
        im = Image.fromarray(frame.astype(np.uint16))
        if mode == "I":
            im = im.convert("I")
    else:
        im = Image.fromarray(frame.astype(np.uint8)).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format={".png": "PNG", ".tif": "TIFF", ".bmp": "BMP", ".jpg": "JPEG", ".pgm": "PPM",
                         ".ppm": "PPM"}[ext])
    return buf.getvalue()


def image_seeds() -> list[Case]:
    out = []
    for k, (name, ext, mode, peak) in enumerate(IMAGE_SEEDS):
        frames = texture_frames(10, 20, 24, seed=100 + k, peak=255 if peak == 1 else peak)
        files = {f"seq/f{i:03d}{ext}": _image_bytes(f, ext, mode) for i, f in enumerate(frames)}
        out.append(Case("image", name, files, "seq"))
    return out


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def npy_seeds() -> list[Case]:
    f = texture_frames(12, 16, 20, seed=7)
    arrays = {
        "u1.npy": f.astype(np.uint8),
        "u2.npy": (f * 257).astype(np.uint16),
        "f4.npy": (f / 255).astype(np.float32),
        "f8-be.npy": (f / 255).astype(">f8"),
        "i8.npy": f.astype(np.int64),
        "rgb.npy": np.repeat(f.astype(np.uint8)[..., None], 3, axis=3),
        "fortran.npy": np.asfortranarray((f / 255).astype(np.float32)),
    }
    return [Case("npy", k, {k: _npy_bytes(v)}, k) for k, v in arrays.items()]


def pack12(vals: np.ndarray) -> bytes:
    """Two 12-bit pixels in three bytes, most significant bits first (Photron MRAW, Phantom P12L)."""
    v = vals.astype(np.uint32).reshape(-1, 2)
    word = (v[:, 0] << 12) | v[:, 1]
    return np.stack([(word >> 16) & 0xFF, (word >> 8) & 0xFF, word & 0xFF], axis=1).astype(np.uint8).tobytes()


def pack10(vals: np.ndarray) -> bytes:
    """Four 10-bit pixels in five bytes, most significant bits first (Phantom P10)."""
    v = vals.astype(np.uint64).reshape(-1, 4)
    word = (v[:, 0] << 30) | (v[:, 1] << 20) | (v[:, 2] << 10) | v[:, 3]
    out = np.stack([(word >> np.uint64(8 * k)) & np.uint64(0xFF) for k in (4, 3, 2, 1, 0)], axis=1)
    return out.astype(np.uint8).tobytes()


def photron_files(vals: np.ndarray, bits: int, *, header: str = ".cih", rate: float = 20000, step: int = 1,
                  color: str = "Mono", total: int | None = None) -> dict[str, bytes]:
    """``rec.cih``/``rec.cihx`` + ``rec.mraw`` holding ``vals`` (n, rows, cols)."""
    n, rows, cols = vals.shape
    data = vals.astype(np.uint8).tobytes() if bits == 8 else (
        vals.astype("<u2").tobytes() if bits == 16 else pack12(vals))
    total = n if total is None else total
    fields = {
        "Camera Type": "FASTCAM FUZZ", "Record Rate(fps)": f"{rate:g}", "Shutter Speed(s)": "1/40000",
        "Total Frame": str(total), "Image Width": str(cols), "Image Height": str(rows), "Color Type": color,
        "Color Bit": str(bits), "File Format": "MRaw", "EffectiveBit Depth": str(bits),
        "EffectiveBit Side": "Lower", "Save Step": str(step),
    }
    if header == ".cih":
        text = "#Camera Information Header\n" + "".join(f"{k} : {v}\n" for k, v in fields.items()) + "END\n"
        hdr = text.encode()
    else:
        hdr = (
            b"\x00\x07\xffPHOTRON-BIN\x00<cih><deviceInfo><deviceName>FASTCAM FUZZ</deviceName></deviceInfo>"
            + f"<recordInfo><recordRate>{rate:g}</recordRate><shutterSpeed>40000</shutterSpeed></recordInfo>"
              f"<frameInfo><totalFrame>{total}</totalFrame><skipFrame>{step}</skipFrame></frameInfo>"
              f"<imageDataInfo><resolution><width>{cols}</width><height>{rows}</height></resolution>"
              f"<colorInfo><type>{color}</type><bit>{bits}</bit></colorInfo>"
              f"<effectiveBit><depth>{bits}</depth><side>Lower</side></effectiveBit></imageDataInfo>"
              "<imageFileInfo><fileFormat>MRaw</fileFormat></imageFileInfo></cih>".encode()
        )
    return {"rec" + header: hdr, "rec.mraw": data}


def photron_seeds() -> list[Case]:
    out = []
    for k, (bits, header, step) in enumerate(((8, ".cih", 1), (12, ".cih", 2), (16, ".cihx", 1), (12, ".cihx", 1))):
        vals = texture_frames(12, 16, 20, seed=200 + k, peak=2**bits - 1)
        files = photron_files(vals, bits, header=header, step=step)
        opener = "rec.mraw" if k % 2 else "rec" + header
        out.append(Case("photron", f"photron-{bits}bit{header}", files, opener))
    return out


_SETUP_LEN = 5744


def cine_bytes(vals: np.ndarray, *, bits: int = 8, packing: str | None = None, real_bpp: int | None = None,
               rate: int = 4000, bottom_up: bool = True, timestamps: bool = False, cfa: int = 0) -> bytes:
    """A monochrome Phantom ``.cine`` holding ``vals`` (n, rows, cols) (layout as in tests/test_camera.py)."""
    n, rows, cols = vals.shape
    if packing == "P10":
        frames, bi_comp, bit_count = [pack10(v) for v in vals], 256, 16
    elif packing == "P12L":
        frames, bi_comp, bit_count = [pack12(v) for v in vals], 1024, 16
    else:
        stored = vals[:, ::-1] if bottom_up else vals
        dt = np.uint8 if bits == 8 else np.dtype("<u2")
        frames, bi_comp, bit_count = [v.astype(dt).tobytes() for v in stored], 0, bits
    tagged = b""
    if timestamps:
        t = np.zeros((n, 2), dtype="<u4")
        t[:, 1] = 100
        t[:, 0] = (np.arange(n) * (2**32 // rate)).astype(np.uint32)
        tagged = struct.pack("<IHH", 8 + 8 * n, 1002, 0) + t.tobytes()
    off_bi, off_setup = 44, 84
    off_offsets = off_setup + _SETUP_LEN + len(tagged)
    pos = off_offsets + 8 * n
    offsets, blob = [], bytearray()
    for fb in frames:
        offsets.append(pos)
        blob += struct.pack("<II", 8, len(fb)) + fb
        pos += 8 + len(fb)
    header = struct.pack("<2sHHHiIiIIIIQ", b"CI", 44, 0, 1, 0, n, 0, n, off_bi, off_setup, off_offsets, 0)
    bmp = struct.pack("<IiiHHIIiiII", 40, cols, rows if bottom_up else -rows, 1, bit_count, bi_comp,
                      len(frames[0]), 0, 0, 0, 0)
    setup = bytearray(_SETUP_LEN)
    struct.pack_into("<H", setup, 0, min(rate, 65535))
    struct.pack_into("2s", setup, 140, b"ST")
    struct.pack_into("<H", setup, 142, _SETUP_LEN)
    struct.pack_into("<I", setup, 768, rate)
    struct.pack_into("<I", setup, 808, cfa)
    struct.pack_into("<I", setup, 896, real_bpp or 0)
    struct.pack_into("<I", setup, 1568, 20000)
    return header + bmp + bytes(setup) + tagged + struct.pack(f"<{n}q", *offsets) + bytes(blob)


def cine_seeds() -> list[Case]:
    specs = (
        ("cine-8.cine", dict(bits=8), 8),
        ("cine-8-topdown-ts.cine", dict(bits=8, bottom_up=False, timestamps=True), 8),
        ("cine-16-12.cine", dict(bits=16, real_bpp=12), 12),
        ("cine-p10.cine", dict(packing="P10", real_bpp=10), 10),
        ("cine-p12l.cine", dict(packing="P12L", real_bpp=12), 12),
    )
    out = []
    for k, (name, kw, store_bits) in enumerate(specs):
        vals = texture_frames(12, 16, 20, seed=300 + k, peak=2**store_bits - 1)
        out.append(Case("cine", name, {name: cine_bytes(vals, **kw)}, name))
    return out


def all_seeds() -> list[Case]:
    return video_seeds() + image_seeds() + npy_seeds() + photron_seeds() + cine_seeds()


# --------------------------------------------------------------------------------------------- mutations

INTERESTING = (0, 1, 2, 7, 8, 255, 256, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 2**63 - 1, 2**64 - 1)
NUMBER_TEXT = (b"0", b"-1", b"1", b"inf", b"-inf", b"nan", b"1e308", b"99999999999999999999", b"", b"abc",
               b"65536", b"4294967296", b"0.5", b"1/0", b"16384", b"100000")


def _chunk(rng: random.Random, n: int) -> tuple[int, int]:
    i = rng.randrange(n)
    return i, min(n, i + rng.choice((1, 2, 4, 8, 16, 64, 512)))


def _near(rng: random.Random, n: int) -> int:
    """An offset, in the first 2 KiB (headers) more often than not."""
    return rng.randrange(min(n, 2048)) if rng.random() < 0.6 else rng.randrange(n)


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to four stacked random mutations of ``data`` (header regions are favoured)."""
    d = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        n = len(d)
        op = rng.randrange(11)
        if n == 0:
            d = bytearray(rng.randbytes(rng.randrange(1, 64)))
            continue
        if op == 0:  # flip bits
            for _ in range(rng.randint(1, 8)):
                i = _near(rng, n)
                d[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # interesting integer, any width, either byte order
            width = rng.choice((1, 2, 4, 8))
            i = _near(rng, n)
            v = rng.choice(INTERESTING) % (1 << (8 * width))
            d[i : i + width] = v.to_bytes(width, rng.choice(("little", "big")))
        elif op == 2:  # truncate
            d = d[: rng.randrange(n)]
        elif op == 3:  # delete a chunk
            i, j = _chunk(rng, n)
            del d[i:j]
        elif op == 4:  # duplicate a chunk
            i, j = _chunk(rng, n)
            k = rng.randrange(n)
            d[k:k] = d[i:j]
        elif op == 5:  # insert random bytes
            k = _near(rng, n)
            d[k:k] = rng.randbytes(rng.choice((1, 4, 16, 256)))
        elif op == 6:  # overwrite with random bytes
            i, j = _chunk(rng, n)
            d[i:j] = rng.randbytes(j - i)
        elif op == 7 and others:  # splice with another seed
            o = rng.choice(others)
            if o:
                k = rng.randrange(n)
                d = d[:k] + o[rng.randrange(len(o)) :]
        elif op == 8:  # edit a number written as text (headers: .cih, .cihx, .npy, y4m, PPM)
            digits = [i for i in range(min(n, 8192)) if 48 <= d[i] <= 57]
            if digits:
                i = rng.choice(digits)
                j = i
                while j < n and (48 <= d[j] <= 57 or d[j] in b".e-+"):
                    j += 1
                d[i:j] = rng.choice(NUMBER_TEXT)
        elif op == 9:  # zero a chunk
            i, j = _chunk(rng, n)
            d[i:j] = bytes(j - i)
        else:  # set one byte to an extreme
            d[_near(rng, n)] = rng.choice((0, 0xFF, 0x7F, 0x80))
    return bytes(d)


# --------------------------------------------------------------------------------------------- one execution


class Finding(Exception):
    """A broken invariant or an unexpected warning (not an exception the reader raised)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def write_case(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def run_one(folder: Path, open_name: str, *, pipeline: bool = False) -> str:
    """Open, read and check one input in ``folder``; return the outcome's name.

    Returns ``"ok"`` or the :class:`VismicError` subclass raised; raises anything else (a finding).
    """
    from vismic.errors import VismicError
    from vismic.io import open_source

    path = str(folder / open_name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = "ok"
        try:
            src = open_source(path)
        except VismicError as exc:
            outcome = type(exc).__name__
        else:
            try:
                rows, cols = src.shape
                if not (isinstance(rows, int) and isinstance(cols, int) and rows > 0 and cols > 0):
                    raise Finding(f"bad shape {src.shape!r}")
                if src.n_frames is not None and (not isinstance(src.n_frames, int) or src.n_frames < 0):
                    raise Finding(f"bad n_frames {src.n_frames!r}")
                hr = src.header_rate
                if hr is not None and not (np.isfinite(hr) and hr > 0):
                    raise Finding(f"bad header_rate {hr!r}")
                src.describe()
                n = 0
                for b in src.iter_batches(batch=5):
                    if not isinstance(b, np.ndarray) or b.dtype != np.float32 or b.ndim != 3:
                        raise Finding(f"batch is not a float32 (n, rows, cols) array: {getattr(b, 'shape', b)!r}")
                    if b.shape[1:] != (rows, cols) or not 1 <= len(b) <= 5:
                        raise Finding(f"batch shape {b.shape} for frames {rows}x{cols}")
                    if not np.all(np.isfinite(b)):
                        raise Finding("non-finite values in a batch")
                    n += len(b)
                exact = src.kind in ("npy", "photron", "cine")
                if exact and n != src.n_frames:
                    raise Finding(f"read {n} frames, the source says {src.n_frames}")
                if src.kind == "images" and n > src.n_frames:
                    raise Finding(f"read {n} frames from {src.n_frames} files")
            except VismicError as exc:
                outcome = type(exc).__name__
            finally:
                src.close()
        if pipeline and outcome == "ok":
            from vismic.pipeline import RecoveryParams, recover

            try:
                recover(path, RecoveryParams(fps=1000.0, batch=4, orientations=2))
                outcome = "ok+recover"
            except VismicError as exc:
                outcome = "ok+" + type(exc).__name__
    odd = [w for w in caught if w.category is not UserWarning]
    if odd:
        w = odd[0]
        raise Finding(f"unexpected {w.category.__name__}: {w.message} ({w.filename}:{w.lineno})",
                      where=f"{Path(w.filename).name}:{w.lineno}")
    return outcome


def signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside vismic (else the innermost frame)."""
    if isinstance(exc, Finding):
        return f"Finding@{exc.where or '?'} {str(exc)[:70]}"
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "vismic" in f.filename and "fuzz_readers" not in f.filename] or tb[-1:]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__}@{where}"


def save_regression(folder: Path, case: Case, open_name: str, kind: str, detail: str) -> Path:
    """Copy the input in ``folder`` to tests/fuzz/regressions/<target>-<hash>/ with a meta.json."""
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    dest = REGRESSIONS / f"{case.target}-{h.hexdigest()[:12]}"
    if dest.exists():
        return dest
    shutil.copytree(folder, dest / "files")
    meta = {"target": case.target, "seed": case.name, "open": open_name, "kind": kind, "detail": detail,
            "found": time.strftime("%Y-%m-%d")}
    (dest / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return dest


# --------------------------------------------------------------------------------------------- engines


def _limit_memory(gib: float) -> None:
    try:
        import resource

        lim = int(gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    except (ImportError, ValueError, OSError):
        pass


def worker(args: argparse.Namespace) -> int:
    """Fuzz until ``args.until`` (a time.time() deadline); print cumulative stats as JSON lines."""
    _limit_memory(args.memory_gib)
    rng = random.Random(args.seed)
    seeds = all_seeds()
    by_target = {t: [c for c in seeds if c.target == t] for t in TARGETS}
    targets = [t for t in (args.targets or TARGETS) if by_target.get(t)]
    work = Path(args.work)
    cur = work / "current"
    hang_log = open(work / "hang.txt", "w")  # noqa: SIM115 - kept open for faulthandler
    # C libraries and Cython callbacks print tracebacks straight to fd 2: collect them to catch those too
    err_path = work / "stderr.txt"
    err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(err_fd, 2)
    err_seen = 0
    stats: dict = {"execs": Counter(), "outcomes": {t: Counter() for t in targets}, "findings": [],
                   "slowest_s": 0.0, "slowest": None}
    seen: Counter = Counter()
    last = 0.0
    while time.time() < args.until:
        target = rng.choice(targets)
        case = rng.choice(by_target[target])
        files = dict(case.files)
        victim = rng.choice(case.mutable)
        others = [c.files[next(iter(c.files))] for c in by_target[target]]
        files[victim] = mutate(files[victim], rng, others)
        open_name = case.open_name
        if cur.exists():
            shutil.rmtree(cur)
        cur.mkdir(parents=True)
        write_case(cur, files)
        (work / "current.json").write_text(json.dumps({"target": target, "seed": case.name, "open": open_name}))
        pipeline = rng.random() < args.pipeline_rate
        faulthandler.dump_traceback_later(args.timeout, exit=True, file=hang_log)
        t0 = time.perf_counter()
        try:
            outcome = run_one(cur, open_name, pipeline=pipeline)
            sys.stderr.flush()
            size = err_path.stat().st_size
            if size > err_seen:
                with open(err_path, "rb") as fh:
                    fh.seek(err_seen)
                    text = fh.read(size - err_seen).decode("utf-8", "replace")
                err_seen = size
                if "Traceback" in text or "Exception ignored" in text:
                    raise Finding(f"printed a traceback on stderr: {text.strip()[-300:]}", where="stderr")
        except Exception as exc:  # a finding
            sig = signature(exc)
            outcome = "FINDING"
            seen[sig] += 1
            if seen[sig] <= 3:
                dest = save_regression(cur, case, open_name, "exception",
                                       f"{sig}\n{''.join(traceback.format_exception(exc))}")
                stats["findings"].append({"signature": sig, "saved": str(dest.relative_to(HERE.parent.parent))})
        finally:
            faulthandler.cancel_dump_traceback_later()
        dt = time.perf_counter() - t0
        if dt > stats["slowest_s"]:
            stats["slowest_s"], stats["slowest"] = round(dt, 3), f"{target}:{case.name}"
        stats["execs"][target] += 1
        stats["outcomes"][target][outcome] += 1
        if time.time() - last > 2.0:
            print(json.dumps(stats), flush=True)
            last = time.time()
    print(json.dumps(stats), flush=True)
    return 0


def atheris_engine(args: argparse.Namespace) -> int:  # pragma: no cover - optional dependency
    """Coverage-guided fuzzing of the Python reader code with atheris (libFuzzer) in this process.

    The first input byte picks a seed case; the rest replaces one file of it.  Stops after
    ``--seconds`` (libFuzzer's ``-max_total_time``).  Findings are saved like the built-in engine's.
    """
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install atheris (optional), or use --engine builtin", file=sys.stderr)
        return 2
    _limit_memory(args.memory_gib)
    seeds = [c for c in all_seeds() if not args.targets or c.target in args.targets]
    work = Path(tempfile.mkdtemp(prefix="vismic-atheris-"))
    corpus = work / "corpus"
    corpus.mkdir()
    for i, c in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(bytes([i]) + c.files[c.mutable[0]])
    with atheris.instrument_imports():
        import vismic.io  # noqa: F401
        import vismic.io.camera  # noqa: F401
        import vismic.io.images  # noqa: F401
        import vismic.io.video  # noqa: F401

    def one(data: bytes) -> None:
        if not data:
            return
        case = seeds[data[0] % len(seeds)]
        files = dict(case.files)
        files[case.mutable[0]] = data[1:]
        cur = work / "current"
        if cur.exists():
            shutil.rmtree(cur)
        cur.mkdir()
        write_case(cur, files)
        try:
            run_one(cur, case.open_name)
        except Exception as exc:
            save_regression(cur, case, case.open_name, "exception",
                            f"{signature(exc)}\n{''.join(traceback.format_exception(exc))}")
            raise

    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={int(args.seconds)}",
                   f"-timeout={int(args.timeout)}", "-rss_limit_mb=0", "-print_final_stats=1"], one)
    atheris.Fuzz()
    return 0


def parent(args: argparse.Namespace) -> int:
    """Run workers until the time budget is spent; restart after hard crashes; summarise."""
    start = time.time()
    until = start + args.seconds
    work = Path(tempfile.mkdtemp(prefix="vismic-fuzz-"))
    totals: dict = {"execs": Counter(), "outcomes": {}, "findings": [], "slowest_s": 0.0, "slowest": None,
                    "crashes_or_hangs": []}
    restarts = 0
    try:
        while time.time() < until - 1:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--work", str(work),
                   "--until", repr(until), "--seed", str(args.seed + restarts), "--timeout", str(args.timeout),
                   "--pipeline-rate", str(args.pipeline_rate), "--memory-gib", str(args.memory_gib)]
            if args.targets:
                cmd += ["--targets", *args.targets]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            last = None
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("{"):
                    last = json.loads(line)
            err = proc.stderr.read() if proc.stderr else ""
            rc = proc.wait()
            if last:
                for t, n in last["execs"].items():
                    totals["execs"][t] += n
                for t, oc in last["outcomes"].items():
                    totals["outcomes"].setdefault(t, Counter()).update(oc)
                totals["findings"] += last["findings"]
                if last["slowest_s"] > totals["slowest_s"]:
                    totals["slowest_s"], totals["slowest"] = last["slowest_s"], last["slowest"]
            if rc != 0:
                restarts += 1
                meta = json.loads((work / "current.json").read_text()) if (work / "current.json").exists() else {}
                hang = (work / "hang.txt").read_text() if (work / "hang.txt").exists() else ""
                if (work / "stderr.txt").exists():
                    err += (work / "stderr.txt").read_text(errors="replace")[-4000:]
                case = Case(meta.get("target", "unknown"), meta.get("seed", "?"), {"x": b""}, meta.get("open", ""))
                kind = "hang" if "Timeout" in hang else f"died (exit {rc})"
                dest = save_regression(work / "current", case, meta.get("open", ""), kind, (hang + err)[-4000:])
                totals["crashes_or_hangs"].append({"kind": kind, "saved": str(dest.relative_to(HERE.parent.parent))})
                if restarts > 50:
                    break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    execs = sum(totals["execs"].values())
    summary = {
        "seconds": round(time.time() - start, 1),
        "executions": execs,
        "per_target": dict(totals["execs"]),
        "outcomes": {t: dict(c.most_common()) for t, c in totals["outcomes"].items()},
        "findings": totals["findings"],
        "crashes_or_hangs": totals["crashes_or_hangs"],
        "slowest_execution_s": totals["slowest_s"],
        "slowest": totals["slowest"],
        "worker_restarts": restarts,
    }
    text = json.dumps(summary, indent=1)
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n")
    return 1 if totals["findings"] or totals["crashes_or_hangs"] else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the built-in engine")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds after which one execution is a hang")
    p.add_argument("--targets", nargs="*", choices=TARGETS, help="readers to fuzz (default: all)")
    p.add_argument("--pipeline-rate", type=float, default=0.1,
                   help="share of executions that also run recover() on inputs that read (default 0.1)")
    p.add_argument("--memory-gib", type=float, default=8.0, help="address-space limit of the worker (GiB)")
    p.add_argument("--engine", choices=("builtin", "atheris"), default="builtin")
    p.add_argument("--report", help="also write the JSON summary here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--until", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.engine == "atheris":
        return atheris_engine(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
