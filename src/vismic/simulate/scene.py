"""The global-shutter :class:`Scene` and its exact renderer (the model is in :mod:`vismic.simulate`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.fft as sfft

from .._validation import bad, check_bool, check_int, check_number
from ._common import (
    _MAX_EXACT_GROUPS,
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


def _mode_shape(mode: str | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel motion amplitude of a mode name or array (see :class:`Scene`), float64."""
    rows, cols = shape
    if isinstance(mode, np.ndarray):
        return mode.copy()
    if mode in ("rigid", "halves-in-phase"):
        return np.ones((rows, cols))
    if mode == "halves":
        m = np.ones((rows, cols))
        m[:, cols // 2 :] = -1.0
        return m
    i = np.sin(np.pi * (np.arange(rows) + 1) / (rows + 1))
    j = np.sin(np.pi * (np.arange(cols) + 1) / (cols + 1))
    return (i / i.max())[:, None] * (j / j.max())[None, :]


# --------------------------------------------------------------------------------------
# Scene
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Scene(_SceneFacts):
    """A textured object vibrating with a sound, seen by a global-shutter camera.

    Parameters
    ----------
    texture : ndarray, shape (R, C), float
        One period of a periodic texture, values in [0, 1] (see :func:`make_texture`,
        :func:`load_texture`). It is used whole as the periodic "world"; its
        Nyquist-frequency components, which no sub-pixel shift can represent, are dropped.
        It must exceed the frame by a margin on every side (``R >= rows + 2*margin``,
        ``margin = ceil(max displacement) + 2`` px) so that no content wraps into view and
        the frames are not circular shifts of each other. Rendering costs one FFT of
        (R, C) per frame: do not make it much larger than needed.
    sound : ndarray, shape (n_frames,), float
        The vibration, one sample per frame (sampled at ``rate``). It is rescaled to unit
        RMS, so ``rms_px`` alone sets the motion amplitude.
    rate : float
        Frame rate in Hz (> 0).
    rms_px : float
        RMS motion amplitude in pixels where the mode shape is 1 (>= 0; real videos:
        0.002 - 0.03 px).
    direction_deg : float
        Direction of motion in degrees in array coordinates: 0 = +x (increasing column),
        90 = +y (increasing row, down on screen).
    shape : (int, int)
        ``(rows, cols)`` of the rendered frames (the centre of the texture).
    mode : {"rigid", "membrane", "halves", "halves-in-phase"} or ndarray, shape (rows, cols)
        Per-pixel amplitude ``m`` of the motion. ``"rigid"``: 1 everywhere.
        ``"membrane"``: first drum mode ``sin(pi (i+1)/(rows+1)) sin(pi (j+1)/(cols+1))``
        scaled to a peak of exactly 1 at the centre, zero just outside the frame.
        ``"halves"``: +1 on the left half (columns ``< cols//2``), -1 on the right half
        (opposite motion). ``"halves-in-phase"``:
        the same split moving together (+1, +1) - the control scene, identical to rigid.
        An array gives any mode (finite floats).
    noise_sigma : float
        Read noise standard deviation in grey levels of an 8-bit scale (units of 1/255 of
        full scale, whatever ``bits``), >= 0.
    shot_noise : bool
        Add photon noise. Model: a pixel at full-scale intensity ``L`` in [0, 1] collects
        ``L * full_well`` electrons, so the shot variance is ``L / full_well`` in
        full-scale units (Gaussian approximation of Poisson, accurate at these counts).
    full_well : float
        Electrons at white (full scale), > 0; default 10,000 e- (shot noise at mid grey:
        0.71 % of full scale, 1.8 levels of 255).
    bits : int
        Quantisation: frames are ``round(L * (2**bits - 1))`` clipped to ``[0, 2**bits - 1]``;
        1 <= bits <= 16; ``uint8`` frames for bits <= 8, ``uint16`` above.
    drift_px : float
        Total slow linear drift over the clip in pixels along ``direction_deg``: frame ``t``
        is displaced by an extra ``drift_px * t / (n_frames - 1)``.
    flicker : float
        Relative amplitude of lighting flicker in [0, 1): the clean frame is multiplied by
        ``1 + flicker * sin(2 pi flicker_hz t / rate)``.
    flicker_hz : float
        Flicker frequency in Hz (> 0; 100 or 120 for mains lighting; aliases if above
        ``rate/2``, as in a real camera).
    contrast, mean : float
        Intensity mapping ``L = mean + contrast * (texture - 0.5)`` in full-scale units;
        ``contrast`` in [0, 1] and ``[mean - contrast/2, mean + contrast/2]`` within [0, 1].
    seed : int
        Seed of the noise (>= 0). Frame ``t`` uses its own generator
        ``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(t,)))``, so frames
        are identical whatever the batch size or start.

    Notes
    -----
    Order of operations per frame: exact displacement of the band-limited texture (see the
    module docstring), flicker, then noise with variance
    ``(noise_sigma/255)**2 + shot * L / full_well`` (one Gaussian draw per pixel), then
    quantisation and clipping. Validation happens at construction (cheap); the spectra are
    computed on first use.

    Raises
    ------
    ParameterError
        Any field out of range; the message names the field, its value and the fix.
    """

    texture: np.ndarray
    sound: np.ndarray
    rate: float
    rms_px: float = 0.01
    direction_deg: float = 0.0
    shape: tuple[int, int] = (192, 192)
    mode: str | np.ndarray = "rigid"
    noise_sigma: float = 2.0
    shot_noise: bool = False
    full_well: float = 10_000.0
    bits: int = 8
    drift_px: float = 0.0
    flicker: float = 0.0
    flicker_hz: float = 120.0
    contrast: float = 0.8
    mean: float = 0.5
    seed: int = 0

    # ---------------------------------------------------------------- validation
    def __post_init__(self) -> None:
        def setf(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        def real(name: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False, fix: str) -> None:
            setf(name, check_number(name, getattr(self, name), lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, fix=fix))

        tex = _check_texture(self.texture)
        setf("texture", tex)
        setf("sound", _check_sound(self.sound, min_samples=2, what=" (one per frame)",
                                   fix="use builtin_sound('tone', rate=..., duration=...) or load_sound(path, rate)"))
        setf("rate", _check_rate(self.rate))
        real("rms_px", 0.0, fix="give the RMS motion in pixels, e.g. rms_px=0.01")
        real("direction_deg", fix="give an angle in degrees, e.g. 0 for horizontal")
        setf("shape", _check_shape("shape", self.shape))
        real("noise_sigma", 0.0, fix="give the read noise in 8-bit grey levels, e.g. 2.0 (0 = none)")
        setf("shot_noise", check_bool("shot_noise", self.shot_noise))
        real("full_well", 0.0, lo_open=True, fix="give electrons at white, e.g. full_well=10000")
        setf("bits", check_int("bits", self.bits, 1, 16, fix="use bits=8 or bits=16"))
        real("drift_px", fix="give the total drift in pixels, e.g. drift_px=2.0 (0 = none)")
        real("flicker", 0.0, 1.0, hi_open=True, fix="give a relative amplitude, e.g. flicker=0.01 (0 = none)")
        real("flicker_hz", 0.0, lo_open=True, fix="give the flicker frequency in Hz, e.g. flicker_hz=120")
        c, mu = _check_intensity(self.contrast, self.mean)
        setf("contrast", c)
        setf("mean", mu)
        setf("seed", check_int("seed", self.seed, 0, fix="use e.g. seed=0"))
        rows, cols = self.shape
        setf("mode", _check_mode(self.mode, (rows, cols)))

        need_r, need_c = self.texture_shape_needed
        if tex.shape[0] < need_r or tex.shape[1] < need_c:
            raise bad("texture", tex, f"is too small for {rows} x {cols} frames with a max displacement of "
                       f"{self.max_displacement_px:.3g} px (needs >= {need_r} x {need_c})",
                       f"use make_texture(kind, ({need_r}, {need_c})) or "
                       f"load_texture(path, ({need_r}, {need_c})), or a smaller shape")

    # ---------------------------------------------------------------- simple facts
    @property
    def n_frames(self) -> int:
        """Number of frames (= samples of the sound)."""
        return int(self.sound.size)

    @property
    def duration(self) -> float:
        """Clip length in seconds (``n_frames / rate``)."""
        return self.n_frames / self.rate

    def mode_shape(self) -> np.ndarray:
        """Per-pixel motion amplitude ``m``.

        Returns
        -------
        ndarray, shape (rows, cols), float64
        """
        return _mode_shape(self.mode, self.shape)

    @cached_property
    def _unit_sound(self) -> np.ndarray:
        return self.sound / np.sqrt(np.mean(np.square(self.sound)))

    def truth(self) -> np.ndarray:
        """The motion an ideal estimator should recover: ``rms_px * sound`` (unit-RMS sound).

        This is the signed displacement, in pixels along ``direction_deg``, of the pixels
        where the mode shape is 1; it excludes the drift. Estimators recover it up to gain,
        sign and DC.

        Returns
        -------
        ndarray, shape (n_frames,), float64
            Pixels.
        """
        return self.rms_px * self._unit_sound

    def drift_track(self) -> np.ndarray:
        """The drift of every frame, ``drift_px * t / (n_frames - 1)``, in pixels along the direction.

        Returns
        -------
        ndarray, shape (n_frames,), float64
        """
        return self.drift_px * np.arange(self.n_frames) / (self.n_frames - 1)

    @property
    def max_displacement_px(self) -> float:
        """Largest ``|displacement|`` of any pixel over the clip, in pixels (motion plus drift)."""
        mmax = float(np.max(np.abs(self.mode_shape()))) if isinstance(self.mode, np.ndarray) else 1.0
        return mmax * self.rms_px * float(np.max(np.abs(self._unit_sound))) + abs(self.drift_px)

    @property
    def texture_shape_needed(self) -> tuple[int, int]:
        """Smallest texture ``(R, C)``: the frame plus ``ceil(max displacement) + 2`` px on each side."""
        margin = math.ceil(self.max_displacement_px) + 2
        return self.shape[0] + 2 * margin, self.shape[1] + 2 * margin

    @property
    def origin(self) -> tuple[int, int]:
        """Texture pixel ``(row, col)`` under the frame's top-left pixel at rest (centre crop)."""
        return (self.texture.shape[0] - self.shape[0]) // 2, (self.texture.shape[1] - self.shape[1]) // 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description of the scene (the texture, sound and mode arrays by shape only)."""
        mode = self.mode if isinstance(self.mode, str) else f"array{tuple(self.mode.shape)}"
        return {
            "rate": self.rate,
            "rms_px": self.rms_px,
            "direction_deg": self.direction_deg,
            "shape": list(self.shape),
            "mode": mode,
            "noise_sigma": self.noise_sigma,
            "shot_noise": self.shot_noise,
            "full_well": self.full_well,
            "bits": self.bits,
            "drift_px": self.drift_px,
            "flicker": self.flicker,
            "flicker_hz": self.flicker_hz,
            "contrast": self.contrast,
            "mean": self.mean,
            "seed": self.seed,
            "texture_shape": list(self.texture.shape),
            "n_frames": self.n_frames,
            "duration_s": self.duration,
        }

    # ---------------------------------------------------------------- rendering
    @cached_property
    def _engine(self) -> _Renderer:
        return _Renderer(self)

    def rest_image(self) -> np.ndarray:
        """The clean frame at rest (no motion, drift, flicker, noise or quantisation).

        Returns
        -------
        ndarray, shape (rows, cols), float64
            Full-scale intensity (1.0 = white).
        """
        return self._engine.rest.copy()

    def _check_range(self, start: int, stop: int | None, batch: int) -> tuple[int, int, int]:
        n = self.n_frames
        stop = n if stop is None else stop
        for name, v in (("start", start), ("stop", stop), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise bad(name, v, "must be an integer", f"give an int in [0, {n}]")
        if not 0 <= start <= stop <= n:
            raise bad("start/stop", (start, stop), f"must satisfy 0 <= start <= stop <= n_frames={n}",
                       "pick a frame range inside the clip")
        if batch < 1:
            raise bad("batch", batch, "must be >= 1", "use e.g. batch=64")
        return int(start), int(stop), int(batch)

    def clean_frames(
        self, *, start: int = 0, stop: int | None = None, batch: int = 64
    ) -> Iterator[np.ndarray]:
        """Stream the noiseless, unquantised frames (motion, drift and flicker applied).

        Parameters
        ----------
        start, stop : int
            Frame range ``[start, stop)``; ``stop=None`` is the end of the clip.
        batch : int
            Frames per yielded array (memory stays bounded by the batch).

        Yields
        ------
        ndarray, shape (n <= batch, rows, cols), float64
            Full-scale intensity (1.0 = white).
        """
        start, stop, batch = self._check_range(start, stop, batch)
        eng = self._engine
        for i0 in range(start, stop, batch):
            yield eng.clean(i0, min(stop, i0 + batch))

    def frames(self, *, start: int = 0, stop: int | None = None, batch: int = 64) -> Iterator[np.ndarray]:
        """Stream the frames as the camera records them: noisy, quantised integers.

        Parameters
        ----------
        start, stop : int
            Frame range ``[start, stop)``; ``stop=None`` is the end of the clip.
        batch : int
            Frames per yielded array; the output does not depend on it.

        Yields
        ------
        ndarray, shape (n <= batch, rows, cols), uint8 (bits <= 8) or uint16
            Grey levels in ``[0, 2**bits - 1]``.
        """
        start, stop, batch = self._check_range(start, stop, batch)
        eng = self._engine
        for i0 in range(start, stop, batch):
            i1 = min(stop, i0 + batch)
            yield eng.camera(eng.clean(i0, i1), i0)

    def noise_variance(self) -> np.ndarray:
        """Per-pixel variance of the recorded value around the clean frame at rest.

        ``(noise_sigma/255)**2 + [shot] L/full_well + q**2/12`` with ``q = 1/(2**bits - 1)``,
        in full-scale units squared (the quantisation term treats rounding as independent
        uniform noise, which holds when the other noise exceeds ~0.5 LSB).

        Returns
        -------
        ndarray, shape (rows, cols), float64
        """
        rest = self._engine.rest
        q = 1.0 / (2**self.bits - 1)
        var = np.full(rest.shape, (self.noise_sigma / 255.0) ** 2 + q * q / 12.0)
        if self.shot_noise:
            var += np.clip(rest, 0.0, None) / self.full_well
        return var

    def cramer_rao(self) -> dict[str, float]:
        """Cramér-Rao bound on the per-frame motion amplitude under this scene's noise.

        For a frame ``g(x) = L(x - a m(x) u) + n(x)`` with independent Gaussian noise of
        variance ``sigma^2(x)`` (:meth:`noise_variance`) and the clean image ``L`` known,
        any unbiased estimator of the amplitude ``a`` (pixels) satisfies

            var(a) >= 1 / sum_x (m(x) dL/du(x))^2 / sigma^2(x),

        with ``dL/du`` the directional derivative along ``direction_deg`` of the clean rest
        image, computed spectrally from the band-limited texture (grey levels per pixel in
        any consistent unit). Flicker, drift and the (tiny) information carried by the
        signal dependence of the shot variance are ignored. The bound is per frame, over
        the full band ``0 .. rate/2``; an estimator that compares against a *noisy*
        reference frame cannot beat twice this variance.

        Returns
        -------
        dict
            ``var_px2`` (px^2), ``std_px`` (px), ``snr_db`` = ``10 log10(rms_px^2 / var_px2)``
            (the best per-frame SNR any estimator can reach), ``fisher_per_px2`` (1/px^2).
            A texture-less scene gives ``var_px2 = inf`` and ``snr_db = -inf``.
        """
        eng = self._engine
        fisher = float(np.sum((self.mode_shape() * eng.grad_u) ** 2 / self.noise_variance()))
        var = 1.0 / fisher if fisher > 0 else math.inf
        if math.isfinite(var) and self.rms_px > 0:
            snr = 10.0 * math.log10(self.rms_px**2 / var)
        else:
            snr = -math.inf
        return {"var_px2": var, "std_px": math.sqrt(var), "snr_db": snr, "fisher_per_px2": fisher}


class _Renderer:
    """Precomputed spectra and per-batch rendering of one :class:`Scene` (private)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        rows, cols = scene.shape
        R, C = scene.texture.shape
        self.rows, self.cols, self.R, self.C = rows, cols, R, C
        self.r0, self.c0 = scene.origin
        intensity = scene.mean + scene.contrast * (scene.texture - 0.5)
        spec = sfft.rfft2(intensity, workers=_workers())
        _zero_nyquist(spec, R, C)
        self.spec = spec
        ux, uy = scene.direction
        ky = 2 * np.pi * sfft.fftfreq(R)[:, None]  # rad / px
        kx = 2 * np.pi * sfft.rfftfreq(C)[None, :]
        self.ky_u = ky * uy  # (R, 1)
        self.kx_u = kx * ux  # (1, C//2+1)
        self.k_u = self.ky_u + self.kx_u  # component of the wave vector along the motion
        self.a = scene.truth()
        self.drift = scene.drift_track()
        self.m = scene.mode_shape()
        self.rest = self._inverse(spec[None])[0]
        self.grad_u = self._inverse((spec * (1j * self.k_u))[None])[0]
        values = np.unique(self.m)
        self.groups: list[tuple[float, np.ndarray]] | None = None
        if values.size <= _MAX_EXACT_GROUPS:
            self.groups = [(float(v), self.m == v) for v in values]
        else:
            self._setup_taylor()

    def _setup_taylor(self) -> None:
        """Pick the Taylor order from a rigorous remainder bound and precompute what we can."""
        smax = float(np.max(np.abs(self.m))) * float(np.max(np.abs(self.a)))
        # |e^{-i theta} - sum_{n<=N} (-i theta)^n/n!| <= |theta|^(N+1)/(N+1)!, theta = s k_u, so the
        # remainder is at most smax^(N+1)/(N+1)! * (1/RC) sum_k |spec_k| |k_u|^(N+1) (full spectrum).
        weight = np.full(self.spec.shape[1], 2.0)
        weight[0] = 1.0
        mag = np.abs(self.spec) * weight / (self.R * self.C)
        ku = np.abs(self.k_u)
        order = 0
        while True:
            bound = smax ** (order + 1) / math.factorial(order + 1) * float(np.sum(mag * ku ** (order + 1)))
            if bound <= _TAYLOR_TOL:
                break
            order += 1
            if order > _TAYLOR_MAX_ORDER:
                raise bad("rms_px", self.scene.rms_px, "is too large for smooth-mode rendering (the Taylor "
                           f"series needs > {_TAYLOR_MAX_ORDER} terms; peak displacement {smax:.3g} px)",
                           "use rms_px <= ~0.2 with a smooth mode, or a piecewise-constant mode")
        self.order = order
        self.derivs: np.ndarray | None = None
        if not np.any(self.drift):
            self.derivs = np.stack([self._inverse((self.spec * (1j * self.k_u) ** n)[None])[0]
                                    for n in range(order + 1)])

    def _inverse(self, spec: np.ndarray) -> np.ndarray:
        """Centre crop of ``irfft2`` of a batch of half spectra: (n, R, C//2+1) -> (n, rows, cols) float64."""
        w = _workers()
        half = sfft.ifft(spec, axis=-2, workers=w)[:, self.r0 : self.r0 + self.rows, :]
        full = sfft.irfft(half, n=self.C, axis=-1, workers=w)
        return full[:, :, self.c0 : self.c0 + self.cols]

    def _shifted(self, delta: np.ndarray) -> np.ndarray:
        """Spectra of the texture displaced by ``delta[t]`` px along the direction: (n, R, C//2+1)."""
        d = delta[:, None, None]
        out = np.multiply(self.spec[None], np.exp(-1j * d * self.ky_u[None]))
        out *= np.exp(-1j * d * self.kx_u[None])
        return out

    def clean(self, i0: int, i1: int) -> np.ndarray:
        a = self.a[i0:i1]
        drift = self.drift[i0:i1]
        if self.groups is not None:
            if len(self.groups) == 1:
                out = self._inverse(self._shifted(self.groups[0][0] * a + drift))
            else:
                out = np.empty((i1 - i0, self.rows, self.cols))
                for value, mask in self.groups:
                    np.copyto(out, self._inverse(self._shifted(value * a + drift)), where=mask[None])
        else:
            s = -self.m[None] * a[:, None, None]  # per-pixel displacement, negated
            if self.derivs is not None:  # Horner in s over precomputed derivatives
                out = np.broadcast_to(self.derivs[self.order], s.shape).copy()
                for n in range(self.order - 1, -1, -1):
                    out *= s / (n + 1)
                    out += self.derivs[n]
            else:
                base = self._shifted(drift)
                out = self._inverse(base)
                coeff = np.ones_like(s)
                for n in range(1, self.order + 1):
                    coeff *= s / n
                    out += coeff * self._inverse(base * (1j * self.k_u) ** n)
        sc = self.scene
        if sc.flicker:
            t = np.arange(i0, i1) / sc.rate
            out *= (1.0 + sc.flicker * np.sin(2 * np.pi * sc.flicker_hz * t))[:, None, None]
        return out

    def camera(self, clean: np.ndarray, i0: int) -> np.ndarray:
        """Noise, quantisation and clipping of a batch of clean frames starting at frame ``i0``."""
        return _camera_model(self.scene, clean, i0)


def _camera_model(sc: Any, clean: np.ndarray, i0: int) -> np.ndarray:
    """Noise, quantisation and clipping of a batch of clean frames starting at frame ``i0``.

    ``sc`` is a :class:`Scene` or :class:`RollingShutterScene` (it needs ``bits``, ``noise_sigma``,
    ``shot_noise``, ``full_well``, ``seed`` and ``dtype``). Works in float32 grey levels (the
    output is quantised; float32 keeps 0.004 LSB at 16 bits).
    """
    top = 2**sc.bits - 1
    levels = np.multiply(clean, top, dtype=np.float32)
    read_var = (sc.noise_sigma / 255.0) ** 2
    if read_var > 0 or sc.shot_noise:
        z = np.empty_like(levels)

        def draw(k: int) -> None:
            rng = np.random.default_rng(np.random.SeedSequence(sc.seed, spawn_key=(i0 + k,)))
            rng.standard_normal(out=z[k], dtype=np.float32)

        n = levels.shape[0]
        if n > 1 and _workers() > 1:
            with ThreadPoolExecutor(max_workers=min(n, _workers())) as pool:
                list(pool.map(draw, range(n)))
        else:
            for k in range(n):
                draw(k)
        if sc.shot_noise:  # variance (read + L/full_well) in full scale -> std in grey levels
            std = np.clip(clean, 0.0, None, dtype=np.float32)
            std *= np.float32(1.0 / sc.full_well)
            std += np.float32(read_var)
            np.sqrt(std, out=std)
            std *= np.float32(top)
            z *= std
        else:
            z *= np.float32(math.sqrt(read_var) * top)
        levels += z
    np.rint(levels, out=levels)
    np.clip(levels, 0, top, out=levels)
    return levels.astype(sc.dtype)


# --------------------------------------------------------------------------------------
# Rolling-shutter scene
# --------------------------------------------------------------------------------------
