"""Hearing above the frame rate with an ordinary rolling-shutter camera.

A rolling-shutter camera reads its rows one after another. Row ``y`` of frame ``n`` integrates
light over ``[n T + r(y) d, n T + r(y) d + E]`` (``T = 1/fps``, ``d`` the line delay, ``E`` the
exposure, ``r(y) = y`` for a top-to-bottom readout and ``H - 1 - y`` bottom-to-top), so its centre
instant is ``n T + r(y) d + E/2``. Measuring the motion of every row separately therefore samples
the vibration at ``1/d`` samples per second (61,920 for the Pentax K-01 of Davis et al. 2014)
instead of ``fps``, with a gap of ``T - H d`` after every frame in which nothing is recorded.

The stages, one module each, in the order the data flow:

1. :mod:`.timing` -- :class:`RowTiming` and :func:`row_times`; :mod:`.cameras` -- the camera table
   (:func:`camera_table`, :func:`find_camera`) shipped as package data with its sources.
2. :mod:`.row_motion` -- :class:`RowMotionEstimator`: per-row, per-band motion, streamed, each
   half row filtered on its own; phase against a reference renewed every second (no 2 pi slips).
3. :mod:`.rows` -- :func:`row_signals`: bands weighted by their measured noise; per-row gain and
   noise from the data (:class:`RowModel`): rows of a still background are gaps, not zeros.
4. :mod:`.stitch` -- :func:`stitch`: rows onto a uniform grid weighted by their SNR, gaps filled by
   autoregressive interpolation (:func:`ar_fill`); :func:`signal_band`.
5. :mod:`.exposure` -- the exposure's box filter, reported and optionally inverted.
6. :mod:`.calibrate` -- the line delay from a flickering light, a known tone or blindly, and the
   blind check run during every recovery (:func:`line_delay_consistency`).
7. :mod:`.recover` -- :func:`recover_rolling_shutter` composes them and ends in the same
   post-processing as the global-shutter path; it returns a :class:`vismic.params.Recovery`.

The command-line glue lives in :mod:`vismic.cli.rolling` (no CLI code here).
"""

from .calibrate import (
    Calibration,
    calibrate_blind,
    calibrate_flicker,
    calibrate_tone,
    check_line_delay,
    line_delay_consistency,
    stripe_frequency,
)
from .cameras import Camera, camera_table, find_camera
from .exposure import equalize_exposure, exposure_report, exposure_response
from .recover import RollingShutterParams, auto_band, recover_rolling_shutter
from .row_motion import DIRECTIONS, RowMotionEstimator, anchor_frames
from .rows import RowModel, RowSignals, row_signals
from .stitch import Stitched, ar_fill, signal_band, stitch
from .timing import READOUTS, RowTiming, parse_seconds, row_times

__all__ = [
    "READOUTS",
    "DIRECTIONS",
    "RowTiming",
    "row_times",
    "parse_seconds",
    "Camera",
    "camera_table",
    "find_camera",
    "RowMotionEstimator",
    "anchor_frames",
    "RowSignals",
    "RowModel",
    "row_signals",
    "Stitched",
    "stitch",
    "signal_band",
    "ar_fill",
    "exposure_response",
    "exposure_report",
    "equalize_exposure",
    "line_delay_consistency",
    "Calibration",
    "stripe_frequency",
    "calibrate_flicker",
    "calibrate_tone",
    "calibrate_blind",
    "check_line_delay",
    "RollingShutterParams",
    "auto_band",
    "recover_rolling_shutter",
]
