"""Which numeric backends vismic uses, and how they run (one place for these choices).

The ``VISMIC_*`` environment switches are read here and nowhere else: ``VISMIC_JIT=0`` (numpy
instead of the compiled phase step), ``VISMIC_FFT=scipy`` (scipy.fft instead of FFTW),
``VISMIC_CACHE_DIR`` (where FFTW's plans are cached; ``off`` keeps nothing), ``VISMIC_DEBUG``
(tracebacks from the CLI).  :mod:`vismic.motion` makes its choices from them once per process.

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
import os
from collections.abc import Iterator

from threadpoolctl import threadpool_limits

__all__ = ["one_blas_thread", "jit_allowed", "fftw_allowed", "cache_folder", "debug_wanted"]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with the BLAS libraries limited to one thread (restored afterwards)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def jit_allowed() -> bool:
    """False when ``VISMIC_JIT`` is 0, false, no or off: the exact path's phase step runs in numpy even
    where numba is installed (:func:`vismic.motion.jit_kernel`)."""
    return os.environ.get("VISMIC_JIT", "1").strip().lower() not in ("0", "false", "no", "off")


def fftw_allowed() -> bool:
    """False when ``VISMIC_FFT`` is scipy (or pocketfft): the exact path's transforms run in scipy.fft
    even where pyFFTW is installed (:func:`vismic.motion.fft_backend`)."""
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
