"""What every ``vismic`` command shares: output planning, progress bars, printing a recovery's result.

Imports inside functions are the CLI's rule (see :mod:`vismic.cli`): a command pays only for what it runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import ParameterError

#: Seconds between progress lines when stderr is not a terminal (a log file, CI, a pipe).
LOG_PROGRESS_S = 5.0


def _progress_bar(quiet: bool, desc: str):
    """``(update, close)``: a tqdm bar on a terminal; on a log (stderr not a terminal) a plain line
    every ``LOG_PROGRESS_S`` seconds with the count, the rate and, when the total is known, an ETA."""
    if quiet:
        return None, lambda: None
    if not sys.stderr.isatty():
        return _log_progress(desc)
    from tqdm import tqdm

    bar = tqdm(total=None, unit="frame", desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    return update, bar.close


def _log_progress(desc: str):
    import time

    t0 = time.monotonic()
    state = {"next": t0 + LOG_PROGRESS_S, "done": 0, "total": None}

    def line(done: int, total: int | None) -> str:
        secs = time.monotonic() - t0
        rate = done / secs if secs > 0 else 0.0
        text = f"vismic: {desc}: {done}"
        if total:
            text += f"/{total} frames ({100 * done / total:.0f} %)"
            if rate > 0 and done < total:
                text += f", about {(total - done) / rate:.0f} s left"
        else:
            text += " frames"
        return text + f", {rate:.0f} frames/s, {secs:.0f} s"

    def update(done: int, total: int | None) -> None:
        state["done"], state["total"] = done, total
        now = time.monotonic()
        if now >= state["next"]:
            state["next"] = now + LOG_PROGRESS_S
            print(line(done, total), file=sys.stderr, flush=True)

    def close() -> None:
        if state["done"] and time.monotonic() - t0 >= LOG_PROGRESS_S:
            print(line(state["done"], state["total"]), file=sys.stderr, flush=True)

    return update, close


def _default_output(inp: str) -> str:
    base = os.path.basename(os.path.normpath(inp)) or "vismic"
    stem = os.path.splitext(base)[0].replace("*", "").strip(".") or "vismic"
    return f"{stem}.vismic.wav"


def _plan_outputs(a: argparse.Namespace) -> str:
    """The main WAV path of ``recover``, its options checked (the outputs are checked writable by
    :func:`vismic.workflow.recover_and_write` before any work)."""
    out = a.output or _default_output(a.input)
    if not out.lower().endswith((".wav", ".flac")):
        raise ParameterError(f"-o {out}: the output must be a .wav or .flac path")
    if out.lower().endswith(".flac") and getattr(a, "float", False):
        raise ParameterError("--float needs a .wav output: FLAC holds integer samples")
    if not 1000 <= a.listen_rate <= 768_000:
        raise ParameterError(f"--listen-rate {a.listen_rate} must be between 1000 and 768000 Hz (e.g. 44100)")
    _check_recover_outputs(a, out)  # with the flags' names; recover_and_write checks they can be written
    return out


def _check_recover_outputs(a: argparse.Namespace, out: str) -> None:
    """Every output of ``recover`` against the input and each other, before any work starts."""
    from ..outputs import check_output_paths
    from ..pipeline import output_paths

    paths: dict[str, str | None] = dict(output_paths(out, spectrogram=a.spectrogram))
    paths.update({"--report": a.report, "--mux": a.mux, "--checkpoint": getattr(a, "checkpoint", None)})
    check_output_paths(a.input, paths)


def _voice_line(v) -> str:
    spk = v.speakers.get("count")
    g = v.gender if v.gender == "unknown" else f"{v.gender} (confidence {v.gender_confidence:.2f})"
    f0 = f"median F0 {v.median_f0_hz:.0f} Hz, " if v.median_f0_hz else ""
    return f"voice: {g}, {f0}{100 * v.voiced_fraction:.0f} % voiced, speakers: {spk}"


def _write_options(a: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`vismic.workflow.recover_and_write` that ``recover``'s options give."""
    return {"force": a.force, "listen_rate": a.listen_rate, "spectrogram": a.spectrogram, "float_wav": a.float,
            "voice": a.voice, "report": a.report, "mux": a.mux, "mux_timing": a.timing, "mux_pitch": a.pitch}


#: the steps of a recovery that count frames, and the name their progress bar shows
_COUNTED_STEPS = {"recovering the sound": "recover", "computing the vibration map": "map"}


def _staged_progress(quiet: bool):
    """``(progress, stage, close)`` for :func:`vismic.workflow.recover_and_write`: one progress bar per
    step that counts frames (the recovery, the vibration map), none while files are written."""
    bar: dict = {"update": None, "close": lambda: None}

    def stage(text: str) -> None:
        bar["close"]()
        bar["update"], bar["close"] = (None, lambda: None)
        if text in _COUNTED_STEPS:
            bar["update"], bar["close"] = _progress_bar(quiet, _COUNTED_STEPS[text])

    def progress(done: int, total: int | None) -> None:
        if bar["update"] is not None:
            bar["update"](done, total)

    return progress, stage, lambda: bar["close"]()


def _print_result(a: argparse.Namespace, done, summary) -> None:
    """What ``vismic recover`` prints of a :class:`vismic.workflow.Written`: the sidecar as JSON
    (``--json``), else ``summary(recovery)``'s lines, the voice line, mux notes and the outputs (nothing
    with ``--quiet``)."""
    import json

    rec, paths, muxed, voice = done.recovery, done.paths, done.muxed, done.voice

    if a.json:
        side = rec.sidecar()
        side["outputs"] = paths
        if muxed:
            side["mux"] = muxed
        from ..outputs import json_default

        print(json.dumps(side, default=json_default))
        return
    if a.quiet:
        return
    for line in summary(rec):
        print(line)
    if voice is not None:
        print(_voice_line(voice))
    for note in (muxed or {}).get("notes", []):
        print(f"mux: {note}")
    for k, v in paths.items():
        print(f"{k:12s} {v}")


def _add_range_arguments(p: argparse.ArgumentParser) -> None:
    """``--start`` / ``--duration`` (seconds of the clip, at the capture rate)."""
    p.add_argument("--start", type=float, default=0.0, metavar="SECONDS",
                   help="begin this many seconds into the clip (at the capture rate; default 0)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="use this many seconds (default: to the end)")


def _frame_range(a: argparse.Namespace, src):
    """``src``, or the frames ``--start``/``--duration`` select (seconds at the capture rate: ``--fps``, else
    the file's rate)."""
    import math

    from ..io.base import FrameRange

    start, duration = float(a.start or 0.0), a.duration
    if start == 0 and duration is None:
        return src
    if not (math.isfinite(start) and start >= 0) or (duration is not None and not (math.isfinite(duration)
                                                                                  and duration > 0)):
        raise ParameterError(f"--start {a.start} must be >= 0 and --duration {a.duration} > 0 seconds")
    rate = a.fps if a.fps is not None else src.header_rate
    if not rate:
        raise ParameterError(f"{a.input} states no frame rate: give --fps to place --start/--duration")
    first = int(round(start * rate))
    stop = None if duration is None else first + max(1, int(round(duration * rate)))
    n = src.n_frames or src.frames_estimate
    if n and first >= n:
        raise ParameterError(f"--start {start:g} s is beyond the end of {a.input}: {n} frames are "
                             f"{n / rate:g} s at {rate:g} fps; give an earlier --start")
    return FrameRange(src, first, stop)


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ParameterError(f"{text!r} is not a comma-separated list of numbers") from None


def _grid(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        gy, gx = (int(p) for p in parts)
    except ValueError:
        raise ParameterError(f"--grid {text!r} must look like ROWSxCOLS, e.g. 3x3") from None
    return gy, gx


def _roi_auto_line(why: dict) -> str:
    """One line saying which region --roi auto chose and why."""
    roi = ",".join(str(v) for v in why["roi"])
    if why.get("fallback"):
        return f"auto ROI {roi} (whole frame: {why['fallback']})"
    best = why["best_tile"]
    line = (f"auto ROI {roi}: {len(why['tiles'])} tile(s) within {why['drop_db']:g} dB of the best "
            f"({best['snr_db']:.1f} dB split-half SNR in {why['band_hz'][0]:g}-{why['band_hz'][1]:g} Hz)")
    if why.get("refined"):
        line += (f", box fitted to the {why['cells_kept']} cells moving at least {why['cell_fraction_threshold']:.2g}x "
                 "as much as the best")
    return line


def _band_arg(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    vals = _float_list(text)
    if len(vals) != 2:
        raise ParameterError(f"--band {text!r} must be LO,HI in Hz, e.g. 50,500")
    return vals[0], vals[1]
