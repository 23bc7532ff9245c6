"""The rolling-shutter timing model: when each row of each frame was exposed.

Row ``y`` of frame ``n`` integrates light over ``[n T + r(y) d, n T + r(y) d + E]`` (``T = 1/fps``,
``d`` the line delay, ``E`` the exposure, ``r(y) = y`` top-to-bottom or ``H - 1 - y``
bottom-to-top). :class:`RowTiming` holds it; :func:`row_times` gives every row's instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_number
from ..errors import ParameterError

READOUTS = ("down", "up")


#: Relative tolerance on ``rows * line_delay <= 1/fps``: published line delays are rounded
#: (e.g. the GoPro HERO8 at 240 fps in the table reads out 0.08 % longer than its frame period).
READOUT_FIT_TOL = 2e-3


def _num(name: str, value: Any, *, positive: bool = True, allow_zero: bool = False, unit: str, fix: str) -> float:
    """A finite float, > 0 (or >= 0), else a ParameterError naming the parameter, value and fix."""
    return check_number(name, value, lo=0.0 if positive else None, lo_open=positive and not allow_zero, unit=unit,
                        fix=fix)


@dataclass(frozen=True)
class RowTiming:
    """When each row of a rolling-shutter video looks at the scene.

    Parameters
    ----------
    fps : float
        Frame rate in Hz (use the exact rate: 59.94, not 60, for "60p" video).
    line_delay : float
        Delay between the starts of consecutive rows, in seconds (e.g. ``16.15e-6``).
    rows : int
        Rows read per frame (the video's height ``H``).
    exposure : float
        Exposure time of each row in seconds (0: instantaneous or unknown).
    readout : {"down", "up"}
        ``"down"``: row 0 (top) is read first; ``"up"``: the bottom row first.

    Raises
    ------
    ParameterError
        A non-positive rate or line delay, ``rows * line_delay`` longer than the frame period
        (beyond a rounding tolerance of 0.2 %), an exposure outside ``[0, 1/fps]``, an unknown
        readout.

    Notes
    -----
    Row ``y`` of frame ``n`` is exposed over ``[n T + r(y) d, n T + r(y) d + E]`` and is assigned
    the centre instant ``n T + r(y) d + E/2``; ``r(y) = y`` (down) or ``H - 1 - y`` (up).
    """

    fps: float
    line_delay: float
    rows: int
    exposure: float = 0.0
    readout: str = "down"

    def __post_init__(self) -> None:
        fps = _num("fps", self.fps, unit="Hz", fix="give the exact frame rate, e.g. fps=59.94")
        d = _num("line_delay", self.line_delay, unit="seconds",
                 fix="give the row-to-row delay, e.g. line_delay=16.15e-6, or measure it with `vismic calibrate`")
        if isinstance(self.rows, bool) or not isinstance(self.rows, int | np.integer) or self.rows < 1:
            raise ParameterError(f"rows={self.rows!r} must be an integer >= 1 (the video's height in rows)")
        rows = int(self.rows)
        period = 1.0 / fps
        if rows * d > period * (1 + READOUT_FIT_TOL):
            raise ParameterError(
                f"line_delay={d:.6g} s does not fit the frame period: {rows} rows x {d * 1e6:.4g} us = "
                f"{rows * d * 1e3:.4g} ms > 1/fps = {period * 1e3:.4g} ms; the line delay must be at most "
                f"{period / rows * 1e6:.4g} us for {rows}-row video at {fps:g} fps (check --line-delay, --fps, "
                "and whether the video was scaled from the sensor's rows)"
            )
        e = _num("exposure", self.exposure, allow_zero=True, unit="seconds",
                 fix="give the shutter time, e.g. exposure=0.0005 (1/2000 s), or 0 if unknown")
        if e > period * (1 + 1e-9):
            raise ParameterError(f"exposure={e:g} s is longer than the frame period 1/fps = {period:.6g} s; "
                                 "a video frame cannot be exposed longer than its period")
        if self.readout not in READOUTS:
            raise ParameterError(f"readout={self.readout!r} must be one of {READOUTS} (top-to-bottom is 'down')")
        object.__setattr__(self, "fps", fps)
        object.__setattr__(self, "line_delay", d)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "exposure", e)

    @property
    def period(self) -> float:
        """Frame period ``T = 1/fps`` in seconds."""
        return 1.0 / self.fps

    @property
    def readout_time(self) -> float:
        """Time to read all rows, ``H d`` in seconds."""
        return self.rows * self.line_delay

    @property
    def gap(self) -> float:
        """Inter-frame gap ``T - H d`` in seconds (0 when the readout fills the period)."""
        return max(0.0, self.period - self.readout_time)

    @property
    def rows_per_period(self) -> float:
        """Row slots per frame period, ``T / d`` (readout rows plus the rows the gap would hold)."""
        return self.period / self.line_delay

    @property
    def effective_rate(self) -> float:
        """Row sampling rate ``1/d`` in Hz."""
        return 1.0 / self.line_delay

    @property
    def missing_fraction(self) -> float:
        """Fraction of time in the inter-frame gap, ``gap / T``."""
        return self.gap / self.period

    def readout_index(self, y: np.ndarray | int) -> np.ndarray:
        """Readout order ``r(y)`` of frame rows ``y`` (0 = read first)."""
        y = np.asarray(y)
        return y if self.readout == "down" else self.rows - 1 - y

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (seconds and Hz)."""
        return {
            "fps": self.fps,
            "line_delay_s": self.line_delay,
            "rows": self.rows,
            "exposure_s": self.exposure,
            "readout": self.readout,
            "frame_period_s": self.period,
            "readout_time_s": self.readout_time,
            "gap_s": self.gap,
            "rows_per_period": self.rows_per_period,
            "effective_rate_hz": self.effective_rate,
            "missing_fraction": self.missing_fraction,
        }


def row_times(timing: RowTiming, frames: int | Iterable[int], rows: Iterable[int] | None = None) -> np.ndarray:
    """Centre instants of the rows' exposures, ``n T + r(y) d + E/2``, in seconds.

    Parameters
    ----------
    timing : RowTiming
    frames : int or array_like of int
        Frame indices ``n`` (an int ``N`` means ``range(N)``).
    rows : array_like of int, optional
        Frame rows ``y`` (0 = top); default all ``timing.rows`` rows.

    Returns
    -------
    ndarray, shape (len(frames), len(rows)), float64
        Seconds after the start of frame 0's first row exposure.

    Raises
    ------
    ParameterError
        A row outside the frame.
    """
    n = np.arange(frames) if isinstance(frames, int | np.integer) else np.asarray(list(frames))
    y = np.arange(timing.rows) if rows is None else np.asarray(rows)
    if np.any((y < 0) | (y >= timing.rows)):
        raise ParameterError(f"rows must lie in [0, {timing.rows}) for a {timing.rows}-row timing")
    r = timing.readout_index(y)
    return n[:, None] * timing.period + r[None, :] * timing.line_delay + timing.exposure / 2


def parse_seconds(text: str | float) -> float:
    """Parse a time in seconds: ``"0.0005"``, ``"1/2000"``, ``"1/2000 s"`` or ``"500us"``.

    Raises
    ------
    ParameterError
        If the text is not a time.
    """
    if isinstance(text, int | float):
        return float(text)
    t = str(text).strip().lower().replace(" ", "")
    scale = 1.0
    for suffix, mult in (("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], mult
            break
    try:
        if "/" in t:
            num, den = t.split("/")
            value = float(num) / float(den)
        else:
            value = float(t)
    except (ValueError, ZeroDivisionError):
        raise ParameterError(f"{text!r} is not a time in seconds (use e.g. 0.0005, 1/2000 or 500us)") from None
    return value * scale
