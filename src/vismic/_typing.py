"""Types shared across vismic (the foundation: imports nothing from vismic at run time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

#: ``progress(frames_done, frames_total_or_None)``, called after each batch of frames.
ProgressFn = Callable[[int, int | None], None]


@runtime_checkable
class Estimator(Protocol):
    """What the composer asks of a motion estimator (exact, fast, or PyTorch).

    :class:`vismic.motion.MotionEstimator`, :class:`vismic.motion.FastMotionEstimator` and
    :class:`vismic.gpu.TorchMotionEstimator` follow it: ``process`` takes consecutive batches
    ``(n, rows, cols)`` and returns ``(n, n_channels)`` float32 motion in pixels, one column per
    entry of ``channels`` (a band and region of the grid); ``mean_weight`` is each channel's mean
    amplitude weight so far (the fusion's prior); ``reset(position)`` starts a new stretch of a clip
    at run frame ``position``; ``pyramid`` describes the bands.
    """

    channels: tuple[Any, ...]
    grid: tuple[int, int]
    mean_weight: np.ndarray
    pyramid: Any
    frames_seen: int

    @property
    def n_channels(self) -> int: ...

    def reset(self, position: int = 0) -> None: ...

    def process(self, frames: np.ndarray) -> np.ndarray: ...


__all__ = ["Estimator", "ProgressFn"]
