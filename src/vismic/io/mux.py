"""Put recovered audio back into the footage as a sound track, time-aligned with the picture.

Alignment
---------
Sample ``i`` of a recovery made at the capture rate belongs to frame ``i``: the audio's real time
``t`` is the instant of frame ``t * capture_fps``. The picture plays at the container's rate, so a
high-speed clip (filmed at ``capture_fps`` = 600 fps, stored at 29.97 fps) is slow motion by the
factor ``capture_fps / container_fps`` (20.02 here). Two timings are offered:

* ``"realtime"``: the audio at its true duration, starting with the first frame. It ends long
  before the slowed picture (0.5 s of sound under 10 s of picture at a factor of 20); only its
  first instant is aligned with the frames.
* ``"stretch"``: the audio stretched by the slow-motion factor to the picture's duration, so every
  sample sits under its own frame. Either ``pitch="shift"``: plain resampling, everything lower by
  the factor (82 Hz becomes 4.1 Hz at a factor of 20: mostly below hearing), or ``pitch="keep"``:
  a phase-vocoder time stretch (identity phase locking, Hann frames at 48 kHz spanning 64 samples
  of the recovered band's rate, at least 2048 (43 ms; 8192 = 171 ms for a 600 fps recovery), 75 %
  overlap, instantaneous frequency measured over a fixed 1/8-frame step so that any factor works).
  Quality limits of ``"keep"``: tones and vowels keep their pitch, but transients smear over a
  frame and, at large factors (above ~4), speech sounds reverberant and "phasey"; at 20x it is a
  drone of the recovered partials, not intelligible speech.

When the container plays at the capture rate, both timings are the same.

Video
-----
The video stream is copied packet by packet (no re-encoding) when the output container plays its
codec (MP4/MOV: H.264, HEVC, MPEG-4, AV1, VP9; Matroska: any). Otherwise it is re-encoded:
``video_mode="auto"`` uses H.264 (yuv420p, CRF 17: lossy, not bit-exact, playable
everywhere); ``video_mode="lossless"`` uses lossless H.264 (``qp=0``, input pixel format kept; few players
outside FFmpeg) for MP4/MOV and FFV1 for Matroska. The result says which.

Audio
-----
AAC (MP4/MOV) or FLAC (Matroska), mono, 48 kHz, resampled with soxr. The output is written to a
temporary file beside the destination and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np

from ..errors import InputError, OutputError, ParameterError, VideoReadError
from .atomic import atomic_path
from .audio import check_writable, read_audio, resample
from .writers import output_container

__all__ = ["mux", "time_stretch", "TIMINGS", "PITCHES", "MUX_SUFFIXES"]

TIMINGS = ("realtime", "stretch")
PITCHES = ("keep", "shift")
VIDEO_MODES = ("auto", "copy", "lossless")
#: output suffix -> (PyAV format, audio codec)
MUX_SUFFIXES = {".mp4": ("mp4", "aac"), ".m4v": ("mp4", "aac"), ".mov": ("mov", "aac"), ".mkv": ("matroska", "flac")}
#: video codecs that players accept in each container without re-encoding
_PLAYABLE = {
    "mp4": {"h264", "hevc", "mpeg4", "av1", "vp9"},
    "mov": {"h264", "hevc", "mpeg4", "av1", "vp9", "mjpeg", "prores", "png"},
    "matroska": None,  # Matroska holds anything FFmpeg decodes
}
OUT_RATE = 48000
_PV_CHUNK = 256


def time_stretch(x: np.ndarray, *, factor: float, frame: int = 2048) -> np.ndarray:
    """Phase-vocoder time stretch that keeps pitch; output length ``round(len(x) * factor)``.

    Identity phase locking (each bin's phase follows the nearest spectral peak's), Hann frames of
    ``frame`` samples, synthesis hop ``frame/4``, instantaneous frequency from two FFTs ``frame/8``
    samples apart, so any ``factor`` > 0 works. At 48 kHz a 2048-point frame is ~43 ms and resolves
    partials ~50 Hz apart; low-frequency content needs longer frames.

    Parameters
    ----------
    x : ndarray, shape (n,)
    factor : float
        Duration ratio (> 1 slows down).
    frame : int
        FFT frame in samples, a power of two >= 64.

    Returns
    -------
    ndarray, shape (round(n * factor),), float64
    """
    x = np.asarray(x, dtype=np.float64)
    if not (math.isfinite(factor) and factor > 0):
        raise ParameterError(f"factor={factor} must be a positive number")
    if frame < 64 or frame & (frame - 1):
        raise ParameterError(f"frame={frame} must be a power of two >= 64")
    n_out = int(round(len(x) * factor))
    if n_out == 0 or len(x) == 0:
        return np.zeros(n_out)
    N, hs, hd = frame, frame // 4, frame // 8
    win = np.hanning(N + 1)[:-1]
    n_frames = int(math.ceil(n_out / hs)) + 1
    pad = np.concatenate([np.zeros(N), x, np.zeros(N + hd + int(math.ceil(hs / factor)) + 2)])
    omega = 2 * np.pi * np.arange(N // 2 + 1) / N
    out = np.zeros(n_frames * hs + N)
    phase_acc = None
    for c0 in range(0, n_frames, _PV_CHUNK):
        m = np.arange(c0, min(n_frames, c0 + _PV_CHUNK))
        # analysis frame m is centred (in input samples) at m * hs / factor, as output frame m is at m * hs
        pos = np.round(m * hs / factor).astype(np.int64) + N // 2
        idx = pos[:, None] + np.arange(N)[None, :]
        spec1 = np.fft.rfft(pad[idx] * win, axis=1)
        spec2 = np.fft.rfft(pad[idx + hd] * win, axis=1)
        ph1 = np.angle(spec1)
        dev = np.angle(np.exp(1j * (np.angle(spec2) - ph1 - omega * hd)))
        inst = omega + dev / hd  # radians per sample
        adv = inst * hs
        if phase_acc is None:
            acc = np.cumsum(np.vstack([ph1[:1], adv[1:]]), axis=0)
        else:
            acc = phase_acc + np.cumsum(adv, axis=0)
        phase_acc = acc[-1:]
        mag = np.abs(spec1)
        bins = np.arange(mag.shape[1])
        peak = np.zeros_like(mag, dtype=bool)
        peak[:, 1:-1] = (mag[:, 1:-1] >= mag[:, :-2]) & (mag[:, 1:-1] > mag[:, 2:])
        left = np.maximum.accumulate(np.where(peak, bins, -1), axis=1)
        right = np.minimum.accumulate(np.where(peak, bins, 10**9)[:, ::-1], axis=1)[:, ::-1]
        use_left = (left >= 0) & ((right >= 10**9) | (bins - left <= right - bins))
        near = np.where(use_left, left, np.where(right < 10**9, right, bins))
        rows = np.arange(len(m))[:, None]
        ph_out = acc[rows, near] + ph1 - ph1[rows, near]
        frames = np.fft.irfft(mag * np.exp(1j * ph_out), N, axis=1) * win
        for j, mm in enumerate(m):
            out[mm * hs : mm * hs + N] += frames[j]
    out /= np.sum(win**2) / hs  # constant overlap-add gain of the squared Hann at 75 % overlap
    return out[N // 2 : N // 2 + n_out]


def _read_audio(audio: Any, audio_rate: float | None) -> tuple[np.ndarray, float, dict]:
    """(samples, rate, sidecar dict or {}) from a path or an array."""
    side: dict = {}
    if isinstance(audio, str | os.PathLike):
        path = os.fspath(audio)
        x, header = read_audio(path)
        stem = os.path.splitext(path)[0]
        if stem.endswith(".listen"):
            stem = stem[: -len(".listen")]
        with contextlib.suppress(OSError, ValueError, TypeError):
            with open(stem + ".json") as fh:
                side = json.load(fh)
            if not isinstance(side, dict):
                side = {}
        rate = float(header)
        true = side.get("rate")
        if audio_rate is None and isinstance(true, int | float) and abs(float(true) - header) <= 0.5:
            rate = float(true)  # WAV headers hold integers; the sidecar has the exact capture rate
    else:
        x = np.asarray(audio)
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise InputError(f"audio must be a path or a 1-D real array, got shape {x.shape} ({x.dtype})")
        x = x.astype(np.float64)
        if audio_rate is None:
            raise ParameterError("audio_rate is needed when the audio is an array (samples per second)")
        rate = float(audio_rate)
    if audio_rate is not None:
        if not (math.isfinite(audio_rate) and audio_rate > 0):
            raise ParameterError(f"audio_rate={audio_rate} must be a positive rate in Hz")
        rate = float(audio_rate)
    if len(x) == 0:
        raise InputError("the audio holds no samples")
    if not np.all(np.isfinite(x)):
        raise InputError("the audio holds NaN or inf samples")
    return x, rate, side


def _container_fps(stream) -> float | None:
    for r in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if r:
            v = float(r)
            if math.isfinite(v) and v > 0:
                return v
    return None


def _audio_track(x: np.ndarray, rate: float, factor: float, timing: str, pitch: str,
                 band_hz: float) -> tuple[np.ndarray, list[str]]:
    """The 48 kHz track and what was done to it (``band_hz``: top of the recovered band)."""
    notes: list[str] = []
    slow = abs(factor - 1.0) > 1e-3
    if not slow or timing == "realtime":
        y = resample(x, rate_in=rate, rate_out=OUT_RATE)
        if slow:
            notes.append(
                f"realtime audio: {len(x) / rate:.3g} s of sound at its true speed under {factor:.4g}x slow-motion "
                "picture; it starts with the first frame and ends long before the picture"
            )
    elif pitch == "shift":
        y = resample(x, rate_in=rate / factor, rate_out=OUT_RATE)
        notes.append(
            f"stretched {factor:.4g}x by resampling: every frequency is {factor:.4g}x lower (the recovered band "
            f"0-{band_hz:.0f} Hz now spans 0-{band_hz / factor:.1f} Hz)"
        )
    else:
        # frames of >= 64 samples of the recovered band: 2048 (43 ms) for 2200 Hz, 8192 (171 ms) for 600 Hz
        frame = int(min(16384, max(2048, 2 ** math.ceil(math.log2(OUT_RATE * 32 / band_hz)))))
        y = time_stretch(resample(x, rate_in=rate, rate_out=OUT_RATE), factor=factor, frame=frame)
        notes.append(
            f"stretched {factor:.4g}x with a phase vocoder ({frame}-sample frames), pitch kept; transients smear "
            f"over ~{1000 * frame / OUT_RATE:.0f} ms"
            + ("; at this factor speech sounds reverberant and is not intelligible" if factor > 4 else "")
        )
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0:
        y = y * (0.98 / peak)
    return y.astype(np.float32), notes


def _video_plan(codec: str, fmt: str, mode: str, fps: float | None) -> str:
    """"copy", "h264" or "lossless" for an input codec going into ``fmt``."""
    playable = _PLAYABLE[fmt]
    fits = playable is None or codec in playable
    if mode == "copy" and not fits:
        raise ParameterError(f"the {codec} video cannot be copied into this container; write .mkv, or use "
                             "video='auto'/'lossless' to re-encode")
    if fmt == "matroska" and fps is not None and fps > 1000:
        raise ParameterError(f"the video's container rate is {fps:g} fps; Matroska keeps millisecond timestamps, "
                             "so its frames would collide: write .mp4 or .mov instead")
    if mode in ("auto", "copy") and fits:
        return "copy"
    return "lossless" if mode == "lossless" else "h264"


def mux(
    video: str | os.PathLike,
    audio: str | os.PathLike | np.ndarray,
    out: str | os.PathLike,
    *,
    audio_rate: float | None = None,
    capture_fps: float | None = None,
    timing: str = "realtime",
    pitch: str = "keep",
    video_mode: str = "auto",
    force: bool = False,
) -> dict[str, Any]:
    """Write ``video`` with ``audio`` as its sound track, aligned with the frames (see the module docstring).

    Parameters
    ----------
    video : path
        The footage the audio was recovered from (any container FFmpeg reads).
    audio : path or ndarray, shape (n,)
        A WAV/FLAC (e.g. vismic's output at the capture rate, or its ``.listen.wav`` copy) or samples.
    out : path
        ``.mp4``/``.m4v``/``.mov`` (AAC audio) or ``.mkv`` (FLAC audio).
    audio_rate : float, optional
        True rate of ``audio`` in Hz. Default for a file: its header, or the exact rate in a vismic
        JSON sidecar beside it; required for an array.
    capture_fps : float, optional
        Rate at which the footage was filmed. Default: ``params.fps`` of the vismic sidecar beside the
        audio file; without one it must be given.
    timing : {"realtime", "stretch"}
        For slow-motion footage (container rate below ``capture_fps``): audio at its true duration, or
        stretched to the picture's.
    pitch : {"keep", "shift"}
        With ``timing="stretch"``: phase-vocoder stretch keeping pitch, or resampling (lower pitch).
    video_mode : {"auto", "copy", "lossless"}
        Copy the video stream when the container plays its codec, else re-encode (H.264 CRF 17, or
        lossless with "lossless"); "copy" refuses to re-encode.
    force : bool
        Overwrite ``out``.

    Returns
    -------
    dict
        ``path``, ``video`` (``mode`` copy/h264/lossless, ``codec``, ``bit_exact``, ``frames``,
        ``container_fps``, ``duration_s``), ``audio`` (``codec``, ``rate``, ``duration_s``, ``start_s``,
        ``source_rate``), ``capture_fps``, ``slow_motion_factor``, ``timing``, ``pitch``, ``notes``.

    Raises
    ------
    ParameterError
        Bad option, unsupported suffix, unknown capture rate, a codec that cannot be copied.
    VideoReadError
        Missing or unreadable video or audio, or no video stream.
    InputError
        Empty or non-finite audio.
    OutputExistsError
        ``out`` exists and ``force`` is False.
    """
    if timing not in TIMINGS:
        raise ParameterError(f"timing={timing!r} must be one of {TIMINGS}")
    if pitch not in PITCHES:
        raise ParameterError(f"pitch={pitch!r} must be one of {PITCHES}")
    if video_mode not in VIDEO_MODES:
        raise ParameterError(f"video_mode={video_mode!r} must be one of {VIDEO_MODES}")
    video, out = os.fspath(video), os.fspath(out)
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in MUX_SUFFIXES:
        raise ParameterError(f"-o {out}: the output must end in one of {sorted(MUX_SUFFIXES)}")
    fmt, acodec = MUX_SUFFIXES[suffix]
    if not os.path.isfile(video):
        raise VideoReadError(f"{video}: no such video file; check the path")
    if os.path.exists(out) and os.path.samefile(out, video):
        raise ParameterError(f"-o {out} is the input video; choose another output path")
    if isinstance(audio, str | os.PathLike) and os.path.exists(out) and os.path.samefile(out, audio):
        raise ParameterError(f"-o {out} is the input audio; choose another output path")
    check_writable(out, force=force)
    if capture_fps is not None and not (math.isfinite(capture_fps) and capture_fps > 0):
        raise ParameterError(f"capture_fps={capture_fps} must be a positive frame rate in Hz")
    x, rate, side = _read_audio(audio, audio_rate)
    if capture_fps is None:
        fps = (side.get("params") or {}).get("fps") if isinstance(side.get("params"), dict) else None
        if not isinstance(fps, int | float) or not fps > 0:
            raise ParameterError("the capture rate is unknown: pass --fps (capture_fps) with the rate the footage "
                                 "was filmed at")
        capture_fps = float(fps)

    try:
        inp = av.open(video)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(f"{video}: not a video FFmpeg can read ({exc})") from exc
    try:
        if not inp.streams.video:
            raise VideoReadError(f"{video}: no video stream; give the footage the audio was recovered from")
        vin = inp.streams.video[0]
        cfps = _container_fps(vin)
        if cfps is None:
            raise VideoReadError(f"{video}: the container states no frame rate; cannot align the audio")
        codec = vin.codec_context.name
        plan = _video_plan(codec, fmt, video_mode, cfps)
        # timestamps coarser than a frame (Matroska's milliseconds above 1000 fps: 0, 0, 1, 1, ...) cannot
        # be copied into a container that needs them increasing: frames are numbered by their index
        renumber = vin.time_base is not None and float(vin.time_base) > 1.001 / cfps
        if renumber and plan == "copy":
            if video_mode == "copy":
                raise ParameterError(f"{video}: its timestamps ({vin.time_base} s) are coarser than a frame at "
                                     f"{cfps:g} fps, so its packets cannot be copied; use video_mode auto or lossless")
            plan = "h264"
        factor = capture_fps / cfps
        true = side.get("rate")
        band = min(rate, float(true)) / 2 if isinstance(true, int | float) and true > 0 else rate / 2
        track, notes = _audio_track(x, rate, factor, timing, pitch, band)
        if factor < 1 - 1e-3:
            notes.append(f"the container plays faster than the capture rate ({cfps:g} > {capture_fps:g} fps)")
        tb = vin.time_base
        start = vin.start_time if vin.start_time is not None else 0
        t0 = float(start * tb) if tb else 0.0
        with atomic_path(out) as tmp:
            try:
                info = _write(inp, vin, tmp, fmt, acodec, plan, track, t0, renumber=renumber)
            except av.error.FFmpegError as exc:  # never an "internal error": say what FFmpeg refused
                raise OutputError(f"FFmpeg could not write {out}: {exc}; nothing was written") from exc
    finally:
        inp.close()
    frames = info.pop("frames")
    picture = frames / cfps
    audio_s = len(track) / OUT_RATE
    if renumber:
        notes.append(f"the input's timestamps ({vin.time_base} s) are coarser than a frame at {cfps:g} fps: frames "
                     "were numbered by their index")
    if plan == "h264":
        notes.append(f"{codec} video cannot be copied into {suffix}: re-encoded as H.264 (CRF 17, yuv420p), "
                     "lossy, not bit-exact (--video-codec lossless keeps every pixel)")
    elif plan == "lossless":
        notes.append(f"{codec} video re-encoded losslessly ({info['video_codec']})")
    if timing == "realtime" and abs(factor - 1) > 1e-3 and picture > audio_s:
        notes.append(f"the audio ends {picture - audio_s:.2f} s before the picture")
    return {
        "path": out,
        "video": {"mode": plan, "codec": info["video_codec"], "input_codec": codec, "bit_exact": plan != "h264",
                  "frames": frames, "container_fps": cfps, "duration_s": picture},
        "audio": {"codec": acodec, "rate": OUT_RATE, "duration_s": audio_s, "start_s": t0, "source_rate": rate,
                  "source_samples": int(len(x))},
        "capture_fps": float(capture_fps),
        "slow_motion_factor": factor,
        "timing": timing,
        "pitch": pitch if timing == "stretch" and abs(factor - 1) > 1e-3 else None,
        "notes": notes,
    }


def _audio_frames(stream, track: np.ndarray, start_pts: int) -> Iterator[tuple[float, Any]]:
    """(start time in s, packet) of the encoded track, in order."""
    size = stream.codec_context.frame_size or 1024
    for i in range(0, len(track), size):
        fr = av.AudioFrame.from_ndarray(track[None, i : i + size], format="flt", layout="mono")
        fr.sample_rate = OUT_RATE
        fr.pts = start_pts + i
        fr.time_base = Fraction(1, OUT_RATE)
        for p in stream.encode(fr):
            yield (start_pts + i) / OUT_RATE, p
    for p in stream.encode(None):
        yield math.inf, p


def _write(inp, vin, tmp, fmt: str, acodec: str, plan: str, track: np.ndarray, t0: float, *,
           renumber: bool = False) -> dict:
    frames = 0
    with output_container(tmp, fmt) as container:
        if plan == "copy":
            vout = container.add_stream_from_template(vin)
        else:
            rate = vin.average_rate or vin.guessed_rate
            if plan == "h264":
                vout = container.add_stream("libx264", rate=rate, options={"crf": "17", "preset": "veryfast"})
                vout.pix_fmt = "yuv420p"
                h, w = vin.codec_context.height // 2 * 2, vin.codec_context.width // 2 * 2
            else:
                name = "ffv1" if fmt == "matroska" else "libx264"
                opts = {"level": "3", "g": "1"} if name == "ffv1" else {"qp": "0", "preset": "veryfast"}
                vout = container.add_stream(name, rate=rate, options=opts)
                pf = vin.codec_context.pix_fmt
                ok = {"gray", "yuv420p", "yuv422p", "yuv444p"} if name == "libx264" else None
                vout.pix_fmt = pf if (ok is None or pf in ok) else "yuv444p"
                h, w = vin.codec_context.height, vin.codec_context.width
            vout.width, vout.height = w, h
            if not renumber:  # renumbered frames carry their own 1/rate time base (the encoder's)
                vout.time_base = vin.time_base
            vout.codec_context.thread_count = 0
        aout = container.add_stream(acodec, rate=OUT_RATE, layout="mono")
        container.metadata["comment"] = "sound recovered from the video by vismic (the visual microphone)"
        audio = _audio_frames(aout, track, int(round(t0 * OUT_RATE)))
        pending = next(audio, None)

        def audio_until(t: float) -> None:
            nonlocal pending
            while pending is not None and pending[0] <= t:
                container.mux(pending[1])
                pending = next(audio, None)

        tb = vin.time_base
        if plan == "copy":
            for pkt in inp.demux(vin):
                if pkt.dts is None and pkt.pts is None:
                    continue  # the demuxer's flush packet
                when = float((pkt.dts if pkt.dts is not None else pkt.pts) * tb)
                audio_until(when)
                pkt.stream = vout
                container.mux(pkt)
                frames += 1
        else:
            for frame in inp.decode(vin):
                if renumber:  # frame i at i / rate after the first: the container's own stamps collide
                    when = t0 + frames / float(rate)
                else:
                    when = float(frame.pts * tb) if frame.pts is not None else frames / float(vout.average_rate or 1)
                audio_until(when)
                if plan == "h264":
                    frame = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
                elif frame.format.name != vout.pix_fmt:
                    frame = frame.reformat(format=vout.pix_fmt)
                if renumber:
                    frame.pts, frame.time_base = frames, 1 / Fraction(rate)
                for p in vout.encode(frame):
                    container.mux(p)
                frames += 1
            for p in vout.encode(None):
                container.mux(p)
        audio_until(math.inf)
        vcodec = vout.codec_context.name if plan != "copy" else vin.codec_context.name
    if frames == 0:  # the staging (io.atomic) removes the file
        raise VideoReadError("the video stream holds no frames")
    return {"frames": frames, "video_codec": vcodec}
