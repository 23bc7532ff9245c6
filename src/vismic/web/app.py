"""The web UI's server: a Starlette app over vismic's public API, and the uvicorn runner.

Routes (every error is JSON ``{"error": "..."}`` with a 4xx code, or 500 for a bug, never a
traceback):

=======================================  ==============================================================
``GET /``                                the page (``static/index.html``); ``/static/*`` its JS and CSS
``GET /api/config``                      served folder, upload limit, which optional outputs exist
``GET /api/videos``                      videos under the folder (and uploads), as ``{"id", "name", ...}``
``GET /api/video?video=ID``              a video's size, frame count, header rate
``GET /api/frame?video=ID``              its first frame as a PNG
``POST /api/upload?name=NAME``           raw body (``application/octet-stream``) -> an uploaded video
``POST /api/jobs``                       JSON ``{"video", "fps", "roi", "denoise", "notch", "map", "report"}``
                                         (+ ``"rolling_shutter": true`` with ``"camera"`` and/or
                                         ``"line_delay"``, ``"exposure"`` in seconds; ``"roi": "auto"``)
``GET /api/jobs/ID``                     state, progress, outputs, summary, warnings
``POST /api/jobs/ID/cancel``             stop a queued or running job (nothing is written)
``GET /api/jobs/ID/files/NAME``          one output of a finished job (``?download=1``: as attachment)
=======================================  ==============================================================

A video ``ID`` is a path relative to the served folder (``/``-separated) or ``upload:NAME`` for an
uploaded file. No numerics live here.

The stages (recovery, video reading, camera tables, uvicorn) are imported inside the routes that use
them, so the app is built without loading them.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import sys
import threading
from contextlib import asynccontextmanager
from functools import wraps
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import ParameterError, VismicError
from .jobs import (
    UPLOAD_EXTENSIONS,
    ApiError,
    WebState,
    camera_choices,
    one_line,
    optional_extras,
)

log = logging.getLogger("vismic.web")

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MAX_JSON_BYTES = 64 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# ---- the ASGI app ------------------------------------------------------------------------------
def _host_allowed(host_header: str, allowed: tuple[str, ...]) -> bool:
    if "*" in allowed:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in allowed


#: the page and the reports load nothing from elsewhere (the reports: inline style, data: URIs)
_CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_SECURITY_HEADERS = [(b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"),
                     (b"referrer-policy", b"no-referrer")]


class _GuardMiddleware:
    """Refuse requests whose Host is not an allowed name (DNS rebinding) and cross-site POSTs."""

    def __init__(self, app, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = tuple(h.lower().strip("[]") for h in allowed_hosts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            host = headers.get("host", "")
            if not _host_allowed(host, self.allowed):
                await _error(403, f"host {host!r} is not served here (open the address vismic serve printed)")(
                    scope, receive, send)
                return
            origin = headers.get("origin")
            if scope["method"] not in ("GET", "HEAD") and origin and urlsplit(origin).netloc.lower() != host.lower():
                await _error(403, "cross-site request refused: use the page served by vismic")(scope, receive, send)
                return

            async def send_with_headers(message) -> None:
                if message["type"] == "http.response.start":
                    message = dict(message)
                    message["headers"] = list(message.get("headers", [])) + _SECURITY_HEADERS
                await send(message)

            await self.app(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send)


def _api(fn):
    """Run a route, turning every failure into a JSON error (never a traceback)."""

    @wraps(fn)
    async def route(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as exc:
            return _error(exc.status, exc.message)
        except VismicError as exc:
            return _error(400, one_line(exc))
        except MemoryError:
            return _error(507, "out of memory")
        except Exception as exc:
            log.exception("request %s %s failed", request.method, request.url.path)
            return _error(500, f"internal error ({exc.__class__.__name__}); this is a bug, please report it")

    return route


async def _json_body(request: Request) -> dict:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "send JSON (Content-Type: application/json)")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise ApiError(413, f"the request is larger than {MAX_JSON_BYTES // 1024} KB")
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None


def build_app(folder, *, max_upload_mb: float, workdir, allowed_hosts, max_workers: int, max_uploads: int = 20,
              max_upload_total_mb: float | None = None) -> Starlette:
    """See :func:`vismic.web.create_app`."""
    state = WebState(folder, max_upload_mb=max_upload_mb, workdir=workdir, max_workers=max_workers,
                     max_uploads=max_uploads, max_upload_total_mb=max_upload_total_mb)

    async def index(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), media_type="text/html",
                            headers={"Cache-Control": "no-store"})

    @_api
    async def config(request: Request) -> Response:
        return JSONResponse({
            "folder": state.root, "version": __version__, "max_upload_bytes": state.max_upload,
            "max_uploads": state.max_uploads, "max_upload_total_bytes": state.max_upload_total,
            "upload_extensions": list(UPLOAD_EXTENSIONS), "optional": optional_extras(),
            "cameras": camera_choices(),
        })

    @_api
    async def videos(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(state.list_videos))

    @_api
    async def video(request: Request) -> Response:
        info, _ = await run_in_threadpool(state.video_info, request.query_params.get("video"))
        return JSONResponse(info)

    @_api
    async def frame(request: Request) -> Response:
        _, png = await run_in_threadpool(state.video_info, request.query_params.get("video"))
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @_api
    async def upload(request: Request) -> Response:
        return JSONResponse(await state.upload(request), status_code=201)

    @_api
    async def jobs_create(request: Request) -> Response:
        body = await _json_body(request)
        job = await run_in_threadpool(state.create_job, body)
        return JSONResponse(job.public(), status_code=202)

    @_api
    async def jobs_list(request: Request) -> Response:
        return JSONResponse({"jobs": state.list_jobs()})

    @_api
    async def jobs_get(request: Request) -> Response:
        return JSONResponse(state.job(request.path_params["job_id"]).public())

    @_api
    async def jobs_cancel(request: Request) -> Response:
        return JSONResponse(state.cancel_job(request.path_params["job_id"]).public())

    @_api
    async def jobs_file(request: Request) -> Response:
        name = request.path_params["name"]
        path = state.job_file(request.path_params["job_id"], name)
        attach = request.query_params.get("download") == "1"
        return FileResponse(path, filename=name, content_disposition_type="attachment" if attach else "inline")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            await run_in_threadpool(state.shutdown)

    routes = [
        Route("/", index),
        Route("/api/config", config),
        Route("/api/videos", videos),
        Route("/api/video", video),
        Route("/api/frame", frame),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/jobs", jobs_create, methods=["POST"]),
        Route("/api/jobs", jobs_list, methods=["GET"]),
        Route("/api/jobs/{job_id}", jobs_get),
        Route("/api/jobs/{job_id}/cancel", jobs_cancel, methods=["POST"]),
        Route("/api/jobs/{job_id}/files/{name}", jobs_file),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    hosts = tuple(allowed_hosts) if allowed_hosts is not None else LOOPBACK_NAMES
    app.add_middleware(_GuardMiddleware, allowed_hosts=hosts)
    app.state.vismic = state
    return app


# ---- the runner --------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def _bind(host: str, port: int) -> socket.socket:
    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise ParameterError(f"--port {port} must be in 0..65535 (0 picks a free port)")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise ParameterError(f"--host {host}: cannot resolve it ({exc.strerror or exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ParameterError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
                             "(0 picks a free one)") from None
    sock.set_inheritable(True)
    return sock


def run_server(folder, *, host: str, port: int, max_upload_mb: float, workdir, open_browser: bool,
               max_uploads: int = 20, max_upload_total_mb: float | None = None) -> int:
    """See :func:`vismic.web.serve`."""
    import uvicorn

    loopback = is_loopback(host)
    allowed = None if loopback else ("*",)
    if loopback and host not in LOOPBACK_NAMES:
        allowed = LOOPBACK_NAMES + (host.strip("[]"),)
    app = build_app(folder, max_upload_mb=max_upload_mb, workdir=workdir, allowed_hosts=allowed, max_workers=1,
                    max_uploads=max_uploads, max_upload_total_mb=max_upload_total_mb)
    state: WebState = app.state.vismic
    try:
        sock = _bind(host, port)
    except BaseException:
        state.shutdown()
        raise
    try:
        bound = sock.getsockname()[1]
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        url = f"http://{shown}:{bound}/"
        if not loopback:  # printed, not warnings.warn: it must show whatever the warning filters say
            print(f"vismic: warning: WARNING: --host {host} is not a loopback address: anyone who can reach this "
                  f"machine on port {bound} can list and read the videos in {state.root}, upload files and run "
                  "jobs, with no password. Use --host 127.0.0.1 unless that is what you want.",
                  file=sys.stderr, flush=True)
        print(f"vismic: serving {state.root} at {url} (Ctrl-C to stop)", flush=True)
        if state.own_workdir:
            print(f"vismic: job outputs go to {state.workdir} (removed when the server stops; --workdir keeps "
                  "them)", flush=True)
        if open_browser:
            import webbrowser

            threading.Timer(0.5, webbrowser.open, args=(url,)).start()
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
    finally:
        sock.close()
        state.shutdown()  # uvicorn's lifespan did it already unless the server never started; it is idempotent
    print("vismic: server stopped", file=sys.stderr, flush=True)
    return 0
