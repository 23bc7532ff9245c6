"""Writing recovered audio: the native-rate WAV, and a listenable copy at a standard rate."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import OutputExistsError, ParameterError, VideoReadError

__all__ = ["write_wav", "resample", "atomic_path", "check_writable"]


def check_writable(path: str, *, force: bool) -> None:
    """Raise if ``path`` exists and ``force`` is false, or its folder does not exist."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise VideoReadError(f"output folder {folder} does not exist; create it or choose another -o path")
    if os.path.exists(path) and not force:
        raise OutputExistsError(f"{path} exists; pass --force (force=True) to overwrite it")


class atomic_path:
    """Context manager yielding a temp path beside ``path``; renamed onto ``path`` on success."""

    def __init__(self, path: str, suffix: str | None = None) -> None:
        self.path = os.path.abspath(path)
        self.suffix = suffix if suffix is not None else os.path.splitext(path)[1]

    def __enter__(self) -> str:
        fd, self.tmp = tempfile.mkstemp(
            prefix=".vismic-", suffix=self.suffix, dir=os.path.dirname(self.path)
        )
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)


def resample(x: np.ndarray, *, rate_in: float, rate_out: float) -> np.ndarray:
    """Band-limited resampling with soxr (very high quality; handles non-integer rates)."""
    import soxr

    if rate_in <= 0 or rate_out <= 0:
        raise ParameterError(f"resampling rates must be > 0 Hz (got {rate_in} -> {rate_out})")
    x = np.asarray(x, dtype=np.float64)
    if rate_in == rate_out:
        return x.copy()
    return soxr.resample(x, rate_in, rate_out, quality="VHQ")


def write_wav(path: str, x: np.ndarray, *, rate: float, subtype: str = "PCM_16", force: bool = False) -> int:
    """Write a mono WAV atomically; returns the integer rate stored in the header.

    WAV headers hold an integer rate: a non-integer capture rate is rounded for the header (the
    exact rate belongs in the JSON sidecar).
    """
    import soundfile as sf

    check_writable(path, force=force)
    sr = int(round(rate))
    if sr <= 0:
        raise ParameterError(f"rate={rate} Hz cannot be stored in a WAV header")
    data = np.asarray(x, dtype=np.float64)
    if subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, data, sr, subtype=subtype, format="WAV")
    return sr
