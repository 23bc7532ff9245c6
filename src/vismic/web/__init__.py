"""Local web UI: ``vismic serve FOLDER`` (needs the extra: ``pip install "vismic[web]"``).

One static page (vanilla JavaScript, nothing fetched from the internet) over a small JSON API on
Starlette. The page lists the videos under the folder named at start-up, shows a video's first
frame, lets the user drag a region of interest, set the capture rate, run a recovery with a live
progress bar, cancel it, listen, look at the spectrogram (and the vibration map when that analysis
is installed) and download the outputs.

Security model (docs/web.md): bound to 127.0.0.1 by default; only files whose real path lies under
the served folder can be opened (absolute paths, ``..`` and symlinks leading out are refused);
uploads go to the server's work folder, never into the served folder, capped in size; job outputs
go to a per-job folder in the work folder; requests with a foreign ``Host`` or ``Origin`` header
are refused (DNS rebinding, cross-site posts). No numerics live here: the app calls
:func:`vismic.io.open_source`, :func:`vismic.pipeline.recover` and :func:`vismic.pipeline.save`.
"""

from __future__ import annotations

import os

from ..errors import require

__all__ = ["create_app", "serve", "DEFAULT_MAX_UPLOAD_MB"]

#: default cap of one upload, in megabytes (10**6 bytes)
DEFAULT_MAX_UPLOAD_MB = 512.0
#: uploads kept at once by default
DEFAULT_MAX_UPLOADS = 20


def _require_web() -> None:
    require("starlette", "web", "the web UI (vismic serve)")
    require("uvicorn", "web", "the web UI (vismic serve)")


def create_app(
    folder: str | os.PathLike,
    *,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    workdir: str | os.PathLike | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
    max_workers: int = 1,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    max_upload_total_mb: float | None = None,
):
    """Build the ASGI app serving ``folder``.

    Parameters
    ----------
    folder : path-like
        The only folder whose videos the UI may open (its real path; links leading out are refused).
    max_upload_mb : float
        Largest upload accepted, in megabytes (10**6 bytes); larger ones get HTTP 413.
    max_uploads : int
        Most uploaded videos kept at once; one more gets HTTP 507 (restart to clear them).
    max_upload_total_mb : float or None
        Most megabytes all uploads may take together (default: four times ``max_upload_mb``).
    workdir : path-like or None
        Where uploads and per-job outputs go. ``None``: a new temp folder, removed at shutdown.
    allowed_hosts : tuple of str or None
        Accepted ``Host`` header names; ``None``: loopback names only (``127.0.0.1``,
        ``localhost``, ``::1``); ``("*",)`` accepts any.
    max_workers : int
        Recoveries run at once (each in a worker thread); further jobs queue.

    Returns
    -------
    starlette.applications.Starlette

    Raises
    ------
    MissingDependencyError
        The ``web`` extra is not installed.
    ParameterError
        ``folder`` is not a folder, or a limit is not positive.
    """
    _require_web()
    from .app import build_app

    return build_app(folder, max_upload_mb=max_upload_mb, workdir=workdir, allowed_hosts=allowed_hosts,
                     max_workers=max_workers, max_uploads=max_uploads, max_upload_total_mb=max_upload_total_mb)


def serve(
    folder: str | os.PathLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    workdir: str | os.PathLike | None = None,
    open_browser: bool = False,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    max_upload_total_mb: float | None = None,
) -> int:
    """Serve the web UI for ``folder`` until interrupted (Ctrl-C); returns the exit status 0.

    ``port=0`` picks a free port; the URL is printed on stdout once the port is bound. A ``host``
    that is not a loopback address is served with a loud warning (no authentication).

    Raises
    ------
    MissingDependencyError
        The ``web`` extra is not installed.
    ParameterError
        Bad folder or limits, or the address cannot be bound (port in use, unknown host).
    """
    _require_web()
    from .app import run_server

    return run_server(folder, host=host, port=port, max_upload_mb=max_upload_mb, workdir=workdir,
                      open_browser=open_browser, max_uploads=max_uploads, max_upload_total_mb=max_upload_total_mb)
