"""The rolling-shutter half of ``vismic recover`` and the ``vismic calibrate`` command (argparse, no numerics).

Imports inside functions are the CLI's rule (see :mod:`vismic.cli`): a command pays only for what it runs.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

from ..errors import ParameterError
from ..rolling_shutter import (
    DIRECTIONS,
    READOUTS,
    RollingShutterParams,
    calibrate_blind,
    calibrate_flicker,
    calibrate_tone,
    camera_table,
    check_line_delay,
    parse_seconds,
)
from ._common import (
    _frame_range,
    _plan_outputs,
    _print_result,
    _staged_progress,
    _write_options,
)


def _seconds_arg(text: str) -> float:
    import argparse

    try:
        v = parse_seconds(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a time >= 0 seconds")
    return v


_RS_OPTIONS = ("camera", "line_delay", "exposure", "readout", "rate", "band", "equalize")


#: ``vismic recover`` options of the global-shutter pipeline that rolling-shutter recovery does not use.
_CORE_ONLY = ("scales", "orientations", "no_high_band", "mode", "grid", "max_lag_ms")


def add_cli_arguments(parser: Any) -> None:
    """Add the rolling-shutter options to the ``vismic recover`` parser."""
    core = {name: parser.get_default(name) for name in _CORE_ONLY}
    parser.set_defaults(_core_defaults=core)
    g = parser.add_argument_group("rolling shutter (ordinary 30/60 fps video: hear above the frame rate)")
    g.add_argument("--rolling-shutter", action="store_true",
                   help="measure every row separately: samples at 1/line-delay instead of the frame rate")
    g.add_argument("--camera", metavar="NAME",
                   help="camera preset (line delay, exposure): see `vismic calibrate --list-cameras`")
    g.add_argument("--line-delay", type=_seconds_arg, metavar="SECONDS",
                   help="row-to-row readout delay, e.g. 16.15e-6 (overrides --camera; `vismic calibrate` measures it)")
    g.add_argument("--exposure", type=_seconds_arg, metavar="SECONDS",
                   help="shutter time, e.g. 1/2000 or 0.0005 (its box filter is reported; 0 = unknown)")
    g.add_argument("--readout", choices=READOUTS, help="row readout: down (top first, default) or up")
    g.add_argument("--rate", type=float, metavar="HZ", help="output WAV rate (default: the row rate 1/line-delay)")
    g.add_argument("--band", type=float, metavar="HZ",
                   help="highest frequency recovered (default: 1/exposure, at most 8 kHz)")
    g.add_argument("--direction", choices=DIRECTIONS, default="auto",
                   help="motion measured: auto (both, default), x (horizontal) or y (vertical)")
    g.add_argument("--equalize", action="store_true", help="invert the exposure's box filter up to --band")


def uses_rolling_shutter(args: Any) -> bool:
    """True when ``vismic recover`` was given ``--rolling-shutter`` or any rolling-shutter option.

    The CLI routes such a call to :func:`recover_main`, which rejects rolling-shutter options
    given without ``--rolling-shutter`` instead of silently ignoring them.
    """
    if getattr(args, "rolling_shutter", False) or getattr(args, "direction", "auto") != "auto":
        return True
    return any(getattr(args, k, None) not in (None, False) for k in _RS_OPTIONS)


def params_from_args(args: Any) -> RollingShutterParams:
    """Build :class:`RollingShutterParams` from parsed ``vismic recover`` arguments.

    Raises
    ------
    ParameterError
        Rolling-shutter options without ``--rolling-shutter``, ``--rolling-shutter`` without a line
        delay or camera, an unknown camera (close matches listed), bad values.
    """
    from ..io import parse_roi

    given = [f"--{k.replace('_', '-')}" for k in _RS_OPTIONS if getattr(args, k, None) not in (None, False)]
    if getattr(args, "direction", "auto") != "auto":
        given.append("--direction")
    if not getattr(args, "rolling_shutter", False):
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise ParameterError(f"{', '.join(given)} {verb} only to rolling-shutter video: add --rolling-shutter")
        raise ParameterError("params_from_args needs --rolling-shutter")
    defaults = getattr(args, "_core_defaults", {}) or {}
    ignored = [f"--{name.replace('_', '-')}" for name, default in defaults.items()
               if getattr(args, name, default) != default]
    if ignored:
        warnings.warn(f"{', '.join(ignored)} do not apply with --rolling-shutter and are ignored", stacklevel=2)
    roi_arg = getattr(args, "roi", None)
    roi = None if roi_arg == "auto" else parse_roi(roi_arg)
    notch_arg = getattr(args, "notch", "report")
    if notch_arg in ("report", "auto", "off"):
        notch_v: str | tuple[float, ...] = notch_arg
    else:
        try:
            notch_v = tuple(float(v) for v in notch_arg.split(",") if v.strip())
        except ValueError:
            raise ParameterError(f"--notch {notch_arg!r} is not report, auto, off or a list of Hz") from None
    return RollingShutterParams(
        fps=getattr(args, "fps", None), camera=args.camera, line_delay=args.line_delay, exposure=args.exposure,
        readout=args.readout or "down", rate=args.rate, band=args.band, direction=args.direction,
        roi="auto" if roi_arg == "auto" else (roi.as_list() if roi else None), equalize=bool(args.equalize),
        highpass=getattr(args, "highpass", None), notch=notch_v, denoise=getattr(args, "denoise", "none"),
        normalize=getattr(args, "normalize", "peak"), level_db=getattr(args, "level_db", None),
        batch=getattr(args, "batch", 16),
    )


def recover_main(args: Any) -> int:
    """``vismic recover --rolling-shutter ...``: recover, write WAV + listenable copy + JSON (and --report,
    --mux, --voice as the global-shutter path does), print a summary."""
    from ..io import open_source
    from ..workflow import recover_and_write

    params = params_from_args(args)
    out = _plan_outputs(args)
    src = _frame_range(args, open_source(args.input))
    progress, stage, close = _staged_progress(args.quiet)
    try:
        params.timing(*src.shape, params.fps if params.fps is not None else src.header_rate)  # fail before work
        done = recover_and_write(src, params, out, progress=progress, stage=stage, **_write_options(args))
    finally:
        close()
        src.close()
    _print_result(args, done, _summary_lines)
    return 0


def _summary_lines(rec) -> list[str]:
    d = rec.diagnostics
    t = d["timing"]
    lines = [f"recovered {len(rec.audio)} samples at {rec.rate:g} Hz ({len(rec.audio) / rec.rate:.2f} s) from "
             f"{rec.input['frames_used']} frames at {t['fps']:g} fps in {rec.timings['total_s']:.1f} s",
             f"rolling shutter: line delay {t['line_delay_s'] * 1e6:.4g} us ({t['effective_rate_hz']:.0f} rows/s), "
             f"gap {t['gap_s'] * 1e3:.2f} ms; {d['filled_fraction'] * 100:.0f} % of the samples filled by AR "
             f"interpolation (the gap and rows that show no motion), band {d['band_hz']:.0f} Hz"]
    if "roi_auto" in d:
        lines.append(_roi_auto_line(d["roi_auto"]))
    ex = d["exposure"]
    if ex.get("first_null_hz"):
        lines.append(f"exposure {ex['exposure_s'] * 1e3:.3g} ms: box filter, first null {ex['first_null_hz']:.0f} Hz"
                     + (" (equalised)" if ex.get("equalized") else ""))
    lines.append(f"estimated SNR {d['estimated_snr_db']:.1f} dB; {d['line_delay_check']['message']}")
    return lines


def _roi_auto_line(why: dict) -> str:
    """One line saying which region the rolling-shutter --roi auto chose and why."""
    roi = ",".join(str(v) for v in why["roi"])
    if "fallback" in why:
        return f"auto ROI {roi} (whole frame: {why['fallback']})"
    a, b = why["rows_seeing_motion"]
    how = f"within {why['drop_db']:g} dB of the best or moving with it"
    return (f"auto ROI {roi}: {len(why['chosen'])} of {len(why['strips'])} column strips {how}; rows {a}-{b} see "
            "the motion")


def add_calibrate_parser(subparsers: Any) -> Any:
    """Add the ``vismic calibrate`` command to the CLI's subparsers; returns its parser."""
    c = subparsers.add_parser(
        "calibrate", help="measure a rolling-shutter camera's line delay (flickering light, known tone, or blind)",
        description="Measure the line delay (and readout direction) of a rolling-shutter camera. Film a light "
                    "flickering at a known frequency (--flicker-hz), or an object vibrating with a known tone "
                    "(--tone-hz); or check a prior line delay against any vibration video (--blind). With --camera "
                    "or --line-delay, the measurement is compared with that value (exit status 1 on mismatch).",
    )
    c.add_argument("input", nargs="?", help="video of the calibration target")
    c.add_argument("--fps", type=float, help="exact frame rate in Hz (default: the container's)")
    how = c.add_mutually_exclusive_group()
    how.add_argument("--flicker-hz", type=float, metavar="HZ",
                     help="flicker frequency of the light (mains lighting: 100 or 120; a PWM LED: its frequency)")
    how.add_argument("--tone-hz", type=float, metavar="HZ", help="frequency of the tone shaking the filmed object")
    how.add_argument("--blind", action="store_true",
                     help="estimate from any vibration (speech, music) around --camera/--line-delay (+-30 %%)")
    c.add_argument("--roi", help="region X,Y,W,H in pixels (default: whole frame)")
    c.add_argument("--camera", metavar="NAME", help="camera preset to check the measurement against")
    c.add_argument("--line-delay", type=_seconds_arg, metavar="SECONDS", help="line delay to check against")
    c.add_argument("--readout", choices=READOUTS, help="readout assumed by --blind (default down)")
    c.add_argument("--tolerance", type=float, default=0.03, help="relative mismatch flagged (default 0.03)")
    c.add_argument("--list-cameras", action="store_true", help="list the camera presets and exit")
    c.add_argument("--batch", type=int, default=16, help="frames per batch (default 16)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    return c


def calibrate_main(args: Any) -> int:
    """``vismic calibrate``: print the measured line delay; 1 when it contradicts --camera/--line-delay."""
    from ..io import open_source, parse_roi

    if args.list_cameras:
        table = camera_table()
        if args.json:
            print(json.dumps([c.describe() for c in table]))
            return 0
        print(f"{'id':34s} {'fps':>6s} {'rows':>5s} {'line us':>8s} {'gap ms':>7s}  source")
        for c in table:
            print(f"{c.id:34s} {c.fps:6g} {c.height:5d} {c.line_delay * 1e6:8.4g} {c.gap_s * 1e3:7.3g}  {c.source}")
        return 0
    if not args.input:
        raise ParameterError("calibrate needs an INPUT video (or --list-cameras)")
    if args.flicker_hz is None and args.tone_hz is None and not args.blind:
        raise ParameterError("calibrate needs --flicker-hz HZ (flickering light), --tone-hz HZ (known tone) or --blind")
    roi = parse_roi(args.roi)
    roi_t = tuple(roi.as_list()) if roi else None
    src = open_source(args.input)
    try:
        fps = args.fps
        if fps is None:
            if not src.header_rate:
                raise ParameterError(f"{args.input}: the frame rate is unknown; pass --fps")
            fps = float(src.header_rate)
            warnings.warn(f"no --fps given: using the container's {fps:g} fps", stacklevel=2)
        rows = src.shape[0]
        expected = None
        label = ""
        if args.camera is not None or args.line_delay is not None:
            prior = RollingShutterParams(fps=fps, camera=args.camera, line_delay=args.line_delay, exposure=0.0,
                                         readout=args.readout or "down")
            timing, _ = prior.timing(rows, src.shape[1], fps)
            expected = timing.line_delay
            label = args.camera if args.line_delay is None else f"--line-delay {args.line_delay:g}"
        if args.flicker_hz is not None:
            cal = calibrate_flicker(src, fps=fps, flicker_hz=args.flicker_hz, roi=roi_t, batch=args.batch)
        elif args.tone_hz is not None:
            cal = calibrate_tone(src, fps=fps, tone_hz=args.tone_hz, roi=roi_t, batch=args.batch)
        else:
            if expected is None:
                raise ParameterError("--blind needs a prior --camera NAME or --line-delay SECONDS (searched +-30 %)")
            cal = calibrate_blind(src, timing=timing, roi=roi_t, batch=args.batch)
    finally:
        src.close()
    check = check_line_delay(cal, expected, tolerance=args.tolerance) if expected is not None else None
    if args.json:
        out = cal.describe()
        if check is not None:
            out["check"] = check
        from ..outputs import json_default

        print(json.dumps(out, default=json_default))
    else:
        d = cal.describe()
        unc = f" +- {cal.line_delay_std * 1e6:.3g} us" if cal.line_delay_std > 0 else ""
        print(f"line delay {cal.line_delay * 1e6:.4g} us{unc} ({cal.method}"
              + (f" {cal.frequency_hz:g} Hz" if cal.frequency_hz else "") + f", {cal.frames} frames)")
        print(f"readout {cal.readout or 'undetermined'}; frame readout {d['readout_time_s'] * 1e3:.3f} ms of "
              f"{1e3 / cal.fps:.3f} ms, gap {d['gap_s'] * 1e3:.3f} ms; row rate {d['effective_rate_hz']:.0f} Hz")
        for note in cal.notes:
            print(f"note: {note}")
        print(f"use: vismic recover VIDEO --fps {cal.fps:g} --rolling-shutter --line-delay {cal.line_delay:.5g}"
              + (f" --readout {cal.readout}" if cal.readout == "up" else ""))
        if check is not None:
            print(f"{label}: {check['message']}")
    if check is not None and not check["consistent"]:
        warnings.warn(f"{label}: {check['message']}", stacklevel=2)
        return 1
    return 0
