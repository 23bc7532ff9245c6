"""vismic: recover sound from silent video (the visual microphone)."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    InputError,
    MissingDependencyError,
    NoTextureError,
    OutputError,
    OutputExistsError,
    ParameterError,
    VideoReadError,
    VismicError,
)

__all__ = [
    "__version__",
    "VismicError",
    "ParameterError",
    "InputError",
    "VideoReadError",
    "NoTextureError",
    "OutputExistsError",
    "OutputError",
    "MissingDependencyError",
]
