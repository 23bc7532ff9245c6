"""The rolling-shutter :class:`RollingShutterScene`: every row read at its own instant."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.fft as sfft

from .._validation import bad, check_bool, check_int, check_number
from ._common import (
    _TAYLOR_MAX_ORDER,
    _TAYLOR_TOL,
    _check_intensity,
    _check_mode,
    _check_rate,
    _check_shape,
    _check_sound,
    _check_texture,
    _SceneFacts,
    _workers,
    _zero_nyquist,
)
from .scene import (
    _camera_model,
    _mode_shape,
)

READOUTS = ("down", "up")
#: Tolerance on ``rows * line_delay <= 1 / fps`` (published line delays are rounded).
_READOUT_FIT_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class RollingShutterScene(_SceneFacts):
    """A textured object vibrating with a sound, filmed by a rolling-shutter video camera.

    The camera reads its rows one after another: row ``y`` of frame ``n`` integrates light over
    its own exposure window

        [t0 + n/fps + r(y) * line_delay,  t0 + n/fps + r(y) * line_delay + exposure]

    with ``r(y) = y`` (``readout="down"``, row 0 first) or ``r(y) = rows - 1 - y``
    (``readout="up"``) and ``t0 = start_time``. The rows of one frame therefore sample the sound
    at ``1 / line_delay`` samples per second, and nothing is recorded during the gap
    ``1/fps - rows * line_delay`` between the last row of a frame and the first row of the next.
    This timing code is written here on purpose, independently of :mod:`vismic.rolling_shutter`,
    so that a timing bug in the estimator cannot cancel out in tests.

    Rendering is exact to a stated tolerance: the row shows the texture displaced by
    ``a(t) = rms_px * m(x, y) * s(t)`` along ``direction_deg`` and averaged over the row's
    exposure window,

        row(x) = (1/E) int L(x - a(t) u) dt = sum_k E_w[(-a)^k] / k! * (u . grad)^k L(x),

    a Taylor series whose directional derivatives are computed spectrally from the band-limited
    texture and whose exposure moments ``E_w[(-a)^k]`` are Gauss-Legendre quadratures of the sound
    over each row's window (one node per sound sample in the window, at least two). The order is
    chosen from a rigorous bound on the remainder (below 1e-9 of full scale), as for smooth modes
    of :class:`Scene`. Lighting flicker multiplies each row by its exposure-averaged gain
    ``1 + flicker * sinc(flicker_hz * E) * sin(2 pi flicker_hz t_mid)``: a flickering light films
    as horizontal stripes ``1 / (flicker_hz * line_delay)`` rows apart (the calibration video).
    Then noise, quantisation and clipping as in :class:`Scene`.

    Parameters
    ----------
    texture : ndarray, shape (R, C), float
        One period of a periodic texture in [0, 1] (see :func:`make_texture`); it must exceed the
        frame by ``ceil(max displacement) + 2`` px on every side.
    sound : ndarray, shape (n,), float
        The vibration, sampled at ``sound_rate`` (rescaled to unit RMS). Rows sample it far above
        the frame rate, so give it at a high rate: ``sound_rate >= 1 / line_delay`` is
        recommended and it should be band-limited well below ``sound_rate / 2`` (it is
        interpolated by a cubic spline between samples).
    sound_rate : float
        Sampling rate of ``sound`` in Hz; sample ``i`` is at time ``i / sound_rate``.
    fps : float
        Frame rate in Hz (e.g. 59.94).
    line_delay : float
        Time between the starts of two consecutive rows, in seconds (> 0, with
        ``rows * line_delay <= 1 / fps``).
    exposure : float
        Exposure time of every row in seconds, ``0 <= exposure <= 1/fps`` (0: instantaneous).
    readout : {"down", "up"}
        Row 0 is read first (``"down"``) or last (``"up"``).
    n_frames : int or None
        Number of frames; ``None``: as many as the sound covers, counting the last row's
        exposure window.
    start_time : float
        Time, on the sound's clock, when the exposure of the first row read in frame 0 starts (s).
    rms_px, direction_deg, shape, mode, noise_sigma, shot_noise, full_well, bits, flicker, \
flicker_hz, contrast, mean, seed
        As in :class:`Scene` (``mode`` may be ``"rigid"``, ``"halves"``, ``"halves-in-phase"``,
        ``"membrane"`` or an array); there is no drift.
    object_mask : ndarray, shape ``shape``, or None
        Where the vibrating object is (alpha in [0, 1], e.g. :func:`object_rows_mask`); elsewhere
        the frame shows ``background``, which does not move. None: the object fills the frame.
        The mask itself is fixed (the object's outline does not move with it: only its texture
        does, so the edges carry no extra motion cue).
    background : ndarray or None
        Texture of the still background (a texture at least ``shape``; centre-cropped), seen
        with the same ``contrast`` and ``mean``. None with a mask: a flat grey background.

    Raises
    ------
    ParameterError
        Any field out of range: the message names the field, its value and the fix.
    """

    texture: np.ndarray
    sound: np.ndarray
    sound_rate: float
    fps: float
    line_delay: float
    exposure: float = 0.0
    readout: str = "down"
    n_frames: int | None = None
    start_time: float = 0.0
    rms_px: float = 0.01
    direction_deg: float = 0.0
    shape: tuple[int, int] = (96, 96)
    mode: str | np.ndarray = "rigid"
    noise_sigma: float = 2.0
    shot_noise: bool = False
    full_well: float = 10_000.0
    bits: int = 8
    flicker: float = 0.0
    flicker_hz: float = 120.0
    contrast: float = 0.8
    mean: float = 0.5
    seed: int = 0
    object_mask: np.ndarray | None = None
    background: np.ndarray | None = None

    def __post_init__(self) -> None:
        def setf(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        tex = _check_texture(self.texture)
        setf("texture", tex)
        setf("sound", _check_sound(self.sound, min_samples=4, what="",
                                   fix="use builtin_sound('tone', rate=sound_rate, duration=...)"))
        setf("sound_rate", _check_rate(self.sound_rate, "sound_rate"))
        setf("fps", _check_rate(self.fps, "fps"))
        setf("shape", _check_shape("shape", self.shape))
        rows, cols = self.shape
        d = check_number("line_delay", self.line_delay, lo=0.0, lo_open=True,
                    fix="give the row-to-row readout delay in seconds, e.g. line_delay=16.15e-6")
        setf("line_delay", d)
        period = 1.0 / self.fps
        if rows * d > period * (1 + _READOUT_FIT_TOL):
            raise bad("line_delay", d, f"makes the readout of {rows} rows ({rows * d * 1e3:.4g} ms) longer than "
                       f"the frame period 1/fps = {period * 1e3:.4g} ms",
                       f"use line_delay <= {period / rows:.4g} s or fewer rows")
        e = check_number("exposure", self.exposure, lo=0.0, fix="give the exposure in seconds, e.g. exposure=1/2000")
        if e > period * (1 + 1e-12):
            raise bad("exposure", e, f"exceeds the frame period 1/fps = {period:.4g} s",
                       f"use exposure <= {period:.4g} s")
        setf("exposure", e)
        if self.readout not in READOUTS:
            raise bad("readout", self.readout, f"is not one of {READOUTS}", 'use readout="down"')
        setf("start_time", check_number("start_time", self.start_time, lo=0.0,
                                   fix="give a time >= 0 s on the sound's clock"))
        setf("rms_px", check_number("rms_px", self.rms_px, lo=0.0, fix="give the RMS motion in pixels, e.g. 0.05"))
        setf("direction_deg", check_number("direction_deg", self.direction_deg, fix="give an angle in degrees"))
        setf("noise_sigma", check_number("noise_sigma", self.noise_sigma, lo=0.0,
                                    fix="give the read noise in 8-bit grey levels, e.g. 2.0"))
        setf("shot_noise", check_bool("shot_noise", self.shot_noise))
        setf("full_well", check_number("full_well", self.full_well, lo=0.0, lo_open=True,
                                  fix="give electrons at white, e.g. 10000"))
        setf("bits", check_int("bits", self.bits, 1, 16, fix="use bits=8 or bits=16"))
        setf("flicker", check_number("flicker", self.flicker, lo=0.0, hi=1.0, hi_open=True,
                                fix="give a relative amplitude in [0, 1), e.g. 0.05"))
        setf("flicker_hz", check_number("flicker_hz", self.flicker_hz, lo=0.0, lo_open=True,
                                   fix="give the flicker frequency in Hz, e.g. 120"))
        c, mu = _check_intensity(self.contrast, self.mean)
        setf("contrast", c)
        setf("mean", mu)
        setf("seed", check_int("seed", self.seed, 0, fix="use e.g. seed=0"))
        setf("mode", _check_mode(self.mode, (rows, cols)))

        # frames the sound covers: the last row read in the last frame must end its exposure in time
        snd = self.sound
        last_sample = (snd.size - 1) / self.sound_rate
        span = (rows - 1) * d + e
        avail = int(math.floor((last_sample - self.start_time - span) * self.fps + 1e-9)) + 1
        if self.n_frames is None:
            if avail < 2:
                raise bad("sound", snd, f"covers {last_sample:.4g} s, too short for 2 frames at {self.fps:g} fps "
                           f"(each frame needs {span:.4g} s of readout and exposure)", "give a longer sound")
            setf("n_frames", avail)
        else:
            nf = self.n_frames
            if isinstance(nf, bool) or not isinstance(nf, int | np.integer) or nf < 1:
                raise bad("n_frames", nf, "must be an integer >= 1 or None", "use e.g. n_frames=60")
            if nf > avail:
                raise bad("n_frames", nf, f"needs more sound than given ({avail} frames fit)",
                           f"use n_frames <= {avail} or a longer sound")
            setf("n_frames", int(nf))
        need_r, need_c = self.texture_shape_needed
        if tex.shape[0] < need_r or tex.shape[1] < need_c:
            raise bad("texture", tex, f"is too small for {rows} x {cols} frames (needs >= {need_r} x {need_c})",
                       f"use make_texture(kind, ({need_r}, {need_c}))")
        if self.object_mask is not None:
            m = np.asarray(self.object_mask, dtype=np.float64)
            if m.shape != (rows, cols) or not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
                raise bad("object_mask", self.object_mask, f"must be an array of shape {(rows, cols)} with values "
                           "in [0, 1]", "use object_rows_mask(shape, (0.15, 0.85))")
            m = m.copy()
            m.flags.writeable = False
            setf("object_mask", m)
        if self.background is not None:
            bg = _check_texture(self.background, "background")
            if bg.shape[0] < rows or bg.shape[1] < cols:
                raise bad("background", bg, f"is smaller than the {rows} x {cols} frame",
                           f"use make_texture(kind, ({rows}, {cols})) or larger")
            setf("background", bg)

    # ---------------------------------------------------------------- facts
    @property
    def rate(self) -> float:
        """Frame rate in Hz (alias of ``fps``)."""
        return self.fps

    @property
    def duration(self) -> float:
        """Clip length in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps

    @property
    def gap(self) -> float:
        """Time with no row being exposed-and-read between two frames, ``1/fps - rows*line_delay`` (s)."""
        return max(0.0, 1.0 / self.fps - self.shape[0] * self.line_delay)

    def mode_shape(self) -> np.ndarray:
        """Per-pixel motion amplitude ``m``, shape (rows, cols), float64."""
        return _mode_shape(self.mode, self.shape)

    @cached_property
    def _spline(self) -> Any:
        from scipy.interpolate import make_interp_spline  # lazily: about 0.2 s, only for spline sounds

        t = np.arange(self.sound.size) / self.sound_rate
        unit = self.sound / np.sqrt(np.mean(np.square(self.sound)))
        return make_interp_spline(t, self.rms_px * unit, k=3)

    @cached_property
    def _antiderivative(self) -> Any:
        return self._spline.antiderivative()

    def truth(self) -> np.ndarray:
        """The displacement ``rms_px * sound`` (unit-RMS sound) at the sound's samples, in pixels.

        Returns
        -------
        ndarray, shape (len(sound),), float64
            Sampled at ``sound_rate``; sample ``i`` is at ``i / sound_rate`` seconds.
        """
        return self.rms_px * self.sound / np.sqrt(np.mean(np.square(self.sound)))

    def truth_at(self, times: np.ndarray, *, exposed: bool = False) -> np.ndarray:
        """The displacement at arbitrary times (cubic-spline interpolation of :meth:`truth`).

        Parameters
        ----------
        times : array_like of float
            Seconds on the sound's clock.
        exposed : bool
            Return the displacement averaged over an exposure window centred on each time (the
            box filter every row applies), instead of the instantaneous displacement.

        Returns
        -------
        ndarray, float64
            Pixels along ``direction_deg`` where the mode shape is 1.
        """
        t = np.asarray(times, dtype=np.float64)
        e = self.exposure
        if not exposed or e == 0:
            return self._spline(t)
        anti = self._antiderivative
        return (anti(t + e / 2) - anti(t - e / 2)) / e

    def row_starts(self) -> np.ndarray:
        """Start of every row's exposure window, in seconds on the sound's clock.

        Returns
        -------
        ndarray, shape (n_frames, rows), float64
            ``start_time + n / fps + r(y) * line_delay``.
        """
        rows = self.shape[0]
        order = np.arange(rows) if self.readout == "down" else rows - 1 - np.arange(rows)
        return self.start_time + np.arange(self.n_frames)[:, None] / self.fps + order[None, :] * self.line_delay

    def row_times(self) -> np.ndarray:
        """Centre of every row's exposure window (s): :meth:`row_starts` + ``exposure / 2``.

        Returns
        -------
        ndarray, shape (n_frames, rows), float64
        """
        return self.row_starts() + self.exposure / 2

    @property
    def max_displacement_px(self) -> float:
        """Bound on ``|displacement|`` of any pixel, in pixels (5 % margin for spline overshoot)."""
        mmax = float(np.max(np.abs(self.mode_shape()))) if isinstance(self.mode, np.ndarray) else 1.0
        peak = float(np.max(np.abs(self.sound))) / float(np.sqrt(np.mean(np.square(self.sound))))
        return 1.05 * mmax * self.rms_px * peak

    @property
    def texture_shape_needed(self) -> tuple[int, int]:
        """Smallest texture ``(R, C)``: the frame plus ``ceil(max displacement) + 2`` px on each side."""
        margin = math.ceil(self.max_displacement_px) + 2
        return self.shape[0] + 2 * margin, self.shape[1] + 2 * margin

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (arrays by shape only)."""
        mode = self.mode if isinstance(self.mode, str) else f"array{tuple(self.mode.shape)}"
        return {
            "kind": "rolling_shutter", "fps": self.fps, "line_delay": self.line_delay,
            "exposure": self.exposure, "readout": self.readout, "n_frames": self.n_frames,
            "start_time": self.start_time, "sound_rate": self.sound_rate, "gap_s": self.gap,
            "rms_px": self.rms_px, "direction_deg": self.direction_deg, "shape": list(self.shape),
            "mode": mode, "noise_sigma": self.noise_sigma, "shot_noise": self.shot_noise,
            "full_well": self.full_well, "bits": self.bits, "flicker": self.flicker,
            "flicker_hz": self.flicker_hz, "contrast": self.contrast, "mean": self.mean, "seed": self.seed,
            "texture_shape": list(self.texture.shape), "duration_s": self.duration,
            "object_mask": None if self.object_mask is None else f"array{tuple(self.object_mask.shape)}",
            "object_fraction": 1.0 if self.object_mask is None else float(np.mean(self.object_mask)),
            "background": None if self.background is None else f"array{tuple(self.background.shape)}",
        }

    # ---------------------------------------------------------------- rendering
    @cached_property
    def _engine(self) -> _RollingRenderer:
        return _RollingRenderer(self)

    def _range(self, start: int, stop: int | None, batch: int) -> tuple[int, int, int]:
        n = self.n_frames
        stop = n if stop is None else stop
        for name, v in (("start", start), ("stop", stop), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise bad(name, v, "must be an integer", f"give an int in [0, {n}]")
        if not 0 <= start <= stop <= n:
            raise bad("start/stop", (start, stop), f"must satisfy 0 <= start <= stop <= n_frames={n}",
                       "pick a frame range inside the clip")
        if batch < 1:
            raise bad("batch", batch, "must be >= 1", "use e.g. batch=16")
        return int(start), int(stop), int(batch)

    def clean_frames(self, *, start: int = 0, stop: int | None = None, batch: int = 16) -> Iterator[np.ndarray]:
        """Stream the noiseless, unquantised frames, shape (n <= batch, rows, cols), float64."""
        start, stop, batch = self._range(start, stop, batch)
        for i0 in range(start, stop, batch):
            yield self._engine.clean(i0, min(stop, i0 + batch))

    def frames(self, *, start: int = 0, stop: int | None = None, batch: int = 16) -> Iterator[np.ndarray]:
        """Stream the frames as recorded: noisy, quantised, uint8 (bits <= 8) or uint16."""
        start, stop, batch = self._range(start, stop, batch)
        eng = self._engine
        for i0 in range(start, stop, batch):
            yield _camera_model(self, eng.clean(i0, min(stop, i0 + batch)), i0)


class _RollingRenderer:
    """Directional derivatives of the texture and per-row exposure moments (private)."""

    def __init__(self, scene: RollingShutterScene) -> None:
        self.scene = scene
        rows, cols = scene.shape
        R, C = scene.texture.shape
        r0, c0 = (R - rows) // 2, (C - cols) // 2
        intensity = scene.mean + scene.contrast * (scene.texture - 0.5)
        spec = sfft.rfft2(intensity, workers=_workers())
        _zero_nyquist(spec, R, C)
        ux, uy = scene.direction
        k_u = 2 * np.pi * (sfft.fftfreq(R)[:, None] * uy + sfft.rfftfreq(C)[None, :] * ux)
        smax = scene.max_displacement_px
        weight = np.full(spec.shape[1], 2.0)
        weight[0] = 1.0
        mag = np.abs(spec) * weight / (R * C)
        ku = np.abs(k_u)
        order = 0
        while smax > 0:
            bound = smax ** (order + 1) / math.factorial(order + 1) * float(np.sum(mag * ku ** (order + 1)))
            if bound <= _TAYLOR_TOL:
                break
            order += 1
            if order > _TAYLOR_MAX_ORDER:
                raise bad("rms_px", scene.rms_px, f"is too large for rolling-shutter rendering (peak displacement "
                           f"{smax:.3g} px needs > {_TAYLOR_MAX_ORDER} Taylor terms)", "use rms_px <= ~0.3")
        self.order = order
        derivs = []
        for k in range(order + 1):
            full = sfft.irfft2(spec * (1j * k_u) ** k, s=(R, C), workers=_workers())
            derivs.append(full[r0 : r0 + rows, c0 : c0 + cols] / math.factorial(k))
        d = np.stack(derivs)  # (order+1, rows, cols): (u.grad)^k L / k!
        m = scene.mode_shape()
        if not np.all(m == 1.0):
            d = d * m[None] ** np.arange(order + 1)[:, None, None]
        self.derivs = np.ascontiguousarray(d.transpose(1, 0, 2))  # (rows, order+1, cols)
        self.alpha = self.still = None
        if scene.object_mask is not None:
            self.alpha = scene.object_mask
            if scene.background is None:
                bg = np.full((rows, cols), scene.mean)
            else:
                br, bc = scene.background.shape
                b0, b1 = (br - rows) // 2, (bc - cols) // 2
                bg = scene.mean + scene.contrast * (scene.background[b0 : b0 + rows, b1 : b1 + cols] - 0.5)
            self.still = (1.0 - self.alpha) * bg
        e = scene.exposure
        n_nodes = 1 if e == 0 else int(min(256, max(2, math.ceil(e * scene.sound_rate) + 1)))
        if n_nodes == 1:
            self.nodes, self.weights = np.zeros(1), np.ones(1)
        else:
            x, w = np.polynomial.legendre.leggauss(n_nodes)
            self.nodes, self.weights = (x + 1) / 2 * e, w / 2  # offsets in [0, e], weights sum to 1

    def clean(self, i0: int, i1: int) -> np.ndarray:
        sc = self.scene
        starts = sc.row_starts()[i0:i1]  # (n, rows)
        t = starts[..., None] + self.nodes  # (n, rows, q)
        a = -sc.truth_at(t)
        powers = np.empty(a.shape[:2] + (self.order + 1,) + a.shape[2:])
        powers[:, :, 0] = 1.0
        for k in range(1, self.order + 1):
            np.multiply(powers[:, :, k - 1], a, out=powers[:, :, k])
        moments = powers @ self.weights  # (n, rows, order+1): E_w[(-a)^k]
        out = np.ascontiguousarray(np.matmul(moments.transpose(1, 0, 2), self.derivs).transpose(1, 0, 2))
        if self.alpha is not None:  # the object over its still background
            out = self.alpha * out + self.still
        if sc.flicker:
            mid = starts + sc.exposure / 2
            gain = 1.0 + sc.flicker * np.sinc(sc.flicker_hz * sc.exposure) * np.sin(2 * np.pi * sc.flicker_hz * mid)
            out = out * gain[..., None]
        return out


# --------------------------------------------------------------------------------------
# Writing a scene to disk
# --------------------------------------------------------------------------------------
