"""Shared by the metrics: constants, the float array type, and input checks (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .._validation import check_int, check_number
from ..errors import ParameterError

FloatArray = npt.NDArray[np.float64]

#: STOI's internal rate (Hz) and the shortest signal it accepts at that rate: 30 frames
#: of 256 samples with a hop of 128 (pystoi's ``N``, ``N_FRAME``).
_STOI_RATE = 10000
_STOI_MIN_SAMPLES = 30 * 128 + 256
#: Per-frame LLR clip and the fraction of (lowest) frames averaged (Hu & Loizou 2008).
_LLR_MAX = 2.0
_LLR_KEEP = 0.95
#: Relative white-noise floor (-100 dB) added to LPC autocorrelations and to power
#: spectra so that silent frames give finite values.
_FLOOR = 1e-10


# --------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------


def _signal(x: npt.ArrayLike, name: str) -> FloatArray:
    """Return ``x`` as a finite 1-D float64 array or raise :class:`ParameterError`."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ParameterError(f"{name} could not be read as an array ({exc}); pass a 1-D float array") from exc
    if np.iscomplexobj(arr):
        raise ParameterError(f"{name} is complex (dtype {arr.dtype}); pass a real 1-D array (e.g. x.real)")
    if arr.dtype.kind not in "biuf":
        raise ParameterError(f"{name} has dtype {arr.dtype}; pass a real numeric 1-D array")
    if arr.ndim != 1:
        raise ParameterError(
            f"{name} has shape {arr.shape}; pass a mono 1-D array (average or pick one channel first)"
        )
    if arr.size == 0:
        raise ParameterError(f"{name} is empty (0 samples); pass a non-empty 1-D array")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ParameterError(
            f"{name} has {int(bad.sum())} NaN/inf samples (first at index {first}, value {arr[first]}); "
            "remove or interpolate them first"
        )
    return arr


def _nonconstant(arr: FloatArray, name: str) -> None:
    if arr.size < 2 or np.ptp(arr) == 0.0:
        raise ParameterError(
            f"{name} is constant ({arr.size} samples, all equal to {arr[0]!r}), so no correlation is "
            "defined; pass a signal with at least 2 distinct samples"
        )


def _positive(value: Any, name: str) -> float:
    """Return ``value`` as a finite float > 0 or raise :class:`ParameterError`."""
    return check_number(name, value, lo=0.0, lo_open=True, fix="pass a finite number > 0")


def _int_at_least(value: Any, name: str, low: int) -> int:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)  # 3.0 is taken as 3
    return check_int(name, value, low, fix=f"pass an integer >= {low}")


def _max_lag(max_lag: Any) -> int | None:
    return None if max_lag is None else _int_at_least(max_lag, "max_lag", 0)


def _frame_len(frame_s: Any, rate: float, n: int, minimum: int = 2) -> int:
    frame_s = _positive(frame_s, "frame_s")
    win = int(round(frame_s * rate))
    if win < minimum:
        raise ParameterError(
            f"frame_s={frame_s} s at rate={rate} Hz gives {win} samples per frame; pass frame_s >= "
            f"{minimum / rate:.3g} s"
        )
    if win > n:
        raise ParameterError(
            f"frame_s={frame_s} s ({win} samples at {rate} Hz) is longer than the {n} aligned samples; "
            f"pass frame_s <= {n / rate:.3g} s or longer signals"
        )
    return win
