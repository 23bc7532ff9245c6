"""Which numeric backends vismic uses, and how they run (one place for these choices).

The ``VISMIC_*`` environment switches are read here and nowhere else: ``VISMIC_JIT=0`` (numpy
instead of the compiled phase step), ``VISMIC_FFT=scipy`` (scipy.fft instead of FFTW),
``VISMIC_CACHE_DIR`` (where FFTW's plans are cached; ``off`` keeps nothing), ``VISMIC_DEBUG``
(tracebacks from the CLI).  The choices they lead to are made here, once per process:
:func:`fft_backend` (FFTW or scipy.fft for the exact path) and :func:`jit_kernel` (the compiled phase
step or numpy passes); :func:`fft_wisdom` / :func:`learn_fft_wisdom` carry FFTW's plans between a
run's processes and :func:`warm_jit` loads the compiled step before workers fork. The optional
extras behind them (pyFFTW, numba) are imported here, inside these functions, and only here.

The motion loops make small matrix products (the fast path's band weights, the region sums)
while a reader thread decodes the next frames and, in parallel runs, other processes work on
the other cores.  OpenBLAS starts one thread per core for such products and its threads spin
while they wait: beside a busy core they lose more than they gain (measured on 2 cores, fast
mode at 96x96 with one busy process beside it: 0.168 ms a frame with OpenBLAS's threads,
0.076 ms with one).  The loops therefore run with one BLAS thread; the parallelism is vismic's
own (a reader thread, worker processes).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["one_blas_thread", "jit_allowed", "fftw_allowed", "cache_folder", "debug_wanted", "fft_backend",
           "fft_wisdom", "learn_fft_wisdom", "jit_kernel", "jit_wanted", "warm_jit"]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with the BLAS libraries limited to one thread (restored afterwards)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def jit_allowed() -> bool:
    """False when ``VISMIC_JIT`` is 0, false, no or off: the exact path's phase step runs in numpy even
    where numba is installed (:func:`jit_kernel`)."""
    return os.environ.get("VISMIC_JIT", "1").strip().lower() not in ("0", "false", "no", "off")


def fftw_allowed() -> bool:
    """False when ``VISMIC_FFT`` is scipy (or pocketfft): the exact path's transforms run in scipy.fft
    even where pyFFTW is installed (:func:`fft_backend`)."""
    return os.environ.get("VISMIC_FFT", "").strip().lower() not in ("scipy", "pocketfft")


def cache_folder() -> str | None:
    """Where FFTW's plans are cached: ``$VISMIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/vismic`` or
    ``~/.cache/vismic``; None when ``VISMIC_CACHE_DIR`` is ``off`` (or empty, 0, no, none)."""
    folder = os.environ.get("VISMIC_CACHE_DIR")
    if folder is not None:
        return None if folder.strip().lower() in ("", "0", "off", "no", "none") else folder
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vismic")


def debug_wanted() -> bool:
    """``VISMIC_DEBUG`` set (to anything but empty): the CLI shows tracebacks of internal errors."""
    return bool(os.environ.get("VISMIC_DEBUG"))


_KERNEL: list = []


def jit_kernel():
    """The compiled phase step (:func:`vismic._jit.phase_sums`), or None without numba.

    The exact path's per-coefficient phase step runs as one compiled loop when numba is
    installed (extra ``vismic[jit]``), else as numpy passes; both give the same sums to float32
    rounding.  Set the environment variable ``VISMIC_JIT=0`` to use numpy even where numba is
    installed.  The choice is made once per process.
    """
    if not _KERNEL:
        kernel = None
        if jit_allowed():
            try:
                from ._jit import phase_sums as kernel  # the optional extra vismic[jit] (numba)
            except ImportError:
                kernel = None
        _KERNEL.append(kernel)
    return _KERNEL[0]


def jit_wanted() -> bool:
    """Whether :func:`jit_kernel` will find the compiled phase step (checked without importing numba)."""
    if _KERNEL:
        return _KERNEL[0] is not None
    return jit_allowed() and importlib.util.find_spec("numba") is not None


_FFT: list = []


def fft_backend() -> str:
    """The FFT library of the exact path: ``"fftw"`` or ``"scipy"``.

    ``"fftw"`` when pyFFTW is installed (extra ``vismic[fftw]``, :mod:`vismic._fftw`): every
    buffer of the exact path is transformed in place by an FFTW plan made once (about a third
    faster than :mod:`scipy.fft` at 512x512 on the CPUs measured); else :mod:`scipy.fft`.  Both
    give the same band coefficients to float32 rounding.  Set the environment variable
    ``VISMIC_FFT=scipy`` to use scipy.fft even where pyFFTW is installed.  The choice is made
    once per process.
    """
    if not _FFT:
        name = "scipy"
        if fftw_allowed():
            try:
                from . import _fftw  # the optional extra vismic[fftw] (pyFFTW)
            except ImportError:
                pass
            else:
                _fftw.configure(cache_folder)
                name = "fftw"
        _FFT.append(name)
    return _FFT[0]


def fft_wisdom() -> bytes | None:
    """FFTW's plans known to this process (for :func:`learn_fft_wisdom` elsewhere), or None without FFTW."""
    if fft_backend() != "fftw":
        return None
    from ._fftw import wisdom  # the optional extra vismic[fftw] (pyFFTW)

    return wisdom()


def learn_fft_wisdom(w: bytes | None) -> None:
    """Make this process's FFTW plans follow ``w`` (from :func:`fft_wisdom` in another process).

    Plans timed in different processes can differ and round differently; following the plans of
    the process that started a run keeps every chunk of it bit-identical to a one-process run.
    Does nothing when ``w`` is None or this process does not use FFTW.
    """
    if w is not None and fft_backend() == "fftw":
        from ._fftw import learn  # the optional extra vismic[fftw] (pyFFTW)

        learn(w)


def warm_jit() -> bool:
    """Load (or compile and cache) the compiled phase step now; False when numba is not used.

    The worker-process server calls it once (``vismic._warm``), so forked workers start with the
    machine code loaded; a run calls it to report which phase step it used.
    """
    kernel = jit_kernel()
    if kernel is None:
        return False
    c = np.zeros((2, 8), np.float32)
    kernel(c, c.copy(), True, np.zeros(2, np.int64), np.array([0, 4], np.int64), np.zeros((1, 1)), np.zeros((1, 1)))
    return True
