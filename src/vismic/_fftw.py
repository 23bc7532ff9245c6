"""FFTW transforms for the exact motion path (optional: needs pyFFTW, extra ``vismic[fftw]``).

Importing this module imports pyFFTW; :mod:`vismic.motion` imports it lazily through
:func:`vismic._backends.fft_backend` and uses :mod:`scipy.fft` when pyFFTW is missing.

The exact path transforms the same preallocated buffers for every frame, which is what FFTW's
plans are made for: each buffer gets an in-place plan once (``FFTW_MEASURE``: FFTW times a few
algorithms and keeps the fastest), then every frame only executes it.  On the 2-core machine of
``docs/performance.md`` that made the forward and band transforms of a 512x512 frame about a third
faster than pocketfft (scipy's FFT), which is built for a baseline x86-64 CPU.

Planning a new frame size takes about a second at 512x512, so the plans are kept on disk as FFTW
"wisdom" (one file per FFTW build and CPU model, in ``$VISMIC_CACHE_DIR``, else
``$XDG_CACHE_HOME/vismic`` or ``~/.cache/vismic``; ``VISMIC_CACHE_DIR=off`` keeps nothing): a
later run on the same size plans in milliseconds.  A folder that cannot be written is skipped.

Plans chosen by timing may differ between processes, and two plans can round differently.  So
that every process of a run computes bit-identical numbers, the process that starts a run plans
first and hands its plans to the others (:func:`wisdom`, :func:`learn`), which follow them
instead of timing again (or reading the disk cache).

pyFFTW ships FFTW, which is GPL-licensed; vismic itself (MIT) only calls it when it is installed.
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
from collections.abc import Callable

import numpy as np
import pyfftw

from .io.atomic import atomic_path

__all__ = ["empty", "in_place", "learn", "save", "wisdom"]

# FFTW's planner and wisdom are not thread-safe: vismic's planning, wisdom export and import (Dask
# workers run tasks in threads) take this lock
_lock = threading.RLock()
# disk cache read yet; another process's plans followed (learn); the wisdom last read or written
_state = {"loaded": False, "learned": False, "saved": None}
# where plans are cached: told by vismic._backends (the only reader of VISMIC_CACHE_DIR) through
# configure() when it picks FFTW; nothing is cached until then
_where: list[Callable[[], str | None]] = []


def configure(cache_folder: Callable[[], str | None]) -> None:
    """Cache plans in ``cache_folder()`` (asked each time: None keeps nothing)."""
    _where[:] = [cache_folder]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def cache_file() -> str | None:
    """The disk cache of FFTW wisdom for this FFTW build and CPU, or None when switched off."""
    folder = _where[0]() if _where else None
    if folder is None:
        return None
    tag = hashlib.sha256(f"{pyfftw.__version__}|{platform.machine()}|{_cpu_model()}".encode()).hexdigest()[:12]
    return os.path.join(folder, f"fftw-wisdom-{tag}.bin")


def _load() -> None:
    """Read the disk cache once per process (before the first plan)."""
    with _lock:
        if _state["loaded"]:
            return
        _state["loaded"] = True
        path = cache_file()
        if path is None:
            return
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return
        if _import(data):
            _state["saved"] = wisdom()


def _import(data: bytes) -> bool:
    parts = bytes(data).split(b"\0")
    if len(parts) != 3:
        return False
    with _lock:
        pyfftw.import_wisdom(tuple(parts))  # entries FFTW cannot read are ignored
    return True


def save() -> None:
    """Write this process's wisdom to the disk cache if it holds plans the cache lacks (atomic).

    Not in a process that follows another's plans (:func:`learn`): it has not read the cache, so
    its wisdom could hold less than the file.
    """
    path = cache_file()
    if path is None or _state["learned"]:
        return
    w = wisdom()
    if w == _state["saved"]:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fh.write(w)
    except OSError:
        return  # a read-only or full disk: plan again next time
    _state["saved"] = w


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised array aligned for FFTW's SIMD code (the same alignment in every process)."""
    return pyfftw.empty_aligned(shape, dtype=dtype)


def in_place(view: np.ndarray, axes: tuple[int, ...], *, forward: bool, threads: int = 1) -> Callable[[], None]:
    """An in-place FFTW transform of one fixed array (or view) over fixed axes, as a no-argument callable.

    Unnormalised in both directions (an inverse returns ``n`` times numpy's ``ifft``): callers
    fold the ``1/n`` into what they multiply the spectrum by.  Planning overwrites ``view``.
    """
    _load()
    with _lock:
        plan = pyfftw.FFTW(view, view, axes=axes, direction="FFTW_FORWARD" if forward else "FFTW_BACKWARD",
                           flags=("FFTW_MEASURE",), threads=max(1, int(threads)))
    return plan.execute  # the bound method keeps the plan (and its arrays) alive


def wisdom() -> bytes:
    """Every plan this process knows, as FFTW wisdom (pass it to :func:`learn` elsewhere).

    FFTW's three wisdom texts (double, single, long double precision; no NUL bytes in them)
    joined by NUL bytes: the format of the disk cache too.
    """
    with _lock:
        return b"\0".join(pyfftw.export_wisdom())


def learn(data: bytes) -> None:
    """Follow the plans of another process (from :func:`wisdom`) for the same transforms.

    This process then does not read the disk cache: its plans are those of ``data`` (plus any
    it has made itself before).
    """
    with _lock:
        _state["loaded"] = _state["learned"] = True
    _import(data)
