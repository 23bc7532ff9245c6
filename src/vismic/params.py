"""What a recovery takes and what it gives: :class:`RecoveryParams` (every knob, frozen, with a JSON
round trip so a sidecar can replay a run) and :class:`Recovery` (the audio, the facts, the
diagnostics). Shared by the global-shutter pipeline and the rolling-shutter recovery.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from ._validation import check_rate
from .denoise import DENOISERS, check_level
from .errors import ParameterError
from .motion import MODES, TORCH_MODES

__all__ = ["RecoveryParams", "Recovery", "PIPELINE_MODES", "BACKENDS", "AUTO_PROBE_FRAMES", "AUTO_FAST_SNR_DB",
           "AUTO_FAST_LOSS_DB"]

PIPELINE_MODES = ("auto", *MODES, "fast")
#: where the exact motion step runs (:attr:`RecoveryParams.backend`)
BACKENDS = ("auto", "numpy", "torch")
#: ``mode="auto"`` compares both paths on this many frames (two anchor cells) where the fast
#: path's signal is loudest
AUTO_PROBE_FRAMES = 256
#: ``mode="auto"``: the fast path's result needs an estimated SNR of at least this (dB); below it,
#: where the signal is weak, the exact path is better (measured on rendered scenes, docs/quality.md:
#: the fast path loses 2-6 dB on weak or lens-blurred texture at negative SNRs)
AUTO_FAST_SNR_DB = 10.0
#: ``mode="auto"``: and on the probe the exact path's estimated SNR may exceed the fast path's by at
#: most this (dB).  The estimates differ by the true difference plus 0.2-0.5 dB (docs/quality.md), so
#: the fast path is kept where it loses about half a dB or less.
AUTO_FAST_LOSS_DB = 1.0


def check_roi_param(roi):
    """A parameter object's ``roi``: ``None``, ``"auto"`` or ``(x, y, w, h)`` as ints (ParameterError otherwise)."""
    if isinstance(roi, str):
        if roi != "auto":
            raise ParameterError(f"roi={roi!r} must be (x, y, w, h), 'auto' or None")
        return roi
    if roi is None:
        return None
    try:
        vals = tuple(int(v) for v in roi)
    except (TypeError, ValueError):
        raise ParameterError(f"roi={roi!r} must be (x, y, w, h) in pixels") from None
    if len(vals) != 4:
        raise ParameterError(f"roi={roi} must be (x, y, w, h)")
    return vals


class JsonParams:
    """The JSON round trip of the parameter classes (:class:`RecoveryParams`,
    :class:`vismic.rolling_shutter.RollingShutterParams`): the tuples named in ``_TUPLES`` become
    lists and back, ``_MARK`` is added to the dict (and dropped when it is read back), and unknown
    names are refused with a message naming the class's ``_KIND``."""

    _TUPLES: tuple[str, ...] = ()
    _KIND = "recovery"
    _MARK: dict = {}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in self._TUPLES:
            if isinstance(d[k], tuple):
                d[k] = list(d[k])
        d.update(self._MARK)
        return d

    @classmethod
    def from_dict(cls, d: dict):
        d = {k: v for k, v in d.items() if k not in cls._MARK}
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ParameterError(f"unknown {cls._KIND} parameter(s): {sorted(unknown)}")
        for k in cls._TUPLES:
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class RecoveryParams(JsonParams):
    """Every parameter of a recovery.

    Attributes
    ----------
    fps : float or None
        True capture rate in Hz. ``None``: a camera file's header rate, else the container's rate
        with a warning (high-speed videos usually store a wrong one).
    roi : tuple of int, "auto" or None
        ``(x, y, w, h)`` in pixels; ``None`` is the whole frame; ``"auto"`` picks the region that
        vibrates most clearly from a vibration map (:func:`vismic.analysis.vibmap.auto_roi`).
    scales, orientations : int
        Pyramid levels (``None``: up to 4, as many as the ROI allows) and orientations.
    high_band : bool
        Use oriented bands carved from the pyramid's high-pass residual (the finest octave).
    mode : {"auto", "anchored", "increment", "reference", "fast"}
        ``"fast"``: the first-order fast path (one forward FFT per frame and tile, anchored phase;
        :class:`~vismic.motion.FastMotionEstimator`).  The exact path's phase reference: an anchor
        frame renewed as the object drifts (``"anchored"``: drift-proof, and its noise stays white
        where frame-to-frame increments random-walk; :mod:`vismic.motion`), frame-to-frame
        increments, or the first frame.  ``"auto"`` (default): the fast path, kept where its
        signal is clear (estimated SNR >= :data:`AUTO_FAST_SNR_DB`) and, on the
        :data:`AUTO_PROBE_FRAMES` frames where it is loudest, the exact path's estimate beats it by
        at most :data:`AUTO_FAST_LOSS_DB`; else the exact anchored path measures the clip again;
        ``diagnostics["mode"]`` says which and why.
    grid : tuple of int or None
        Region grid ``(rows, cols)``; ``None`` picks one from the ROI size and clip length.
    max_lag_ms : float
        Bound of the alignment lag search, in milliseconds.
    highpass : float or None
        High-pass cutoff in Hz (``None``: 40 Hz, :func:`vismic.denoise.default_highpass`; 0: only
        remove the mean).
    notch : str or tuple of float
        ``"report"`` (detect mains lines, report, keep), ``"auto"`` (notch detected lines),
        ``"off"``, or explicit frequencies in Hz.
    denoise : {"none", "specsub"}
    normalize : {"peak", "rms"}
        How the audio is levelled: its peak, or its RMS (loudness; the peak then stays under 0.98
        of full scale) (:func:`vismic.denoise.normalize_to`).
    level_db : float or None
        The level in dB relative to full scale (None: 0.98 of full scale for peak, -20 dBFS for rms).
    batch : int
        Frames per batch.
    workers : int
        Threads for the FFTs (per process).
    processes : int or None
        Worker processes over chunks of frames.  ``None``: every usable core when the clip's
        length is known (or a Matroska file's frames can be counted and sought) and it holds as
        much work as two chunks of 2,048 frames of 192x192 pixels, else 1.
        The result does not depend on it.
    chunk : int
        Frames per work unit (the unit of parallel work and of checkpoints).
    backend : {"auto", "numpy", "torch"}
        Where the exact motion step runs. ``"auto"`` (default): on the CPU with the fastest
        libraries installed and allowed (FFTW plans with ``vismic[fftw]``, numba's compiled phase
        step with ``vismic[jit]``; ``VISMIC_FFT=scipy`` and ``VISMIC_JIT=0`` turn them off;
        :mod:`vismic._backends`). ``"numpy"``: on the CPU with scipy.fft and numpy only, whatever
        is installed (the same result on any machine to the last bit, at some speed). ``"torch"``:
        PyTorch (:mod:`vismic.gpu`, extra ``vismic[gpu]``; a GPU when one is present, batched over
        ``batch`` frames, one process). All agree to float32 rounding, not bit for bit; the
        sidecar's ``timings`` say which FFT and phase step ran (``fft``, ``phase_step``).
    """

    fps: float | None = None
    roi: tuple[int, int, int, int] | str | None = None
    scales: int | None = None
    orientations: int = 4
    high_band: bool = True
    mode: str = "auto"
    grid: tuple[int, int] | None = None
    max_lag_ms: float = 2.0
    highpass: float | None = None
    notch: str | tuple[float, ...] = "report"
    denoise: str = "none"
    normalize: str = "peak"
    level_db: float | None = None
    batch: int = 16
    workers: int = 1
    processes: int | None = None
    chunk: int = 2048
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.fps is not None:
            object.__setattr__(self, "fps", check_rate(self.fps))
        object.__setattr__(self, "roi", check_roi_param(self.roi))
        if self.scales is not None and int(self.scales) < 1:
            raise ParameterError(f"scales={self.scales} must be >= 1")
        if not 1 <= int(self.orientations) <= 16:
            raise ParameterError(f"orientations={self.orientations} must be in 1..16")
        if self.mode not in PIPELINE_MODES:
            raise ParameterError(f"mode={self.mode!r} must be one of {PIPELINE_MODES}")
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
        check_level(self.normalize, self.level_db)
        if int(self.batch) < 1:
            raise ParameterError(f"batch={self.batch} must be >= 1")
        if int(self.workers) < 1:
            raise ParameterError(f"workers={self.workers} must be >= 1")
        if self.processes is not None and not 1 <= int(self.processes) <= 1024:
            raise ParameterError(f"processes={self.processes} must be >= 1 (or None for every usable core)")
        if self.backend not in BACKENDS:
            raise ParameterError(f"backend={self.backend!r} must be one of {', '.join(BACKENDS)}")
        if self.backend == "torch" and self.mode not in TORCH_MODES:
            raise ParameterError(f"the torch backend runs modes {' and '.join(TORCH_MODES)}; add --mode increment "
                                 f"(mode {self.mode!r} runs on numpy)")
        if not 16 <= int(self.chunk) <= 10_000_000:
            raise ParameterError(f"chunk={self.chunk} must be between 16 and 10,000,000 frames")

    _TUPLES = ("roi", "grid", "notch")


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
