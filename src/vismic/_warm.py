"""Imported once by the worker-process server (multiprocessing's forkserver) before it forks workers.

Workers run :func:`vismic.pipeline.motion_range`; with the compiled phase step already loaded here
(numba's cached machine code, ~0.2 s to load), every forked worker starts with it in memory.
"""

from . import pipeline  # noqa: F401  (imported for the workers)
from .motion import warm_jit

warm_jit()
