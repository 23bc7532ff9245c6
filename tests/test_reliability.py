"""Never crash, never lose work (issue 6): a bad-input corpus made here, output faults, Ctrl-C, and
the replay of every crash file the fuzzer found (tests/fuzz/regressions/).

Every bad input must end in exactly one ``vismic: error:`` line and exit status 2 with no output
left behind, or, where only part of the input is bad (a truncated tail), in a recovery of the good
part with a warning giving the number of frames actually used.  Every output is either complete
and correct or absent.  docs/reliability.md lists what is covered and the counts.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import warnings
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_scene
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vismic import simulate as sim
from vismic.cli import main
from vismic.errors import InputError, OutputError, ParameterError, VideoReadError, VismicError
from vismic.io import open_source

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import fuzz_readers as fz  # noqa: E402

RATE = 2200.0
N = 110  # frames of the base clips (0.05 s at 2200 fps)
OUTPUT_SUFFIXES = (".wav", ".json", ".png")
REGRESSION_DIRS = sorted(p for p in (fz.REGRESSIONS.iterdir() if fz.REGRESSIONS.is_dir() else []) if
                         (p / "meta.json").is_file())


# ----------------------------------------------------------------------------------------- helpers


def _scene(n_frames=N, shape=(48, 48), seed=3, rms=0.05):
    return make_scene(rate=RATE, duration=n_frames / RATE, shape=shape, seed=seed, rms=rms, sound="melody", sigma=0.5)


def _frames(scene) -> np.ndarray:
    return np.concatenate(list(scene.frames(batch=256)))


def _write_av(path, frames, *, codec="ffv1", pix="gray", fmt=None, times=None, options=None, rate=1000,
              tb=None, deep=False, codec_options=None):
    """Frames through PyAV with any codec / pixel format / timestamps (the simulator's writer is stricter)."""
    from fractions import Fraction

    import av

    c = av.open(str(path), "w", format=fmt, options=options or {})
    s = c.add_stream(codec, rate=rate, options=codec_options or {})
    s.width, s.height = frames.shape[2], frames.shape[1]
    s.pix_fmt = pix
    if tb is not None:
        s.time_base = Fraction(tb)
    for i, f in enumerate(frames):
        if deep:
            vf = av.VideoFrame.from_ndarray(f.astype(np.uint16), format="gray16le")
        else:
            vf = av.VideoFrame.from_ndarray(np.repeat(f.astype(np.uint8)[..., None], 3, axis=2), format="rgb24")
        if vf.format.name != pix:
            vf = vf.reformat(format=pix)
        vf.pts = i if times is None else int(times[i])
        if tb is not None:
            vf.time_base = Fraction(tb)
        for p in s.encode(vf):
            c.mux(p)
    for p in s.encode(None):
        c.mux(p)
    c.close()
    return path


def _run(args, capsys):
    """``main(args)`` as a user runs it: vismic's warnings print as ``vismic: warning:`` lines on stderr
    (asserted on below); any other warning stays an error, as in the rest of the suite."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("always", UserWarning)
        code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _recover(inp, outdir: Path, capsys, *args, fps=RATE):
    outdir.mkdir(parents=True, exist_ok=True)
    extra = ["--fps", fps] if fps is not None else []
    return _run(["recover", inp, "-o", outdir / "out.wav", "--quiet", "--orientations", 2, *extra, *args], capsys)


def _leftovers(folder: Path) -> list[str]:
    """Outputs or temp files in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(OUTPUT_SUFFIXES) or p.name.startswith(".vismic"))


def _assert_clean_lines(err: str) -> None:
    assert "Traceback" not in err, err
    stray = [ln for ln in err.splitlines() if ln and not ln.startswith(("vismic: error:", "vismic: warning:"))]
    assert not stray, err


def assert_refused(result, outdir: Path, needle: str | None = None) -> str:
    """Exit 2, exactly one ``vismic: error:`` line (containing ``needle``), nothing written."""
    code, _, err = result
    _assert_clean_lines(err)
    errors = [ln for ln in err.splitlines() if ln.startswith("vismic: error:")]
    assert code == 2 and len(errors) == 1, err
    if needle is not None:
        assert needle.lower() in errors[0].lower(), errors[0]
    assert _leftovers(outdir) == [], _leftovers(outdir)
    return errors[0]


def assert_recovered(result, outdir: Path) -> dict:
    """Exit 0, no error line, a complete and consistent set of outputs; returns the sidecar.

    Whenever fewer frames were used than the input holds, a warning must say how many were used.
    """
    code, _, err = result
    _assert_clean_lines(err)
    assert code == 0 and "vismic: error" not in err, err
    side = json.loads((outdir / "out.json").read_text())
    wav, sr = sf.read(outdir / "out.wav")
    used = side["input"]["frames_used"]
    assert len(wav) == side["n_samples"] == used and sr == round(side["rate"])
    assert np.all(np.isfinite(wav)) and np.max(np.abs(wav)) <= 1.0
    assert sf.info(str(outdir / "out.listen.wav")).frames > 0
    assert not [p for p in _leftovers(outdir) if p.startswith(".vismic")]
    return side


def _used_from_warning(err: str) -> int | None:
    m = re.findall(r"using the (\d+) (?:whole )?frame\(s\)", err)
    return int(m[-1]) if m else None


def assert_refused_or_recovered(result, outdir: Path, total: int, *, cut: bool = True) -> str:
    """Either outcome is fine for a damaged input, as long as it is clean.  For a truncated file
    (``cut``), fewer frames than ``total`` used must come with a warning giving the count; flipped
    bytes can make a demuxer skip a frame while resynchronising, which no container can reveal."""
    code, _, err = result
    if code == 2:
        assert_refused(result, outdir)
        return "refused"
    side = assert_recovered(result, outdir)
    used = side["input"]["frames_used"]
    if used < total:
        warned = _used_from_warning(err)
        if cut or warned is not None:
            assert warned == used, err
        return "recovered part" + ("" if warned is not None else " (no warning)")
    return "recovered"


# ----------------------------------------------------------------------------------------- base clips


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Clean clips of one rendered scene in every container, and the scene itself."""
    d = tmp_path_factory.mktemp("base")
    sc = _scene()
    paths = {}
    for ext in (".mkv", ".avi", ".nut", ".mp4", ".npy"):
        paths[ext] = d / f"clip{ext}"
        sim.render(sc, paths[ext], truth_path=d / f"clip{ext}.truth.wav")
    frames = _frames(sc)
    paths["faststart.mp4"] = _write_av(d / "faststart.mp4", frames, codec="libx264", options={"movflags": "faststart"},
                                       rate=int(RATE), codec_options={"qp": "0"})  # index first, as for streaming
    return {"paths": paths, "scene": sc, "frames": frames, "dir": d}


CONTAINERS = (".mkv", ".avi", ".nut", "faststart.mp4", ".mp4")


def test_base_clips_recover(base, tmp_path, capsys):
    for k in CONTAINERS:
        side = assert_recovered(_recover(base["paths"][k], tmp_path / k, capsys), tmp_path / k)
        assert side["input"]["frames_used"] == N


# ----------------------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("kind", [".mkv", ".avi", ".nut", "faststart.mp4"])
def test_truncated_tail_recovers_the_good_frames_and_says_how_many(base, tmp_path, capsys, kind):
    data = base["paths"][kind].read_bytes()
    cut = tmp_path / f"cut{Path(kind).suffix}"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    result = _recover(cut, tmp_path / "out", capsys)
    side = assert_recovered(result, tmp_path / "out")
    used = side["input"]["frames_used"]
    assert 8 <= used < N
    assert _used_from_warning(result[2]) == used, result[2]
    assert any(w for w in side["warnings"] if f"using the {used}" in w)


def test_truncated_mp4_without_its_index_is_refused(base, tmp_path, capsys):
    data = base["paths"][".mp4"].read_bytes()  # moov atom at the end: a cut file has no index
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert_refused(_recover(cut, tmp_path / "out", capsys), tmp_path / "out", "damaged")


@pytest.mark.parametrize("kind", CONTAINERS)
@pytest.mark.parametrize("k", range(6))
def test_video_cut_at_random_offsets(base, tmp_path, capsys, kind, k):
    data = base["paths"][kind].read_bytes()
    rng = np.random.default_rng(1000 * CONTAINERS.index(kind) + k)
    at = int(rng.integers(0, len(data)))
    cut = tmp_path / f"cut{Path(kind).suffix}"
    cut.write_bytes(data[:at])
    t0 = time.perf_counter()
    assert_refused_or_recovered(_recover(cut, tmp_path / "out", capsys), tmp_path / "out", N)
    assert time.perf_counter() - t0 < 60


@pytest.mark.parametrize("kind", CONTAINERS)
@pytest.mark.parametrize("where", ["header", "packets"])
@pytest.mark.parametrize("k", range(4))
def test_video_flipped_bytes(base, tmp_path, capsys, kind, where, k):
    data = bytearray(base["paths"][kind].read_bytes())
    rng = np.random.default_rng(7000 + 100 * CONTAINERS.index(kind) + 10 * k + (where == "packets"))
    lo, hi = (0, min(1024, len(data))) if where == "header" else (1024, len(data))
    for i in rng.integers(lo, hi, size=int(rng.integers(1, 6))):
        data[i] ^= 1 << int(rng.integers(8))
    bad = tmp_path / f"flipped{Path(kind).suffix}"
    bad.write_bytes(bytes(data))
    assert_refused_or_recovered(_recover(bad, tmp_path / "out", capsys), tmp_path / "out", N, cut=False)


@pytest.mark.slow
def test_video_corpus_extended(base, tmp_path, capsys):
    """The cut and flipped-byte corpus at 20x the default size (``make test-all``); prints the outcomes."""
    tally: dict[str, int] = {}
    for kind in CONTAINERS:
        data = base["paths"][kind].read_bytes()
        for k in range(120):
            rng = np.random.default_rng(50_000 + 1000 * CONTAINERS.index(kind) + k)
            how = ("cut", "header", "packets")[k % 3]
            d = bytearray(data)
            if how == "cut":
                d = d[: int(rng.integers(0, len(d)))]
            else:
                lo, hi = (0, min(1024, len(d))) if how == "header" else (1024, len(d))
                for i in rng.integers(lo, hi, size=int(rng.integers(1, 9))):
                    d[i] ^= 1 << int(rng.integers(8))
            bad = tmp_path / f"bad{Path(kind).suffix}"
            bad.write_bytes(bytes(d))
            out = tmp_path / f"out-{kind}-{k}"
            t0 = time.perf_counter()
            outcome = assert_refused_or_recovered(_recover(bad, out, capsys), out, N, cut=how == "cut")
            assert time.perf_counter() - t0 < 60
            key = f"{kind} {how}: {outcome}"
            tally[key] = tally.get(key, 0) + 1
    print(json.dumps(tally, indent=1, sort_keys=True))


def test_h264_damage_is_reported(base, tmp_path, capsys):
    """Flipped bytes in H.264 slices: the decoder conceals them and flags the frames; vismic says so."""
    data = bytearray(base["paths"]["faststart.mp4"].read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 400, 40):
        data[i] ^= 0x55
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    result = _recover(bad, tmp_path / "out", capsys)
    assert assert_refused_or_recovered(result, tmp_path / "out", N) != "refused"
    assert "damaged" in result[2]


# ----------------------------------------------------------------------------------------- degenerate files


def _zero_frame(path: Path, codec: str, pix: str) -> Path:
    import av

    c = av.open(str(path), "w")
    s = c.add_stream(codec, rate=1000)
    s.width, s.height, s.pix_fmt = 32, 32, pix
    c.start_encoding()
    c.close()
    return path


def _y4m(path: Path, w: int, h: int, frames: int = 0, payload: bytes = b"") -> Path:
    body = b"".join(b"FRAME\n" + bytes(range(256)) * (w * h // 256) + bytes(w * h % 256) for _ in range(frames))
    path.write_bytes(b"YUV4MPEG2 W%d H%d F2200:1 Ip A1:1 Cmono\n" % (w, h) + body + payload)
    return path


def _png_header_only(path: Path, w: int, h: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


DEGENERATE = {
    "zero-frame mkv": (lambda d, b: _zero_frame(d / "zero.mkv", "ffv1", "gray"), "empty or truncated"),
    "zero-frame mp4": (lambda d, b: _zero_frame(d / "zero.mp4", "libx264", "yuv420p"), "video"),
    "zero-frame y4m": (lambda d, b: _y4m(d / "zero.y4m", 32, 32), "no frames"),
    "one-frame mkv": (lambda d, b: _write_av(d / "one.mkv", b["frames"][:1]), "one frame"),
    "one-frame y4m": (lambda d, b: _y4m(d / "one.y4m", 32, 32, 1), "one frame"),
    "seven-frame mkv": (lambda d, b: _write_av(d / "seven.mkv", b["frames"][:7]), "at least 8"),
    "text named .mp4": (lambda d, b: _text(d / "notes.mp4", "this is not a video\n"), "not a video"),
    "empty .mp4": (lambda d, b: _text(d / "empty.mp4", ""), "video"),
    "random bytes .avi": (lambda d, b: _bytes(d / "noise.avi", np.random.default_rng(0).bytes(5000)), None),
    "png named .mp4": (lambda d, b: _png_as(d / "image.mp4", b["frames"][0]), "one frame"),
    "folder named .mp4": (lambda d, b: _folder(d / "dir.mp4"), None),
    "flat video": (lambda d, b: _write_av(d / "flat.mkv", np.full((20, 32, 32), 128.0)), "flat"),
}


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png_as(path: Path, frame: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(frame.astype(np.uint8)).save(path, format="PNG")
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_videos_are_refused(base, tmp_path, capsys, name):
    make, needle = DEGENERATE[name]
    inp = make(tmp_path, base)
    assert_refused(_recover(inp, tmp_path / "out", capsys), tmp_path / "out", needle)


# ----------------------------------------------------------------------------------------- huge declared sizes


def _npy_header_only(path: Path, shape) -> Path:
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": shape})
        fh.write(bytes(4096))
    return path


HUGE = {
    "y4m 60000x60000": lambda d: _y4m(d / "huge.y4m", 60000, 60000, payload=b"FRAME\n" + bytes(1000)),
    "y4m 16000x16000, no data": lambda d: _y4m(d / "big.y4m", 16000, 16000, payload=b"FRAME\n" + bytes(1000)),
    "png 100000x100000": lambda d: _png_seq_with(d, _png_header_only, 100000, 100000),
    "png 30000x30000": lambda d: _png_seq_with(d, _png_header_only, 30000, 30000),
    "npy (2, 100000, 100000)": lambda d: _npy_header_only(d / "huge.npy", (2, 100000, 100000)),
    "npy (10**12, 8, 8)": lambda d: _npy_header_only(d / "long.npy", (10**12, 8, 8)),
    "cih 1000000x1000": lambda d: _photron_with(d, width="1000000", height="1000"),
    "cih inf x 10": lambda d: _photron_with(d, width="inf", height="10"),
    "cine 2**30 x 2**20": lambda d: _cine_with(d, 2**30, 2**20),
}


def _png_seq_with(d: Path, maker, w, h) -> Path:
    seq = d / "seq"
    seq.mkdir()
    maker(seq / "f000.png", w, h)
    return seq


def _photron_with(d: Path, **over) -> Path:
    vals = fz.texture_frames(12, 16, 20, seed=1)
    files = fz.photron_files(vals, 8)
    text = files["rec.cih"].decode()
    text = text.replace("Image Width : 20", f"Image Width : {over['width']}")
    text = text.replace("Image Height : 16", f"Image Height : {over['height']}")
    files["rec.cih"] = text.encode()
    fz.write_case(d, files)
    return d / "rec.cih"


def _cine_with(d: Path, w: int, h: int) -> Path:
    data = bytearray(fz.cine_bytes(fz.texture_frames(12, 16, 20, seed=1)))
    struct.pack_into("<ii", data, 44 + 4, w, h)
    path = d / "huge.cine"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_declared_resolution_is_refused_at_once(tmp_path, capsys, name):
    inp = HUGE[name](tmp_path)
    t0 = time.perf_counter()
    assert_refused(_recover(inp, tmp_path / "out", capsys), tmp_path / "out")
    assert time.perf_counter() - t0 < 10


# ----------------------------------------------------------------------------------------- timing


def test_variable_frame_rate_video_is_used_with_a_warning(base, tmp_path, capsys):
    rng = np.random.default_rng(5)
    steps = np.where(rng.random(N - 1) < 0.15, 2, 1)  # a 30 fps phone clip dropping frames: intervals doubled
    times = np.rint(np.concatenate([[0], np.cumsum(steps)]) * 1000 / 30)
    vfr = _write_av(tmp_path / "vfr.mkv", base["frames"], times=times, rate=30, tb="1/1000")
    result = _recover(vfr, tmp_path / "out", capsys)
    side = assert_recovered(result, tmp_path / "out")
    assert side["input"]["frames_used"] == N
    assert "variable frame rate" in result[2]
    assert "truncated" not in result[2]


def test_quantised_timestamps_are_not_called_variable(base, tmp_path, capsys):
    """2200 fps in a container with millisecond ticks: timestamps 0,0,1,1,2,... are fine."""
    times = np.floor(np.arange(N) * 1000 / RATE)
    path = _write_av(tmp_path / "ms.mkv", base["frames"], times=times, rate=1000, tb="1/1000")
    result = _recover(path, tmp_path / "out", capsys)
    assert_recovered(result, tmp_path / "out")
    assert "variable" not in result[2]


# ----------------------------------------------------------------------------------------- image sequences


def _png_seq(folder: Path, frames: np.ndarray, mode="L", ext=".png") -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        if mode == "I;16":
            im = Image.fromarray(f.astype(np.uint16))
        elif mode == "I":
            im = Image.fromarray(f.astype(np.uint16)).convert("I")
        else:
            im = Image.fromarray(f.astype(np.uint8)).convert(mode)
        im.save(folder / f"frame_{i:04d}{ext}")
    return folder


def test_sequence_with_frames_of_different_sizes_is_refused(base, tmp_path, capsys):
    seq = _png_seq(tmp_path / "seq", base["frames"][:20])
    from PIL import Image

    Image.fromarray(base["frames"][0, :40, :44].astype(np.uint8)).save(seq / "frame_0010.png")
    assert_refused(_recover(seq, tmp_path / "out", capsys), tmp_path / "out", "same size")


def test_sequence_with_a_truncated_last_image_recovers_the_rest(base, tmp_path, capsys):
    seq = _png_seq(tmp_path / "seq", base["frames"][:40])
    last = seq / "frame_0039.png"
    last.write_bytes(last.read_bytes()[:200])
    result = _recover(seq, tmp_path / "out", capsys)
    side = assert_recovered(result, tmp_path / "out")
    assert side["input"]["frames_used"] == 39 == _used_from_warning(result[2])


def test_sequence_with_an_unreadable_first_image_is_refused(base, tmp_path, capsys):
    seq = _png_seq(tmp_path / "seq", base["frames"][:20])
    (seq / "frame_0000.png").write_text("not an image")
    assert_refused(_recover(seq, tmp_path / "out", capsys), tmp_path / "out", "not an image")


def test_sequence_of_text_files_named_png_is_refused(tmp_path, capsys):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(10):
        (seq / f"{i}.png").write_text("hello")
    assert_refused(_recover(seq, tmp_path / "out", capsys), tmp_path / "out")


# ----------------------------------------------------------------------------------------- 16-bit and colour


def _sixteen(frames):
    return np.rint(frames.astype(np.float64) * 257)  # 8-bit frames to the full 16-bit range


DEEP_AND_COLOUR = {
    # name: (writer(folder, frames8) -> path, expected full scale of the stored values, exact)
    "png 16-bit (I;16)": (lambda d, f: _png_seq(d / "s", _sixteen(f), "I;16"), 65535, True),
    "pgm 16-bit (mode I)": (lambda d, f: _png_seq(d / "s", _sixteen(f), "I", ".pgm"), 65535, True),
    "tif 16-bit": (lambda d, f: _png_seq(d / "s", _sixteen(f), "I;16", ".tif"), 65535, True),
    "png RGB": (lambda d, f: _png_seq(d / "s", f, "RGB"), 255, True),
    "png RGBA": (lambda d, f: _png_seq(d / "s", f, "RGBA"), 255, True),
    "png palette": (lambda d, f: _png_seq(d / "s", f, "P"), 255, False),
    "tif CMYK": (lambda d, f: _png_seq(d / "s", f, "CMYK", ".tif"), 255, False),
    "npy uint16": (lambda d, f: _save(d / "a.npy", _sixteen(f).astype(np.uint16)), 65535, True),
    "npy int64 0..255": (lambda d, f: _save(d / "a.npy", f.astype(np.int64)), 255, True),
    "npy RGB uint8": (lambda d, f: _save(d / "a.npy", np.repeat(f.astype(np.uint8)[..., None], 3, 3)), 255, True),
    "npy float32 big-endian": (lambda d, f: _save(d / "a.npy", (f / 255).astype(">f4")), 1, True),
    "ffv1 gray16le mkv": (lambda d, f: _write_av(d / "a.mkv", _sixteen(f), pix="gray16le", deep=True), 65535, True),
    "ffv1 yuv420p avi": (lambda d, f: _write_av(d / "a.avi", f, pix="yuv420p", fmt="avi"), 255, False),
    "h264 yuv420p mp4": (lambda d, f: _write_av(d / "a.mp4", f, codec="libx264", pix="yuv420p"), 255, False),
    "png gray16be mov": (lambda d, f: _write_av(d / "a.mov", _sixteen(f), codec="png", pix="gray16be", deep=True),
                         65535, True),
    "png ya8 mov": (lambda d, f: _write_av(d / "a.mov", f, codec="png", pix="ya8"), 255, True),
    "tiff rgb48le mov": (lambda d, f: _write_av(d / "a.mov", _sixteen(f), codec="tiff", pix="rgb48le", deep=True),
                         65535, True),
    "prores 10-bit mov": (lambda d, f: _write_av(d / "a.mov", f, codec="prores", pix="yuv422p10le"), 255, False),
}


def _save(path: Path, arr: np.ndarray) -> Path:
    np.save(path, arr)
    return path


@pytest.mark.parametrize("name", sorted(DEEP_AND_COLOUR))
def test_16bit_and_colour_inputs_read_right_and_recover(base, tmp_path, capsys, name):
    make, full, exact = DEEP_AND_COLOUR[name]
    frames8 = base["frames"][:40].astype(np.float64)
    path = make(tmp_path, frames8)
    stored = _sixteen(frames8) if full == 65535 else frames8
    with open_source(str(path)) as src:
        got = np.concatenate(list(src.iter_batches(batch=16)))
    assert got.shape == frames8.shape and got.dtype == np.float32
    if exact:
        np.testing.assert_allclose(got, stored / (full if full > 1 else 255), atol=1e-6)
    else:  # lossy codecs and video-range luma: the same picture up to a linear map and coding noise
        c = np.corrcoef(got.ravel(), stored.ravel())[0, 1]
        assert c > 0.98, c
    assert_recovered(_recover(path, tmp_path / "out", capsys), tmp_path / "out")


def test_16bit_sequence_recovers_the_true_motion(tmp_path, capsys):
    """A 16-bit PGM sequence (Pillow mode I, int32) used to read as flat; it must recover the sound."""
    sc = _scene(n_frames=220, seed=4)
    frames = _frames(sc).astype(np.float64)
    seq = _png_seq(tmp_path / "seq", _sixteen(frames), "I", ".pgm")
    side = assert_recovered(_recover(seq, tmp_path / "out", capsys), tmp_path / "out")
    wav, _ = sf.read(tmp_path / "out" / "out.wav")
    from vismic.denoise import highpass

    truth = highpass(sc.truth(), rate=RATE, cutoff=side["params"]["highpass"])
    assert abs(np.corrcoef(wav, truth)[0, 1]) > 0.9


# ----------------------------------------------------------------------------------------- npy values


@pytest.mark.parametrize(
    ("bad", "needle"),
    [(np.nan, "NaN"), (np.inf, "NaN or inf"), (-np.inf, "NaN or inf"), (1e30, "beyond"), (-1e20, "beyond")],
)
def test_non_finite_or_absurd_values_in_npy_are_refused(base, tmp_path, capsys, bad, needle):
    frames = (base["frames"][:30] / 255).astype(np.float32)
    frames[17, 5, 6] = bad
    path = _save(tmp_path / "bad.npy", frames)
    line = assert_refused(_recover(path, tmp_path / "out", capsys), tmp_path / "out", needle)
    assert "frame 17" in line


def test_nan_outside_the_roi_is_harmless(base, tmp_path, capsys):
    frames = (base["frames"][:30] / 255).astype(np.float32)
    frames[:, 0, 0] = np.nan
    path = _save(tmp_path / "nan.npy", frames)
    assert_recovered(_recover(path, tmp_path / "out", capsys, "--roi", "8,8,32,32"), tmp_path / "out")


def test_truncated_npy_recovers_whole_frames(base, tmp_path, capsys):
    data = base["paths"][".npy"].read_bytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(data[: int(len(data) * 0.55)])
    result = _recover(cut, tmp_path / "out", capsys)
    side = assert_recovered(result, tmp_path / "out")
    assert 8 <= side["input"]["frames_used"] < N
    assert _used_from_warning(result[2]) == side["input"]["frames_used"]


def test_npy_of_wrong_kinds_is_refused(tmp_path, capsys):
    cases = {
        "2d.npy": np.zeros((10, 10)),
        "complex.npy": np.zeros((10, 8, 8), complex),
        "bool.npy": np.zeros((10, 8, 8), bool),
        "empty-frames.npy": np.zeros((10, 0, 8)),
        "no-channels.npy": np.zeros((10, 8, 8, 0)),
        "5d.npy": np.zeros((2, 2, 8, 8, 3)),
    }
    for name, arr in cases.items():
        path = _save(tmp_path / name, arr)
        assert_refused(_recover(path, tmp_path / f"out-{name}", capsys), tmp_path / f"out-{name}")
    (tmp_path / "obj.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"
                                       .ljust(128, b" ")[:127] + b"\n" + bytes(24))
    assert_refused(_recover(tmp_path / "obj.npy", tmp_path / "out-obj", capsys), tmp_path / "out-obj")


# ----------------------------------------------------------------------------------------- camera files


@pytest.fixture
def photron(base, tmp_path):
    vals = np.clip(base["frames"][:40], 0, 255)
    fz.write_case(tmp_path / "cam", fz.photron_files(vals, 8, rate=RATE))
    return tmp_path / "cam"


def test_mraw_without_cih_is_refused(photron, tmp_path, capsys):
    (photron / "rec.cih").unlink()
    assert_refused(_recover(photron / "rec.mraw", tmp_path / "out", capsys, fps=None), tmp_path / "out", "header")


@pytest.mark.parametrize("header", ["rec.cih", "rec.cihx"])
def test_cih_without_mraw_is_refused(photron, tmp_path, capsys, header):
    if header == "rec.cihx":
        (photron / "rec.cih").rename(photron / "rec.cihx")
    (photron / "rec.mraw").unlink()
    assert_refused(_recover(photron / header, tmp_path / "out", capsys, fps=None), tmp_path / "out", ".mraw")


def test_truncated_mraw_recovers_whole_frames(photron, tmp_path, capsys):
    mraw = photron / "rec.mraw"
    mraw.write_bytes(mraw.read_bytes()[: 48 * 48 * 25 + 100])
    result = _recover(photron / "rec.cih", tmp_path / "out", capsys, fps=None)
    side = assert_recovered(result, tmp_path / "out")
    assert side["input"]["frames_used"] == 25 == _used_from_warning(result[2])
    assert side["input"]["rate_source"] == "camera header"


def test_truncated_cine_recovers_whole_frames(base, tmp_path, capsys):
    data = fz.cine_bytes(base["frames"][:40].astype(np.uint16), rate=int(RATE))
    path = tmp_path / "cut.cine"
    path.write_bytes(data[: len(data) - 30 * (48 * 48 + 8)])
    result = _recover(path, tmp_path / "out", capsys, fps=None)
    side = assert_recovered(result, tmp_path / "out")
    assert side["input"]["frames_used"] == _used_from_warning(result[2]) < 40


def test_colour_camera_files_are_refused(base, tmp_path, capsys):
    vals = base["frames"][:12]
    fz.write_case(tmp_path / "c", fz.photron_files(vals, 8, color="Color"))
    assert_refused(_recover(tmp_path / "c" / "rec.cih", tmp_path / "o1", capsys, fps=None), tmp_path / "o1", "colour")
    (tmp_path / "c.cine").write_bytes(fz.cine_bytes(vals.astype(np.uint16), cfa=3))
    assert_refused(_recover(tmp_path / "c.cine", tmp_path / "o2", capsys, fps=None), tmp_path / "o2", "colour")


# ----------------------------------------------------------------------------------------- ROIs and parameters


def test_flat_roi_is_refused(base, tmp_path, capsys):
    frames = base["frames"][:40].copy()
    frames[:, 8:40, 8:40] = 77
    path = _save(tmp_path / "patch.npy", frames.astype(np.uint8))
    assert_refused(_recover(path, tmp_path / "out", capsys, "--roi", "10,10,24,24"), tmp_path / "out", "flat")


@pytest.mark.parametrize(
    ("roi", "needle"),
    [("40,40,100,100", "outside"), ("0,0,49,48", "outside"), ("=-4,0,16,16", "outside"), ("0,0,0,8", "size"),
     ("0,0,7,7", "8x8"), ("1,2,3", "X,Y,W,H"), ("a,b,c,d", "X,Y,W,H"), ("1e3,0,8,8", "X,Y,W,H")],
)
def test_bad_roi_is_refused(base, tmp_path, capsys, roi, needle):
    opt = ["--roi" + roi] if roi.startswith("=") else ["--roi", roi]
    assert_refused(_recover(base["paths"][".npy"], tmp_path / "out", capsys, *opt), tmp_path / "out", needle)


ABSURD = [
    (["--scales", "0"], "scales"), (["--scales", "-3"], "scales"), (["--scales", "99"], "scales"),
    (["--orientations", "0"], "orientations"), (["--orientations", "17"], "orientations"),
    (["--batch", "0"], "batch"), (["--batch", "-5"], "batch"),
    (["--grid", "0x3"], "grid"), (["--grid", "99x99"], "grid"), (["--grid", "axb"], "grid"),
    (["--max-lag-ms", "-1"], "max_lag"), (["--max-lag-ms", "nan"], "max_lag"), (["--max-lag-ms", "inf"], "max_lag"),
    (["--highpass", "-1"], "highpass"), (["--highpass", "5000"], "Nyquist"), (["--highpass", "nan"], "highpass"),
    (["--notch", "0"], "notch"), (["--notch", "abc"], "numbers"), (["--notch", "-50"], "notch"),
    (["--listen-rate", "0"], "listen-rate"), (["--listen-rate", "-44100"], "listen-rate"),
    (["--mode", "increment", "--denoise", "none", "-o", "x.mp3"], ".wav"),
]


@pytest.mark.parametrize(("args", "needle"), ABSURD, ids=[" ".join(a) for a, _ in ABSURD])
def test_absurd_parameters_are_refused(base, tmp_path, capsys, args, needle):
    assert_refused(_recover(base["paths"][".npy"], tmp_path / "out", capsys, *args), tmp_path / "out", needle)


@pytest.mark.parametrize("fps", ["0", "-2200", "nan", "inf", "0.4", "0.5", "3e9", "1e9"])
def test_absurd_rates_are_refused(base, tmp_path, capsys, fps):
    assert_refused(_recover(base["paths"][".npy"], tmp_path / "out", capsys, fps=fps), tmp_path / "out")


@pytest.mark.parametrize("fps", ["0.5", "3e9", "1e9"])
def test_absurd_rates_are_refused_before_any_frame_is_read(base, tmp_path, monkeypatch, capsys, fps):
    # a rate no WAV can hold used to run the whole recovery, then fail at the WAV header (or write a
    # 44-byte listen copy); it must fail before the first frame is read, in both shutter paths
    from vismic.io.base import FrameSource

    def refuse(*a, **k):
        raise AssertionError("frames were read before the rate was checked")

    monkeypatch.setattr(FrameSource, "iter_batches", refuse)
    for extra in ([], ["--rolling-shutter", "--line-delay", "1e-5"]):
        code = main(["recover", str(base["paths"][".npy"]), "-o", str(tmp_path / "o.wav"), "--fps", fps, *extra])
        err = capsys.readouterr().err
        assert code == 2 and "between 1 and 1e+07" in err, err
        assert not (tmp_path / "o.wav").exists()
    with pytest.raises(ParameterError, match="between 1 and"):
        from vismic.pipeline import RecoveryParams

        RecoveryParams(fps=float(fps))


@pytest.mark.parametrize("args", [["--max-lag-ms", "1e6"], ["--max-lag-ms", "50"], ["--batch", "100000"],
                                  ["--batch", "1"], ["--notch", "1e9"], ["--highpass", "0"], ["--grid", "1x1"],
                                  ["--fps", "3"]])
def test_large_but_valid_parameters_work(base, tmp_path, capsys, args):
    """A lag bound longer than the clip is clamped, a batch larger than the clip is one batch, ..."""
    assert_recovered(_recover(base["paths"][".npy"], tmp_path / "out", capsys, *args), tmp_path / "out")


def test_api_raises_specific_exceptions(base, tmp_path):
    from vismic.pipeline import RecoveryParams, recover

    with pytest.raises(ParameterError):
        RecoveryParams(scales=0)
    with pytest.raises(ParameterError):
        RecoveryParams(fps=-1)
    with pytest.raises(ParameterError, match="outside"):
        recover(base["paths"][".npy"], RecoveryParams(fps=RATE, roi=(40, 40, 30, 30)))
    (tmp_path / "t.mp4").write_text("text")
    with pytest.raises(VideoReadError):
        recover(tmp_path / "t.mp4", RecoveryParams(fps=RATE))
    with pytest.raises(InputError):
        recover(_save(tmp_path / "one.npy", base["frames"][:1]), RecoveryParams(fps=RATE))
    from vismic.io.audio import resample, write_wav

    with pytest.raises(ParameterError, match="samples"):
        resample(np.zeros(10**6), rate_in=1.0, rate_out=1e6)
    for bad_rate in (0.2, 1e12, float("nan")):
        with pytest.raises(ParameterError):
            write_wav(str(tmp_path / "r.wav"), np.zeros(8), rate=bad_rate)
    assert not (tmp_path / "r.wav").exists()


# ----------------------------------------------------------------------------------------- output faults


def _outputs_complete(folder: Path) -> None:
    """Every output present is complete (no temp file; every WAV and JSON parses)."""
    names = _leftovers(folder)
    assert not [n for n in names if n.startswith(".vismic")], names
    for n in names:
        if n.endswith(".wav"):
            assert sf.info(str(folder / n)).frames >= 0
        elif n.endswith(".json"):
            json.loads((folder / n).read_text())


@pytest.fixture
def small(base):
    return base["paths"][".npy"]


@pytest.mark.parametrize("victim", [".wav", ".listen.wav", ".json", ".png"])
def test_disk_full_while_writing_any_output(small, tmp_path, capsys, monkeypatch, victim):
    """ENOSPC on the temp file of one output: one line, exit 2, no temp file, nothing half-written."""
    import builtins

    real_open = builtins.open
    out = tmp_path / "out"

    class Full:
        def __init__(self, fh):
            self._fh = fh

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._fh.close()

    wavs = []

    def fake_open(file, mode="r", *args, **kw):
        fh = real_open(file, mode, *args, **kw)
        name = os.path.basename(str(file))
        if "w" not in mode or not name.startswith(".vismic-"):
            return fh
        if name.endswith(".wav"):  # the first WAV written is the main one, the second the listenable copy
            wavs.append(name)
            kind = ".wav" if len(wavs) == 1 else ".listen.wav"
        else:
            kind = os.path.splitext(name)[1]
        return Full(fh) if kind == victim else fh

    monkeypatch.setattr(builtins, "open", fake_open)
    result = _recover(small, out, capsys, "--spectrogram")
    monkeypatch.setattr(builtins, "open", real_open)
    code, _, err = result
    assert code == 2 and "No space left on device" in err, err
    _assert_clean_lines(err)
    assert len([ln for ln in err.splitlines() if ln.startswith("vismic: error:")]) == 1
    assert not (out / f"out{victim}").exists()
    _outputs_complete(out)


@pytest.mark.parametrize("how", ["soundfile.write", "os.replace"])
def test_disk_full_on_the_first_output_leaves_nothing(small, tmp_path, capsys, monkeypatch, how):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if how == "soundfile.write":
        monkeypatch.setattr(sf, "write", full)
    else:
        monkeypatch.setattr(os, "replace", full)
    line = assert_refused(_recover(small, tmp_path / "out", capsys), tmp_path / "out", "No space left on device")
    assert "out.wav" in line


def test_unwritable_folder_is_refused_before_any_work(small, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running as root: a 0o500 folder is still writable (see the monkeypatched test)")
        assert_refused(_recover(small, out, capsys), out, "not writable")
    finally:
        out.chmod(0o700)


def test_unwritable_folder_is_refused_before_any_work_even_as_root(small, tmp_path, capsys, monkeypatch):
    import vismic.io.audio as audio
    import vismic.pipeline as pipeline

    out = tmp_path / "ro"
    out.mkdir()
    real = os.access
    monkeypatch.setattr(audio.os, "access", lambda p, m, **k: False if str(p) == str(out) else real(p, m, **k))

    def no_work(*a, **k):
        raise AssertionError("recover() ran although the output folder is not writable")

    import vismic.workflow

    monkeypatch.setattr(pipeline, "recover", no_work)
    monkeypatch.setattr(vismic.workflow, "recover", no_work)  # what the CLI calls
    assert_refused(_recover(small, out, capsys), out, "not writable")


def test_permission_denied_while_writing_is_one_line(small, tmp_path, capsys, monkeypatch):
    import tempfile

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    assert_refused(_recover(small, tmp_path / "out", capsys), tmp_path / "out", "Permission denied")


def test_output_path_that_is_a_folder_is_refused(small, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "out.wav").mkdir()
    code, _, err = _recover(small, tmp_path / "out", capsys, "--force")
    assert code == 2 and "is a folder" in err


def test_outputs_get_ordinary_permissions(small, tmp_path, capsys):
    assert_recovered(_recover(small, tmp_path / "out", capsys, "--spectrogram"), tmp_path / "out")
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("out.wav", "out.listen.wav", "out.json", "out.png"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_atomic_path_turns_os_errors_into_output_errors(tmp_path):
    from vismic.io.atomic import atomic_path

    target = tmp_path / "x.json"
    with pytest.raises(OutputError, match="No space left"):
        with atomic_path(str(target)) as tmp:
            Path(tmp).write_text("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(target)) as tmp:
            Path(tmp).write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    assert issubclass(OutputError, OSError) and issubclass(OutputError, VismicError)


def test_atomic_files_rename_all_or_none_and_keep_input_errors(tmp_path):
    from vismic.errors import VideoReadError
    from vismic.io.atomic import AtomicFiles

    with AtomicFiles() as out:
        Path(out.stage(tmp_path / "a.txt")).write_text("a")
        Path(out.stage(tmp_path / "b.json")).write_text("{}")
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".vismic-")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json"]
    with pytest.raises(OutputError, match=r"b\.json: No space left.*nothing was written"):
        with AtomicFiles() as out:
            Path(out.stage(tmp_path / "a.txt")).write_text("new")
            out.stage(tmp_path / "b.json")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert (tmp_path / "a.txt").read_text() == "a"  # the old outputs stay as they were
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json"]
    with pytest.raises(VideoReadError, match="cannot decode"):  # an input's error is not a write error
        with AtomicFiles() as out:
            out.stage(tmp_path / "c.wav")
            raise VideoReadError("in.mp4: cannot decode frame 3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json"]


def test_a_failed_save_leaves_no_partial_set_of_outputs(small, tmp_path, capsys, monkeypatch):
    import json as json_module

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(json_module, "dump", full)
    assert_refused(_recover(small, tmp_path / "out", capsys), tmp_path / "out", "No space left")


# ----------------------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_the_run_exits_130_and_writes_nothing(small, tmp_path, capsys, monkeypatch):
    from vismic.io.images import NpySource

    real = NpySource.iter_batches

    def interrupted(self, **kw):
        for i, b in enumerate(real(self, **kw)):
            if i == 2:
                raise KeyboardInterrupt
            yield b

    monkeypatch.setattr(NpySource, "iter_batches", interrupted)
    code, _, err = _recover(small, tmp_path / "out", capsys, "--batch", "8")
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert _leftovers(tmp_path / "out") == []


def test_ctrl_c_while_saving_leaves_no_temp_file(small, tmp_path, capsys, monkeypatch):
    import vismic.outputs as outputs

    real = outputs.resample  # what save() calls between the WAV and its listenable copy

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "resample", interrupted)
    code, _, err = _recover(small, tmp_path / "out", capsys)
    monkeypatch.setattr(outputs, "resample", real)
    assert code == 130 and "Traceback" not in err
    _outputs_complete(tmp_path / "out")


@pytest.mark.slow
def test_real_sigint_to_a_running_recovery(tmp_path):
    frames = (np.random.default_rng(0).random((3000, 96, 96)) * 255).astype(np.uint8)
    np.save(tmp_path / "long.npy", frames)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "vismic", "recover", str(tmp_path / "long.npy"), "-o",
                             str(out / "out.wav"), "--fps", "2200"], stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = os.read(proc.stderr.fileno(), 200)  # blocks until the progress bar is drawn: the run has started
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    err = (first + rest).decode(errors="replace")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert _leftovers(out) == []


# ----------------------------------------------------------------------------------------- fuzz regressions


@pytest.mark.parametrize("case", REGRESSION_DIRS, ids=[p.name for p in REGRESSION_DIRS])
def test_fuzz_regression_files_read_cleanly(case):
    meta = json.loads((case / "meta.json").read_text())
    fz.run_one(case / "files", meta["open"], pipeline=True)  # raises on anything but a VismicError


@pytest.mark.parametrize("case", REGRESSION_DIRS, ids=[p.name for p in REGRESSION_DIRS])
def test_fuzz_regression_files_through_the_cli(case, tmp_path, capsys):
    meta = json.loads((case / "meta.json").read_text())
    result = _recover(case / "files" / meta["open"], tmp_path / "out", capsys, fps=1000.0)
    if result[0] == 2:
        assert_refused(result, tmp_path / "out")
    else:
        assert_recovered(result, tmp_path / "out")


@lru_cache(maxsize=1)
def _seeds() -> tuple:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(fz.all_seeds())


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
def test_readers_survive_mutated_bytes(tmp_path_factory, index, seed):
    """Hypothesis over bytes: a seed file of every reader, mutated, never crashes a reader."""
    import random

    seeds = _seeds()
    case = seeds[index % len(seeds)]
    rng = random.Random(seed)
    files = dict(case.files)
    victim = rng.choice(case.mutable)
    files[victim] = fz.mutate(files[victim], rng, [c.files[c.mutable[0]] for c in seeds if c.target == case.target])
    folder = tmp_path_factory.mktemp("mut")
    fz.write_case(folder, files)
    fz.run_one(folder, case.open_name)


def test_fuzz_harness_runs_briefly(tmp_path):
    """``make fuzz`` in miniature: the harness runs, reports JSON, finds nothing."""
    report = tmp_path / "fuzz.json"
    r = subprocess.run([sys.executable, str(Path(fz.__file__)), "--seconds", "4", "--seed", "11",
                        "--report", str(report)], capture_output=True, text=True, timeout=120)
    summary = json.loads(report.read_text())
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert summary["executions"] > 20 and not summary["findings"] and not summary["crashes_or_hangs"]


# ----------------------------------------------------------------------------------------- bugs outside io/


def _bounded(seconds: float):
    """Raise TimeoutError in the main thread after ``seconds`` (Python-level loops only)."""

    def handler(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    class Guard:
        def __enter__(self):
            self.old = signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, seconds)

        def __exit__(self, *exc):
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)

    return Guard()


def test_detect_lines_is_bounded_at_absurd_rates():
    from vismic.denoise import detect_lines

    x = np.random.default_rng(0).standard_normal(200)
    with _bounded(2.0):
        detect_lines(x, rate=1e9)


def test_tiny_highpass_is_refused_or_works(base):
    from vismic.pipeline import RecoveryParams, recover

    try:
        recover(base["paths"][".npy"], RecoveryParams(fps=RATE, highpass=1e-9))
    except VismicError:
        pass


def test_explicit_notch_on_a_short_clip(base, tmp_path):
    from vismic.pipeline import RecoveryParams, recover

    path = _save(tmp_path / "nine.npy", base["frames"][:9].astype(np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            recover(path, RecoveryParams(fps=RATE, notch=(300.0,)))
        except VismicError:
            pass


def test_notch_far_below_the_rate(base):
    from vismic.pipeline import RecoveryParams, recover

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            recover(base["paths"][".npy"], RecoveryParams(fps=1e9, notch=(1.0,)))
        except VismicError:
            pass
