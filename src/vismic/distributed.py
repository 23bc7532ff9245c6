"""Scale-out on Dask: chunks of frames computed on a cluster (extra ``vismic[dask]``).

:func:`dask_client` connects to a running scheduler or starts a :class:`distributed.LocalCluster`;
pass the client to :func:`vismic.pipeline.recover` as ``executor``.  Each task is one chunk of
frames (:func:`vismic.measure.motion_range`): the worker opens the input itself, reads its own
range, primes the estimator with the frame before it (or frame 0 in reference mode), and returns
the chunk's per-channel signals.  The input path must therefore be readable at the same path on
every worker (a shared file system); only the small per-chunk signals travel back.

Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` in its workers, which on the glibc machines measured
made numpy's large temporaries go back to the kernel after every call and halved the speed of the
motion step; the local cluster started here sets ``MALLOC_MMAP_THRESHOLD_`` (64 MiB) before its
workers spawn, which restores it (figures in docs/performance.md).  Workers of a remote cluster
should be started with the same environment variable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ._parallel import usable_cores
from .errors import MissingDependencyError, ParameterError

__all__ = ["dask_client", "WORKER_ENVIRON"]

#: Environment set in local workers before they spawn (see the module notes).
WORKER_ENVIRON = {
    "MALLOC_MMAP_THRESHOLD_": str(64 * 1024 * 1024),
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _import_distributed():
    try:
        import dask
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised where the extra is missing
        raise MissingDependencyError(
            'Dask is not installed; install it with: pip install "vismic[dask]"'
        ) from exc
    return dask, distributed


@contextlib.contextmanager
def dask_client(address: str | None = None, *, n_workers: int | None = None,
                malloc_fix: bool = True) -> Iterator[object]:
    """A ``distributed.Client`` for the duration of a ``with`` block.

    Parameters
    ----------
    address : str or None
        Scheduler address (``tcp://host:8786``).  ``None`` starts a LocalCluster of one
        single-threaded worker process per usable core, closed on exit.
    n_workers : int or None
        Workers of the local cluster (default: usable cores).
    malloc_fix : bool
        Set :data:`WORKER_ENVIRON` in local workers (see the module notes).

    Raises
    ------
    MissingDependencyError
        Dask is not installed.
    ParameterError
        The scheduler cannot be reached.
    """
    dask, distributed = _import_distributed()
    if address is not None:
        try:
            client = distributed.Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ParameterError(
                f"cannot reach the Dask scheduler at {address} ({exc}); check the address, or give "
                "--dask without an address to start a local cluster"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return

    workers = int(n_workers or usable_cores())
    if workers < 1:
        raise ParameterError(f"n_workers={n_workers} must be >= 1")
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENVIRON.items()} if malloc_fix else {}
    with dask.config.set(environ):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()
