"""The local executor of parallel runs: chunks of work over this process and a pool of worker processes.

:mod:`vismic.pipeline` cuts a clip into chunks and hands them here with the functions that compute
one; nothing here knows what a chunk is.  Workers come from a forkserver that imports the named
module once (vismic and its numeric libraries, the compiled phase step when the exact path uses
it), so each forked worker starts with them loaded.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing as mp
import os
import queue
import threading
from collections.abc import Callable

__all__ = ["spread", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. a container's CPU set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def spread(todo: list[int], procs: int, *, task: Callable[[int], dict], record: Callable[[int, dict], None],
           pooled: Callable[[dict], dict], here: Callable[[dict], dict], instead: Callable[[int], dict],
           preload: str, while_starting: Callable[[], None] | None = None) -> int:
    """Compute chunks ``todo`` in this process and in a pool of ``procs - 1`` worker processes.

    Chunk ``i``'s work is ``task(i)`` (a picklable dict), run as ``pooled(task)`` in a worker (a
    module-level function, pickled by name) and as ``here(task)`` in this process.  This process
    takes chunks from the back of the list, one thread per pool worker takes them from the front
    for its worker, each when it is free: this process starts at once while the workers start up,
    and at the end neither side waits for more than the chunk the other is finishing.
    ``record(i, result)`` runs in this thread only.  A pool that breaks (workers dying at start-up)
    leaves the rest to this process, each chunk as ``instead(i)``.  The forkserver imports module
    ``preload`` once, before it forks the workers.  ``while_starting()`` runs in this process once
    the workers are starting, before it takes its first chunk (work that does not hurt there: the
    workers start up for about a second, and the chunks balance whatever this process does first).
    Returns the number of processes used.
    """
    pending = collections.deque(todo)
    lock = threading.Lock()
    n_pool = max(0, min(procs - 1, len(todo) - 1))
    own = None
    if n_pool:
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload([preload])
        else:  # pragma: no cover - not Linux
            ctx = mp.get_context("spawn")
        own = cf.ProcessPoolExecutor(max_workers=n_pool, mp_context=ctx)
    outcomes: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    failed = threading.Event()

    def feed() -> None:
        try:
            while not stop.is_set():
                with lock:
                    if not pending:
                        break
                    i = pending.popleft()
                try:
                    outcomes.put((i, own.submit(pooled, task(i)).result(), None))
                except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                    outcomes.put((i, None, exc))
                    break
        finally:
            outcomes.put(None)

    feeders = [threading.Thread(target=feed, name=f"vismic-feed-{k}", daemon=True) for k in range(n_pool)]
    alive = len(feeders)

    def take(item) -> None:
        nonlocal alive
        if item is None:
            alive -= 1
            return
        i, res, exc = item
        if exc is not None:
            if type(exc).__name__ != "BrokenProcessPool":
                raise exc
            failed.set()
            res = instead(i)
        record(i, res)

    try:
        for t in feeders:
            t.start()
        if while_starting is not None and feeders:
            while_starting()
        while True:
            while True:
                try:
                    item = outcomes.get_nowait()
                except queue.Empty:
                    break
                take(item)
            with lock:
                i = pending.pop() if pending else None
            if i is not None:
                record(i, instead(i) if failed.is_set() else here(task(i)))
            elif alive:
                take(outcomes.get())
            else:
                break
    finally:
        stop.set()
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
        for t in feeders:
            t.join()
    return 1 + n_pool
