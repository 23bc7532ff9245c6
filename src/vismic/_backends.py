"""How the numeric libraries run inside vismic's frame loops (one place for these choices).

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
from collections.abc import Iterator

__all__ = ["one_blas_thread"]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with the BLAS libraries limited to one thread (restored afterwards)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
