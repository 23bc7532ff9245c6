"""The one atomic writer: every file vismic writes appears complete, or not at all.

A file is written under a hidden temporary name in its destination folder (so the final rename
stays on one file system), flushed to disk, given the usual permissions (``0o666`` less the umask;
:func:`tempfile.mkstemp` makes ``0o600`` files) and renamed over the destination with
:func:`os.replace`. On any failure, Ctrl-C included, the temporary files are removed and the
destinations are left as they were. ``OSError`` (disk full, permission denied, ...) is raised as
:class:`~vismic.errors.OutputError` naming the destination.

:class:`AtomicFiles` stages several outputs and renames them only once all are complete (a
recovery's WAV, listen copy, sidecar and spectrogram); :func:`atomic_path` is the one-file case.
Every writer in the package (audio, video, muxed video, pictures, reports, checkpoints, rendered
scenes, the FFTW plan cache) goes through here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from ..errors import OutputError, VismicError

__all__ = ["AtomicFiles", "atomic_path"]


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or exc.__class__.__name__


def _umask() -> int:
    """The process umask, read from /proc where possible (``os.umask`` must set it to read it)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicFiles:
    """Stage outputs under temporary names; rename them all on success, remove them all on failure.

    Use as a context manager: :meth:`stage` gives the temporary path to write for each
    destination; when the ``with`` block ends without an exception every staged file is flushed,
    given the usual permissions and renamed onto its destination, in the order staged.

    Examples
    --------
    >>> with AtomicFiles() as out:                                  # doctest: +SKIP
    ...     open(out.stage("a.txt"), "w").write("a")
    ...     open(out.stage("b.json"), "w").write("{}")
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, str]] = []  # (temporary, destination)

    def stage(self, path: str | os.PathLike[str], suffix: str | None = None) -> str:
        """A new empty temporary file beside ``path`` (ending in ``suffix``, default ``path``'s own)."""
        dest = os.path.abspath(os.fspath(path))
        suffix = os.path.splitext(dest)[1] if suffix is None else suffix
        try:
            fd, tmp = tempfile.mkstemp(prefix=".vismic-", suffix=suffix, dir=os.path.dirname(dest))
        except OSError as exc:
            raise self._failed(dest, exc) from exc
        os.close(fd)
        self._staged.append((tmp, dest))
        return tmp

    def _failed(self, dest: str, exc: BaseException) -> OutputError:
        tail = "; nothing was written" if len(self._staged) > 1 else ""
        return OutputError(f"cannot write {dest}: {_why(exc)}{tail}")

    def discard(self) -> None:
        """Remove every staged file not yet renamed (idempotent)."""
        for tmp, _ in self._staged:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        self._staged.clear()

    def commit(self) -> None:
        """Flush, set permissions and rename every staged file; on a failure remove what is left."""
        mode = 0o666 & ~_umask()
        dest = ""
        try:
            for tmp, final in self._staged:
                dest = final  # named in the error if this one fails
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.chmod(tmp, mode)
            for i, (tmp, dest) in enumerate(self._staged):
                os.replace(tmp, dest)
                self._staged[i] = ("", dest)
        except OSError as exc:
            error = self._failed(dest, exc)
            self.discard()
            raise error from exc
        except BaseException:
            self.discard()
            raise
        self._staged.clear()

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
            return
        pairs = list(self._staged)
        self.discard()
        if not pairs or not isinstance(exc, OSError):
            return
        dest = pairs[-1][1]  # staged last: the one being written
        tail = "; nothing was written" if len(pairs) > 1 else ""
        if isinstance(exc, OutputError):  # a nested writer's words: name the destination, not our temp file
            msg = str(exc)
            for tmp, final in pairs:
                msg = msg.replace(tmp, final)
            if tail and tail not in msg:
                msg += tail
            if msg != str(exc):
                raise OutputError(msg) from exc
        elif not isinstance(exc, VismicError):  # a read error of an input keeps its own words
            raise OutputError(f"cannot write {dest}: {_why(exc)}{tail}") from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[str]:
    """A temporary path beside ``path`` to write; renamed onto ``path`` when the block succeeds.

    The one-file case of :class:`AtomicFiles` (same guarantees). ``suffix`` defaults to
    ``path``'s own, so writers that pick a format by suffix (FFmpeg, matplotlib) see the right one.
    """
    with AtomicFiles() as out:
        yield out.stage(path, suffix)
