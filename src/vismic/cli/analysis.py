"""The analysis commands: ``vismic map``, ``vismic spectrum`` (with displacement export and deflection
shapes) and ``vismic magnify``.

Imports inside functions are the CLI's rule (see :mod:`vismic.cli`): a command pays only for what it runs.
"""

from __future__ import annotations

import argparse
import json
import os

from ..errors import ParameterError
from ._common import (
    _add_range_arguments,
    _band_arg,
    _default_output,
    _float_list,
    _frame_range,
    _grid,
    _progress_bar,
    _roi_auto_line,
)


def add_analysis_parsers(sub) -> None:
    """Add ``map``, ``magnify`` and ``spectrum`` to the CLI's subparsers."""
    mp_ = sub.add_parser("map", help="vibration map: how clearly each part of the frame vibrates in a band")
    mp_.add_argument("input", help="video file, image folder or glob, .npy stack, .cih/.cihx/.mraw or .cine")
    mp_.add_argument("-o", "--output", help="PNG to write (default: <input name>.map.png in the current folder)")
    mp_.add_argument("--fps", type=float, help="true capture rate in Hz")
    mp_.add_argument("--roi", help="region X,Y,W,H to map (default: whole frame)")
    mp_.add_argument("--band", help="band LO,HI in Hz (default: the recovery's high-pass, 40 Hz, to 0.45*rate)")
    mp_.add_argument("--tile", type=int, help="tile size in pixels (default: ~1/6 of the short side, 24-48)")
    mp_.add_argument("--max-frames", type=int, help="analyse at most this many frames from the start (default 4096)")
    _add_range_arguments(mp_)
    mp_.add_argument("--force", action="store_true", help="overwrite the output")
    mp_.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    mp_.add_argument("--json", action="store_true", help="print the map and the suggested ROI as JSON on stdout")

    mg = sub.add_parser("magnify", help="make a band of the vibration visible: phase-based motion magnification")
    mg.add_argument("input", help="video file, image folder or glob, .npy stack, .cih/.cihx/.mraw or .cine")
    mg.add_argument("-o", "--output", help=".mp4 to watch (H.264) or .mkv (lossless, to measure); default: "
                                           "<input name>.magnified.mp4 in the current folder")
    mg.add_argument("--fps", type=float, help="true capture rate in Hz")
    mg.add_argument("--band", required=True, help="the band of motion to magnify, LO,HI in Hz (e.g. around a peak "
                                                  "that vismic spectrum lists: 75,90)")
    mg.add_argument("--factor", type=float, required=True, help="how many times larger the band's motion looks "
                                                                "(e.g. 30)")
    mg.add_argument("--view", choices=("magnified", "side-by-side", "overlay"), default="magnified",
                    help="the magnified frames (default), input | magnified, or an overlay (input cyan, magnified red)")
    mg.add_argument("--roi", help="magnify only the region X,Y,W,H (default: whole frame)")
    mg.add_argument("--play-fps", type=float, help="playback rate of the output (default: the input container's "
                                                   "rate when it is a slow-motion file, else 30)")
    mg.add_argument("--min-snr-db", type=float, default=3.0,
                    help="magnify motion only where it stands this far above the video's noise (default 3 dB)")
    mg.add_argument("--no-denoise", action="store_true", help="magnify everything in the band, noise included")
    _add_range_arguments(mg)
    mg.add_argument("--force", action="store_true", help="overwrite the output")
    mg.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    mg.add_argument("--json", action="store_true", help="print what was written as JSON on stdout")

    sp_ = sub.add_parser("spectrum", help="motion spectrum of an ROI with its modal peaks (frequency, damping)")
    sp_.add_argument("input", help="video file, image folder or glob, .npy stack, .cih/.cihx/.mraw or .cine")
    sp_.add_argument("-o", "--output", help="PNG to write (default: <input name>.spectrum.png in the current folder)")
    sp_.add_argument("--fps", type=float, help="true capture rate in Hz")
    sp_.add_argument("--roi", help="region X,Y,W,H, or auto (from a vibration map; default: whole frame)")
    sp_.add_argument("--band", help="where to look for peaks, LO,HI in Hz (default: 40 Hz to 0.45*rate)")
    sp_.add_argument("--grid", help="region grid ROWSxCOLS (default: regions of >= 32 px, at most 4x4)")
    sp_.add_argument("--nperseg", type=int, help="Welch segment length in frames (default: the whole clip below "
                                                 "512 frames, else an eighth of it)")
    sp_.add_argument("--max-frames", type=int, help="use at most this many frames from the start (default: all)")
    sp_.add_argument("--max-peaks", type=int, default=10, help="at most this many peaks (default 10)")
    sp_.add_argument("--min-snr-db", type=float, default=6.0, help="peaks must stand this far over the floor "
                                                                    "(default 6 dB, raised to what chance allows)")
    _add_range_arguments(sp_)
    sp_.add_argument("--csv", metavar="CSV", help="also write the peaks as CSV")
    sp_.add_argument("--displacement", metavar="FILE",
                     help="write every region's (and point's) displacement time series: .csv, .npy or .npz")
    sp_.add_argument("--points", metavar="X,Y;X,Y", help="also measure these points (a small region around each)")
    sp_.add_argument("--point-size", type=int, default=32, help="side of the region around each point (default 32 px)")
    sp_.add_argument("--scale", type=float, metavar="MM_PER_PX", help="displacement in mm: the size of a pixel on "
                                                                      "the object")
    sp_.add_argument("--scale-ref", metavar="X1,Y1,X2,Y2,MM", help="displacement in mm: two points a known distance "
                                                                  "apart")
    sp_.add_argument("--shapes", metavar="PNG", help="draw the operating deflection shape at each peak over the "
                                                     "first frame")
    sp_.add_argument("--shapes-gif", metavar="GIF", help="animate the strongest peak's deflection shape over one "
                                                         "cycle")
    sp_.add_argument("--force", action="store_true", help="overwrite existing outputs")
    sp_.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    sp_.add_argument("--json", action="store_true",
                     help='print {"peaks": [{"hz", "damping", "snr_db", ...}, ...], ...} on stdout, strongest first')


def _points_arg(text: str | None) -> list[tuple[float, float]]:
    """``--points "X,Y;X,Y"`` as pixel coordinates."""
    if not text:
        return []
    points = []
    for part in text.split(";"):
        vals = _float_list(part)
        if len(vals) != 2:
            raise ParameterError(f"--points {text!r}: each point is X,Y in pixels, points separated by ';'")
        points.append((vals[0], vals[1]))
    return points


def _analysis_output(a: argparse.Namespace, suffix: str) -> str | None:
    """The PNG of ``map``/``spectrum``: ``-o`` (checked writable), else ``<input stem>.<suffix>.png`` in the
    current folder, which a later run replaces (it is the same analysis of the same input: running a
    command twice is never an error); None with ``--json`` and no ``-o`` (only the JSON was asked for)."""
    from ..io.audio import check_writable

    if a.output is None and a.json:
        return None
    out = a.output or _default_output(a.input).replace(".vismic.wav", f".{suffix}.png")
    if not out.lower().endswith(".png"):
        raise ParameterError(f"-o {out}: the output must be a .png path")
    from ..outputs import check_output_paths

    check_output_paths(a.input, {"png": out, "--csv": getattr(a, "csv", None)})
    check_writable(out, force=a.force or a.output is None)
    return out


def cmd_map(a: argparse.Namespace) -> int:
    from ..analysis.vibmap import select_roi, vibration_map
    from ..io import open_source, parse_roi
    from ..plot import save_vibration_map

    out = _analysis_output(a, "map")
    roi, band = parse_roi(a.roi), _band_arg(a.band)
    src = _frame_range(a, open_source(a.input))
    update, close = _progress_bar(a.quiet or a.json, "map")
    try:
        vmap = vibration_map(src, fps=a.fps, roi=roi.as_list() if roi else None, band=band, tile=a.tile,
                             max_frames=a.max_frames, progress=update)
    finally:
        close()
        src.close()
    chosen, why = select_roi(vmap)
    if out is not None:
        save_vibration_map(vmap, out, roi=chosen.as_list())
    if a.json:
        print(json.dumps({"map": vmap.to_dict(), "roi_auto": why, "outputs": {"png": out} if out else {}},
                         default=float))
    elif not a.quiet:
        print(f"vibration map of {vmap.frames_used} frames at {vmap.rate:g} fps in {vmap.band[0]:g}-{vmap.band[1]:g} "
              f"Hz: {vmap.grid[0]}x{vmap.grid[1]} tiles of {vmap.tile} px, "
              f"{int(vmap.textured.sum())} with texture")
        print(_roi_auto_line(why))
        x, y, w, h = chosen.as_list()
        import shlex

        span = (f" --start {a.start:g}" if a.start else "") + (f" --duration {a.duration:g}" if a.duration else "")
        print(f"recover it with: vismic recover {shlex.quote(a.input)} --fps {vmap.rate:g} --roi {x},{y},{w},{h}{span}")
        print(f"{'png':12s} {out}")
    return 0


def cmd_spectrum(a: argparse.Namespace) -> int:
    from ..analysis.deflection import (
        DISPLACEMENT_SUFFIXES,
        deflection_shapes,
        displacement_table,
        scale_from_points,
        write_displacement,
    )
    from ..analysis.spectra import modal_peaks, motion_spectrum, noise_floor, peaks_csv
    from ..analysis.vibmap import select_roi, vibration_map
    from ..io import open_source, parse_roi
    from ..io.atomic import atomic_path
    from ..io.audio import check_writable
    from ..plot import save_deflection_animation, save_deflection_shapes, save_motion_spectrum

    out = _analysis_output(a, "spectrum")
    extra = {"csv": a.csv, "displacement": a.displacement, "shapes": a.shapes, "shapes_gif": a.shapes_gif}
    for path in extra.values():
        if path:
            check_writable(path, force=a.force)
    if a.displacement and os.path.splitext(a.displacement)[1].lower() not in DISPLACEMENT_SUFFIXES:
        raise ParameterError(f"--displacement {a.displacement}: use one of {', '.join(DISPLACEMENT_SUFFIXES)}")
    for flag, path, ext in (("--shapes", a.shapes, ".png"), ("--shapes-gif", a.shapes_gif, ".gif")):
        if path and not path.lower().endswith(ext):
            raise ParameterError(f"{flag} {path}: the output must be a {ext} path")
    if a.scale is not None and a.scale_ref:
        raise ParameterError("--scale and --scale-ref both set the scale; give one")
    mm_per_px = a.scale
    if a.scale_ref:
        vals = _float_list(a.scale_ref)
        if len(vals) != 5:
            raise ParameterError(f"--scale-ref {a.scale_ref!r} must be X1,Y1,X2,Y2,MM (two points and their distance)")
        mm_per_px = scale_from_points(*vals)
    points = _points_arg(a.points)
    band = _band_arg(a.band)
    roi = None if a.roi == "auto" else parse_roi(a.roi)
    if a.max_peaks < 1:
        raise ParameterError(f"--max-peaks {a.max_peaks} must be >= 1")
    src = _frame_range(a, open_source(a.input))
    update, close = _progress_bar(a.quiet or a.json, "spectrum")
    why = None
    point_specs = []
    background = None
    try:
        if a.roi == "auto":
            roi, why = select_roi(vibration_map(src, fps=a.fps, band=band, progress=update))
        spec = motion_spectrum(src, fps=a.fps, roi=roi.as_list() if roi else None, band=band,
                               grid=_grid(a.grid) if a.grid else None, nperseg=a.nperseg, max_frames=a.max_frames,
                               progress=update)
        rows, cols = src.shape
        for x, y in points:
            if not (0 <= x < cols and 0 <= y < rows):
                raise ParameterError(f"--points: {x:g},{y:g} is outside the {cols}x{rows} frame")
            size = max(8, min(int(a.point_size), rows, cols))
            bx = int(min(max(round(x - size / 2), 0), cols - size))
            by = int(min(max(round(y - size / 2), 0), rows - size))
            point_specs.append(motion_spectrum(src, fps=a.fps, roi=[bx, by, size, size], band=band, grid=(1, 1),
                                               nperseg=spec.nperseg, max_frames=a.max_frames))
        if a.shapes or a.shapes_gif:
            background = next(src.iter_batches(batch=1), None)
            background = None if background is None else background[0]
    finally:
        close()
        src.close()
    peaks = modal_peaks(spec, max_peaks=a.max_peaks, min_snr_db=a.min_snr_db)
    outputs = {}
    if out is not None:
        save_motion_spectrum(spec, out, peaks=peaks, floor=noise_floor(spec))
        outputs["png"] = out
    if a.csv:
        with atomic_path(a.csv, suffix=".csv") as tmp:
            with open(tmp, "w") as fh:
                fh.write(peaks_csv(peaks))
        outputs["csv"] = a.csv
    if a.displacement:
        table = displacement_table([spec, *point_specs], mm_per_px=mm_per_px)
        outputs["displacement"] = write_displacement(table, a.displacement, force=a.force)
    shapes = deflection_shapes(spec, [p.hz for p in peaks]) if (a.shapes or a.shapes_gif or a.json) and peaks else []
    if (a.shapes or a.shapes_gif) and not shapes:
        raise ParameterError("no peak stands out of the noise floor, so there is no deflection shape to draw; "
                             "try a longer clip, another --roi or a lower --min-snr-db")
    if a.shapes:
        outputs["shapes"] = save_deflection_shapes(shapes, a.shapes, background=background)
    if a.shapes_gif:
        outputs["shapes_gif"] = save_deflection_animation(shapes[0], a.shapes_gif, background=background)
    if a.json:
        res = {"peaks": [p.to_dict() for p in peaks], "spectrum": spec.to_dict(), "outputs": outputs,
               "deflection_shapes": [sh.to_dict() for sh in shapes]}
        if mm_per_px is not None:
            res["mm_per_px"] = mm_per_px
        if why is not None:
            res["roi_auto"] = why
        print(json.dumps(res, default=float))
    elif not a.quiet:
        x, y, w, h = spec.roi
        print(f"motion spectrum of ROI {x},{y},{w},{h} ({spec.grid[0]}x{spec.grid[1]} regions), {spec.frames_used} "
              f"frames at {spec.rate:g} fps; Welch resolution {spec.resolution_hz:.3g} Hz, peaks fitted at "
              f"{spec.fit_resolution_hz:.3g} Hz")
        if why is not None:
            print(_roi_auto_line(why))
        if not peaks:
            print("no peak stands out of the noise floor")
        for p in peaks:
            damp = (f"damping ratio {p.damping:.3g} (Q {p.q:.0f})" if p.damping is not None
                    else f"damping not resolved (< {p.damping_below:.2g}; a longer clip resolves it)")
            print(f"{p.hz:9.2f} Hz  {p.snr_db:5.1f} dB over the floor  {damp}")
        for k, v in outputs.items():
            print(f"{k:12s} {v}")
    return 0


def cmd_magnify(a: argparse.Namespace) -> int:
    from ..io import open_source, parse_roi
    from ..magnify import magnify

    band = _band_arg(a.band)
    out = a.output or _default_output(a.input).replace(".vismic.wav", ".magnified.mp4")
    roi = parse_roi(a.roi)
    src = _frame_range(a, open_source(a.input))
    update, close = _progress_bar(a.quiet or a.json, "magnify")
    try:
        res = magnify(src, out, band=band, factor=a.factor, fps=a.fps, view=a.view,
                      roi=roi.as_list() if roi else None, play_fps=a.play_fps, force=a.force,
                      denoise=not a.no_denoise, min_snr_db=a.min_snr_db, progress=update)
    finally:
        close()
        src.close()
    if a.json:
        print(json.dumps(res, default=float))
    elif not a.quiet:
        lo, hi = res["band_hz"]
        print(f"magnified {lo:g}-{hi:g} Hz x{res['factor']:g} in {res['frames']} frames at {res['rate']:g} fps "
              f"({res['view']}); plays at {res['play_fps']:g} fps, so {lo:g} Hz shows as "
              f"{lo * res['play_fps'] / res['rate']:.3g} Hz on screen")
        safe = res["safe_factor"]
        if safe is not None:
            limit = f"up to about {safe:.3g}" if safe < 1e4 else "of any size (the band barely moves)"
            print(f"linear range: factors {limit} keep 99 % of the motion within a quarter wavelength; "
                  f"clipping took {100 * res['past_linear_share']:.1f} % of the magnified motion's energy")
        print(f"{'video':12s} {res['path']}")
    return 0
