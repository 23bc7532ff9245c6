"""Checks shared by every entry point (the foundation: imports only :mod:`vismic.errors`)."""

from __future__ import annotations

import math

from .errors import ParameterError

__all__ = ["MIN_RATE_HZ", "MAX_RATE_HZ", "check_rate"]

#: Capture rates vismic accepts. The WAV is written at the capture rate and a WAV header holds an
#: integer rate, so below 1 Hz it cannot be written; the fastest cameras film at a few million
#: frames per second, so 10 MHz is far beyond any real footage (and 1e9 is a typing error).
MIN_RATE_HZ = 1.0
MAX_RATE_HZ = 1e7


def check_rate(value, name: str = "fps", *, what: str = "frame rate") -> float:
    """``value`` as a float if it is a plausible rate in Hz, else ParameterError naming it and the fix."""
    try:
        v = float(value)
        ok = not isinstance(value, bool) and math.isfinite(v)
    except (TypeError, ValueError):
        v, ok = float("nan"), False
    if not ok or not MIN_RATE_HZ <= v <= MAX_RATE_HZ:
        raise ParameterError(
            f"{name}={value!r} is not a usable {what}: it must be a number of Hz between {MIN_RATE_HZ:g} and "
            f"{MAX_RATE_HZ:g} (the WAV is written at this rate); give the camera's true rate, e.g. 2200 or 59.94"
        )
    return v
