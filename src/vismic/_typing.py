"""Types shared across vismic (the foundation: imports nothing from vismic)."""

from __future__ import annotations

from collections.abc import Callable

#: ``progress(frames_done, frames_total_or_None)``, called after each batch of frames.
ProgressFn = Callable[[int, int | None], None]

__all__ = ["ProgressFn"]
