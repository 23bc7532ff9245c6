"""Rolling-shutter recovery composed from the stages: timing -> row motion -> rows -> stitch ->
exposure -> the same post-processing as the global-shutter path (:func:`vismic.denoise.postprocess`).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._typing import ProgressFn
from .._validation import check_rate
from ..denoise import DENOISERS, check_level, default_highpass, highpass, normalize_to, postprocess
from ..errors import ParameterError
from ..io.audio import resample
from ..io.base import ROI
from ..io.stream import input_facts, resolve_rate, run_on_source, stream_motion
from ..params import JsonParams, Recovery, check_roi_param
from .calibrate import line_delay_consistency
from .cameras import find_camera
from .exposure import equalize_exposure, exposure_report
from .locate import row_vibration_map, select_roi
from .row_motion import DIRECTIONS, RowMotionEstimator, anchor_frames
from .rows import BandCombiner, row_signals
from .stitch import signal_band, stitch
from .timing import READOUTS, RowTiming, _num

#: The bands' weights are measured on the clip's first BAND_WINDOW_S seconds, then fixed.
BAND_WINDOW_S = 2.0


@dataclass(frozen=True)
class RollingShutterParams(JsonParams):
    """Every parameter of a rolling-shutter recovery.

    Attributes
    ----------
    fps : float or None
        Exact frame rate in Hz (None: the container's rate, with a warning).
    camera : str or None
        A camera of :func:`camera_table` (its line delay, and exposure where known).
    line_delay : float or None
        Line delay in seconds; overrides the camera's.
    exposure : float or None
        Exposure in seconds (None: the camera's if known, else 0 = not modelled).
    readout : {"down", "up"}
        Readout direction (top-to-bottom is usual).
    rate : float or None
        Output sample rate in Hz (None: the effective rate ``1/line_delay``).
    band : float or None
        Highest frequency to recover, in Hz; the output is low-passed there. None: the physical
        limit (the exposure's first null ``1/E``, at most 8 kHz and ``1/(8 d)``) sets the working
        rate ``2.5 band``, and the output is low-passed where the measured samples' spectrum
        meets their noise floor (:func:`signal_band`).
    direction : {"auto", "x", "y"}
        Motion direction measured (auto: both, combined by their measured gains and noise).
    roi : (x, y, w, h), "auto" or None
        Region in pixels; ``"auto"``: the column strips and rows that see the motion, from a
        per-row vibration map of the clip's first seconds (:mod:`vismic.rolling_shutter.locate`);
        None: the whole frame (rows of a still background are then gaps, found from the data).
    bands : int or None
        Octave bands along the rows (None: up to 4).
    ar_order : int or None
        Order of the autoregressive gap filling (None: 8 ms of samples).
    equalize : bool
        Invert the exposure's box filter up to ``band`` (gain limited to ``max_gain_db``).
    max_gain_db : float
    highpass : float or None
        High-pass cutoff in Hz (None: 40 Hz, :func:`vismic.denoise.default_highpass`).
    notch, denoise, normalize, level_db : as in :class:`vismic.params.RecoveryParams`.
    batch, workers : int
    """

    fps: float | None = None
    camera: str | None = None
    line_delay: float | None = None
    exposure: float | None = None
    readout: str = "down"
    rate: float | None = None
    band: float | None = None
    direction: str = "auto"
    roi: tuple[int, int, int, int] | str | None = None
    bands: int | None = None
    ar_order: int | None = None
    equalize: bool = False
    max_gain_db: float = 10.0
    highpass: float | None = None
    notch: str | tuple[float, ...] = "report"
    denoise: str = "none"
    normalize: str = "peak"
    level_db: float | None = None
    batch: int = 16
    workers: int = 1

    def __post_init__(self) -> None:
        if self.camera is None and self.line_delay is None:
            raise ParameterError(
                "rolling-shutter recovery needs the line delay: give --camera NAME or --line-delay SECONDS "
                "(measure it with `vismic calibrate`)"
            )
        if self.fps is not None:
            object.__setattr__(self, "fps", check_rate(self.fps))
        if self.line_delay is not None:
            _num("line_delay", self.line_delay, unit="seconds", fix="e.g. line_delay=16.15e-6")
        if self.camera is not None:
            find_camera(self.camera, fps=self.fps)  # unknown names fail here, with close matches
        if self.exposure is not None:
            _num("exposure", self.exposure, allow_zero=True, unit="seconds", fix="e.g. exposure=0.0005 (1/2000 s)")
        if self.readout not in READOUTS:
            raise ParameterError(f"readout={self.readout!r} must be one of {READOUTS}")
        if self.rate is not None:
            object.__setattr__(self, "rate", check_rate(self.rate, "rate", what="output rate"))
        if self.band is not None:
            _num("band", self.band, unit="Hz", fix="give band in Hz or leave it unset")
        if self.direction not in DIRECTIONS:
            raise ParameterError(f"direction={self.direction!r} must be one of {DIRECTIONS}")
        object.__setattr__(self, "roi", check_roi_param(self.roi))
        if self.bands is not None and not 1 <= int(self.bands) <= 4:
            raise ParameterError(f"bands={self.bands} must be in 1..4")
        if self.ar_order is not None and int(self.ar_order) < 1:
            raise ParameterError(f"ar_order={self.ar_order} must be >= 1")
        _num("max_gain_db", self.max_gain_db, unit="dB", fix="use e.g. 10")
        if self.highpass is not None:
            _num("highpass", self.highpass, allow_zero=True, unit="Hz", fix="use e.g. 20, or 0 for none")
        if isinstance(self.notch, str):
            if self.notch not in ("report", "auto", "off"):
                raise ParameterError(f"notch={self.notch!r} must be report, auto, off or a list of Hz")
        else:
            object.__setattr__(self, "notch", tuple(float(f) for f in self.notch))
        if self.denoise not in DENOISERS:
            raise ParameterError(f"denoise={self.denoise!r} must be one of {DENOISERS}")
        check_level(self.normalize, self.level_db)
        if int(self.batch) < 1 or int(self.workers) < 1:
            raise ParameterError(f"batch={self.batch} and workers={self.workers} must be >= 1")

    _TUPLES = ("roi", "notch")
    _KIND = "rolling-shutter"
    _MARK = {"rolling_shutter": True}  # a sidecar says which path made it

    def timing(self, rows: int, cols: int | None = None, fps: float | None = None) -> tuple[RowTiming, dict]:
        """Resolve the camera / line delay / exposure for a video of ``rows`` x ``cols`` pixels.

        Returns ``(timing, info)``; ``info`` holds the camera row used and notes.

        Raises
        ------
        ParameterError
            Unknown camera, no rate, or a line delay that does not fit the frame period.
        """
        fps = fps if fps is not None else self.fps
        if fps is None:
            raise ParameterError("the frame rate is unknown; pass --fps with the exact rate (e.g. 59.94)")
        info: dict[str, Any] = {"notes": []}
        d, exposure = self.line_delay, self.exposure
        if self.camera is not None:
            cam = find_camera(self.camera, fps=fps, rows=rows)
            info["camera"] = cam.describe()
            cam_d = cam.line_delay
            if cam.height != rows:
                if cols is not None and abs(cam.width / cam.height - cols / rows) < 0.02 * cam.width / cam.height:
                    cam_d = cam.frame_readout_s / rows
                    info["notes"].append(
                        f"the video has {rows} rows, the {cam.id} mode {cam.height}: assumed scaled, line delay "
                        f"{cam.line_delay * 1e6:.4g} -> {cam_d * 1e6:.4g} us per video row"
                    )
                else:
                    info["notes"].append(
                        f"the video has {rows} rows, the {cam.id} mode {cam.height}: assumed cropped, line delay "
                        "kept"
                    )
            if abs(cam.fps - fps) > 0.01 * cam.fps:
                info["notes"].append(f"--fps {fps:g} differs from the {cam.id} mode's {cam.fps:g} fps")
            if d is None:
                d = cam_d
            elif abs(d - cam_d) > 0.03 * cam_d:
                info["notes"].append(f"--line-delay {d * 1e6:.4g} us overrides {cam.id}'s {cam_d * 1e6:.4g} us")
            if exposure is None and cam.exposure is not None:
                exposure = cam.exposure
        if exposure is None:
            exposure = 0.0
            info["notes"].append("exposure unknown: its box filter is not modelled (give --exposure SECONDS)")
        timing = RowTiming(fps=float(fps), line_delay=float(d), rows=int(rows), exposure=float(exposure),
                           readout=self.readout)
        return timing, info


def auto_band(timing: RowTiming) -> float:
    """Default highest frequency to recover (Hz): exposure's first null, <= 8 kHz, <= 1/(8 d)."""
    b = min(8000.0, 1.0 / (8 * timing.line_delay))
    if timing.exposure > 0:
        b = min(b, 1.0 / timing.exposure)
    return b


def recover_rolling_shutter(source: Any, params: RollingShutterParams, *, progress: ProgressFn | None = None):
    """Recover sound above the frame rate from a rolling-shutter video.

    Parameters
    ----------
    source : path or FrameSource
        Any input :func:`vismic.io.open_source` reads.
    params : RollingShutterParams
    progress : callable, optional
        ``progress(frames_done, frames_total_or_None)`` after each batch.

    Returns
    -------
    vismic.params.Recovery
        ``audio`` at ``params.rate`` (default the effective rate ``1/d``), ``raw``, the params,
        the input facts and diagnostics (timing, exposure report, channels, working rate, filled
        fraction, time of the first sample).

    Raises
    ------
    ParameterError
        Missing line delay or camera, unknown camera, a line delay that does not fit the frame
        period, an ROI outside the frame, bad parameters.
    InputError, NoTextureError, VideoReadError
        As :func:`vismic.pipeline.recover`.
    """
    if not isinstance(params, RollingShutterParams):
        raise ParameterError("params must be a RollingShutterParams (see vismic.rolling_shutter)")
    return run_on_source(source, lambda src: _run(src, params, progress))


def _lowpass(x: np.ndarray, *, rate: float, cutoff: float, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth low-pass (nothing done when ``cutoff`` is at or above 0.45 ``rate``)."""
    import scipy.signal as ss  # lazily: importing scipy.signal costs about a second

    if cutoff >= 0.45 * rate:
        return x
    sos = ss.butter(order, cutoff, btype="lowpass", fs=rate, output="sos")
    return ss.sosfiltfilt(sos, x, padlen=min(x.size - 1, 3 * (2 * len(sos) + 1) * 4))


def _run(src: Any, params: RollingShutterParams, progress: ProgressFn | None):
    t_start = time.perf_counter()
    fps, fps_source = resolve_rate(src, params.fps, stacklevel=5)
    rows, cols = src.shape
    timing, cam_info = params.timing(rows, cols, fps)
    for note in cam_info["notes"]:
        if "overrides" in note or "differs" in note:
            warnings.warn(note, stacklevel=4)
    roi_auto = None
    if params.roi == "auto":
        vmap = row_vibration_map(src, fps=fps, direction=params.direction, batch=params.batch, progress=progress)
        roi_t, roi_auto = select_roi(vmap, rows=rows, cols=cols)
        roi = ROI(*roi_t)
    elif params.roi is not None:
        roi = ROI(*params.roi).check(rows, cols)
    else:
        roi = ROI(0, 0, cols, rows)
    band = params.band if params.band is not None else auto_band(timing)
    if band >= timing.effective_rate / 2:
        raise ParameterError(f"band={band:g} Hz must be below half the row rate ({timing.effective_rate / 2:g} Hz)")
    est = RowMotionEstimator((roi.h, roi.w), direction=params.direction, bands=params.bands,
                             max_anchor=anchor_frames(fps), workers=params.workers)
    combiner = BandCombiner(est, window=int(round(BAND_WINDOW_S * fps)))
    chunks, done, t_motion = stream_motion(src, combiner.process, roi=roi, batch=params.batch, progress=progress)
    chunks.append(combiner.finish())
    t1 = time.perf_counter()
    inc = np.concatenate(chunks)
    del chunks
    rows_sig = row_signals(inc, est.channels, combiner.information(), segments=est.segments, overwrite=True)
    rows_sig.band_noise = combiner.band_noise
    del inc
    st = stitch(rows_sig, timing, row0=roi.y, rate=2.5 * band, ar_order=params.ar_order)
    consistency = line_delay_consistency(rows_sig, timing, row0=roi.y)
    if consistency["flagged"]:
        warnings.warn(consistency["message"], stacklevel=4)
    del rows_sig
    fs = st.rate
    x = st.signal
    hp, hp_reason = ((params.highpass, "given") if params.highpass is not None else default_highpass(fs))
    if hp >= fs / 2:
        raise ParameterError(f"highpass={hp:g} Hz must be below {fs / 2:g} Hz")
    notes = list(cam_info["notes"])
    band_source = "user"
    if params.band is None:
        found = signal_band(x, st.observed, rate=fs, noise_var=st.diagnostics["noise_var_px2"], cap=band)
        band_source = "physics"
        if found is not None and found < 0.95 * band:
            notes.append(f"signal above the noise up to {found:g} Hz of the {band:g} Hz the camera allows: "
                         "low-passed there (--band overrides)")
            band, band_source = found, "data"
    x = highpass(x, rate=fs, cutoff=hp)
    x = _lowpass(x, rate=fs, cutoff=band)
    if params.equalize:
        if timing.exposure <= 0:
            raise ParameterError("equalize needs the exposure: give --exposure SECONDS (e.g. 1/2000)")
        x = equalize_exposure(x, rate=fs, exposure=timing.exposure, max_gain_db=params.max_gain_db, band=band)
        notes.append(f"exposure box filter equalised up to {min(band, 1 / timing.exposure):g} Hz "
                     f"(gain <= {params.max_gain_db:g} dB)")
    raw_ws = x / (np.std(x) + 1e-300)
    t_stitch = time.perf_counter() - t1

    t2 = time.perf_counter()
    x, post = postprocess(x, rate=fs, lowest_hz=1.5 * hp, notch_mode=params.notch, denoise=params.denoise)
    lines, notched = post["lines_detected"], post["notched_hz"]
    out_rate = params.rate if params.rate is not None else timing.effective_rate
    y = resample(x, rate_in=fs, rate_out=out_rate) if out_rate != fs else x
    raw = resample(raw_ws, rate_in=fs, rate_out=out_rate) if out_rate != fs else raw_ws
    audio, level = normalize_to(y, params.normalize, params.level_db)
    gain = level["gain"]
    t_post = time.perf_counter() - t2

    if st.diagnostics["estimated_snr_db"] < 0:
        warnings.warn(
            f"the estimated SNR of the recovered signal is {st.diagnostics['estimated_snr_db']:.1f} dB: it is "
            "mostly noise; try another ROI, more light, or a larger motion",
            stacklevel=4,
        )
    used = dataclasses.replace(params, fps=fps, line_delay=timing.line_delay, exposure=timing.exposure,
                               rate=out_rate, band=band, highpass=hp)
    info = input_facts(src, frames_used=done, rate=out_rate, fps=fps, rate_source=fps_source, roi=roi.as_list())
    diagnostics = dict(st.diagnostics)
    diagnostics.update(
        rolling_shutter=True,
        timing=timing.describe(),
        exposure=exposure_report(timing.exposure, band) | {"equalized": bool(params.equalize)},
        band_hz=band,
        band_source=band_source,
        output_rate_hz=out_rate,
        time_of_first_sample_s=st.t0,
        line_delay_check=consistency,
        motion_bands=est.x_bands,
        reference_segments=len(est.segments),
        lines_detected=lines,
        notched_hz=notched,
        highpass_hz=hp,
        highpass_reason=hp_reason,
        output_gain=gain,
        output_level=level,
        notes=notes,
        unobservable_hz=f"multiples of the frame rate ({fps:g} Hz) within ~{fps / done:.2g} Hz look like a still "
                        "frame and are lost",
    )
    if "camera" in cam_info:
        diagnostics["camera"] = cam_info["camera"]
    if roi_auto is not None:
        diagnostics["roi_auto"] = roi_auto
    timings = {
        "motion_s": round(t_motion, 4),
        "stitch_s": round(t_stitch, 4),
        "post_s": round(t_post, 4),
        "total_s": round(time.perf_counter() - t_start, 4),
        "frames_per_s": round(done / t_motion, 2) if t_motion > 0 else None,
    }
    return Recovery(audio, out_rate, raw, used, info, diagnostics, timings)
