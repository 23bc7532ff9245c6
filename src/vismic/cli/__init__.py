"""Command line: ``vismic recover | simulate | score | demo | map | spectrum | magnify | mux | serve``.

Errors a user can cause print one line (``vismic: error: ...``) and exit with status 2; warnings
print as ``vismic: warning: ...`` on stderr; ``--json`` prints a machine-readable result on stdout.

Each command imports its stages inside its function (the only reason for the imports there): a
command pays only for what it runs, and ``vismic --help`` answers in about half a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from .._backends import debug_wanted
from ..errors import ParameterError, VismicError
from ._common import (
    _add_range_arguments,
    _float_list,
    _frame_range,
    _grid,
    _plan_outputs,
    _print_result,
    _progress_bar,
    _roi_auto_line,
    _staged_progress,
    _write_options,
)
from .analysis import add_analysis_parsers, cmd_magnify, cmd_map, cmd_spectrum
from .rolling import add_calibrate_parser, add_cli_arguments, calibrate_main, recover_main, uses_rolling_shutter

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line on a usage error (its default, kept explicit)."""

    def error(self, message: str):  # pragma: no cover - exercised through main()
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"vismic: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:

    p = _Parser(prog="vismic", description="Recover sound from silent video (the visual microphone).")
    p.add_argument("--version", action="version", version=f"vismic {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("recover", help="recover audio from a video of a vibrating object")
    r.add_argument("input", help="video file, image folder or glob, .npy stack, .cih/.cihx/.mraw or .cine")
    r.add_argument("-o", "--output",
                   help="output .wav, or .flac (24-bit) (default: <input name>.vismic.wav in the current folder)")
    r.add_argument("--fps", type=float, help="true capture rate in Hz (camera files carry it; video headers often lie)")
    r.add_argument("--roi", help="region X,Y,W,H in pixels, or auto: the region that vibrates most clearly, from a "
                                 "vibration map of the clip's start (default: whole frame)")
    r.add_argument("--scales", type=int, help="pyramid scales (default: up to 4, as the ROI allows)")
    r.add_argument("--orientations", type=int, default=4, help="pyramid orientations (default 4)")
    r.add_argument("--no-high-band", action="store_true", help="drop the oriented bands of the finest octave")
    r.add_argument("--mode", choices=("auto", "anchored", "increment", "reference", "fast"), default="auto",
                   help="auto (default): the fast first-order path, measured again with the exact anchored path "
                        "where the signal is weak (estimated SNR < 10 dB) or the exact path measures > 1 dB more "
                        "on the loudest 256 frames; fast; or the exact path's phase reference: anchored (an anchor "
                        "frame renewed as the object drifts), increment (frame to frame), reference (the first "
                        "frame) (docs/performance.md)")
    r.add_argument("--grid", help="region grid ROWSxCOLS for per-region signals (default: from the ROI size)")
    r.add_argument("--max-lag-ms", type=float, default=2.0, help="bound of the alignment lag search (default 2 ms)")
    r.add_argument("--highpass", type=float,
                   help="high-pass cutoff in Hz (default: 40 Hz, a quarter of the rate below 160 fps; 0 = mean only)")
    r.add_argument("--notch", default="report",
                   help="mains lines: report (default: detect, keep), auto (notch detected), off, or HZ,HZ,...")
    r.add_argument("--denoise", choices=("none", "specsub"), default="none", help="denoising (default none)")
    r.add_argument("--normalize", choices=("peak", "rms"), default="peak",
                   help="level the audio by its peak (default) or its RMS (loudness; the peak stays under full scale)")
    r.add_argument("--level", type=float, dest="level_db", metavar="DBFS",
                   help="the level in dB of full scale (default: 0.98 of full scale for peak, -20 for rms)")
    r.add_argument("--spectrogram", nargs="?", const=True, default=None, metavar="PNG",
                   help="also draw a spectrogram (default path: <output>.png)")
    r.add_argument("--listen-rate", type=int, default=44100, help="rate of the listenable copy (default 44100)")
    _add_range_arguments(r)
    r.add_argument("--float", action="store_true", help="write a 32-bit float WAV instead of 16-bit PCM")
    r.add_argument("--batch", type=int, default=16, help="frames per batch (default 16)")
    r.add_argument("--processes", type=int,
                   help="worker processes (default: every usable core for long clips, else 1)")
    r.add_argument("--chunk", type=int, default=2048,
                   help="frames per work unit for processes, Dask and checkpoints (default 2048)")
    r.add_argument("--checkpoint", metavar="DIR",
                   help="save finished chunks in DIR and resume from it when run again (default for clips of "
                        ">= 10 chunks: <output>.checkpoint/, removed after success)")
    r.add_argument("--no-checkpoint", action="store_true", help="never write checkpoints")
    r.add_argument("--backend", choices=("auto", "numpy", "torch"), default="auto",
                   help="exact motion step: auto (default: the CPU with FFTW and numba where installed), numpy "
                        "(scipy.fft and numpy only: the same bits on any machine) or torch (a GPU when present; "
                        "use a larger --batch; vismic[gpu])")
    r.add_argument("--dask", nargs="?", const="local", default=None, metavar="SCHEDULER",
                   help="run chunks on Dask: a scheduler address, or no value for a local cluster (vismic[dask])")
    r.add_argument("--force", action="store_true", help="overwrite existing outputs")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    r.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    r.add_argument("--voice", action="store_true",
                   help="add a voice report (pitch track, gender from F0, speaker count) to the JSON sidecar")
    r.add_argument("--report", metavar="HTML", help="also write one self-contained HTML report (implies --voice)")
    r.add_argument("--mux", metavar="OUT", help="also write the input video with the recovered audio as its "
                   "sound track (.mp4/.mov/.mkv; see vismic mux)")
    _add_timing_arguments(r)
    add_cli_arguments(r)

    s = sub.add_parser("simulate", help="render a vibrating textured scene with known truth")
    s.add_argument("output", help="video to write (.mkv/.nut lossless FFV1, .mp4, or .npy)")
    s.add_argument("--sound", default="melody", help="tone, chirp, melody, noise, or a WAV file (default melody)")
    s.add_argument("--freq", type=float, help="tone frequency in Hz (with --sound tone)")
    s.add_argument("--texture", default="pink", help="pink, white, checker, stripes, flat, or an image file")
    s.add_argument("--fps", type=float, default=2200.0, help="frame rate in Hz (default 2200)")
    s.add_argument("--duration", type=float, default=None,
                   help="seconds (default 1 for a built-in sound, a sound file's own length for a file)")
    s.add_argument("--size", default="192x192", help="frame size WxH (default 192x192)")
    s.add_argument("--rms-px", type=float, default=0.01, help="RMS motion in pixels (default 0.01)")
    s.add_argument("--direction", type=float, default=0.0, help="motion direction in degrees (0 = +x)")
    s.add_argument("--shape", default="rigid", help="mode shape: rigid, membrane, halves, halves-in-phase")
    s.add_argument("--noise", type=float, default=2.0, help="read noise in grey levels (default 2)")
    s.add_argument("--drift-px", type=float, default=0.0, help="slow drift over the clip in pixels")
    s.add_argument("--flicker", type=float, default=0.0, help="lighting flicker depth (0.01 = 1%%)")
    s.add_argument("--flicker-hz", type=float, default=120.0, help="flicker frequency (default 120)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--json", action="store_true")

    c = sub.add_parser("score", help="compare a recovered WAV with the true sound")
    c.add_argument("truth", help="reference WAV")
    c.add_argument("estimate", help="recovered WAV")
    c.add_argument("--highpass", type=float, help="high-pass both at HZ first (default: the recovery's, 40 Hz)")
    c.add_argument("--max-lag-ms", type=float, default=50.0, help="lag search bound (default 50 ms)")
    c.add_argument("--json", action="store_true")

    d = sub.add_parser("demo", help="simulate a scene, recover its sound and score it")
    d.add_argument("--out", default="demo-output", help="folder for the demo files (default ./demo-output)")
    d.add_argument("--quiet", action="store_true")
    d.add_argument("--json", action="store_true")
    add_calibrate_parser(sub)

    m = sub.add_parser("mux", help="put recovered audio into the video as a time-aligned sound track")
    m.add_argument("video", help="the footage the audio was recovered from")
    m.add_argument("audio", help="recovered WAV (at the capture rate, or its .listen.wav copy)")
    m.add_argument("-o", "--output", required=True, help="video to write: .mp4/.m4v/.mov (AAC) or .mkv (FLAC)")
    m.add_argument("--fps", type=float,
                   help="capture rate of the footage in Hz (default: from the vismic JSON beside the audio)")
    m.add_argument("--audio-rate", type=float, help="true rate of the audio in Hz (default: WAV header / JSON)")
    _add_timing_arguments(m)
    m.add_argument("--video-codec", dest="video_mode", choices=("auto", "copy", "lossless"), default="auto",
                   help="video stream: copy when the container plays it, else H.264 (auto, default); copy only; "
                        "or re-encode losslessly")
    m.add_argument("--force", action="store_true", help="overwrite the output")
    m.add_argument("--quiet", action="store_true", help="no summary")
    m.add_argument("--json", action="store_true", help="print the result as JSON on stdout")

    w = sub.add_parser("serve", help="local web UI: pick a video, drag an ROI, run, listen (needs vismic[web])")
    w.add_argument("folder", help="folder whose videos the UI may open (nothing outside it can be opened)")
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    w.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    w.add_argument("--max-upload-mb", type=float, default=512.0, help="largest upload in MB (default 512)")
    w.add_argument("--max-uploads", type=int, default=20, help="most uploaded videos kept at once (default 20)")
    w.add_argument("--max-upload-total-mb", type=float, help="most MB all uploads take together (default: 4x "
                                                             "--max-upload-mb)")
    w.add_argument("--workdir", help="folder for uploads and job outputs (default: a temp folder removed at exit)")
    w.add_argument("--open", action="store_true", help="open the page in the default browser")

    add_analysis_parsers(sub)
    return p


def cmd_recover(a: argparse.Namespace) -> int:
    if uses_rolling_shutter(a):
        if a.dask or a.mode == "fast" or a.checkpoint:
            raise ParameterError("--dask, --mode fast and --checkpoint do not apply to --rolling-shutter recoveries; "
                                 "drop them (rolling-shutter clips are short: one process handles them)")
        return recover_main(a)
    from ..io import open_source, parse_roi
    from ..pipeline import RecoveryParams
    from ..workflow import recover_and_write

    roi = None if a.roi == "auto" else parse_roi(a.roi)
    notch: str | tuple[float, ...] = a.notch if a.notch in ("report", "auto", "off") else _float_list(a.notch)
    params = RecoveryParams(
        fps=a.fps,
        roi="auto" if a.roi == "auto" else (roi.as_list() if roi else None),
        scales=a.scales,
        orientations=a.orientations,
        high_band=not a.no_high_band,
        mode=a.mode,
        grid=_grid(a.grid) if a.grid else None,
        max_lag_ms=a.max_lag_ms,
        highpass=a.highpass,
        notch=notch,
        denoise=a.denoise,
        normalize=a.normalize,
        level_db=a.level_db,
        batch=a.batch,
        processes=a.processes,
        chunk=a.chunk,
        backend=a.backend,
    )
    out = _plan_outputs(a)
    src = _frame_range(a, open_source(a.input))  # fails fast, before a progress bar is drawn
    checkpoint = _checkpoint_folder(a, out, src, params)
    progress, stage, close = _staged_progress(a.quiet)
    try:
        with _executor(a.dask) as executor:
            done = recover_and_write(src, params, out, progress=progress, stage=stage, checkpoint=checkpoint,
                                     executor=executor, **_write_options(a))
    finally:
        close()
        src.close()
    if checkpoint is not None and a.checkpoint is None:  # ours, and the outputs are safe: remove it
        import shutil

        shutil.rmtree(checkpoint, ignore_errors=True)
    _print_result(a, done, _summary_lines)
    return 0


def _summary_lines(rec) -> list[str]:
    d = rec.diagnostics
    lines = [f"recovered {len(rec.audio)} samples at {rec.rate:g} Hz ({len(rec.audio) / rec.rate:.2f} s) "
             f"from {rec.input['frames_used']} frames in {rec.timings['total_s']:.1f} s "
             f"({rec.timings['frames_per_s']} frames/s)",
             f"estimated SNR {d['estimated_snr_db']:.1f} dB from {d['n_channels_used']} band/region channels "
             f"(grid {d['grid'][0]}x{d['grid'][1]})"]
    if "roi_auto" in d:
        lines.append(_roi_auto_line(d["roi_auto"]))
    mode = d.get("mode", {})
    if mode.get("reason", "given") != "given":
        lines.append(f"mode {mode['chosen']}: {mode['reason'].removeprefix('auto: ')}")
    lines += [f"note: {note}" for note in d.get("notes", [])]
    for line in d["lines_detected"][:4]:
        lines.append(f"mains-like line at {line['hz']:g} Hz ({line['db_above_floor']:.0f} dB above floor)"
                     + (" notched" if line["hz"] in d["notched_hz"] else "; --notch auto removes it"))
    return lines


def _checkpoint_folder(a: argparse.Namespace, out: str, src, params) -> str | None:
    """``--checkpoint DIR``, or ``<output>.checkpoint/`` for long clips (>= 10 chunks) unless --no-checkpoint."""
    if a.no_checkpoint:
        if a.checkpoint:
            raise ParameterError("--checkpoint and --no-checkpoint contradict each other; give one")
        return None
    if a.checkpoint:
        return a.checkpoint
    n = src.frames_estimate  # Matroska states no frame count: its duration x rate tells a long run too
    if n and n >= 10 * params.chunk:
        return os.path.splitext(out)[0] + ".checkpoint"
    return None


def _executor(dask: str | None):
    """A context manager giving the Dask client for --dask (None without it)."""
    import contextlib

    if dask is None:
        return contextlib.nullcontext(None)
    from ..distributed import dask_client

    return dask_client(None if dask == "local" else dask)


def _add_timing_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timing", choices=("realtime", "stretch"), default="realtime",
                   help="slow-motion footage: audio at its true duration (realtime, default) or stretched to the "
                        "slowed picture (stretch)")
    p.add_argument("--pitch", choices=("keep", "shift"), default="keep",
                   help="with --timing stretch: keep the pitch (phase vocoder, default) or shift it down by the "
                        "slow-motion factor (resampling)")


def cmd_mux(a: argparse.Namespace) -> int:
    from ..io.mux import mux
    from ..outputs import check_output_paths

    check_output_paths([a.video, a.audio], {"-o": a.output})
    res = mux(a.video, a.audio, a.output, audio_rate=a.audio_rate, capture_fps=a.fps, timing=a.timing,
              pitch=a.pitch, video_mode=a.video_mode, force=a.force)
    if a.json:
        print(json.dumps(res, default=float))
    elif not a.quiet:
        v, au = res["video"], res["audio"]
        print(f"wrote {res['path']}: video {v['mode']} ({v['codec']}, {v['frames']} frames at {v['container_fps']:g} "
              f"fps, {v['duration_s']:.2f} s), audio {au['codec']} {au['rate']} Hz {au['duration_s']:.2f} s")
        print(f"filmed at {res['capture_fps']:g} fps: slow motion x{res['slow_motion_factor']:.4g}, "
              f"timing {res['timing']}" + (f", pitch {res['pitch']}" if res["pitch"] else ""))
        for note in res["notes"]:
            print(f"note: {note}")
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ParameterError(f"--size {text!r} must look like WIDTHxHEIGHT, e.g. 192x192") from None
    if w < 8 or h < 8:
        raise ParameterError(f"--size {text} must be at least 8x8 pixels")
    return h, w


def _scene_from_args(a: argparse.Namespace):
    from .. import simulate as sim

    if a.fps <= 0:
        raise ParameterError(f"--fps {a.fps} must be > 0 Hz")
    if a.duration is not None and not a.duration > 0:
        raise ParameterError(f"--duration {a.duration} must be > 0 seconds")
    shape = _parse_size(a.size)
    if os.path.isfile(a.sound):
        sound = sim.load_sound(a.sound, rate=a.fps, duration=a.duration)
    else:
        sound = sim.builtin_sound(a.sound, rate=a.fps, duration=a.duration or 1.0, seed=a.seed, freq=a.freq)
    margin = int(abs(a.drift_px)) + 16
    tex_shape = (shape[0] + 2 * margin, shape[1] + 2 * margin)
    if os.path.isfile(a.texture):
        texture = sim.load_texture(a.texture, shape=tex_shape)
    else:
        texture = sim.make_texture(a.texture, tex_shape, seed=a.seed)
    return sim.Scene(
        texture=texture, sound=sound, rate=a.fps, rms_px=a.rms_px, direction_deg=a.direction,
        shape=shape, mode=a.shape, noise_sigma=a.noise, drift_px=a.drift_px, flicker=a.flicker,
        flicker_hz=a.flicker_hz, seed=a.seed,
    )


def cmd_simulate(a: argparse.Namespace) -> int:
    from .. import simulate as sim
    from ..io.audio import check_writable

    stem = os.path.splitext(a.output)[0]
    truth = stem + ".truth.wav"
    # the scene's facts beside its truth, not as <stem>.json: that is the sidecar `vismic recover` writes
    # for -o <stem>.wav, and recovering a simulation beside it must not overwrite its facts
    facts = stem + ".truth.json"
    for p in (a.output, truth, facts):
        check_writable(p, force=a.force)
    scene = _scene_from_args(a)
    meta = sim.render(scene, a.output, truth_path=truth, force=a.force)
    _write_json(facts, meta)
    if a.json:
        print(json.dumps(meta, default=float))
    elif not a.quiet:
        crb = meta.get("crb", {})
        print(f"wrote {a.output} ({meta.get('n_frames')} frames at {a.fps:g} fps; the container's rate is "
              f"not to be trusted: recover with --fps {a.fps:g})")
        print(f"truth  {truth}")
        print(f"facts  {facts}")
        if crb:
            print(f"Cramer-Rao bound: {crb.get('std_px', float('nan')):.2e} px per frame, "
                  f"best possible SNR {crb.get('snr_db', float('nan')):.1f} dB")
    return 0


def _write_json(path: str, obj: dict) -> None:
    from ..io.atomic import atomic_path

    with atomic_path(path, suffix=".json") as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, default=float)


def _rate_from_sidecar(wav: str, header_rate: float) -> float:
    """A vismic WAV's true rate from its JSON sidecar (WAV headers hold only integers)."""
    side = os.path.splitext(wav)[0] + ".json"
    try:
        with open(side) as fh:
            meta = json.load(fh)
        rate = float(meta.get("rate", header_rate))
        return rate if abs(rate - header_rate) <= 0.5 else header_rate
    except (OSError, ValueError, TypeError):
        return header_rate


def cmd_score(a: argparse.Namespace) -> int:
    from ..denoise import default_highpass
    from ..io.audio import read_audio
    from ..metrics import score

    truth, rt = read_audio(a.truth)
    est, re_ = read_audio(a.estimate)
    rt, re_ = _rate_from_sidecar(a.truth, rt), _rate_from_sidecar(a.estimate, re_)
    # the default high-pass is the recovery's (40 Hz; a quarter of the lower rate below 160 Hz): the
    # lower rate rules, a 44.1 kHz listen copy of a 2,200 Hz recovery holding nothing above 1,100 Hz
    low = min(rt, re_)
    hp = a.highpass if a.highpass is not None else default_highpass(low)[0]
    res = score(truth, est, rate_reference=rt, rate_estimate=re_, highpass=hp or None,
                max_lag_s=a.max_lag_ms / 1000.0)
    if abs(rt - re_) > 0.5:
        res["note"] = (f"the truth is at {rt:g} Hz and the estimate at {re_:g} Hz: the truth was resampled to "
                       f"{re_:g} Hz and only 0-{low / 2:g} Hz (what both hold) is meaningful; high-pass {hp:g} Hz")
    if a.json:
        print(json.dumps(res, default=float))
    else:
        if "note" in res:
            print(f"note: {res['note']}")
        _print_score(res)
    return 0


def _print_score(res: dict) -> None:
    rows = [("correlation", "correlation", "{:.3f}"), ("SNR", "snr_db", "{:.2f} dB"),
            ("segmental SNR", "segmental_snr_db", "{:.2f} dB"), ("LLR", "llr", "{:.3f}"),
            ("STOI", "stoi", "{:.3f}"), ("log-spectral distance", "lsd_db", "{:.2f} dB"),
            ("lag", "lag_s", "{:.4f} s")]
    for label, key, fmt in rows:
        v = res.get(key)
        shown = fmt.format(v) if isinstance(v, int | float) else f"n/a ({res.get(key + '_note', '')})"
        print(f"{label:22s} {shown}")


def cmd_demo(a: argparse.Namespace) -> int:
    from .. import simulate as sim
    from ..metrics import score
    from ..pipeline import RecoveryParams, recover, save

    os.makedirs(a.out, exist_ok=True)
    video = os.path.join(a.out, "demo_scene.mkv")
    truth = os.path.join(a.out, "demo_scene.truth.wav")
    fps = 2200.0
    if not a.quiet:
        print(f"1/3 simulating a textured object moved 0.01 px RMS by a melody, filmed at {fps:g} fps ...")
    sound = sim.builtin_sound("melody", rate=fps, duration=2.0, seed=1)
    scene = sim.Scene(texture=sim.make_texture("pink", (224, 224), seed=1), sound=sound, rate=fps,
                      rms_px=0.01, shape=(192, 192), noise_sigma=2.0, seed=1)
    meta = sim.render(scene, video, truth_path=truth, force=True)
    _write_json(os.path.join(a.out, "demo_scene.truth.json"), meta)
    if not a.quiet:
        print("2/3 recovering the sound from the video ...")
    update, close = _progress_bar(a.quiet, "recover")
    try:
        rec = recover(video, RecoveryParams(fps=fps), progress=update)
    finally:
        close()
    paths = save(rec, os.path.join(a.out, "demo_recovered.wav"), force=True, spectrogram=True)
    if not a.quiet:
        print("3/3 scoring against the true motion ...")
    truth_sig = scene.truth()
    res = score(truth_sig, rec.audio, rate_reference=fps, rate_estimate=rec.rate, highpass=rec.params.highpass)
    crb = meta.get("crb", {})
    if a.json:
        print(json.dumps({"outputs": paths, "video": video, "truth": truth, "score": res,
                          "cramer_rao": crb}, default=float))
        return 0
    if not a.quiet:
        _print_score(res)
        if crb:
            print(f"{'Cramer-Rao SNR bound':22s} {crb['snr_db']:.2f} dB (no estimator can beat this)")
        print(f"{'video':12s} {video}")
        print(f"{'truth':12s} {truth}")
        for k, v in paths.items():
            print(f"{k:12s} {v}")
    return 0


def cmd_calibrate(a: argparse.Namespace) -> int:
    return calibrate_main(a)


def cmd_serve(a: argparse.Namespace) -> int:
    from ..web import serve

    return serve(a.folder, host=a.host, port=a.port, max_upload_mb=a.max_upload_mb, workdir=a.workdir,
                 open_browser=a.open, max_uploads=a.max_uploads, max_upload_total_mb=a.max_upload_total_mb)


COMMANDS = {
    "recover": cmd_recover,
    "simulate": cmd_simulate,
    "score": cmd_score,
    "demo": cmd_demo,
    "calibrate": cmd_calibrate,
    "serve": cmd_serve,
    "mux": cmd_mux,
    "map": cmd_map,
    "spectrum": cmd_spectrum,
    "magnify": cmd_magnify,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def show(message, category, filename, lineno, file=None, line=None):
        try:  # clears a progress bar first, so the warning gets a line of its own
            from tqdm import tqdm

            tqdm.write(f"vismic: warning: {message}", file=sys.stderr)
        except ImportError:  # pragma: no cover
            print(f"vismic: warning: {message}", file=sys.stderr)

    warnings.showwarning = show

    def _one_line(exc: object) -> str:
        return " ".join(str(exc).splitlines()) or exc.__class__.__name__

    try:
        return COMMANDS[args.command](args)
    except VismicError as exc:
        print(f"vismic: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vismic: interrupted; no output was written for the unfinished step", file=sys.stderr)
        return 130
    except MemoryError:
        print("vismic: error: out of memory; use a smaller --roi or --batch", file=sys.stderr)
        return 1
    except OSError as exc:  # the OS refused a read or write (disk full, permission denied, I/O error)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"vismic: error: {where}{_one_line(exc.strerror or exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line instead of a traceback; VISMIC_DEBUG=1 shows the traceback
        if debug_wanted():
            raise
        print(f"vismic: error: internal error ({exc.__class__.__name__}: {_one_line(exc)}); this is a bug, "
              "please report it (VISMIC_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
