"""Writing recovered audio: the native-rate WAV, and a listenable copy at a standard rate.

Every output is written to a hidden temp file in the destination folder, flushed to disk and then
renamed over the destination (:func:`vismic.io.atomic.atomic_path`), so a crash, Ctrl-C or a full disk never leaves a
half-written file: an output is either complete or absent.  Failures to write raise
:class:`~vismic.errors.OutputError` (an ``OSError``) naming the file and the reason.
"""

from __future__ import annotations

import io
import os

import numpy as np
import soundfile as sf
import soxr

from ..errors import OutputError, OutputExistsError, ParameterError, VideoReadError
from .atomic import atomic_path

__all__ = ["write_wav", "encode_audio", "resample", "check_writable", "MAX_WAV_RATE", "MAX_FLAC_RATE", "MAX_RESAMPLED"]

#: largest rate a WAV header holds (a signed 32-bit field in libsndfile)
MAX_WAV_RATE = 2**31 - 1
#: Highest sample rate a FLAC stream header holds (libFLAC's limit for the streamable subset aside).
MAX_FLAC_RATE = 655_350
#: largest resampled signal :func:`resample` makes (2**28 float64 samples = 2 GiB)
MAX_RESAMPLED = 2**28


def check_writable(path: str, *, force: bool) -> None:
    """Raise unless ``path`` can be written: its folder exists and is writable, it is not a folder,
    and it does not exist yet (or ``force``)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise VideoReadError(f"output folder {folder} does not exist; create it or choose another -o path")
    if os.path.isdir(path):
        raise OutputError(f"{path} is a folder; give a file name for the output")
    if os.path.exists(path) and not force:
        raise OutputExistsError(f"{path} exists; pass --force (force=True) to overwrite it")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable (permission denied); choose another -o path")


def read_audio(path: str) -> tuple[np.ndarray, float]:
    """Mono float64 samples (channels averaged) and the header rate of an audio file.

    Raises
    ------
    VideoReadError
        No such file, or not a file soundfile can read.
    """
    if not os.path.isfile(path):
        raise VideoReadError(f"{path}: no such audio file; check the path")
    try:
        x, rate = sf.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise VideoReadError(f"{path}: not an audio file soundfile can read ({exc})") from exc
    return x.mean(axis=1), float(rate)


def resample(x: np.ndarray, *, rate_in: float, rate_out: float) -> np.ndarray:
    """Band-limited resampling with soxr (very high quality; handles non-integer rates)."""
    if rate_in <= 0 or rate_out <= 0:
        raise ParameterError(f"resampling rates must be > 0 Hz (got {rate_in} -> {rate_out})")
    x = np.asarray(x, dtype=np.float64)
    if rate_in == rate_out:
        return x.copy()
    n_out = len(x) * (float(rate_out) / float(rate_in))
    if n_out > MAX_RESAMPLED:
        raise ParameterError(
            f"resampling {len(x)} samples from {rate_in:g} Hz to {rate_out:g} Hz would make {n_out:.3g} samples "
            f"(more than {MAX_RESAMPLED}); choose a lower output rate, e.g. 44100 Hz"
        )
    return soxr.resample(x, rate_in, rate_out, quality="VHQ")


def encode_audio(x: np.ndarray, *, rate: float, subtype: str = "PCM_16", container: str = "WAV"
                 ) -> tuple[memoryview, int]:
    """A mono WAV (or FLAC) in memory: ``(bytes, integer rate stored in the header)``.

    WAV and FLAC headers hold an integer rate: a non-integer capture rate is rounded for the
    header (the exact rate belongs in the JSON sidecar). FLAC holds 16 or 24-bit samples up to
    655,350 Hz. Encoding in memory first means a write error (disk full) surfaces as a plain
    ``OSError`` with its errno from Python's file write, not as a libsndfile status.
    """
    try:
        sr = int(round(float(rate)))
    except (OverflowError, ValueError):
        sr = 0
    if not 1 <= sr <= MAX_WAV_RATE:
        raise ParameterError(f"rate={rate} Hz cannot be stored in a WAV header (1 to {MAX_WAV_RATE} Hz)")
    if container == "FLAC":
        if sr > MAX_FLAC_RATE:
            raise ParameterError(f"rate={rate:g} Hz is above what FLAC stores ({MAX_FLAC_RATE} Hz); write a .wav")
        if subtype not in ("PCM_16", "PCM_24"):
            raise ParameterError(f"FLAC holds 16 or 24-bit integer samples, not {subtype}; drop --float or write "
                                 "a .wav")
    data = np.asarray(x, dtype=np.float64)
    if subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, data, sr, subtype=subtype, format=container)
    return buf.getbuffer(), sr


def write_wav(path: str, x: np.ndarray, *, rate: float, subtype: str = "PCM_16", force: bool = False,
              container: str | None = None) -> int:
    """Write a mono WAV (or FLAC) atomically; returns the integer rate stored in the header
    (:func:`encode_audio`). ``container``: ``"WAV"`` or ``"FLAC"`` (default: from the suffix of ``path``)."""
    check_writable(path, force=force)
    fmt = container or ("FLAC" if str(path).lower().endswith(".flac") else "WAV")
    data, sr = encode_audio(x, rate=rate, subtype=subtype, container=fmt)
    with atomic_path(path, suffix="." + fmt.lower()) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return sr
