"""Hearing above the frame rate with an ordinary rolling-shutter camera.

A rolling-shutter camera reads its rows one after another. Row ``y`` of frame ``n`` integrates
light over ``[n T + r(y) d, n T + r(y) d + E]`` (``T = 1/fps``, ``d`` the line delay, ``E`` the
exposure, ``r(y) = y`` for a top-to-bottom readout and ``H - 1 - y`` bottom-to-top), so its centre
instant is ``n T + r(y) d + E/2``. Measuring the motion of every row separately therefore samples
the vibration at ``1/d`` samples per second (61,920 for the Pentax K-01 of Davis et al. 2014)
instead of ``fps``, with a gap of ``T - H d`` after every frame in which nothing is recorded.

The stages, each a function or class of this module:

1. :class:`RowTiming` -- the timing model (:func:`row_times`), with the camera table
   (:func:`camera_table`, :func:`find_camera`) shipped as package data with its sources.
2. :class:`RowMotionEstimator` -- per-row motion, streamed. Horizontal motion is measured with a
   bank of 1-D analytic band-pass filters along the row (an FFT per half row: no row is mixed with
   another, since each row is another instant); vertical motion with short vertical complex
   Gabor filters (at most 17 rows, a temporal smear of a few line delays, far below the
   exposure). Per pixel, the phase change between frames, weighted by the running mean of
   ``|C|^2`` and divided by the running mean of the local phase gradient, gives a least-squares
   displacement per row and frame (fixed weights make the frame-to-frame increments telescope:
   measured 1.9 dB above the Cramer-Rao bound per row under motion). The left and right halves
   of every row are filtered apart: two independent measurements of the same instant, whose
   disagreement measures each row's noise from the data.
3. :func:`row_signals` and :func:`stitch` -- per-row offsets are removed (a row's texture phase is
   unknown, and so is a sound component exactly at a multiple of the frame rate, which films as
   a still frame), rows are fitted onto a uniform working grid at ``K * fps`` by a local-linear
   fit weighted by each row's measured noise, the channels (halves, directions) are combined by
   maximum-ratio weights whose gains come from the covariance *between* halves (noise alone
   gives no spurious signal), and the gaps are filled by least-squares autoregressive
   interpolation (Janssen et al. 1986) with AR models fitted to the neighbouring frames: never
   zeros, which would alias the sound into copies ``fps`` apart. :func:`signal_band` finds
   where the measured spectrum meets the noise floor.
4. :func:`exposure_response` / :func:`equalize_exposure` -- the exposure is a box filter in time
   (first null at ``1/E``), reported and optionally inverted where it is invertible.
5. :func:`calibrate_flicker`, :func:`calibrate_tone`, :func:`calibrate_blind`,
   :func:`check_line_delay`, :func:`line_delay_consistency` -- the line delay from a video of a
   flickering light (stripe spacing against the known flicker frequency) or of an object
   vibrating with a known tone, the readout direction from the stripes' drift; and, during every
   recovery, a blind check that rows of consecutive frames agree at the assumed instants, which
   flags a wrong line delay or readout direction.

:func:`recover_rolling_shutter` composes them and returns a :class:`vismic.pipeline.Recovery`
(WAV at the effective rate ``1/d`` or ``rate``, listenable copy and JSON sidecar via
:func:`vismic.pipeline.save`). The command-line glue (``add_cli_arguments``, ``params_from_args``,
``recover_main``, ``add_calibrate_parser``, ``calibrate_main``) lives at the end of this module.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft as sfft
import scipy.linalg as sla
from scipy.ndimage import correlate1d

from .errors import InputError, NoTextureError, ParameterError

__all__ = [
    "READOUTS",
    "DIRECTIONS",
    "RowTiming",
    "row_times",
    "Camera",
    "camera_table",
    "find_camera",
    "RowMotionEstimator",
    "RowSignals",
    "row_signals",
    "Stitched",
    "stitch",
    "signal_band",
    "line_delay_consistency",
    "ar_fill",
    "exposure_response",
    "equalize_exposure",
    "RollingShutterParams",
    "recover_rolling_shutter",
    "Calibration",
    "stripe_frequency",
    "calibrate_flicker",
    "calibrate_tone",
    "calibrate_blind",
    "check_line_delay",
    "parse_seconds",
    "add_cli_arguments",
    "uses_rolling_shutter",
    "params_from_args",
    "recover_main",
    "add_calibrate_parser",
    "calibrate_main",
]

READOUTS = ("down", "up")
DIRECTIONS = ("auto", "x", "y")
#: Relative tolerance on ``rows * line_delay <= 1/fps``: published line delays are rounded
#: (e.g. the GoPro HERO8 at 240 fps in the table reads out 0.08 % longer than its frame period).
READOUT_FIT_TOL = 2e-3
#: Working-grid slots are placed at least this many slots inside a frame's span of rows:
#: a slot beyond the rows would be an extrapolation (measured: a poorer boundary for gap filling).
EDGE = 0.5
#: Autoregressive gap filling: model order and the context on each side of a gap, in seconds.
AR_ORDER_S = 0.008
AR_CONTEXT_S = 0.03
#: Blind line-delay check: covariance at the lags consecutive frames share must exceed this many
#: standard errors (noise alone: ~1) for the check to say anything.
MIN_STRUCTURE = 6.0
#: Per-row gains: covariances between the row halves are averaged over +-ROW_SMOOTH rows.
ROW_SMOOTH = 8
#: A working-grid slot counts as measured when its SNR is within this many dB of the well-seen
#: slots (75th percentile); the others are gaps, filled from their neighbours.
SLOT_DROP_DB = 6.0
#: Reference segments: each frame's phase is measured against a reference renewed every
#: ANCHOR_S seconds (at least MIN_ANCHOR frames).
ANCHOR_S = 1.0
MIN_ANCHOR = 16
ProgressFn = Callable[[int, int | None], None]


def _num(name: str, value: Any, *, positive: bool = True, allow_zero: bool = False, unit: str, fix: str) -> float:
    """A finite float, > 0 (or >= 0), else a ParameterError naming the parameter, value and fix."""
    try:
        ok = not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if ok and positive:
        v = float(value)
        ok = v >= 0 if allow_zero else v > 0
    if not ok:
        rule = "a finite number" + ((" >= 0" if allow_zero else " > 0") if positive else "")
        raise ParameterError(f"{name}={value!r} must be {rule} {unit}; {fix}")
    return float(value)


# ======================================================================================
# 1. Timing model
# ======================================================================================


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


# ======================================================================================
# Camera table
# ======================================================================================


@dataclass(frozen=True)
class Camera:
    """One row of the camera table (``vismic/data/cameras.csv``)."""

    id: str
    camera: str
    mode: str
    width: int
    height: int
    fps: float
    frame_readout_s: float
    line_delay: float
    gap_s: float
    exposure: float | None
    source: str
    notes: str

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _slug(text: str) -> str:
    text = re.sub(r"\(.*?\)", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


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


@lru_cache(maxsize=1)
def camera_table() -> tuple[Camera, ...]:
    """The measured cameras shipped with vismic, with their sources.

    Returns
    -------
    tuple of Camera
        Line delay in seconds, frame readout and gap in seconds, exposure in seconds where the
        source states one (only the Pentax K-01 of the paper).
    """
    from importlib.resources import files

    text = files("vismic").joinpath("data/cameras.csv").read_text(encoding="utf-8")
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        exp = r["exposure"].strip()
        out.append(Camera(
            id=r["id"], camera=r["camera"], mode=r["mode"], width=int(r["width"]), height=int(r["height"]),
            fps=float(r["fps"]), frame_readout_s=float(r["frame_readout_ms"]) * 1e-3,
            line_delay=float(r["line_delay_us"]) * 1e-6, gap_s=float(r["interframe_gap_ms"]) * 1e-3,
            exposure=parse_seconds(exp) if exp else None, source=r["source"], notes=r["notes"],
        ))
    return tuple(out)


def find_camera(name: str, *, fps: float | None = None, rows: int | None = None) -> Camera:
    """Look a camera up by id (``pentax-k-01-720p60``), ``"camera mode"`` or camera name.

    Matching ignores case, punctuation and parenthesised remarks. A camera name with several
    modes is narrowed down by ``fps`` (within 1 %) and ``rows`` (the video's height).

    Raises
    ------
    ParameterError
        Unknown name (the message lists close matches) or several modes that remain ambiguous.
    """
    table = camera_table()
    q = _slug(str(name))
    if not q:
        raise ParameterError(f"camera={name!r} is empty; give a camera id such as pentax-k-01-720p60")
    by_id = {c.id: c for c in table}
    if q in by_id:
        return by_id[q]
    hits = [c for c in table if _slug(c.camera) == q or _slug(f"{c.camera} {c.mode}") == q
            or c.id.startswith(q + "-")]
    if not hits:
        names = sorted(by_id) + sorted({_slug(c.camera) for c in table})
        close = difflib.get_close_matches(q, names, n=5, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else "no close match"
        raise ParameterError(
            f"unknown camera {name!r} ({hint}); `vismic calibrate --list-cameras` lists the {len(table)} known "
            "cameras, or give --line-delay SECONDS"
        )
    if len(hits) > 1 and fps is not None:
        narrowed = [c for c in hits if abs(c.fps - fps) <= 0.01 * c.fps]
        hits = narrowed or hits
    if len(hits) > 1 and rows is not None:
        narrowed = [c for c in hits if c.height == rows]
        hits = narrowed or hits
    if len(hits) > 1:
        raise ParameterError(
            f"camera {name!r} has {len(hits)} modes: {', '.join(c.id for c in hits)}; give one of these ids"
        )
    return hits[0]


# ======================================================================================
# 2. Per-row motion
# ======================================================================================


def _x_bank(width: int, n_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """One-sided (rfft-bin) responses of ``n_bands`` octave analytic bands along a row.

    Raised-cosine bumps in log2 frequency, one octave apart (squares sum to one between the
    centres), the finest flat up to Nyquist; DC and the Nyquist bin are zero. Returns
    ``(H, k)`` with ``H`` of shape (n_bands, width//2+1) and ``k`` the bin frequencies in rad/px.
    """
    k = 2 * np.pi * np.arange(width // 2 + 1) / width
    with np.errstate(divide="ignore"):
        lg = np.log2(k / np.pi)
    bank = np.zeros((n_bands, k.size))
    for j in range(n_bands):
        u = lg + 0.5 + j
        h = np.cos(np.pi / 2 * np.clip(u, -1, 1))
        if j == 0:
            h = np.where(u > 0, 1.0, h)
        bank[j] = h
    bank[:, 0] = 0
    if width % 2 == 0:
        bank[:, -1] = 0
    return bank, k


def _y_bank() -> list[tuple[np.ndarray, np.ndarray]]:
    """Short vertical complex Gabor kernels and their exact derivatives (zero DC).

    Two octaves: centre 0.55 pi rad/row (sigma 1.4 rows, 9 taps) and 0.275 pi (sigma 2.8 rows,
    17 taps). The longest spans 17 rows, i.e. 17 line delays: a temporal smear far shorter than
    any exposure, so rows stay (almost) separate instants.
    """
    out = []
    for w0, sig, half in ((0.55 * np.pi, 1.4, 4), (0.275 * np.pi, 2.8, 8)):
        y = np.arange(-half, half + 1, dtype=np.float64)
        env = np.exp(-(y**2) / (2 * sig**2))
        carrier = env * np.exp(1j * w0 * y)
        c = carrier.sum() / env.sum()
        g = carrier - c * env  # zero response at DC
        dg = (1j * w0 - y / sig**2) * carrier + c * (y / sig**2) * env  # exact derivative of g
        # correlate1d computes sum_j k[j] f[y + j - half]: reversed kernels give the convolution g * f
        out.append((g[::-1].copy(), dg[::-1].copy()))
    return out


class RowMotionEstimator:
    """Streams frames and returns the motion increment of every row, per channel.

    Parameters
    ----------
    shape : (int, int)
        ``(rows, cols)`` of the ROI.
    direction : {"auto", "x", "y"}
        Motion to measure: horizontal (``"x"``, along the rows: pure per-row filters), vertical
        (``"y"``), or both (``"auto"``; the stitcher finds the direction from the data).
    bands : int or None
        Octave bands along the row (default: up to 4, as the width allows).
    workers : int
        Threads for the FFTs.

    Notes
    -----
    For every band, pixel and frame pair, ``dphi = angle(C_n conj(C_{n-1}))``; with ``w`` the
    running mean of ``|C|^2`` and ``g`` the running mean local phase gradient (spectral along x,
    the exact Gabor derivative along y), the displacement of a row half is
    ``-sum(w g dphi) / sum(w g^2)`` pixels per frame. Channels are ``xL, xR`` (horizontal motion,
    left / right half of the row) and ``yL, yR`` (vertical). Memory holds one frame's
    coefficients and the running means, whatever the clip length.
    """

    def __init__(self, shape: tuple[int, int], *, direction: str = "auto", bands: int | None = None,
                 anchor: int = 64, workers: int = 1) -> None:
        rows, cols = int(shape[0]), int(shape[1])
        if rows < 3 or cols < 16:
            raise ParameterError(f"the ROI is {cols}x{rows} pixels; rolling-shutter recovery needs >= 16 columns "
                                 "and >= 3 rows (enlarge --roi)")
        if direction not in DIRECTIONS:
            raise ParameterError(f"direction={direction!r} must be one of {DIRECTIONS}")
        top = max(1, min(4, int(np.log2(cols / 8))))  # bands fit each half-row
        n_bands = top if bands is None else int(bands)
        if not 1 <= n_bands <= max(top, 1):
            raise ParameterError(f"bands={bands} must be in 1..{top} for a {cols}-pixel-wide ROI")
        self.shape = (rows, cols)
        self.direction = direction
        self.workers = int(workers)
        self.families = {"auto": ("x", "y"), "x": ("x",), "y": ("y",)}[direction]
        self.channels = tuple(f"{f}{h}" for f in self.families for h in "LR")
        half = cols // 2
        self._xcols = (slice(0, half), slice(half, cols))
        self._ycols = (slice(0, half), slice(half, cols))
        # each half is filtered on its own, so the two halves share no pixel and their noise is independent
        self._hx = []
        for sl in self._xcols:
            width = sl.stop - sl.start
            bank, kx = _x_bank(width, n_bands)
            self._hx.append((bank.astype(np.float32), (1j * kx).astype(np.complex64)))
        self._ky = _y_bank()
        if isinstance(anchor, bool) or int(anchor) < 2:
            raise ParameterError(f"anchor={anchor} must be an integer >= 2 frames")
        self._ref: dict[str, list] = {}
        self._stats: dict[str, list] = {}
        #: Time constant, in frames, of the running averages of weights and phase gradients.
        self.memory = 32
        #: Frames per reference segment: frame ``i`` is measured against frame ``anchor * (i // anchor)``.
        self.anchor = int(anchor)
        self.frames_seen = 0
        self.bands = max(n_bands, len(self._ky)) if "y" in self.families else n_bands
        self.x_bands = n_bands
        #: Sum over frames of ``sum(w g^2)`` per channel, band and row (the measurement's information).
        self.information = np.zeros((len(self.channels), self.bands, rows))

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def _coeffs(self, frames: np.ndarray) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        n, rows, cols = frames.shape
        if "x" in self.families:
            parts = []
            for sl, (bank, ikx) in zip(self._xcols, self._hx, strict=True):
                seg = frames[..., sl]
                width = seg.shape[-1]
                # remove the linear ramp that joins the row's ends: the FFT sees no jump where it wraps
                jump = seg[..., -1:] - seg[..., :1]
                seg = seg - jump * (np.arange(width, dtype=np.float32) / max(width - 1, 1) - np.float32(0.5))
                spec = sfft.rfft(seg, axis=-1, workers=self.workers)
                nb = spec.shape[-1]
                cgs = []
                for h in bank:
                    z = np.zeros((2, n, rows, width), dtype=np.complex64)
                    z[0, ..., :nb] = spec * h
                    z[1, ..., :nb] = z[0, ..., :nb] * ikx
                    cgs.append(sfft.ifft(z, axis=-1, workers=self.workers, overwrite_x=True))
                parts.append(cgs)
            out["x"] = [(np.concatenate([p[b][0] for p in parts], axis=-1),
                         np.concatenate([p[b][1] for p in parts], axis=-1)) for b in range(len(self._hx[0][0]))]
        if "y" in self.families:
            lst = []
            for g, dg in self._ky:
                c = (correlate1d(frames, g.real.astype(np.float32), axis=1, mode="reflect")
                     + 1j * correlate1d(frames, g.imag.astype(np.float32), axis=1, mode="reflect"))
                d = (correlate1d(frames, dg.real.astype(np.float32), axis=1, mode="reflect")
                     + 1j * correlate1d(frames, dg.imag.astype(np.float32), axis=1, mode="reflect"))
                lst.append((c.astype(np.complex64), d.astype(np.complex64)))
            out["y"] = lst
        return out

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Per-row, per-band displacement of a batch of consecutive frames against their segment's reference.

        Parameters
        ----------
        frames : ndarray, shape (n, rows, cols)
            The next ``n`` frames (any real dtype; computed in float32).

        Returns
        -------
        ndarray, shape (n, n_channels, bands, rows), float32
            Displacement of each row half in each band since the reference frame of its segment
            (frame ``anchor * (i // anchor)`` for frame ``i``), in pixels (+x right, +y down); NaN
            where a row half has no texture in the band, or for bands a family does not have.

        Notes
        -----
        The phase of every pixel is measured against a reference frame, never accumulated
        from frame-to-frame increments: a wrapped increment slips by ``2 pi`` in a noisy pixel
        (a finest octave that the lens has blurred into noise), and summed slips are a random
        walk that repeats in every frame as lines at multiples of the frame rate. Against a
        reference, a noisy pixel's error stays bounded. The reference is renewed every
        :attr:`anchor` frames, so slow drift never wraps the phase either; the constant that
        each reference adds to a row is removed downstream (:func:`row_signals`, per row and
        segment) together with the row's unknown texture phase. Weights (``|C|^2`` and the
        phase gradient, running means over ~:attr:`memory` frames) are frozen at each
        reference, so the reference's own noise is one constant per row and segment.
        """
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ParameterError(f"frames of shape {frames.shape} given to an estimator built for {self.shape}")
        n = frames.shape[0]
        rows = self.shape[0]
        coeffs = self._coeffs(frames)
        out = np.full((n, self.n_channels, self.bands, rows), np.nan, dtype=np.float32)
        alpha = np.float32(1.0 - (1.0 - 1.0 / self.memory) ** n)
        start = self.frames_seen
        # split the batch where a new segment (reference) starts
        cuts = [k for k in range(n) if (start + k) % self.anchor == 0]
        bounds = sorted({0, n, *cuts})
        ci = 0
        for fam in self.families:
            cols = self._xcols if fam == "x" else self._ycols
            stats = self._stats.setdefault(fam, [None] * len(coeffs[fam]))
            refs = self._ref.setdefault(fam, [None] * len(coeffs[fam]))
            for b, (c, g) in enumerate(coeffs[fam]):
                energy = (c.real**2 + c.imag**2).mean(axis=0)
                qgrad = (c.real * g.imag - c.imag * g.real).mean(axis=0)
                if stats[b] is None:
                    stats[b] = (energy, qgrad)
                for k0, k1 in zip(bounds[:-1], bounds[1:], strict=True):
                    if k0 in cuts or refs[b] is None:
                        e_avg, q_avg = stats[b]
                        grad = q_avg / np.maximum(e_avg, np.float32(1e-30))
                        wg = e_avg * grad
                        den = [(wg * grad)[:, sl].sum(axis=-1, dtype=np.float64) for sl in cols]
                        refs[b] = (c[k0].copy(), wg, den)
                    ref, wg, den = refs[b]
                    dphi = np.angle(c[k0:k1] * np.conj(ref))
                    a = dphi * wg
                    for i, sl in enumerate(cols):
                        num = a[..., sl].sum(axis=-1, dtype=np.float64)
                        with np.errstate(invalid="ignore", divide="ignore"):
                            out[k0:k1, ci + i, b] = np.where(den[i] > 0, -num / den[i], np.nan)
                        self.information[ci + i, b] += den[i] * (k1 - k0)
                e_avg, q_avg = stats[b]
                stats[b] = (e_avg + alpha * (energy - e_avg), q_avg + alpha * (qgrad - q_avg))
            ci += len(cols)
        self.frames_seen += n
        return out


# ======================================================================================
# 3. Stitching onto a uniform grid, gap filling
# ======================================================================================


def _slot_projection(u: np.ndarray, weight: np.ndarray, *, slots: np.ndarray, sigma: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Local-linear fit of row samples at positions ``u`` (in slots) onto integer ``slots``.

    Each slot value is the intercept of a weighted straight-line fit to the rows within
    ``3 sigma`` slots, with Gaussian kernel ``exp(-(u - k)^2 / 2 sigma^2)`` times the row weight
    (inverse noise variance). Returns ``(P, ok)``: ``P`` of shape (len(slots), len(u)) so that
    ``slot_values = P @ row_values``, and ``ok`` marking slots with enough rows for a fit.
    """
    dk = u[None, :] - slots[:, None].astype(np.float64)
    kern = np.exp(-0.5 * (dk / sigma) ** 2) * (np.abs(dk) <= 3 * sigma) * weight[None, :]
    s0 = kern.sum(axis=1)
    s1 = (kern * dk).sum(axis=1)
    s2 = (kern * dk * dk).sum(axis=1)
    det = s0 * s2 - s1 * s1
    # effective number of rows (Kish): too few, or a one-sided cluster, leaves the slot empty
    neff = np.where(s0 > 0, s0**2 / np.maximum((kern**2).sum(axis=1), 1e-300), 0.0)
    ok = (neff >= 2.5) & (det > 1e-9 * np.maximum(s0 * s2, 1e-300))
    with np.errstate(invalid="ignore", divide="ignore"):
        lin = (s2[:, None] - s1[:, None] * dk) / det[:, None]
        p = np.where(ok[:, None], kern * lin, 0.0)
    return p, ok


def ar_fit(segments: list[np.ndarray], order: int, *, ridge: float = 1e-4) -> np.ndarray:
    """AR coefficients ``a`` (``a[0] = 1``) fitted by least squares on contiguous segments.

    The covariance method: only windows lying entirely inside one segment enter the normal
    equations, so gaps need no filling first. A ridge of ``ridge`` times the mean diagonal keeps
    the fit stable.
    """
    p = int(order)
    rows, rhs = [], []
    for s in segments:
        if len(s) > p:
            win = np.lib.stride_tricks.sliding_window_view(s, p + 1)
            rows.append(win[:, :-1][:, ::-1])
            rhs.append(win[:, -1])
    if not rows:
        return np.r_[1.0, np.zeros(p)]
    x = np.concatenate(rows)
    y = np.concatenate(rhs)
    g = x.T @ x
    lam = ridge * (np.trace(g) / p + 1e-300)
    coef = sla.solve(g + lam * np.eye(p), x.T @ y, assume_a="pos")
    return np.r_[1.0, -coef]


def ar_fill(x: np.ndarray, observed: np.ndarray, *, order: int, context: int, passes: int = 2,
            ridge: float = 1e-4) -> np.ndarray:
    """Fill the missing samples of ``x`` by least-squares autoregressive interpolation.

    Every run of missing samples is replaced by the values that minimise the AR prediction
    error energy over the run and ``order`` samples on each side (Janssen, Veldhuis & Vries 1986),
    with an AR model fitted to the samples within ``context`` of the run. Where the signal is
    predictable (tones, voiced speech) the fill continues it; where it is not, the fill decays
    smoothly towards zero in the middle of the run -- the conditional mean under the AR model,
    never a hard zero that would alias.

    The first pass fits each model only on windows lying inside observed segments (covariance
    method, order at most 3/4 of the longest segment); later passes refit on the whole context,
    previous fills included, at the full ``order`` (Janssen's iteration), which lets the model
    reach across gaps to longer structure such as the pitch period of speech.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Signal; values at missing positions are ignored.
    observed : ndarray of bool, shape (n,)
    order : int
        AR order (>= 1), in samples.
    context : int
        Samples on each side of a run used to fit its AR model.
    passes : int
        Number of passes (>= 1).
    ridge : float
        Ridge of the AR normal equations, relative to their mean diagonal.

    Returns
    -------
    ndarray, shape (n,), float64
        ``x`` with every missing sample filled (runs touching an end are extrapolated).

    Raises
    ------
    InputError
        No sample is observed.
    """
    x = np.asarray(x, dtype=np.float64).copy()
    obs = np.asarray(observed, dtype=bool)
    n = x.size
    if obs.shape != x.shape:
        raise ParameterError(f"observed has shape {obs.shape}, x has {x.shape}")
    if int(order) < 1 or int(passes) < 1:
        raise ParameterError(f"order={order} and passes={passes} must be >= 1")
    if not obs.any():
        raise InputError("no observed sample to fill the gaps from")
    x[~obs] = 0.0
    edges = np.flatnonzero(np.diff(np.r_[1, obs.astype(np.int8), 1]))
    starts, stops = edges[0::2], edges[1::2]  # missing runs [start, stop)
    for it in range(int(passes)):
        filled = obs.copy() if it == 0 else np.ones(n, bool)
        for s, e in zip(starts, stops, strict=True):
            lo, hi = max(0, s - context), min(n, e + context)
            if it == 0:
                sedges = np.flatnonzero(np.diff(np.r_[0, obs[lo:hi].astype(np.int8), 0]))
                segs = [x[lo + a : lo + b] for a, b in zip(sedges[0::2], sedges[1::2], strict=True)]
                cap = int(0.75 * max((len(t) for t in segs), default=0))
            else:
                segs = [x[lo:hi]]
                cap = (hi - lo) // 3
            p = int(min(order, max(1, cap)))
            a = ar_fit(segs, p, ridge=ridge)
            x[s:e] = _lsar_run(x, filled, s, e, a)
            filled[s:e] = True
    return x


def _lsar_run(x: np.ndarray, known: np.ndarray, s: int, e: int, a: np.ndarray) -> np.ndarray:
    """Least-squares AR interpolation of ``x[s:e]`` given the known samples around it."""
    p = a.size - 1
    m = e - s
    n = x.size
    # minimise sum_t (sum_i a_i x_{t-i})^2 over x[s:e]: a Toeplitz system in the autocorrelation of a
    r = np.correlate(a, a, mode="full")[p:]  # r[k] = sum_j a_j a_{j+k}, k = 0..p
    col = np.zeros(m)
    col[: min(m, p + 1)] = r[: min(m, p + 1)]
    col[0] *= 1 + 1e-9
    rhs = np.zeros(m)
    for k in range(1, p + 1):  # known samples at distance k outside the run
        cnt = min(m, p - k + 1)
        if s - k >= 0 and known[s - k]:
            rhs[:cnt] -= r[k : k + cnt] * x[s - k]
        if e - 1 + k < n and known[e - 1 + k]:
            rhs[m - cnt :] -= r[k : k + cnt][::-1] * x[e - 1 + k]
    return sla.solve_toeplitz(col, rhs)


@dataclass
class Stitched:
    """Result of :func:`stitch`.

    Attributes
    ----------
    signal : ndarray, shape (m,)
        Motion on the uniform working grid, gaps filled, in pixels along ``direction_deg``
        (zero mean, not high-passed).
    rate : float
        Working rate ``slots_per_frame * fps`` in Hz.
    observed : ndarray of bool, shape (m,)
        Samples measured (the rest were filled).
    t0 : float
        Time of ``signal[0]`` in seconds after the start of frame 0's first row exposure
        (includes ``exposure / 2``).
    diagnostics : dict
    """

    signal: np.ndarray
    rate: float
    observed: np.ndarray
    t0: float
    diagnostics: dict = field(default_factory=dict)


def _row_noise(d_l: np.ndarray, d_r: np.ndarray, info_l: np.ndarray, info_r: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Noise variance of each row's left and right estimates from their disagreement.

    ``var(L - R) = c/I_L + c/I_R`` with ``I`` the Fisher-like information of each half, so
    ``var(L) = var(L - R) I_R / (I_L + I_R)``.
    """
    v = np.var(d_l.astype(np.float64) - d_r, axis=0)
    tot = info_l + info_r
    with np.errstate(invalid="ignore", divide="ignore"):
        vl = np.where(tot > 0, v * info_r / tot, np.inf)
        vr = np.where(tot > 0, v * info_l / tot, np.inf)
    return vl, vr


def _fuse_weights(cov: np.ndarray, channels: tuple[str, ...]) -> dict[str, Any]:
    """Gains and combining weights of the channels from their covariance.

    The left and right halves of the rows share no pixel, so their noise is independent, while
    the directions measured within one half (x and y) share pixels and hence noise. The model is
    ``X_L = g_L f + n_L``, ``X_R = g_R f + n_R`` (vectors over directions, ``f`` the unit-variance
    motion): the cross-half covariance ``K = g_L g_R^T`` gives the gains (its leading singular
    pair: halves moving in opposite phase get opposite signs), each half's noise covariance is
    ``Psi = C - g g^T``, and the maximum-SNR weights are ``Psi^-1 g`` (maximum-ratio combining
    with correlated noise). Noise alone gives gains near zero, not a spurious signal.

    Returns
    -------
    dict
        ``gains`` and ``weights`` per channel, ``noise`` (diagonal of Psi), ``snr`` (of the
        combination, a ratio), ``direction_deg``.
    """
    fams = [f for f in "xy" if f + "L" in channels]
    li = [channels.index(f + "L") for f in fams]
    ri = [channels.index(f + "R") for f in fams]
    k = cov[np.ix_(li, ri)]
    u, sv, vt = np.linalg.svd(k)
    g_l, g_r = np.sqrt(sv[0]) * u[:, 0], np.sqrt(sv[0]) * vt[0]
    flip = -1.0 if g_l.sum() + g_r.sum() < 0 else 1.0
    g_l, g_r = g_l * flip, g_r * flip
    gains = np.zeros(len(channels))
    weights = np.zeros(len(channels))
    noise = np.zeros(len(channels))
    snr = 0.0
    for idx, g in ((li, g_l), (ri, g_r)):
        c = cov[np.ix_(idx, idx)]
        psi = c - np.outer(g, g)
        floor = 1e-3 * np.diag(c)
        evals, evecs = np.linalg.eigh(psi)
        psi = (evecs * np.maximum(evals, floor.min() if floor.size else 0.0)) @ evecs.T
        w = np.linalg.solve(psi + np.diag(floor * 1e-3), g)
        gains[idx], weights[idx], noise[idx] = g, w, np.diag(psi)
        snr += float(g @ w)
    # motion direction from the gains of one half (the other sign-aligned)
    s_lr = 1.0 if g_l @ g_r >= 0 else -1.0
    g_mean = (g_l + s_lr * g_r) / 2
    gx = float(g_mean[fams.index("x")]) if "x" in fams else 0.0
    gy = float(g_mean[fams.index("y")]) if "y" in fams else 0.0
    return {"gains": gains, "weights": weights, "noise": noise, "snr": snr, "gx": gx, "gy": gy}


@dataclass
class RowSignals:
    """Per-row displacement of every channel, with each row's measured noise.

    Attributes
    ----------
    displacement : ndarray, shape (n_frames, n_channels, rows), float32
        Displacement of each row half in pixels, bands combined by their measured noise, with
        its mean over every reference segment removed: a row's offset is its unknown texture
        phase (plus the reference frame's noise), and cannot be told from a sound component at
        an exact multiple of the frame rate.
    channels : tuple of str
        ``xL, xR, yL, yR`` (or the subset measured).
    noise : ndarray, shape (n_channels, rows)
        Noise variance of each row half in px^2 (inf where it has no texture), measured from
        the disagreement of the two halves of the same row (the same instant).
    band_noise : ndarray, shape (n_channels, bands, rows) or None
        The same per band, before the bands were combined (inf: band unusable).
    """

    displacement: np.ndarray
    channels: tuple[str, ...]
    noise: np.ndarray
    band_noise: np.ndarray | None = None

    @property
    def weight(self) -> np.ndarray:
        """Inverse noise variance, 0 for unusable rows, floored at 1e-3 of the median noise."""
        finite = self.noise[np.isfinite(self.noise) & (self.noise > 0)]
        floor = 1e-3 * float(np.median(finite)) if finite.size else 1.0
        return np.where(np.isfinite(self.noise), 1.0 / np.maximum(self.noise, floor), 0.0)

    def model(self, *, smooth: int = ROW_SMOOTH) -> RowModel:
        """Per-row gain and noise of the motion, from the data (see :class:`RowModel`)."""
        return _row_model(self, smooth=smooth)

    def combined(self) -> tuple[np.ndarray, dict]:
        """One displacement per row and frame, in pixels along the motion.

        Returns
        -------
        rows : ndarray, shape (n_frames, rows), float64
            Pixels along the measured motion; 0 for rows that show no motion (a still
            background, no texture).
        info : dict
            Gains, noise variances and weights of the channels, the motion direction, and
            the per-row gains and noise (:class:`RowModel`).
        """
        m = self.model()
        rows = m.values * m.gain[None, :]  # back to pixels: the row's own amplitude
        rows[:, m.information <= 0] = 0.0
        return rows, m.fuse | {"row_gain_px": m.gain, "row_noise_px2": m.noise}


@dataclass
class RowModel:
    """The motion seen by each row: ``y_r(n) = a_r s(t_r(n)) + noise`` with ``var(noise) = sigma_r^2``.

    Attributes
    ----------
    values : ndarray, shape (n_frames, rows), float64
        ``y_r / a_r``: each row's estimate of the unit-variance motion ``s`` (0 where ``a_r = 0``).
    gain : ndarray, shape (rows,)
        ``a_r``: RMS motion of the row in pixels along the motion direction (0: the row shows
        nothing that moves, e.g. a still background; it is a gap, not a zero).
    noise : ndarray, shape (rows,)
        ``sigma_r^2`` in px^2.
    information : ndarray, shape (rows,)
        ``a_r^2 / sigma_r^2``: the row's SNR, the weight of ``values`` (0: unusable).
    scale_px : float
        The object's RMS motion in pixels (``a_r`` where the rows see the motion best).
    fuse : dict
        The channels' gains and weights (:func:`_fuse_weights`), computed over the rows that
        see motion.
    """

    values: np.ndarray
    gain: np.ndarray
    noise: np.ndarray
    information: np.ndarray
    scale_px: float
    fuse: dict


def _axis_deg(gx: float, gy: float) -> float:
    """Motion axis in degrees in (-90, 90]: 0 = horizontal, 90 = vertical (down)."""
    a = float(np.degrees(np.arctan2(gy, gx))) if (gx or gy) else 0.0
    a = (a + 90.0) % 180.0 - 90.0
    return 90.0 if a == -90.0 else a


def _box_rows(x: np.ndarray, half: int, count: np.ndarray) -> np.ndarray:
    """Mean over ``+-half`` rows (last axis) of ``x`` where ``count`` is 1 (rows outside do not count)."""
    if half <= 0:
        return x
    k = np.ones(2 * half + 1)
    num = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), -1, x * count)
    den = np.convolve(count.astype(np.float64), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


def _row_model(rows: RowSignals, *, smooth: int = ROW_SMOOTH) -> RowModel:
    """Per-row gain and noise: which rows see the motion, and how well (see :meth:`RowSignals.model`).

    A row that shows a still background measures zero motion with confidence; counted as a
    measurement it would gate the sound on and off once per frame. So every row gets its own
    gain ``a_r`` and noise ``sigma_r^2`` from the data: the two halves of a row share no pixel,
    so the covariance of their motion estimates over the clip is ``a_r^2`` (signal only) and
    the rest of each half's variance is its noise. Covariances are averaged over ``+-smooth``
    neighbouring rows (objects span many rows) and shrunk by one standard error, so a row with
    no signal gets ``a_r = 0``. The channels (halves, directions) are first combined by
    maximum-ratio weights fitted on the rows in proportion to how well the halves agree, so a
    still background does not set the motion direction.
    """
    d = rows.displacement
    n, c, h = d.shape
    w = rows.weight
    use = np.all(w > 0, axis=0)
    if not np.any(use):
        raise NoTextureError("no row of the ROI has texture to measure motion from; choose a textured ROI")
    ch = rows.channels
    fams = [f for f in "xy" if f + "L" in ch]
    li = [ch.index(f + "L") for f in fams]
    ri = [ch.index(f + "R") for f in fams]
    cov = np.zeros((h, c, c))
    ys = d[:, :, use].astype(np.float64)
    cov[use] = np.einsum("nch,ndh->hcd", ys, ys) / n
    del ys
    cnt = use.astype(np.float64)
    # agreement of the halves, per row: the top singular value of the cross-half block over the halves' power
    k_lr = _box_rows(cov[:, li][:, :, ri].reshape(h, -1).T, smooth, cnt).T.reshape(h, len(li), len(ri))
    p_l = _box_rows(np.trace(cov[:, li][:, :, li], axis1=1, axis2=2)[None], smooth, cnt)[0]
    p_r = _box_rows(np.trace(cov[:, ri][:, :, ri], axis1=1, axis2=2)[None], smooth, cnt)[0]
    sv = np.linalg.svd(k_lr, compute_uv=False)[:, 0]
    n_eff = n * (2 * smooth + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(use, sv / np.sqrt(p_l * p_r), 0.0)
    omega = np.clip(np.nan_to_num(rho) - 2.0 / math.sqrt(n_eff), 0.0, None) * use
    if not np.any(omega > 0):
        omega = cnt  # no row agrees: fit on all (the SNR will say it is noise)
    c_glob = np.tensordot(omega, cov, axes=(0, 0)) / omega.sum()
    fw = _fuse_weights(c_glob, ch)
    beta, gains = fw["weights"], fw["gains"]
    sgn = -1.0 if (fw["gx"] < 0 or (fw["gx"] == 0 and fw["gy"] < 0)) else 1.0
    amp = math.hypot(fw["gx"], fw["gy"])
    kappa = []  # per-half combining vectors giving pixels along the motion
    for idx in (li, ri):
        bg = float(beta[idx] @ gains[idx])
        vec = np.zeros(c)
        if bg > 0:
            vec[idx] = beta[idx] * sgn * amp / bg
        else:  # no common signal in this half: plain average of its channels
            vec[idx] = 1.0 / len(idx)
        kappa.append(vec)
    kl, kr = kappa
    c_lr = np.einsum("c,hcd,d->h", kl, cov, kr)
    v_l = np.einsum("c,hcd,d->h", kl, cov, kl)
    v_r = np.einsum("c,hcd,d->h", kr, cov, kr)
    c_s = _box_rows(c_lr[None], smooth, cnt)[0]
    se = np.sqrt(_box_rows((v_l * v_r)[None], smooth, cnt)[0] / n_eff)
    a2 = np.clip(c_s - se, 0.0, None) * use
    # each half's noise from the halves' disagreement in this row alone (the same instant, no shared pixel)
    tot = np.maximum(v_l + v_r, 1e-300)
    dis = np.maximum(v_l + v_r - 2 * c_lr, 1e-3 * tot)
    s_l = dis * np.maximum(v_l, 1e-3 * tot) / tot
    s_r = dis * np.maximum(v_r, 1e-3 * tot) / tot
    noise = np.where(use, 1.0 / (1.0 / s_l + 1.0 / s_r), np.inf)
    gain = np.sqrt(a2)
    info = np.where(use & (gain > 0), a2 / noise, 0.0)
    # each row: the two halves by inverse noise, then divided by the row's gain
    coef = np.zeros((c, h))
    ok = info > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        wl = np.where(ok, (1.0 / s_l) / (1.0 / s_l + 1.0 / s_r) / gain, 0.0)
        wr = np.where(ok, (1.0 / s_r) / (1.0 / s_l + 1.0 / s_r) / gain, 0.0)
    coef += kl[:, None] * wl[None, :] + kr[:, None] * wr[None, :]
    values = np.einsum("nch,ch->nh", d, coef, dtype=np.float64)
    if np.any(ok):
        order = np.argsort(-info[ok])
        top = order[: max(1, int(np.ceil(0.5 * order.size)))]
        scale = float(np.median(gain[ok][top]))
    else:
        scale = float(amp)
    return RowModel(values, gain, noise, info, scale, fw)


def _combine(fw: dict[str, Any], x: np.ndarray, *, axis: int) -> np.ndarray:
    """Combine channels (along ``axis``) with :func:`_fuse_weights`' weights, in pixels along the motion.

    Positive output is motion along +x (+y when only vertical motion is measured).
    """
    beta, gains = fw["weights"], fw["gains"]
    sgn = -1.0 if (fw["gx"] < 0 or (fw["gx"] == 0 and fw["gy"] < 0)) else 1.0
    bg = float(beta @ gains)
    if not bg > 0:  # no common signal: plain average of the channels, flagged by an SNR of ~0
        beta, bg = np.ones_like(beta) / beta.size, 1.0
        return np.tensordot(beta, x, axes=([0], [axis]))
    scale = sgn * math.hypot(fw["gx"], fw["gy"]) / bg  # the factor has unit variance; its loading is in px
    return np.tensordot(beta * scale, x, axes=([0], [axis]))


def _segment_demean(x: np.ndarray, segment: int) -> None:
    """Subtract, in place, the mean over each run of ``segment`` frames (axis 0) from ``x``."""
    n = x.shape[0]
    flat = x.reshape(n, -1)
    for s0 in range(0, n, segment):
        blk = flat[s0 : s0 + segment]
        blk -= blk.mean(axis=0, dtype=np.float64).astype(blk.dtype)


def row_signals(displacement: np.ndarray, channels: tuple[str, ...], information: np.ndarray, *,
                anchor: int | None = None, overwrite: bool = False) -> RowSignals:
    """Remove each row's offsets, measure each row's and band's noise, combine the bands by it.

    Parameters
    ----------
    displacement : ndarray, shape (n_frames, n_channels, bands, rows)
        From :meth:`RowMotionEstimator.process` (pixels against each segment's reference, NaN
        where a band has no texture). A 3-D array (one band) is accepted.
    channels : tuple of str
        :attr:`RowMotionEstimator.channels`.
    information : ndarray, shape (n_channels, bands, rows)
        :attr:`RowMotionEstimator.information`.
    anchor : int, optional
        :attr:`RowMotionEstimator.anchor` (frames per reference segment); None: one segment.
    overwrite : bool
        Work in place on ``displacement`` (float32): no second array of the clip's size.

    Returns
    -------
    RowSignals
        Bands are weighted by their measured SNR (inverse noise from the halves'
        disagreement), not by their energy: a finest octave that the lens blurred into noise
        has much energy and little signal.

    Raises
    ------
    InputError
        Fewer than 3 frames.
    """
    d = np.asarray(displacement)
    info = np.asarray(information, dtype=np.float64)
    if d.ndim == 3:
        d, info = d[:, :, None, :], info[:, None, :]
    n, c, nb, h = d.shape
    if n < 3:
        raise InputError(f"only {n} frames; rolling-shutter recovery needs at least 3")
    if len(channels) != c or info.shape != (c, nb, h):
        raise ParameterError(f"{len(channels)} channel names and information {info.shape} do not match "
                             f"displacement {d.shape}")
    disp = d if overwrite and d.dtype == np.float32 else d.astype(np.float32)
    valid = np.all(np.isfinite(disp), axis=0) & (info > 0)  # (c, nb, h)
    np.nan_to_num(disp, copy=False, nan=0.0)
    _segment_demean(disp, int(anchor) if anchor else n)
    band_noise = np.full((c, nb, h), np.inf)
    for f in sorted({ch[0] for ch in channels}):
        il, ir = channels.index(f + "L"), channels.index(f + "R")
        for b in range(nb):
            band_noise[il, b], band_noise[ir, b] = _row_noise(disp[:, il, b], disp[:, ir, b], info[il, b], info[ir, b])
    band_noise[~valid] = np.inf
    band_noise = np.maximum(band_noise, 1e-30)  # identical halves (a noiseless still scene): valid, not unusable
    wb = np.where(np.isfinite(band_noise), 1.0 / band_noise, 0.0)
    wsum = wb.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(wsum[:, None, :] > 0, wb / wsum[:, None, :], 0.0).astype(np.float32)
    out = np.einsum("ncbh,cbh->nch", disp, frac)
    noise = np.where(wsum > 0, 1.0 / np.maximum(wsum, 1e-300), np.inf)
    return RowSignals(out, tuple(channels), noise, band_noise)


def stitch(rows: RowSignals, timing: RowTiming, *, row0: int, rate: float, ar_order: int | None = None) -> Stitched:
    """Per-row displacements -> one signal on a uniform time grid, gaps filled.

    Each row's estimate of the motion (:meth:`RowSignals.model`: its own gain and noise) is
    fitted onto working-grid slots ``k / rate`` (``rate`` rounded to an integer number of slots
    per frame) by a local-linear fit weighted by each row's SNR. A slot is measured when its
    SNR is within ``SLOT_DROP_DB`` of the well-seen slots; the rest (the inter-frame gap, rows
    of a still background, rows without texture) are gaps, filled by :func:`ar_fill`.

    Parameters
    ----------
    rows : RowSignals
    timing : RowTiming
    row0 : int
        Frame row of the ROI's first row.
    rate : float
        Working rate in Hz (about 2.5 times the highest frequency wanted).
    ar_order : int, optional
        AR order of the gap filling (default ``AR_ORDER_S`` = 8 ms of samples).

    Returns
    -------
    Stitched
    """
    n, c, h = rows.displacement.shape
    if not rate > 0:
        raise ParameterError(f"rate={rate} must be > 0 Hz")
    slots_per_frame = max(2, int(round(rate / timing.fps)))
    fs = slots_per_frame * timing.fps
    order = timing.readout_index(row0 + np.arange(h)).astype(np.float64)
    u = order * timing.line_delay * fs  # row positions, in slots after the frame start
    rows_per_slot = 1.0 / (timing.line_delay * fs)
    if rows_per_slot < 1:
        raise ParameterError(f"the working rate {fs:g} Hz exceeds the row rate {timing.effective_rate:g} Hz; "
                             "lower band or rate")
    sigma = max(0.35, 0.6 / rows_per_slot)  # the kernel always spans a few rows
    k_lo, k_hi = int(np.ceil(u.min() + EDGE)), int(np.floor(u.max() - EDGE))
    slots = np.arange(max(k_lo, 0), min(k_hi, slots_per_frame - 1) + 1)
    if slots.size < 2:
        raise ParameterError(f"the ROI's {h} rows span {h * timing.line_delay * 1e3:.3g} ms of each frame, less "
                             f"than two samples at {fs:g} Hz; use a taller ROI or a lower band")
    m = rows.model()

    def place(info: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, ok = _slot_projection(u, info, slots=slots, sigma=sigma)
        with np.errstate(invalid="ignore", divide="ignore"):
            var_k = np.where(ok, (p**2 / np.where(info > 0, info, np.inf)[None, :]).sum(axis=1), np.inf)
            snr_k = np.where(ok, 1.0 / var_k, 0.0)
        if np.any(ok):
            good = float(np.percentile(snr_k[ok], 75))
            ok &= snr_k >= good * 10 ** (-SLOT_DROP_DB / 10)
        return p, ok, snr_k

    values = m.values
    p, ok, snr_k = place(m.information)
    no_motion = ok.sum() < 2
    if no_motion:  # no rows see motion: keep every textured row's raw motion; the SNR says it is noise
        values = _combine(m.fuse, rows.displacement, axis=1)
        p, ok, snr_k = place(np.where(np.isfinite(m.noise), 1.0, 0.0))
    if ok.sum() < 2:
        raise NoTextureError("too few textured rows to place any sample on the time grid; choose a textured ROI")
    z = (values @ p[ok].T) * (1.0 if no_motion else m.scale_px)  # (n, K) pixels along the motion

    grid = np.zeros((n, slots_per_frame))
    mask = np.zeros((n, slots_per_frame), bool)
    grid[:, slots[ok]] = z
    mask[:, slots[ok]] = True
    grid, mask = grid.ravel(), mask.ravel()
    first, last = np.flatnonzero(mask)[[0, -1]]
    grid, mask = grid[first : last + 1], mask[first : last + 1]
    p_ar = int(ar_order) if ar_order is not None else max(2, int(round(AR_ORDER_S * fs)))
    if p_ar < 1:
        raise ParameterError(f"ar_order={ar_order} must be >= 1")
    context = max(slots_per_frame, int(round(AR_CONTEXT_S * fs)))  # each side reaches a measured run
    signal = ar_fill(grid, mask, order=p_ar, context=context)
    signal -= signal.mean()
    snr = 0.0 if no_motion else float(np.median(snr_k[ok]))
    fw = m.fuse
    weight = rows.weight
    moving = np.flatnonzero(m.information > 0)
    diag = {
        "working_rate_hz": fs,
        "slots_per_frame": slots_per_frame,
        "observed_slots_per_frame": int(ok.sum()),
        "rows_per_slot": rows_per_slot,
        "kernel_sigma_slots": sigma,
        "filled_fraction": float(1 - mask.mean()),
        "ar_order": p_ar,
        "motion_direction_deg": _axis_deg(fw["gx"], fw["gy"]),
        "channels": [
            {"name": ch, "gain_px": float(fw["gains"][i]), "noise_px2": float(fw["noise"][i]),
             "weight": float(fw["weights"][i] / max(np.sum(np.abs(fw["weights"])), 1e-300)),
             "rows_used": int(np.sum(weight[i] > 0))}
            for i, ch in enumerate(rows.channels)
        ],
        "rows_seeing_motion": int(moving.size),
        "rows_seeing_motion_span": [int(row0 + moving[0]), int(row0 + moving[-1])] if moving.size else None,
        "motion_rms_px": m.scale_px,
        "estimated_snr_db": float(10 * np.log10(snr)) if snr > 0 else float("-inf"),
        # noise of one measured sample, px^2 (the signal is in units of the object's RMS motion)
        "noise_var_px2": float(m.scale_px**2 / snr) if snr > 0 else float("inf"),
    }
    return Stitched(signal, fs, mask, first / fs + timing.exposure / 2, diag)


def signal_band(x: np.ndarray, observed: np.ndarray, *, rate: float, noise_var: float, cap: float,
                floor: float = 300.0) -> float | None:
    """Highest frequency at which the measured samples carry signal above their noise, in Hz.

    The power spectrum of the observed runs (Hann-windowed periodograms of equal length,
    averaged) is compared with the white noise floor ``2 noise_var / rate`` (one-sided); the band
    ends 25 % above the highest frequency where the spectrum, smoothed over three bins, is at
    least twice (3 dB above) the floor.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Stitched signal (px).
    observed : ndarray of bool, shape (n,)
        Measured samples (the rest were filled).
    rate : float
        Sample rate in Hz.
    noise_var : float
        Noise variance of one measured sample, px^2.
    cap, floor : float
        The result is clipped to ``[min(floor, cap), cap]`` Hz.

    Returns
    -------
    float or None
        The band edge in Hz, or None when the runs are too short (< 16 samples) to tell.
    """
    x = np.asarray(x, dtype=np.float64)
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(observed).astype(np.int8), 0]))
    runs = [(a, b) for a, b in zip(edges[0::2], edges[1::2], strict=True)]
    lengths = sorted(b - a for a, b in runs)
    if not runs or not np.isfinite(noise_var) or noise_var <= 0:
        return None
    size = lengths[len(lengths) // 2]  # the median run: the occasional short one is skipped
    if size < 16:
        return None
    w = np.hanning(size)
    segs = np.stack([x[a : a + size] for a, b in runs if b - a >= size])
    segs = segs - segs.mean(axis=1, keepdims=True)
    psd = 2 * np.mean(np.abs(np.fft.rfft(segs * w, axis=1)) ** 2, axis=0) / (rate * np.sum(w**2))
    f = np.fft.rfftfreq(size, 1 / rate)
    smooth = np.convolve(psd, np.ones(3) / 3, mode="same")
    above = np.flatnonzero((smooth > 2 * (2 * noise_var / rate)) & (f > 0))
    top = float(f[above[-1]]) * 1.25 if above.size else 0.0
    return float(np.clip(top, min(floor, cap), cap))


def line_delay_consistency(rows: RowSignals, timing: RowTiming, *, row0: int, search: float = 0.3,
                           tolerance: float = 0.03) -> dict[str, Any]:
    """Check the line delay blindly: do rows of consecutive frames agree at the assumed instants?

    With the true line delay ``d``, the covariance between row ``j`` of frame ``n`` and row
    ``j + D`` of frame ``n + 1`` (time lag ``T + D d``) equals the covariance within one frame at
    ``D + T/d`` rows (the same time lag): ``C_x(D) = C_in(D + T/d)``. Aligning the two curves
    measures ``T/d``, hence ``d``, from any vibration with structure at lags between
    ``T - (h-1) d`` and ``(h-1) d`` (speech: its pitch). The lags overlap only when the ROI
    spans more than half the rows of a frame period (``h > T / 2d``).

    Parameters
    ----------
    rows : RowSignals
    timing : RowTiming
        The assumed timing (its line delay and readout are checked).
    row0 : int
        Frame row of the ROI's first row.
    search : float
        Relative range of line delays searched (0.3: +-30 %).
    tolerance : float
        Relative difference below which the assumed line delay is not flagged.

    Returns
    -------
    dict
        ``identifiable`` (bool), ``line_delay_s`` (the assumed), ``estimated_line_delay_s``,
        ``ratio`` (estimated / assumed), ``mismatch_at_assumed`` and ``mismatch_at_estimate``
        (normalised squared difference of the two covariance curves: 0 = identical, ~1 =
        unrelated), ``flagged`` (bool) and ``message``.
    """
    combined, _ = rows.combined()
    h = combined.shape[1]
    out: dict[str, Any] = {"identifiable": False, "line_delay_s": timing.line_delay, "readout": timing.readout,
                           "flagged": False}
    m_true = timing.period / timing.line_delay
    # rows per period M for which consecutive frames share enough lags (2h - 2 - M >= overlap)
    max_m = 2 * h - 2 - max(16, int(0.1 * h))
    lo_m, hi_m = m_true / (1 + search), min(m_true / max(1 - search, 1e-3), max_m)
    if m_true > max_m or combined.shape[0] < 8:
        out["message"] = (f"not identifiable: the ROI's {h} rows must span clearly more than half of the "
                          f"{m_true:.0f} rows of a frame period (at least {int(np.ceil((m_true + 2) / 2)) + 16})")
        return out
    other = "up" if timing.readout == "down" else "down"
    fits = {}
    for r in (timing.readout, other):
        order = dataclasses.replace(timing, readout=r).readout_index(row0 + np.arange(h))
        fits[r] = _covariance_alignment(combined, order, m_true, lo_m, hi_m)
    fit, f2 = fits[timing.readout], fits[other]
    assumed_ok = fit["good"] and fit["local"] <= 2 * fit["best"] + 0.05
    if f2["good"] and f2["best"] < 0.5 * min(fit["best"], fit["local"]) and not (assumed_ok and fit["local"] < 0.1):
        est = timing.period / f2["m_best"]
        out.update(identifiable=True, flagged=True, estimated_line_delay_s=est, ratio=est / timing.line_delay,
                   estimated_readout=other, mismatch_at_assumed=fit["at_given"], mismatch_at_estimate=f2["best"],
                   structure=f2["structure"],
                   message=f"the readout direction looks reversed: the data fit --readout {other} (line delay "
                           f"{est * 1e6:.4g} us, mismatch {f2['best']:.2f}) better than {timing.readout} "
                           f"({min(fit['best'], fit['local']):.2f})")
        return out
    out.update(identifiable=fit["good"], estimated_readout=timing.readout, structure=fit["structure"],
               mismatch_at_assumed=fit["at_given"], mismatch_at_estimate=fit["best"])
    if not fit["good"]:
        out.update(estimated_line_delay_s=float("nan"), ratio=float("nan"))
        out["message"] = ("not identifiable: the motion has too little structure at lags "
                          f"{(m_true - h) * timing.line_delay * 1e3:.1f}-{h * timing.line_delay * 1e3:.1f} ms "
                          "(speech or a tone is needed; a flickering light or tone film gives a calibration)")
        return out
    best = fit["best"]
    ambiguous = len([m for m in fit["minima"] if abs(m / fit["m_best"] - 1) > 0.05]) > 0
    local_ok = fit["local"] <= 2 * best + 0.05 and abs(fit["m_local"] / m_true - 1) <= tolerance
    est = timing.period / (fit["m_local"] if local_ok else fit["m_best"])
    out.update(estimated_line_delay_s=est, ratio=est / timing.line_delay, ambiguous=ambiguous)
    if local_ok:
        out["message"] = (f"line delay consistent with the data (best fit {est * 1e6:.4g} us, "
                          f"{(est / timing.line_delay - 1) * 100:+.1f} %)")
        return out
    out["flagged"] = True
    others = ", ".join(f"{timing.period / m * 1e6:.4g}" for m in fit["minima"])
    out["message"] = (f"the line delay {timing.line_delay * 1e6:.4g} us looks wrong: rows of consecutive frames agree "
                      f"best at {est * 1e6:.4g} us (mismatch {best:.2f} vs {fit['at_given']:.2f} at the given value)"
                      + (f"; a periodic sound also fits {others} us" if ambiguous else "")
                      + "; check --camera/--line-delay/--readout or measure it with `vismic calibrate`")
    return out


def _covariance_alignment(combined: np.ndarray, order: np.ndarray, m_true: float, lo_m: float, hi_m: float
                          ) -> dict[str, Any]:
    """Best shift ``M`` (rows per frame period) aligning the cross-frame covariance onto the within-frame one."""
    x = combined[:, np.argsort(order)]  # rows in readout order: time increases along axis 1
    x = x - x.mean(axis=1, keepdims=True)
    n, h = x.shape
    size = sfft.next_fast_len(2 * h)
    spec = sfft.rfft(x, size, axis=1)
    count = sfft.irfft(np.abs(sfft.rfft(np.ones(h), size)) ** 2, size)  # row pairs at each lag
    c_in = sfft.irfft((spec * np.conj(spec)).sum(axis=0), size)[:h] / np.maximum(count[:h], 1) / n
    c_x = sfft.irfft((np.conj(spec[:-1]) * spec[1:]).sum(axis=0), size) / np.maximum(count, 1) / (n - 1)
    lags = np.arange(-(h - 1), h)

    def mismatch(m: float) -> float:
        k = lags + m
        ok = (k >= 1) & (k <= h - 2)
        if ok.sum() < 16:
            return float("nan")
        a = c_x[lags[ok] % size]
        kk = k[ok]
        k0 = np.floor(kk).astype(int)
        fr = kk - k0
        b = c_in[k0] * (1 - fr) + c_in[k0 + 1] * fr
        w = np.minimum(count[lags[ok] % size], count[k0])
        return float(np.sum(w * (a - b) ** 2) / max(np.sum(w * (a * a + b * b)), 1e-300))

    grid = np.linspace(lo_m, hi_m, int(np.ceil((hi_m - lo_m) / 0.5)) + 1)
    scores = np.array([mismatch(m) for m in grid])
    # significance of the covariance at the lags the frames share: its RMS over the standard error of a
    # covariance estimate (c(0) / sqrt(pairs)); noise alone gives ~1, a sound with structure >> 1
    k_lo = max(1, int(np.ceil(lo_m - (h - 1))))
    if k_lo < h - 1:
        se = c_in[0] / np.sqrt(n * max(float(np.mean(count[k_lo : h - 1])), 1.0))
        structure = float(np.sqrt(np.mean(c_in[k_lo : h - 1] ** 2)) / max(se, 1e-300))
    else:
        structure = 0.0
    if not np.any(np.isfinite(scores)):
        return {"good": False, "m_best": float("nan"), "best": float("nan"), "m_local": float("nan"),
                "local": float("nan"), "at_given": float("nan"), "structure": structure, "minima": []}

    def refine(i: int) -> tuple[float, float]:
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        for _ in range(30):  # golden section
            a1, b1 = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
            if mismatch(a1) < mismatch(b1):
                hi = b1
            else:
                lo = a1
        return (lo + hi) / 2, mismatch((lo + hi) / 2)

    filled = np.where(np.isfinite(scores), scores, np.inf)
    m_best, best = refine(int(np.argmin(filled)))
    near = np.flatnonzero(np.abs(grid / m_true - 1) <= 0.05)
    m_local, local = refine(int(near[np.argmin(filled[near])])) if near.size else (m_true, mismatch(m_true))
    # local minima as deep as the best one: a periodic sound (a pure tone) fits at several delays
    interior = (filled[1:-1] <= filled[:-2]) & (filled[1:-1] <= filled[2:])
    minima = [float(grid[i + 1]) for i in np.flatnonzero(interior) if filled[i + 1] <= 2 * best + 0.05]
    return {"good": bool(np.isfinite(best) and best < 0.5 and structure > MIN_STRUCTURE), "m_best": m_best,
            "best": best,
            "m_local": m_local, "local": local, "at_given": mismatch(m_true), "structure": structure,
            "minima": minima}


# ======================================================================================
# 4. Exposure
# ======================================================================================


def exposure_response(freqs: np.ndarray, exposure: float) -> np.ndarray:
    """Amplitude response of the exposure's box filter, ``sinc(f E)`` (real: centre-timed samples).

    Parameters
    ----------
    freqs : array_like
        Frequencies in Hz.
    exposure : float
        Exposure ``E`` in seconds (0: an all-pass).

    Returns
    -------
    ndarray
        ``sin(pi f E) / (pi f E)``: 1 at DC, -3.9 dB at ``1/(2E)``, first null at ``1/E``.
    """
    return np.sinc(np.asarray(freqs, dtype=np.float64) * float(exposure))


def exposure_report(exposure: float, band: float) -> dict[str, Any]:
    """Facts about the exposure's box filter within ``band`` Hz (JSON-able)."""
    if exposure <= 0:
        return {"exposure_s": exposure, "first_null_hz": None,
                "note": "exposure unknown or instantaneous: the box filter was not modelled"}
    f = np.array([band])
    return {
        "exposure_s": exposure,
        "first_null_hz": 1.0 / exposure,
        "minus_3db_hz": 0.4429 / exposure,
        "response_db_at_band_edge": float(20 * np.log10(abs(exposure_response(f, exposure)[0]) + 1e-12)),
        "band_hz": band,
    }


def equalize_exposure(x: np.ndarray, *, rate: float, exposure: float, max_gain_db: float = 10.0,
                      band: float | None = None) -> np.ndarray:
    """Invert the exposure's box filter where it is invertible (zero-phase, FFT).

    The gain is ``1 / sinc(f E)`` limited to ``max_gain_db``; above ``band`` (default: the first
    null ``1/E``) the signal is left as it is.

    Parameters
    ----------
    x : ndarray, shape (n,)
    rate : float
        Sample rate in Hz.
    exposure : float
        Exposure in seconds (> 0).
    max_gain_db : float
        Largest boost, in dB (> 0).
    band : float, optional
        Highest frequency equalised, in Hz.

    Returns
    -------
    ndarray, shape (n,), float64
    """
    _num("exposure", exposure, unit="seconds", fix="equalisation needs the exposure, e.g. 1/2000")
    _num("max_gain_db", max_gain_db, unit="dB", fix="use e.g. 10")
    x = np.asarray(x, dtype=np.float64)
    nfft = sfft.next_fast_len(x.size)
    spec = sfft.rfft(x, nfft)
    f = sfft.rfftfreq(nfft, 1.0 / rate)
    top = 1.0 / exposure if band is None else min(band, 1.0 / exposure)
    h = np.abs(exposure_response(f, exposure))
    gmax = 10 ** (max_gain_db / 20)
    gain = np.where(f < top, np.minimum(1.0 / np.maximum(h, 1e-12), gmax), 1.0)
    return sfft.irfft(spec * gain, nfft)[: x.size]


# ======================================================================================
# Parameters and the one-call recovery
# ======================================================================================


@dataclass(frozen=True)
class RollingShutterParams:
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
    roi : (x, y, w, h) or None
        Region in pixels.
    bands : int or None
        Octave bands along the rows (None: up to 4).
    ar_order : int or None
        Order of the autoregressive gap filling (None: ~4 ms).
    equalize : bool
        Invert the exposure's box filter up to ``band`` (gain limited to ``max_gain_db``).
    max_gain_db : float
    highpass : float or None
        High-pass cutoff in Hz (None: 20 Hz).
    notch, denoise : as in :class:`vismic.pipeline.RecoveryParams`.
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
    roi: tuple[int, int, int, int] | None = None
    bands: int | None = None
    ar_order: int | None = None
    equalize: bool = False
    max_gain_db: float = 10.0
    highpass: float | None = None
    notch: str | tuple[float, ...] = "report"
    denoise: str = "none"
    batch: int = 16
    workers: int = 1

    def __post_init__(self) -> None:
        if self.camera is None and self.line_delay is None:
            raise ParameterError(
                "rolling-shutter recovery needs the line delay: give --camera NAME or --line-delay SECONDS "
                "(measure it with `vismic calibrate`)"
            )
        if self.fps is not None:
            _num("fps", self.fps, unit="Hz", fix="give the exact frame rate, e.g. 59.94")
        if self.line_delay is not None:
            _num("line_delay", self.line_delay, unit="seconds", fix="e.g. line_delay=16.15e-6")
        if self.camera is not None:
            find_camera(self.camera, fps=self.fps)  # unknown names fail here, with close matches
        if self.exposure is not None:
            _num("exposure", self.exposure, allow_zero=True, unit="seconds", fix="e.g. exposure=0.0005 (1/2000 s)")
        if self.readout not in READOUTS:
            raise ParameterError(f"readout={self.readout!r} must be one of {READOUTS}")
        for name in ("rate", "band"):
            v = getattr(self, name)
            if v is not None:
                _num(name, v, unit="Hz", fix=f"give {name} in Hz or leave it unset")
        if self.direction not in DIRECTIONS:
            raise ParameterError(f"direction={self.direction!r} must be one of {DIRECTIONS}")
        if self.roi is not None:
            if len(self.roi) != 4:
                raise ParameterError(f"roi={self.roi} must be (x, y, w, h)")
            object.__setattr__(self, "roi", tuple(int(v) for v in self.roi))
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
        from .denoise import DENOISERS

        if self.denoise not in DENOISERS:
            raise ParameterError(f"denoise={self.denoise!r} must be one of {DENOISERS}")
        if int(self.batch) < 1 or int(self.workers) < 1:
            raise ParameterError(f"batch={self.batch} and workers={self.workers} must be >= 1")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("roi", "notch"):
            if isinstance(d[k], tuple):
                d[k] = list(d[k])
        d["rolling_shutter"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RollingShutterParams:
        d = {k: v for k, v in d.items() if k != "rolling_shutter"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ParameterError(f"unknown rolling-shutter parameter(s): {sorted(unknown)}")
        for k in ("roi", "notch"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RollingShutterParams:
        return cls.from_dict(json.loads(text))

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


def anchor_frames(fps: float) -> int:
    """Frames per reference segment at ``fps``: ``ANCHOR_S`` seconds, at least ``MIN_ANCHOR`` frames."""
    return max(MIN_ANCHOR, int(round(ANCHOR_S * float(fps))))


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
    vismic.pipeline.Recovery
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
    from .io import FrameSource, open_source

    if not isinstance(params, RollingShutterParams):
        raise ParameterError("params must be a RollingShutterParams (see vismic.rolling_shutter)")
    own = not isinstance(source, FrameSource)
    src = open_source(os.fspath(source)) if own else source
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _run(src, params, progress)
    finally:
        if own:
            src.close()
    msgs = []
    for w in caught:
        msgs.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    result.warnings = msgs
    return result


def _lowpass(x: np.ndarray, *, rate: float, cutoff: float, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth low-pass (nothing done when ``cutoff`` is at or above 0.45 ``rate``)."""
    import scipy.signal as ss

    if cutoff >= 0.45 * rate:
        return x
    sos = ss.butter(order, cutoff, btype="lowpass", fs=rate, output="sos")
    return ss.sosfiltfilt(sos, x, padlen=min(x.size - 1, 3 * (2 * len(sos) + 1) * 4))


def _resolve_fps(src: Any, fps: float | None) -> tuple[float, str]:
    if fps is not None:
        return float(fps), "user"
    if src.header_rate:
        warnings.warn(
            f"no --fps given: using the container's {src.header_rate:g} fps; rolling-shutter timing needs the "
            "exact rate (59.94 and 60 differ), so pass --fps",
            stacklevel=4,
        )
        return float(src.header_rate), "container"
    raise ParameterError(f"{src.path}: the frame rate is unknown; pass --fps with the exact rate in Hz")


def _run(src: Any, params: RollingShutterParams, progress: ProgressFn | None):
    from .denoise import detect_lines, highpass, normalize, notch, spectral_subtract
    from .io.audio import resample
    from .io.base import ROI
    from .pipeline import Recovery, stream_motion

    t_start = time.perf_counter()
    fps, fps_source = _resolve_fps(src, params.fps)
    rows, cols = src.shape
    timing, cam_info = params.timing(rows, cols, fps)
    for note in cam_info["notes"]:
        if "overrides" in note or "differs" in note:
            warnings.warn(note, stacklevel=4)
    roi = ROI(*params.roi).check(rows, cols) if params.roi is not None else ROI(0, 0, cols, rows)
    band = params.band if params.band is not None else auto_band(timing)
    if band >= timing.effective_rate / 2:
        raise ParameterError(f"band={band:g} Hz must be below half the row rate ({timing.effective_rate / 2:g} Hz)")
    est = RowMotionEstimator((roi.h, roi.w), direction=params.direction, bands=params.bands,
                             anchor=anchor_frames(fps), workers=params.workers)
    chunks, done, t_motion = stream_motion(src, est.process, roi=roi, batch=params.batch, progress=progress)
    t1 = time.perf_counter()
    inc = np.concatenate(chunks)
    del chunks
    rows_sig = row_signals(inc, est.channels, est.information, anchor=est.anchor, overwrite=True)
    del inc
    st = stitch(rows_sig, timing, row0=roi.y, rate=2.5 * band, ar_order=params.ar_order)
    consistency = line_delay_consistency(rows_sig, timing, row0=roi.y)
    if consistency["flagged"]:
        warnings.warn(consistency["message"], stacklevel=4)
    del rows_sig
    fs = st.rate
    x = st.signal
    hp = params.highpass if params.highpass is not None else 20.0
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
    lines = detect_lines(x, rate=fs, min_hz=1.5 * hp)
    notched: list[float] = []
    if isinstance(params.notch, tuple):
        notched = [f for f in params.notch if f < fs / 2]
    elif params.notch == "auto":
        notched = [d["hz"] for d in lines]
    if notched:
        x = notch(x, rate=fs, freqs=notched)
    if params.denoise == "specsub":
        x = spectral_subtract(x, rate=fs)
    out_rate = params.rate if params.rate is not None else timing.effective_rate
    y = resample(x, rate_in=fs, rate_out=out_rate) if out_rate != fs else x
    raw = resample(raw_ws, rate_in=fs, rate_out=out_rate) if out_rate != fs else raw_ws
    audio, gain = normalize(y)
    t_post = time.perf_counter() - t2

    if st.diagnostics["estimated_snr_db"] < 0:
        warnings.warn(
            f"the estimated SNR of the recovered signal is {st.diagnostics['estimated_snr_db']:.1f} dB: it is "
            "mostly noise; try another ROI, more light, or a larger motion",
            stacklevel=4,
        )
    used = dataclasses.replace(params, fps=fps, line_delay=timing.line_delay, exposure=timing.exposure,
                               rate=out_rate, band=band, highpass=hp)
    info = src.describe()
    try:
        size = os.path.getsize(src.path) if os.path.isfile(src.path) else None
    except OSError:
        size = None
    info.update(size_bytes=size, frames_used=done, rate=out_rate, fps=fps, rate_source=fps_source,
                roi=roi.as_list())
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
        reference_segment_frames=est.anchor,
        lines_detected=lines,
        notched_hz=notched,
        output_gain=gain,
        notes=notes,
        unobservable_hz=f"multiples of the frame rate ({fps:g} Hz) within ~{fps / done:.2g} Hz look like a still "
                        "frame and are lost",
    )
    if "camera" in cam_info:
        diagnostics["camera"] = cam_info["camera"]
    timings = {
        "motion_s": round(t_motion, 4),
        "stitch_s": round(t_stitch, 4),
        "post_s": round(t_post, 4),
        "total_s": round(time.perf_counter() - t_start, 4),
        "frames_per_s": round(done / t_motion, 2) if t_motion > 0 else None,
    }
    return Recovery(audio, out_rate, raw, used, info, diagnostics, timings)


# ======================================================================================
# 5. Calibration
# ======================================================================================


@dataclass
class Calibration:
    """A measured line delay.

    Attributes
    ----------
    line_delay : float
        Seconds per row.
    line_delay_std : float
        One-sigma uncertainty in seconds (Cramer-Rao of the stripe frequency under the residual
        noise; the blind method reports the half-width of its mismatch minimum instead).
    readout : {"down", "up"} or None
        Readout direction, None when the data cannot tell (stripes that do not move between
        frames: a flicker or tone frequency that is a multiple of half the frame rate).
    method : {"flicker", "tone", "blind"}
    frequency_hz : float or None
        The known flicker or tone frequency.
    cycles_per_row : float or None
        Stripe frequency measured along the rows (``frequency_hz * line_delay``).
    fps : float
    rows : int
        Frame height in rows (for the readout time and the gap).
    frames : int
    snr_db : float or None
        Stripe amplitude over the residual noise (flicker and tone methods).
    notes : list of str
    """

    line_delay: float
    line_delay_std: float
    readout: str | None
    method: str
    frequency_hz: float | None
    cycles_per_row: float | None
    fps: float
    rows: int
    frames: int
    snr_db: float | None = None
    notes: list[str] = field(default_factory=list)

    def timing(self, exposure: float = 0.0) -> RowTiming:
        """The :class:`RowTiming` this calibration gives (readout ``down`` if undetermined)."""
        return RowTiming(self.fps, self.line_delay, self.rows, exposure, self.readout or "down")

    def describe(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["readout_time_s"] = self.rows * self.line_delay
        d["gap_s"] = max(0.0, 1 / self.fps - self.rows * self.line_delay)
        d["effective_rate_hz"] = 1 / self.line_delay
        return d


def stripe_frequency(profiles: np.ndarray, *, low: float, high: float) -> dict[str, Any]:
    """Frequency (cycles per row) of a sinusoid along the rows, shared by every frame.

    Each frame ``n`` is modelled as ``a_n cos(2 pi nu y) + b_n sin(2 pi nu y) + c_n + e_n y`` plus
    noise: its own amplitude and phase, a mean and a linear trend. ``nu`` maximises the energy
    of the least-squares fit over all frames (a periodogram peak, refined by golden section).
    Exact even for a stripe period longer than the ROI, where a plain periodogram is biased.

    Parameters
    ----------
    profiles : ndarray, shape (n_frames, rows)
        One value per row and frame (row means of a flicker video, or per-row motion).
    low, high : float
        Search range in cycles per row (0 < low < high <= 0.5).

    Returns
    -------
    dict
        ``nu`` (cycles/row), ``nu_std`` (Cramer-Rao one sigma), ``phasors`` (complex
        ``a_n - i b_n``, shape (n_frames,)), ``snr_db`` (stripe power over residual noise).

    Raises
    ------
    InputError
        No stripe in the range (flat profiles).
    """
    q = np.asarray(profiles, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] < 8:
        raise InputError(f"profiles of shape {q.shape}: need (frames, rows) with >= 8 rows")
    n, h = q.shape
    if not 0 < low < high <= 0.5:
        raise ParameterError(f"search range low={low:g}, high={high:g} cycles/row must satisfy 0 < low < high <= 0.5")
    y = np.arange(h, dtype=np.float64)
    yc = (y - y.mean()) / h
    q = q - q.mean(axis=1, keepdims=True)
    q = q - np.outer(q @ yc / (yc @ yc), yc)
    if not np.any(q):
        raise InputError("the profiles are flat: no stripes to measure")

    def fit(nu: float) -> tuple[float, np.ndarray, np.ndarray]:
        basis = np.stack([np.cos(2 * np.pi * nu * y), np.sin(2 * np.pi * nu * y), np.ones(h), yc], axis=1)
        coef, *_ = np.linalg.lstsq(basis, q.T, rcond=None)  # (4, n)
        model = basis @ coef
        energy = float(np.sum(model * q.T))
        return energy, coef, model

    size = sfft.next_fast_len(max(16 * h, 4096))
    power = (np.abs(sfft.rfft(q, size, axis=1)) ** 2).sum(axis=0)
    f = np.arange(power.size) / size
    sel = np.flatnonzero((f >= low) & (f <= high))
    if sel.size == 0:
        raise ParameterError(f"the search range {low:g}..{high:g} cycles/row is narrower than the frequency grid")
    # coarse: periodogram peak, then the least-squares criterion on a grid around it
    nu0 = f[sel[np.argmax(power[sel])]]
    grid = np.clip(np.linspace(nu0 - 1.0 / h, nu0 + 1.0 / h, 41), low, high)
    grid = np.unique(np.r_[grid, np.linspace(low, min(high, low + 2.0 / h), 21)])
    energies = [fit(v)[0] for v in grid]
    i = int(np.argmax(energies))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    for _ in range(40):
        a1, b1 = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
        if fit(a1)[0] > fit(b1)[0]:
            hi = b1
        else:
            lo = a1
    nu = (lo + hi) / 2
    _, coef, model = fit(nu)
    resid = q.T - model
    dof = max(h * n - 4 * n - 1, 1)
    sigma2 = float(np.sum(resid**2) / dof)
    amp2 = coef[0] ** 2 + coef[1] ** 2
    total = float(np.sum(amp2))
    var = 12 * sigma2 / ((2 * np.pi) ** 2 * h * (h * h - 1) * max(total, 1e-300))
    snr = 10 * np.log10(np.mean(amp2) / 2 / sigma2) if sigma2 > 0 and total > 0 else float("inf")
    return {"nu": nu, "nu_std": float(np.sqrt(var)), "phasors": coef[0] - 1j * coef[1], "snr_db": float(snr)}


def _readout_from_phasors(phasors: np.ndarray, frequency: float, fps: float) -> tuple[str | None, str]:
    """Readout direction from the stripes' drift between frames (see :func:`calibrate_flicker`)."""
    phi = (frequency / fps) % 1.0
    if len(phasors) < 2 or min(phi, 1 - phi) < 0.02 or abs(phi - 0.5) < 0.02:
        return None, (f"the stripes advance {phi:.3f} of a period per frame: the readout direction cannot be told "
                      "(use a frequency that is not a multiple of half the frame rate)")
    adv = float(np.angle(np.sum(phasors[1:] * np.conj(phasors[:-1]))) / (2 * np.pi))

    def dist(a: float) -> float:
        return abs((a + 0.5) % 1.0 - 0.5)

    down, up = dist(adv - phi), dist(adv + phi)
    if min(down, up) > 0.15:
        return None, (f"the stripes advance {adv:.3f} period per frame, not +-{phi:.3f} as a {frequency:g} Hz "
                      f"source at {fps:g} fps would make them: check the frequency and --fps")
    wrapped = (phi + 0.5) % 1.0 - 0.5
    return ("down" if down < up else "up"), (f"stripes advance {adv:+.3f} period per frame ({wrapped:+.3f} for a "
                                             f"top-to-bottom readout, {-wrapped:+.3f} bottom-to-top)")


def _search_range(frequency: float, fps: float, rows: int, h: int) -> tuple[float, float]:
    high = min(0.5, 1.05 * frequency / fps / rows)  # the readout must fit the frame period
    low = max(0.3 / h, frequency * 0.1e-6)
    if low >= high:
        raise ParameterError(
            f"a {frequency:g} Hz source makes fewer than 0.3 stripes over the ROI's {h} rows even at the longest "
            f"possible line delay; use a higher frequency (a few hundred Hz to a few kHz) or a taller ROI"
        )
    return low, high


def _open(source: Any):
    from .io import FrameSource, open_source

    own = not isinstance(source, FrameSource)
    return (open_source(os.fspath(source)) if own else source), own


def calibrate_flicker(source: Any, *, fps: float, flicker_hz: float, roi: tuple[int, int, int, int] | None = None,
                      batch: int = 32) -> Calibration:
    """Measure the line delay from a video of a light flickering at a known frequency.

    Each row integrates the light at its own instant, so a light flickering at ``f`` films as
    horizontal stripes with ``f * d`` cycles per row. The stripe frequency is fitted over all
    frames (:func:`stripe_frequency`) and ``d = nu / f``. The stripes drift by ``f / fps`` of a
    period per frame, downwards for a top-to-bottom readout: that gives the readout direction.

    Parameters
    ----------
    source : path or FrameSource
    fps : float
        Exact frame rate in Hz.
    flicker_hz : float
        The light's flicker frequency in Hz (mains lighting: twice the mains frequency, 100 or
        120 Hz; an LED driven by a generator or PWM at a few hundred Hz to a few kHz is better).
    roi : (x, y, w, h), optional
        Region to average along the rows (default: the whole frame).
    batch : int
        Frames read at a time.

    Returns
    -------
    Calibration

    Raises
    ------
    ParameterError, InputError, VideoReadError
    """
    from .io.base import ROI

    fps = _num("fps", fps, unit="Hz", fix="give the exact frame rate, e.g. 59.94")
    f = _num("flicker_hz", flicker_hz, unit="Hz", fix="give the light's flicker frequency, e.g. 120")
    src, own = _open(source)
    try:
        rows, cols = src.shape
        r = ROI(*roi).check(rows, cols) if roi is not None else ROI(0, 0, cols, rows)
        prof = [b.mean(axis=2, dtype=np.float64)
                for b in src.iter_batches(batch=batch, roi=r if roi is not None else None)]
    finally:
        if own:
            src.close()
    p = np.concatenate(prof) if prof else np.zeros((0, r.h))
    if p.shape[0] < 2:
        raise InputError("calibration needs at least 2 frames")
    notes = []
    phi = (f / fps) % 1.0
    if min(phi, 1 - phi) > 0.02:
        base = p.mean(axis=0)
        if np.any(base <= 0):
            raise InputError("some rows are black in every frame; light the target or choose another ROI")
        q = p / base - 1.0  # the flicker multiplies the scene: the ratio removes the scene's own pattern
    else:
        q = p.mean(axis=0, keepdims=True)  # stripes do not move: assume a flat target
        notes.append(f"{f:g} Hz is a multiple of the frame rate: the stripes stand still, so the target must be "
                     "flat (a white wall), and the readout direction cannot be told")
    low, high = _search_range(f, fps, rows, r.h)
    res = stripe_frequency(q, low=low, high=high)
    readout, note = _readout_from_phasors(res["phasors"], f, fps) if q.shape[0] > 1 else (None, "")
    if note:
        notes.append(note)
    if readout == "up":
        notes.append("bottom-to-top readout: the stripes move up")
    cycles = res["nu"] * r.h
    if cycles < 1.5:
        notes.append(f"only {cycles:.2f} stripe periods over the ROI: use a faster flicker for precision")
    return Calibration(res["nu"] / f, res["nu_std"] / f, readout, "flicker", f, res["nu"], fps, rows, p.shape[0],
                       res["snr_db"], notes)


def _row_signals_of(source: Any, *, roi, direction: str, batch: int, progress: ProgressFn | None = None
                    ) -> tuple[RowSignals, Any, int, int]:
    from .io.base import ROI

    src, own = _open(source)
    try:
        rows, cols = src.shape
        r = ROI(*roi).check(rows, cols) if roi is not None else ROI(0, 0, cols, rows)
        est = RowMotionEstimator((r.h, r.w), direction=direction, anchor=anchor_frames(src.header_rate or 30.0))
        chunks = []
        done = 0
        for b in src.iter_batches(batch=batch, roi=r if roi is not None else None):
            chunks.append(est.process(b))
            done += len(b)
            if progress is not None:
                progress(done, src.n_frames)
    finally:
        if own:
            src.close()
    if done < 8:
        raise InputError(f"only {done} frames; at least 8 are needed")
    return row_signals(np.concatenate(chunks), est.channels, est.information, anchor=est.anchor), r, rows, done


def calibrate_tone(source: Any, *, fps: float, tone_hz: float, roi: tuple[int, int, int, int] | None = None,
                   direction: str = "auto", batch: int = 16) -> Calibration:
    """Measure the line delay from a video of an object vibrating with a known tone.

    The per-row motion of one frame is a snapshot of the tone along the rows, ``f d`` cycles per
    row; it is fitted like flicker stripes (:func:`stripe_frequency`). Choose ``f`` between a
    few hundred Hz and ``1/(2 E)`` (above, the exposure blurs it away) and not a multiple of
    half the frame rate.

    Parameters
    ----------
    source : path or FrameSource
    fps : float
        Exact frame rate in Hz.
    tone_hz : float
        The tone's frequency in Hz.
    roi, direction, batch
        As in :class:`RollingShutterParams`.

    Returns
    -------
    Calibration
    """
    fps = _num("fps", fps, unit="Hz", fix="give the exact frame rate, e.g. 59.94")
    f = _num("tone_hz", tone_hz, unit="Hz", fix="give the tone's frequency, e.g. 1000")
    rsig, r, rows, done = _row_signals_of(source, roi=roi, direction=direction, batch=batch)
    combined, _ = rsig.combined()
    low, high = _search_range(f, fps, rows, r.h)
    res = stripe_frequency(combined, low=low, high=high)
    readout, note = _readout_from_phasors(res["phasors"], f, fps)
    notes = [note] if note else []
    return Calibration(res["nu"] / f, res["nu_std"] / f, readout, "tone", f, res["nu"], fps, rows, done,
                       res["snr_db"], notes)


def calibrate_blind(source: Any, *, timing: RowTiming, roi: tuple[int, int, int, int] | None = None,
                    direction: str = "auto", batch: int = 16) -> Calibration:
    """Estimate the line delay from any vibration video, around a prior ``timing`` (+-30 %).

    Uses :func:`line_delay_consistency`: needs an ROI taller than half the rows of a frame
    period and a sound with structure (speech, music, tones).

    Raises
    ------
    InputError
        The data do not identify the line delay (message says why).
    """
    rsig, r, rows, done = _row_signals_of(source, roi=roi, direction=direction, batch=batch)
    if rows != timing.rows:
        raise ParameterError(f"timing.rows={timing.rows} does not match the video's {rows} rows")
    res = line_delay_consistency(rsig, timing, row0=r.y)
    if not res["identifiable"]:
        raise InputError(f"blind calibration failed: {res['message']}")
    readout = res.get("estimated_readout", timing.readout)
    return Calibration(res["estimated_line_delay_s"], 0.0, readout, "blind", None, None, timing.fps, rows, done,
                       None, [res["message"]])


def check_line_delay(calibration: Calibration, line_delay: float, *, tolerance: float = 0.03) -> dict[str, Any]:
    """Compare a measured line delay with an expected one (a camera preset or --line-delay).

    The expected value is flagged when it differs by more than ``tolerance`` (relative) and
    by more than three standard deviations of the measurement.

    Returns
    -------
    dict
        ``expected_s``, ``measured_s``, ``ratio`` (measured / expected), ``consistent`` (bool),
        ``message``.
    """
    d = _num("line_delay", line_delay, unit="seconds", fix="e.g. 16.15e-6")
    tol = _num("tolerance", tolerance, unit="(relative)", fix="use e.g. 0.03")
    ratio = calibration.line_delay / d
    off = abs(ratio - 1)
    consistent = off <= max(tol, 3 * calibration.line_delay_std / d)
    msg = (f"expected {d * 1e6:.4g} us, measured {calibration.line_delay * 1e6:.4g} us "
           f"({(ratio - 1) * 100:+.1f} %): " + ("consistent" if consistent else "MISMATCH, the expected line delay "
                                                "is wrong for this camera and mode"))
    return {"expected_s": d, "measured_s": calibration.line_delay, "ratio": ratio, "consistent": bool(consistent),
            "message": msg}


# ======================================================================================
# Command-line glue (wired into vismic.cli by the lead; no numerics)
# ======================================================================================


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
    from .io import parse_roi

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
    roi = parse_roi(getattr(args, "roi", None))
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
        roi=roi.as_list() if roi else None, equalize=bool(args.equalize),
        highpass=getattr(args, "highpass", None), notch=notch_v, denoise=getattr(args, "denoise", "none"),
        batch=getattr(args, "batch", 16),
    )


def recover_main(args: Any) -> int:
    """``vismic recover --rolling-shutter ...``: recover, write WAV + listenable copy + JSON, print a summary."""
    from .cli import _plan_outputs, _progress_bar
    from .io import open_source
    from .pipeline import save

    params = params_from_args(args)
    out = _plan_outputs(args)
    src = open_source(args.input)
    try:
        params.timing(*src.shape, params.fps if params.fps is not None else src.header_rate)  # fail before work
        update, close = _progress_bar(args.quiet, "recover")
        try:
            rec = recover_rolling_shutter(src, params, progress=update)
        finally:
            close()
    finally:
        src.close()
    paths = save(rec, out, force=args.force, listen_rate=args.listen_rate, spectrogram=args.spectrogram,
                 float_wav=args.float)
    if args.json:
        side = rec.sidecar()
        side["outputs"] = paths
        print(json.dumps(side, default=_json_default))
    elif not args.quiet:
        d = rec.diagnostics
        t = d["timing"]
        print(f"recovered {len(rec.audio)} samples at {rec.rate:g} Hz ({len(rec.audio) / rec.rate:.2f} s) from "
              f"{rec.input['frames_used']} frames at {t['fps']:g} fps in {rec.timings['total_s']:.1f} s")
        print(f"rolling shutter: line delay {t['line_delay_s'] * 1e6:.4g} us ({t['effective_rate_hz']:.0f} rows/s), "
              f"gap {t['gap_s'] * 1e3:.2f} ms ({t['missing_fraction'] * 100:.0f} % filled by AR interpolation), "
              f"band {d['band_hz']:.0f} Hz")
        ex = d["exposure"]
        if ex.get("first_null_hz"):
            print(f"exposure {ex['exposure_s'] * 1e3:.3g} ms: box filter, first null {ex['first_null_hz']:.0f} Hz"
                  + (" (equalised)" if ex.get("equalized") else ""))
        print(f"estimated SNR {d['estimated_snr_db']:.1f} dB; {d['line_delay_check']['message']}")
        for k, v in paths.items():
            print(f"{k:12s} {v}")
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


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
    from .io import open_source, parse_roi

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
        print(json.dumps(out, default=_json_default))
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
