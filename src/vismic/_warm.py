"""Imported once by the worker-process server (multiprocessing's forkserver) before it forks workers.

Workers run :func:`vismic.measure.motion_range`; with the compiled phase step already loaded here
(importing numba and loading its cached machine code take about 1.3 s), every forked worker starts with it in memory.
"""

from . import measure  # noqa: F401  (imported for the workers)
from ._backends import warm_jit

warm_jit()
