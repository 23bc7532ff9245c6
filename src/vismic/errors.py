"""Exceptions raised by vismic.

Every error that a user can cause (bad input, bad parameter, missing optional
dependency) is a subclass of :class:`VismicError`, so the CLI can turn it into one
clear line and exit status 2 without a traceback.  Each also derives from the
matching builtin (``ValueError``, ``OSError``, ``ImportError``) so callers that
already catch those keep working.
"""

from __future__ import annotations

import importlib

__all__ = [
    "VismicError",
    "ParameterError",
    "InputError",
    "VideoReadError",
    "NoTextureError",
    "OutputExistsError",
    "OutputError",
    "MissingDependencyError",
]


class VismicError(Exception):
    """Base class of every error vismic raises on purpose."""


class ParameterError(VismicError, ValueError):
    """A parameter is out of range or inconsistent (rate <= 0, ROI outside the frame, ...)."""


class InputError(VismicError, ValueError):
    """The input data are unusable (zero frames, NaNs, mismatched frame sizes, ...)."""


class VideoReadError(VismicError, OSError):
    """A file is missing, unreadable or not a format vismic can decode."""


class NoTextureError(InputError):
    """The region has no usable texture: every motion weight is zero."""


class OutputExistsError(VismicError, FileExistsError):
    """An output file exists and overwriting it was not allowed (use ``force=True`` / ``--force``)."""


class OutputError(VismicError, OSError):
    """An output could not be written (disk full, folder not writable, ...); nothing partial is left."""


class MissingDependencyError(VismicError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, extra: str, purpose: str):
    """Import ``module`` lazily or raise :class:`MissingDependencyError` with an install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{purpose} needs the optional package '{module}': pip install \"vismic[{extra}]\""
        ) from exc
