"""The one family of parameter checks (the foundation: imports only :mod:`vismic.errors` and numpy).

Every check returns the value in its canonical type or raises :class:`~vismic.errors.ParameterError`
with one line: the parameter, the value given, the rule, and how to fix it (:func:`bad`). Modules
check their own domain rules (a texture's range, a band below Nyquist) with these building blocks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = ["MIN_RATE_HZ", "MAX_RATE_HZ", "bad", "check_bool", "check_int", "check_number", "check_rate"]

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


def bad(name: str, value: Any, must: str, fix: str) -> ParameterError:
    """A ParameterError naming the parameter, its value (an array by shape and dtype), the rule and the fix."""
    if isinstance(value, np.ndarray):
        shown = f"array of shape {value.shape}, dtype {value.dtype}"
    else:
        shown = repr(value)
    return ParameterError(f"{name}={shown} {must}; {fix}")


def check_number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False, unit: str = "", fix: str) -> float:
    """``float(value)`` if it is a finite real number (not a bool or a string) within the bounds
    (``lo_open``/``hi_open`` exclude a bound), else :func:`bad` naming the rule (``unit`` is said after it)."""
    try:
        ok = not isinstance(value, bool | np.bool_ | str | bytes | complex) and math.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if ok:
        v = float(value)
        ok = not (lo is not None and (v < lo or (lo_open and v == lo)))
        ok = ok and not (hi is not None and (v > hi or (hi_open and v == hi)))
    if not ok:
        if hi is None:
            bound = "" if lo is None else f" {'>' if lo_open else '>='} {lo:g}"
        else:
            bound = (f" in {'(' if lo_open else '['}{lo if lo is not None else '-inf'}, "
                     f"{hi}{')' if hi_open else ']'}")
        raise bad(name, value, f"must be a finite number{bound}{' ' + unit if unit else ''}", fix)
    return float(value)


def check_int(name: str, value: Any, lo: int, hi: int | None = None, *, fix: str) -> int:
    """``int(value)`` if it is an integer (not a bool, not a float) in ``[lo, hi]``, else :func:`bad`."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < lo \
            or (hi is not None and value > hi):
        must = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        raise bad(name, value, f"must be {must}", fix)
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False (numpy's too), else :func:`bad`."""
    if not isinstance(value, bool | np.bool_):
        raise bad(name, value, "must be True or False", f"use {name}=True")
    return bool(value)
