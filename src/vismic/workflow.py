"""One recovery from start to finish: recover, write the audio outputs, then the extras asked for.

:func:`recover_and_write` is what ``vismic recover`` and a web UI job both run, so both write the
same files the same way: the recovery (global or rolling shutter, by the type of the params), the
WAV, listenable copy, JSON sidecar and spectrogram (:func:`vismic.outputs.save`, all or nothing),
then the voice report, the vibration map picture, the HTML report and the sound muxed into the
video. Every output path is checked before any work starts.

This module is the top of the library's data flow: it composes stages and is imported by the
front ends (the CLI, the web UI) only. The extras' modules (voice, vibration map, plot, report) are
imported when an extra is asked for: they import scipy.signal and matplotlib (about a second).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._typing import ProgressFn
from .errors import ParameterError, VismicError
from .io import CAMERA_EXTENSIONS, FrameSource
from .io.audio import check_writable
from .io.mux import MUX_SUFFIXES
from .io.mux import mux as mux_audio
from .outputs import check_output_paths, output_paths, save
from .params import Recovery, RecoveryParams
from .pipeline import recover
from .rolling_shutter import RollingShutterParams, recover_rolling_shutter

__all__ = ["Written", "recover_and_write", "EXTRAS_ON_ERROR"]

#: What a failed extra (report, map picture, muxed video) does once the audio is written: ``"raise"``
#: (the CLI: the command fails and says why) or ``"warn"`` (the web UI: the job keeps its audio).
EXTRAS_ON_ERROR = ("raise", "warn")


@dataclass
class Written:
    """What :func:`recover_and_write` made: the recovery and the paths of every file written."""

    recovery: Recovery
    #: ``wav``, ``listen``, ``json``, and where asked ``spectrogram``, ``map``, ``report``, ``mux``
    paths: dict[str, str]
    voice: Any = None  # VoiceReport
    vibration_map: Any = None  # VibrationMap
    muxed: dict | None = None  # what io.mux.mux reported
    warnings: list[str] = field(default_factory=list)


def _input_path(source) -> str | None:
    path = source.path if isinstance(source, FrameSource) else os.fspath(source)
    return path if isinstance(path, str) and os.path.exists(path) else None


def _check_extras(source, *, report: str | None, map_png: str | None, mux: str | None, force: bool,
                  outputs: dict[str, str]) -> None:
    """Refuse unusable extra outputs before any work (suffixes, folders, existing files, clashes)."""
    if report is not None and not report.lower().endswith((".html", ".htm")):
        raise ParameterError(f"--report {report}: the report must be an .html path")
    if map_png is not None and not map_png.lower().endswith(".png"):
        raise ParameterError(f"the vibration map picture {map_png} must be a .png path")
    path = _input_path(source)
    if mux is not None:
        if os.path.splitext(mux)[1].lower() not in MUX_SUFFIXES:
            raise ParameterError(f"--mux {mux}: the output must end in one of {sorted(MUX_SUFFIXES)}")
        ext = os.path.splitext(path or "")[1].lower()
        if path is None or not os.path.isfile(path) or ext == ".npy" or ext in CAMERA_EXTENSIONS:
            raise ParameterError(f"--mux needs a video file as input; {path or source!r} is not one (use vismic mux "
                                 "with a video of the scene)")
    extras = {"report": report, "map": map_png, "--mux": mux}
    if path is not None:
        check_output_paths(path, {**outputs, **extras})
    for p in extras.values():
        if p is not None:
            check_writable(p, force=force)


def recover_and_write(
    source: str | os.PathLike | FrameSource,
    params: Any,
    out: str,
    *,
    force: bool = False,
    listen_rate: int = 44100,
    spectrogram: str | bool | None = None,
    float_wav: bool = False,
    voice: bool = False,
    report: str | None = None,
    map_png: str | None = None,
    mux: str | None = None,
    mux_timing: str = "realtime",
    mux_pitch: str = "keep",
    progress: ProgressFn | None = None,
    stage: Callable[[str], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    executor: Any = None,
    extras_on_error: str = "raise",
) -> Written:
    """Recover the sound of ``source`` and write it, with every extra output asked for.

    Parameters
    ----------
    source : path or FrameSource
        The video (a FrameSource is not closed here).
    params : RecoveryParams or RollingShutterParams
        Which recovery runs: :func:`vismic.pipeline.recover` or
        :func:`vismic.rolling_shutter.recover_rolling_shutter`.
    out : str
        The main WAV (or FLAC); :func:`vismic.outputs.output_paths` names the others.
    force, listen_rate, spectrogram, float_wav
        As :func:`vismic.outputs.save`; ``force`` also lets the extras replace existing files.
    voice : bool
        Analyse the recovered voice (:func:`vismic.analysis.voice.voice_report`, stored in the
        sidecar's ``diagnostics.voice``); implied by ``report``.
    report : str, optional
        A self-contained HTML report (audio, spectrogram, vibration map, voice).
    map_png : str, optional
        A picture of the vibration map (where the frame moves, and how clearly).
    mux : str, optional
        A copy of the video with the recovered sound as its track (:func:`vismic.io.mux.mux`, with
        ``mux_timing`` and ``mux_pitch``).
    progress : callable, optional
        ``progress(done, total)`` during each long step (the recovery, the map); it may raise to cancel.
    stage : callable, optional
        ``stage(text)`` as each step begins ("writing the audio", ...); it may raise to cancel.
    checkpoint, executor
        As :func:`vismic.pipeline.recover` (global shutter only).
    extras_on_error : {"raise", "warn"}
        What a failed report, map picture or muxed video does once the audio is written
        (:data:`EXTRAS_ON_ERROR`). A vibration map that cannot be made for the report is always a
        warning: the report is written without it.

    Returns
    -------
    Written

    Raises
    ------
    ParameterError, InputError, VideoReadError, OutputError, OutputExistsError
        Bad input or an unusable output, before any work where it can be known then.
    """
    if extras_on_error not in EXTRAS_ON_ERROR:
        raise ParameterError(f"extras_on_error={extras_on_error!r} must be one of {EXTRAS_ON_ERROR}")
    rolling = isinstance(params, RollingShutterParams)
    if not rolling and not isinstance(params, RecoveryParams):
        raise ParameterError(f"params must be RecoveryParams or RollingShutterParams, not {type(params).__name__}")
    if rolling and (checkpoint is not None or executor is not None):
        raise ParameterError("checkpoints and executors do not apply to rolling-shutter recoveries; drop them "
                             "(rolling-shutter clips are short: one process handles them)")
    paths = output_paths(out, spectrogram=spectrogram)
    inp = _input_path(source)
    if inp is not None:
        check_output_paths(inp, dict(paths))
    for p in paths.values():
        check_writable(p, force=force)
    _check_extras(source, report=report, map_png=map_png, mux=mux, force=force, outputs=paths)

    def step(text: str) -> None:
        if stage is not None:
            stage(text)

    step("recovering the sound")
    if rolling:
        rec = recover_rolling_shutter(source, params, progress=progress)
    else:
        rec = recover(source, params, progress=progress, checkpoint=checkpoint, executor=executor)
    done = Written(rec, {})

    def note(text: str) -> None:
        warnings.warn(text, stacklevel=3)
        done.warnings.append(text)
        rec.warnings.append(text)

    if voice or report:
        step("analysing the voice")
        from .analysis.voice import voice_report  # an extra: imported when asked for (module docstring)

        try:
            done.voice = voice_report(rec.audio, rate=rec.rate)
            rec.diagnostics["voice"] = done.voice.to_dict()
        except VismicError as exc:
            note(f"no voice report: {exc}")
    step("writing the audio")
    done.paths = save(rec, out, force=force, listen_rate=listen_rate, spectrogram=spectrogram, float_wav=float_wav)

    def extra(what: str, make: Callable[[], None]) -> None:
        try:
            make()
        except (VismicError, ValueError, OSError) as exc:
            if extras_on_error == "raise":
                raise
            note(f"no {what}: {' '.join(str(exc).split())}")

    if (report or map_png) and inp is not None:
        step("computing the vibration map")
        from .analysis.vibmap import vibration_map  # an extra (module docstring)

        # the region recovered; with an automatic ROI the whole frame, to show where the region came from
        roi = None if getattr(params, "roi", None) == "auto" else rec.input.get("roi")
        try:
            done.vibration_map = vibration_map(inp, fps=rec.params.fps, roi=None if roi is None else tuple(roi),
                                               progress=progress)
        except VismicError as exc:
            note(f"no vibration map: {exc}")
    if map_png and done.vibration_map is not None:
        from .plot import save_vibration_map  # an extra (module docstring)

        def draw() -> None:
            done.paths["map"] = save_vibration_map(done.vibration_map, map_png)

        extra("vibration map picture", draw)
    if report:
        step("writing the report")
        from .report import write_report  # an extra (module docstring)

        def write() -> None:
            done.paths["report"] = os.fspath(write_report(rec, report, listen_wav=done.paths.get("listen"),
                                                          vibration_map=done.vibration_map, voice=done.voice,
                                                          force=force))

        extra("report", write)
    if mux:
        step("muxing the sound into the video")
        extra("video with sound", lambda: _mux(done, inp, mux, mux_timing, mux_pitch, force))
    return done


def _mux(done: Written, video: str | None, out: str, timing: str, pitch: str, force: bool) -> None:
    rec = done.recovery
    audio = rec.audio
    # the audio starts at the first row's instant (rolling shutter) of the first frame used (--start)
    first = (rec.input.get("frame_range") or [0])[0]
    t0 = (rec.diagnostics.get("time_of_first_sample_s") or 0.0) + first / rec.params.fps
    if t0 > 0:
        audio = np.concatenate([np.zeros(int(round(t0 * rec.rate))), audio])
    done.muxed = mux_audio(video, audio, out, audio_rate=rec.rate, capture_fps=rec.params.fps, timing=timing,
                           pitch=pitch, force=force)
    done.paths["mux"] = done.muxed["path"]
