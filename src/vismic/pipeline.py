"""Compose the stages: frames -> pyramid -> motion -> fuse -> post-processing -> outputs.

:func:`recover` is the one-call API; :class:`RecoveryParams` holds every knob (frozen, with a JSON
round trip so a sidecar can replay a run); :func:`save` writes the WAV at the true capture rate, a
listenable copy at a standard rate, a JSON sidecar and optionally a spectrogram, each atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .denoise import DENOISERS, detect_lines, highpass_columns, normalize, notch, spectral_subtract
from .errors import InputError, NoTextureError, ParameterError
from .fuse import fuse
from .io import FrameSource, open_source
from .io.base import ROI
from .motion import MODES, MotionEstimator, integrate
from .pyramid import ComplexSteerablePyramid, max_scales

__all__ = ["RecoveryParams", "Recovery", "recover", "save", "output_paths", "stream_motion"]

ProgressFn = Callable[[int, int | None], None]


@dataclass(frozen=True)
class RecoveryParams:
    """Every parameter of a recovery.

    Attributes
    ----------
    fps : float or None
        True capture rate in Hz. ``None``: a camera file's header rate, else the container's rate
        with a warning (high-speed videos usually store a wrong one).
    roi : tuple of int or None
        ``(x, y, w, h)`` in pixels; ``None`` is the whole frame.
    scales, orientations : int
        Pyramid levels (``None``: up to 4, as many as the ROI allows) and orientations.
    high_band : bool
        Use oriented bands carved from the pyramid's high-pass residual (the finest octave).
    mode : {"increment", "reference"}
        Phase reference: frame-to-frame increments (robust to drift) or the first frame.
    grid : tuple of int or None
        Region grid ``(rows, cols)``; ``None`` picks one from the ROI size and clip length.
    max_lag_ms : float
        Bound of the alignment lag search, in milliseconds.
    highpass : float or None
        High-pass cutoff in Hz (``None``: rate / 40 as in the paper; 0: only remove the mean).
    notch : str or tuple of float
        ``"report"`` (detect mains lines, report, keep), ``"auto"`` (notch detected lines),
        ``"off"``, or explicit frequencies in Hz.
    denoise : {"none", "specsub"}
    batch : int
        Frames per batch.
    workers : int
        Threads for the FFTs.
    """

    fps: float | None = None
    roi: tuple[int, int, int, int] | None = None
    scales: int | None = None
    orientations: int = 4
    high_band: bool = True
    mode: str = "increment"
    grid: tuple[int, int] | None = None
    max_lag_ms: float = 2.0
    highpass: float | None = None
    notch: str | tuple[float, ...] = "report"
    denoise: str = "none"
    batch: int = 16
    workers: int = 1

    def __post_init__(self) -> None:
        fps_ok = isinstance(self.fps, int | float) and math.isfinite(self.fps) and self.fps > 0
        if self.fps is not None and not fps_ok:
            raise ParameterError(f"fps={self.fps} must be a positive number of frames per second")
        if self.roi is not None:
            if len(self.roi) != 4:
                raise ParameterError(f"roi={self.roi} must be (x, y, w, h)")
            object.__setattr__(self, "roi", tuple(int(v) for v in self.roi))
        if self.scales is not None and int(self.scales) < 1:
            raise ParameterError(f"scales={self.scales} must be >= 1")
        if not 1 <= int(self.orientations) <= 16:
            raise ParameterError(f"orientations={self.orientations} must be in 1..16")
        if self.mode not in MODES:
            raise ParameterError(f"mode={self.mode!r} must be one of {MODES}")
        if self.grid is not None:
            if len(self.grid) != 2 or min(int(v) for v in self.grid) < 1:
                raise ParameterError(f"grid={self.grid} must be two integers >= 1 (rows, cols)")
            object.__setattr__(self, "grid", (int(self.grid[0]), int(self.grid[1])))
        if not (math.isfinite(self.max_lag_ms) and self.max_lag_ms >= 0):
            raise ParameterError(f"max_lag_ms={self.max_lag_ms} must be >= 0")
        if self.highpass is not None and not (math.isfinite(self.highpass) and self.highpass >= 0):
            raise ParameterError(f"highpass={self.highpass} must be >= 0 Hz")
        if isinstance(self.notch, str):
            if self.notch not in ("report", "auto", "off"):
                raise ParameterError(f"notch={self.notch!r} must be report, auto, off or a list of Hz")
        else:
            object.__setattr__(self, "notch", tuple(float(f) for f in self.notch))
            if any(not (math.isfinite(f) and f > 0) for f in self.notch):
                raise ParameterError(f"notch={self.notch} frequencies must be > 0 Hz")
        if self.denoise not in DENOISERS:
            raise ParameterError(f"denoise={self.denoise!r} must be one of {DENOISERS}")
        if int(self.batch) < 1:
            raise ParameterError(f"batch={self.batch} must be >= 1")
        if int(self.workers) < 1:
            raise ParameterError(f"workers={self.workers} must be >= 1")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("roi", "grid", "notch"):
            if isinstance(d[k], tuple):
                d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RecoveryParams:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ParameterError(f"unknown recovery parameter(s): {sorted(unknown)}")
        d = dict(d)
        for k in ("roi", "grid", "notch"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RecoveryParams:
        return cls.from_dict(json.loads(text))


@dataclass
class Recovery:
    """What :func:`recover` returns.

    Attributes
    ----------
    audio : ndarray, shape (n,)
        Final signal, peak-normalised to 0.98 (float64), at :attr:`rate`.
    rate : float
        Sample rate in Hz (the capture rate).
    raw : ndarray, shape (n,)
        The fused, high-passed signal before notches/denoising (unit variance).
    params : RecoveryParams
        Parameters used (``fps`` filled in with the rate actually used).
    input : dict
        Facts about the input (path, size, frames used, rate and where it came from, ROI).
    diagnostics : dict
        Per-channel lags, signs, weights and SNR estimates; detected lines; notes.
    timings : dict
        Seconds spent per stage and frames per second.
    warnings : list of str
        Warnings raised during the run (also emitted as Python warnings).
    """

    audio: np.ndarray
    rate: float
    raw: np.ndarray
    params: RecoveryParams
    input: dict
    diagnostics: dict
    timings: dict
    warnings: list[str] = field(default_factory=list)

    def sidecar(self) -> dict:
        """Everything for the JSON sidecar (JSON-serialisable)."""
        return {
            "vismic_version": __version__,
            "rate": self.rate,
            "n_samples": int(len(self.audio)),
            "duration_s": len(self.audio) / self.rate,
            "params": self.params.to_dict(),
            "input": self.input,
            "diagnostics": self.diagnostics,
            "timings": self.timings,
            "warnings": self.warnings,
        }


def _resolve_rate(src: FrameSource, fps: float | None) -> tuple[float, str]:
    header = src.header_rate
    if fps is not None:
        if src.rate_is_trusted and header and abs(fps - header) > 0.01 * header:
            warnings.warn(
                f"--fps {fps:g} differs from the {header:g} fps recorded by the camera in {src.path}; "
                "using --fps as given",
                stacklevel=3,
            )
        return float(fps), "user"
    if src.rate_is_trusted and header:
        facts = src.describe()
        step = facts.get("save_step") or 1
        if step > 1:
            warnings.warn(
                f"{src.path} keeps every {step}th frame of a {facts.get('record_rate', header * step):g} fps "
                f"recording: the samples are {header:g} Hz apart, so sound above {header / 2:g} Hz is lost",
                stacklevel=3,
            )
        return float(header), "camera header"
    if header:
        warnings.warn(
            f"no --fps given: using the container's {header:g} fps; high-speed cameras usually store a "
            "wrong rate in video files, so pass --fps with the true capture rate",
            stacklevel=3,
        )
        return float(header), "container (unverified)"
    raise ParameterError(
        f"{src.path}: the frame rate is unknown (no rate in the file); pass --fps with the capture rate in Hz"
    )


def _auto_scales(shape: tuple[int, int]) -> int:
    top = max_scales(shape)
    if top < 1:
        raise ParameterError(
            f"the region is {shape[1]}x{shape[0]} pixels; at least 8x8 is needed (use a larger ROI)"
        )
    return min(4, top)


def _auto_grid(shape: tuple[int, int], n_bands: int, n_frames: int | None, coarse: int) -> tuple[int, int]:
    """Up to 2x2 regions of >= 48 px, each keeping >= 4 coarsest-level coefficients per axis.

    Two regions per axis are enough for the common mode shapes (halves, quadrants moving in
    opposite phase) while keeping the channel count, hence memory and the fit's variance, small.
    The choice depends on the ROI only (and, when the container states it, on a very short clip),
    so the same footage gives the same channels whatever file it comes in.
    """
    rows, cols = shape
    gy = int(np.clip(rows // 48, 1, 2))
    gx = int(np.clip(cols // 48, 1, 2))
    gy = max(1, min(gy, (rows // coarse) // 4))
    gx = max(1, min(gx, (cols // coarse) // 4))
    if n_frames:
        while gy * gx > 1 and n_bands * gy * gx > n_frames / 5:
            if gy >= gx:
                gy -= 1
            else:
                gx -= 1
    return gy, gx


def recover(
    source: str | os.PathLike | FrameSource,
    params: RecoveryParams | None = None,
    *,
    progress: ProgressFn | None = None,
) -> Recovery:
    """Recover the sound that made the object in a video vibrate.

    Parameters
    ----------
    source : path or FrameSource
        Video file, image folder/glob, ``.npy`` stack, or camera file (see :func:`vismic.io.open_source`).
    params : RecoveryParams, optional
        Defaults to ``RecoveryParams()``.
    progress : callable, optional
        Called as ``progress(frames_done, frames_total_or_None)`` after each batch.

    Returns
    -------
    Recovery

    Raises
    ------
    VideoReadError
        Missing or unreadable input.
    ParameterError
        Missing or invalid rate, ROI outside the frame, invalid parameters.
    InputError
        Fewer than two frames, NaNs in the frames.
    NoTextureError
        The region has no texture to measure motion from.
    """
    params = params or RecoveryParams()
    t_start = time.perf_counter()
    own = not isinstance(source, FrameSource)
    src = open_source(os.fspath(source)) if own else source
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _run(src, params, progress, t_start)
    finally:
        if own:
            src.close()
    msgs = []
    for w in caught:
        msgs.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    result.warnings = msgs
    return result


def stream_motion(
    src: FrameSource,
    process: Callable[[np.ndarray], np.ndarray],
    *,
    roi: ROI,
    batch: int,
    progress: ProgressFn | None = None,
) -> tuple[list[np.ndarray], int, float]:
    """Feed the ROI of every frame batch to a streaming motion estimator.

    The first frame must have texture, and the clip at least 8 frames.

    Returns
    -------
    chunks : list of ndarray
        ``process(batch)`` for each batch, in order.
    frames : int
        Frames read.
    seconds : float
        Time spent reading and processing.

    Raises
    ------
    NoTextureError
        The ROI of the first frame is flat (contrast below a quarter grey level).
    InputError
        Fewer than 8 frames.
    """
    t0 = time.perf_counter()
    chunks: list[np.ndarray] = []
    done = 0
    for frames in src.iter_batches(batch=batch, roi=roi):
        if done == 0:
            spread = float(np.std(frames[0]))
            if not np.isfinite(spread) or spread < 0.25 / 255:
                raise NoTextureError(
                    f"the region x={roi.x},y={roi.y},w={roi.w},h={roi.h} is flat (contrast {spread * 255:.2f} "
                    "grey levels); choose an ROI on a textured part of the object"
                )
        chunks.append(process(frames))
        done += len(frames)
        if progress is not None:
            progress(done, src.n_frames)
    seconds = time.perf_counter() - t0
    if done == 0:
        raise InputError(f"{src.path}: no frames could be read")
    if done < 2:
        raise InputError(f"{src.path}: only one frame; motion needs a video of at least 2 frames")
    if done < 8:
        raise InputError(f"{src.path}: only {done} frames; at least 8 are needed to recover a signal")
    return chunks, done, seconds


def _run(src: FrameSource, params: RecoveryParams, progress: ProgressFn | None, t_start: float) -> Recovery:
    rate, rate_source = _resolve_rate(src, params.fps)
    rows, cols = src.shape
    roi = ROI(*params.roi).check(rows, cols) if params.roi is not None else ROI(0, 0, cols, rows)
    shape = (roi.h, roi.w)
    scales = params.scales if params.scales is not None else _auto_scales(shape)
    if scales > max_scales(shape):
        raise ParameterError(
            f"--scales {scales} is too many for a {roi.w}x{roi.h} region (at most {max(max_scales(shape), 0)}); "
            "lower --scales or enlarge the ROI"
        )
    pyr = ComplexSteerablePyramid(
        shape, scales=scales, orientations=params.orientations, high_band=params.high_band,
        workers=params.workers,
    )
    n_bands = len(pyr.bands)
    grid = params.grid or _auto_grid(shape, n_bands, src.n_frames, 2 ** (scales - 1))
    est = MotionEstimator(pyr, mode=params.mode, grid=grid)

    chunks, done, t_motion = stream_motion(src, est.process, roi=roi, batch=params.batch, progress=progress)

    t1 = time.perf_counter()
    signals = np.concatenate(chunks, axis=0)
    del chunks
    disp = integrate(signals) if params.mode == "increment" else signals.astype(np.float64)
    del signals
    hp = params.highpass if params.highpass is not None else rate / 40.0
    finite = np.all(np.isfinite(disp), axis=0)
    disp[:, ~finite] = 0.0
    filtered = highpass_columns(disp, rate=rate, cutoff=hp)
    del disp
    filtered[:, ~finite] = np.nan
    max_lag = int(round(params.max_lag_ms * 1e-3 * rate))
    fusion = fuse(filtered, max_lag=max_lag, groups=np.array([ch.band.orientation for ch in est.channels]))
    t_fuse = time.perf_counter() - t1

    t2 = time.perf_counter()
    raw = fusion.signal
    x = raw  # zero-mean and high-passed already (the fusion combines centred, filtered channels)
    lines = detect_lines(x, rate=rate, min_hz=1.5 * hp)
    notched: list[float] = []
    if isinstance(params.notch, tuple):
        notched = [f for f in params.notch if f < rate / 2]
    elif params.notch == "auto":
        notched = [d["hz"] for d in lines]
    if notched:
        x = notch(x, rate=rate, freqs=notched)
    if params.denoise == "specsub":
        x = spectral_subtract(x, rate=rate)
    audio, gain = normalize(x)
    t_post = time.perf_counter() - t2

    notes = list(fusion.notes)
    if fusion.fused_snr_db < 0:
        warnings.warn(
            f"the estimated SNR of the recovered signal is {fusion.fused_snr_db:.1f} dB: it is mostly "
            "noise; try another ROI, more light, or a larger motion",
            stacklevel=3,
        )
    used_params = dataclasses.replace(
        params, fps=rate, scales=scales, grid=grid, highpass=hp
    )
    try:
        size = os.path.getsize(src.path) if os.path.isfile(src.path) else None
    except OSError:
        size = None
    info = src.describe()
    info.update(
        size_bytes=size,
        frames_used=done,
        rate=rate,
        rate_source=rate_source,
        roi=roi.as_list(),
    )
    order = np.argsort(-fusion.snr_db)
    chans = []
    for i in order:
        ch = est.channels[i]
        chans.append(
            {
                "name": ch.name,
                "level": ch.band.level,
                "orientation_deg": round(float(np.degrees(ch.band.angle)), 2),
                "region": list(ch.region),
                "rect": list(ch.rect),
                "lag_samples": int(fusion.lags[i]),
                "sign": int(fusion.signs[i]),
                "weight": float(fusion.weights[i]),
                "snr_db": float(fusion.snr_db[i]) if np.isfinite(fusion.snr_db[i]) else None,
            }
        )
    diagnostics = {
        "estimated_snr_db": fusion.fused_snr_db,
        "n_channels": est.n_channels,
        "n_channels_used": int(fusion.used.sum()),
        "grid": list(grid),
        "bands": [b.name for b in pyr.bands],
        "channels": chans,
        "lines_detected": lines,
        "notched_hz": notched,
        "output_gain": gain,
        "notes": notes,
    }
    total = time.perf_counter() - t_start
    timings = {
        "motion_s": round(t_motion, 4),
        "fuse_s": round(t_fuse, 4),
        "post_s": round(t_post, 4),
        "total_s": round(total, 4),
        "frames_per_s": round(done / t_motion, 2) if t_motion > 0 else None,
    }
    return Recovery(audio, rate, raw, used_params, info, diagnostics, timings)


def output_paths(out_wav: str, *, spectrogram: str | bool | None = None) -> dict[str, str]:
    """Where :func:`save` writes, given the main WAV path.

    ``spectrogram``: a PNG path, True for ``<stem>.png``, or None/False for no spectrogram.
    """
    stem, _ = os.path.splitext(out_wav)
    paths = {"wav": out_wav, "listen": stem + ".listen.wav", "json": stem + ".json"}
    if isinstance(spectrogram, str):
        paths["spectrogram"] = spectrogram
    elif spectrogram:
        paths["spectrogram"] = stem + ".png"
    return paths


def save(
    recovery: Recovery,
    out_wav: str,
    *,
    force: bool = False,
    listen_rate: int = 44100,
    spectrogram: str | bool | None = None,
    float_wav: bool = False,
) -> dict[str, str]:
    """Write the WAV at the capture rate, a listenable copy, the JSON sidecar and a spectrogram.

    Every file is written to a temp file and renamed, so a crash never leaves a partial output.
    Existing outputs are refused unless ``force``.

    Returns
    -------
    dict
        The paths written (``wav``, ``listen``, ``json`` and ``spectrogram`` if drawn).
    """
    import tempfile

    from .errors import OutputError
    from .io.audio import _umask, check_writable, resample, write_wav

    paths = output_paths(out_wav, spectrogram=spectrogram)
    for p in paths.values():
        check_writable(p, force=force)
    if listen_rate <= 0:
        raise ParameterError(f"listen_rate={listen_rate} must be > 0 Hz")

    # All or nothing: every output is written to a hidden temp file beside its destination, and
    # the temp files are renamed only once all of them are complete.
    staged: list[tuple[str, str]] = []

    def failed(final: str, exc: OSError) -> OutputError:
        why = exc.strerror or (str(exc).rsplit(": ", 1)[-1] if isinstance(exc, OutputError) else str(exc))
        return OutputError(f"cannot write {final}: {why}; nothing was written")

    def stage(final: str, suffix: str) -> str:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".vismic-", suffix=suffix, dir=os.path.dirname(os.path.abspath(final)))
        except OSError as exc:
            raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
        os.close(fd)
        staged.append((tmp, final))
        return tmp

    current = paths["wav"]
    try:
        sub = "FLOAT" if float_wav else "PCM_16"
        stored = write_wav(stage(paths["wav"], ".wav"), recovery.audio, rate=recovery.rate, subtype=sub, force=True)
        current = paths["listen"]
        listen = resample(recovery.audio, rate_in=recovery.rate, rate_out=listen_rate)
        listen, _ = normalize(listen)
        write_wav(stage(paths["listen"], ".wav"), listen, rate=listen_rate, subtype="PCM_16", force=True)
        if "spectrogram" in paths:
            from .plot import save_spectrogram

            current = paths["spectrogram"]
            save_spectrogram(recovery, stage(paths["spectrogram"], ".png"))
        side = recovery.sidecar()
        side["outputs"] = dict(paths)
        side["wav_header_rate"] = stored
        if stored != recovery.rate:
            side["warnings"] = side["warnings"] + [
                f"WAV headers hold integer rates: {paths['wav']} says {stored} Hz, the true rate is "
                f"{recovery.rate:g} Hz"
            ]
        side["listen_rate"] = listen_rate
        current = paths["json"]
        tmp_json = stage(paths["json"], ".json")
        with open(tmp_json, "w") as fh:
            json.dump(side, fh, indent=2, default=_json_default)
        mode = 0o666 & ~_umask()
        for tmp, final in staged:
            current = final
            os.chmod(tmp, mode)
            os.replace(tmp, final)
        staged.clear()
    except OSError as exc:
        raise failed(current, exc) from exc
    finally:
        for tmp, _ in staged:  # anything not renamed: a failure or Ctrl-C part-way
            try:
                os.remove(tmp)
            except OSError:
                pass
    return paths


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o)}")
