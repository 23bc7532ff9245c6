"""The web UI's state: served videos, uploads and recovery jobs (the routes are in :mod:`vismic.web.app`).

:class:`WebState` resolves video ids inside the served folder (or ``upload:NAME``), lists and
describes videos, receives uploads, and runs jobs in a worker thread through
:func:`vismic.workflow.recover_and_write`, each in its own work folder; errors a client can cause are
:class:`ApiError` (an HTTP status and one line). The stages (recovery, video reading, camera
tables) are imported inside the methods that use them, so the state is built without loading them.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..errors import ParameterError, VismicError

log = logging.getLogger("vismic.web")

#: files listed and opened as videos (.mraw is opened through its .cih/.cihx)
VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".nut", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".wmv", ".flv", ".mxf", ".ogv", ".3gp", ".npy", ".cih", ".cihx", ".cine",
)
#: uploads are single files: Photron .cih needs its .mraw beside it, so it cannot be uploaded
UPLOAD_EXTENSIONS = tuple(e for e in VIDEO_EXTENSIONS if e not in (".cih", ".cihx"))
UPLOAD_PREFIX = "upload:"
MAX_LISTED = 500  # videos listed at most
MAX_WALKED_DIRS = 2000  # folders walked at most when listing
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,150}")
_ACTIVE = ("queued", "running")
CHOICES = {"denoise": ("none", "specsub"), "notch": ("report", "auto", "off")}


class ApiError(Exception):
    """An error the client caused: sent as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Cancelled(Exception):
    """Raised from the progress callback of a job whose cancel flag is set."""


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


def _finite_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass
class Job:
    """One recovery: its request, its state and, once done, its outputs (basenames in ``folder``)."""

    id: str
    video: str
    name: str
    path: str
    params: object  # RecoveryParams
    want_map: bool
    want_report: bool
    folder: str
    want_spectrum: bool = False
    want_mux: bool = False
    magnify: dict | None = None  # {"band": [lo, hi], "factor": k}
    state: str = "queued"  # queued, running, done, error, cancelled
    stage: str = "waiting for the previous job"
    done: int = 0
    total: int | None = None
    message: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    summary: dict = dataclasses.field(default_factory=dict)
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)
    created: float = dataclasses.field(default_factory=time.time)
    finished: float | None = None

    def public(self) -> dict:
        files = {
            key: {"name": name, "url": f"/api/jobs/{self.id}/files/{quote(name)}"}
            for key, name in self.outputs.items()
        }
        return {
            "id": self.id, "video": self.video, "name": self.name, "state": self.state, "stage": self.stage,
            "done": self.done, "total": self.total, "message": self.message, "warnings": list(self.warnings),
            "outputs": files, "summary": self.summary, "params": self.params.to_dict(),
            "created": self.created, "finished": self.finished,
        }


def optional_extras() -> dict[str, bool]:
    """Which optional outputs are installed: the vibration map (its analysis and its plot) and the report."""
    from importlib.util import find_spec

    def has(name: str) -> bool:
        try:
            return find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    plot_map = False
    if has("vismic.analysis.vibmap"):
        from .. import plot

        plot_map = callable(getattr(plot, "vibration_map", None))
    return {"map": plot_map, "report": has("vismic.report")}


class WebState:
    """Everything the routes share: the served folder, the work folder, the jobs and their pool."""

    def __init__(self, folder, *, max_upload_mb: float, workdir, max_workers: int, max_uploads: int = 20,
                 max_upload_total_mb: float | None = None) -> None:
        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise ParameterError(f"{folder} is not a folder; name the folder whose videos the UI may open")
        if not (_finite_number(max_upload_mb) and max_upload_mb > 0):
            raise ParameterError(f"--max-upload-mb {max_upload_mb} must be a positive number of megabytes")
        if int(max_workers) < 1:
            raise ParameterError(f"max_workers={max_workers} must be >= 1")
        self.root = os.path.realpath(folder)
        self.max_upload = int(max_upload_mb * 1e6)
        if isinstance(max_uploads, bool) or not isinstance(max_uploads, int) or max_uploads < 1:
            raise ParameterError(f"--max-uploads {max_uploads} must be a whole number >= 1")
        total = 4 * max_upload_mb if max_upload_total_mb is None else max_upload_total_mb
        if not (_finite_number(total) and total >= max_upload_mb):
            raise ParameterError(f"--max-upload-total-mb {total} must be a number of megabytes >= --max-upload-mb")
        self.max_uploads = int(max_uploads)
        self.max_upload_total = int(total * 1e6)
        self.own_workdir = workdir is None
        if workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="vismic-serve-")
        else:
            self.workdir = os.path.realpath(os.fspath(workdir))
            if self.workdir == self.root or self.workdir.startswith(self.root + os.sep):
                raise ParameterError(
                    f"--workdir {self.workdir} lies inside the served folder; choose a folder outside it "
                    "(outputs and uploads must not mix with the videos served)"
                )
            try:
                os.makedirs(self.workdir, exist_ok=True)
            except OSError as exc:
                raise ParameterError(f"--workdir {self.workdir}: cannot create it ({exc.strerror or exc})") from None
        self.upload_dir = os.path.join(self.workdir, "uploads")
        self.jobs_dir = os.path.join(self.workdir, "jobs")
        os.makedirs(self.upload_dir, exist_ok=True)
        os.makedirs(self.jobs_dir, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=int(max_workers), thread_name_prefix="vismic-job")
        self._frames: OrderedDict[tuple, tuple[dict, bytes]] = OrderedDict()

    # ---- paths -------------------------------------------------------------------------------
    def resolve(self, video) -> str:
        """The real path of a video id, refused unless it lies under the served folder (or uploads)."""
        if not isinstance(video, str) or not video.strip():
            raise ApiError(400, "no video chosen: pick one from the list or type a path inside the folder")
        if "\x00" in video or len(video) > 4096:
            raise ApiError(400, "the video path is malformed")
        if video.startswith(UPLOAD_PREFIX):
            root, rel = self.upload_dir, video[len(UPLOAD_PREFIX):]
            if not _SAFE_NAME.fullmatch(rel):
                raise ApiError(400, f"{video!r} is not the name of an uploaded video")
        else:
            root, rel = self.root, video
        if os.path.isabs(rel) or rel.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", rel):
            raise ApiError(403, f"{video!r} is an absolute path; give a path relative to the served folder "
                                f"{self.root}")
        if ".." in re.split(r"[\\/]+", rel):
            raise ApiError(403, f"{video!r} contains '..'; only files under the served folder can be opened")
        full = os.path.realpath(os.path.join(root, rel))
        if not full.startswith(root + os.sep):
            raise ApiError(403, f"{video!r} lies outside the served folder (a link leading out of it?); "
                                "only files under it can be opened")
        if not os.path.isfile(full):
            raise ApiError(404, f"{video!r}: no such video in the served folder")
        return full

    def list_videos(self) -> dict:
        items: list[dict] = []
        truncated = False
        walked = 0
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            walked += 1
            if walked > MAX_WALKED_DIRS:
                truncated = True
                break
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if f.startswith(".") or os.path.splitext(f)[1].lower() not in VIDEO_EXTENSIONS:
                    continue
                full = os.path.join(dirpath, f)
                real = os.path.realpath(full)
                if not real.startswith(self.root + os.sep) or not os.path.isfile(real):
                    continue  # a link leading out of the folder, or a dangling one
                rel = os.path.relpath(full, self.root).replace(os.sep, "/")
                items.append({"id": rel, "name": rel, "size": os.path.getsize(real), "origin": "folder"})
                if len(items) >= MAX_LISTED:
                    truncated = True
                    break
            if truncated:
                break
        for f in sorted(os.listdir(self.upload_dir)):
            full = os.path.join(self.upload_dir, f)
            if not f.startswith(".") and os.path.isfile(full):
                items.append({"id": UPLOAD_PREFIX + f, "name": f"{f} (uploaded)", "size": os.path.getsize(full),
                              "origin": "upload"})
        return {"videos": items, "truncated": truncated}

    # ---- first frame -------------------------------------------------------------------------
    def video_info(self, video: str) -> tuple[dict, bytes]:
        """Facts about a video and its first frame as PNG bytes (cached for a few videos)."""
        path = self.resolve(video)
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        with self.lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        from ..io import open_source

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_source(path) as src:
                first = next(iter(src.iter_batches(batch=1, stop=1)), None)
                if first is None or len(first) == 0:
                    raise ApiError(400, f"{video}: no frame could be read")
                info = {
                    "video": video, "rows": int(src.shape[0]), "cols": int(src.shape[1]),
                    "n_frames": src.n_frames, "header_rate": src.header_rate,
                    "rate_is_trusted": bool(src.rate_is_trusted), "kind": src.kind,
                }
        info["warnings"] = [str(w.message) for w in caught]
        png = _frame_png(first[0])
        with self.lock:
            self._frames[key] = (info, png)
            while len(self._frames) > 8:
                self._frames.popitem(last=False)
        return info, png

    # ---- jobs --------------------------------------------------------------------------------
    def create_job(self, body: dict) -> Job:
        from ..io import ROI
        from ..pipeline import RecoveryParams

        if not isinstance(body, dict):
            raise ApiError(400, "the request must be a JSON object")
        unknown = set(body) - {"video", "fps", "roi", "denoise", "notch", "map", "report", "mode", "spectrum", "mux",
                               "magnify", *_RS_FIELDS}
        if unknown:
            raise ApiError(400, f"unknown field(s) {sorted(unknown)}; expected video, fps, roi, denoise, notch, map, "
                                "report, mode, spectrum, mux, magnify, rolling_shutter, camera, line_delay, exposure")
        video = body.get("video")
        path = self.resolve(video)
        fps = body.get("fps")
        if fps is None or fps == "":
            raise ApiError(400, "no capture rate: enter the camera's true frame rate in Hz (frames per second)")
        if isinstance(fps, str):
            try:
                fps = float(fps)
            except ValueError:
                raise ApiError(400, f"capture rate {fps!r} is not a number; enter the frame rate in Hz") from None
        if not _finite_number(fps) or fps <= 0:
            raise ApiError(400, f"capture rate {fps} Hz is invalid: it must be a positive number of frames per "
                                "second (the camera's true rate, e.g. 2200)")
        info, _ = self.video_info(video)
        roi = body.get("roi")
        if roi == "auto":
            pass
        elif roi is not None:
            if not (isinstance(roi, list | tuple) and len(roi) == 4 and all(_finite_number(v) for v in roi)):
                raise ApiError(400, f"roi {roi!r} must be [x, y, w, h] in pixels, or null for the whole frame")
            x, y, w, h = (int(round(v)) for v in roi)
            if w <= 0 or h <= 0:
                raise ApiError(400, f"the region of interest has zero area ({w}x{h} pixels): drag a rectangle "
                                    "over the vibrating object, or choose the whole frame")
            try:
                ROI(x, y, w, h).check(info["rows"], info["cols"])
            except ParameterError:
                raise ApiError(400, f"the region x={x}, y={y}, w={w}, h={h} lies outside the {info['cols']}x"
                                    f"{info['rows']} frame; drag it inside the picture") from None
            roi = (x, y, w, h)
        options = {}
        for key, allowed in CHOICES.items():
            value = body.get(key, allowed[0])
            if value not in allowed:
                raise ApiError(400, f"{key} {value!r} must be one of {', '.join(allowed)}")
            options[key] = value
        wants = {key: body.get(key, True) for key in ("map", "report")}
        wants.update({key: body.get(key, False) for key in ("spectrum", "mux")})
        for key, value in wants.items():
            if not isinstance(value, bool):
                raise ApiError(400, f"{key} {value!r} must be true or false")
        rolling = body.get("rolling_shutter", False)
        if not isinstance(rolling, bool):
            raise ApiError(400, f"rolling_shutter {rolling!r} must be true or false")
        mode = body.get("mode", "auto")
        if mode not in MODES:
            raise ApiError(400, f"mode {mode!r} must be one of {', '.join(MODES)}")
        if rolling and mode != "auto":
            raise ApiError(400, "the fast/exact choice applies to high-speed video; rolling-shutter recoveries have "
                                "one path: leave the mode on auto")
        if wants["mux"] and (os.path.splitext(path)[1].lower() in (".npy", ".cih", ".cihx", ".mraw", ".cine")):
            raise ApiError(400, "the sound can be put into video files only, not into camera files or .npy stacks")
        magnify = _magnify_request(body.get("magnify"), float(fps))
        given = [k for k in ("camera", "line_delay", "exposure") if body.get(k) not in (None, "")]
        if given and not rolling:
            raise ApiError(400, f"{', '.join(given)} apply only to rolling-shutter video: tick 'rolling shutter'")
        try:
            if rolling:
                params = _rolling_params(body, fps=float(fps), roi=roi, options=options)
                params.timing(info["rows"], info["cols"])  # a line delay that cannot fit fails now, not later
            else:
                params = RecoveryParams(fps=float(fps), roi=roi, mode=MODES[mode], **options)
        except ParameterError as exc:
            raise ApiError(400, one_line(exc)) from None
        name = video[len(UPLOAD_PREFIX):] if video.startswith(UPLOAD_PREFIX) else video
        with self.lock:
            for other in self.jobs.values():
                if other.path == path and other.state in _ACTIVE:
                    raise ApiError(409, f"a job on {name} is already {other.state} (job {other.id}); wait for it "
                                        "to finish or cancel it")
            job_id = uuid.uuid4().hex[:12]
            job = Job(id=job_id, video=video, name=name, path=path, params=params, want_map=wants["map"],
                      want_report=wants["report"], folder=os.path.join(self.jobs_dir, job_id),
                      want_spectrum=wants["spectrum"], want_mux=wants["mux"], magnify=magnify)
            self.jobs[job_id] = job
        self.pool.submit(self._run_job, job)
        return job

    def list_jobs(self) -> list[dict]:
        """Every job of this server, newest first (the page lists them again after a reload)."""
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            return [j.public() for j in jobs]

    def job(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id!r} (jobs are forgotten when the server restarts)")
        return job

    def cancel_job(self, job_id: str) -> Job:
        job = self.job(job_id)
        with self.lock:
            if job.state not in _ACTIVE:
                raise ApiError(409, f"job {job_id} has already {'finished' if job.state == 'done' else job.state}; "
                                    "nothing to cancel")
            job.cancel.set()
            job.stage = "cancelling"
        return job

    def _run_job(self, job: Job) -> None:
        from ..workflow import recover_and_write

        if job.cancel.is_set():
            self._finish(job, "cancelled", "cancelled before it started; nothing was written")
            return
        job.state, job.stage = "running", "reading frames"

        def progress(done: int, total: int | None) -> None:
            if job.cancel.is_set():
                raise _Cancelled
            job.done, job.total = int(done), total

        def check() -> None:
            if job.cancel.is_set():
                raise _Cancelled

        def stage(text: str) -> None:
            check()
            job.stage, job.done, job.total = text, 0, None

        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(os.path.basename(job.path))[0]).strip("._")
        stem = (stem or "video")[:80]
        caught: list = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                os.makedirs(job.folder)
                extras = optional_extras()
                ext = os.path.splitext(job.path)[1].lower()
                done = recover_and_write(
                    job.path, job.params, os.path.join(job.folder, stem + ".wav"), spectrogram=True,
                    map_png=os.path.join(job.folder, stem + ".map.png") if job.want_map and extras["map"] else None,
                    report=os.path.join(job.folder, stem + ".report.html")
                    if job.want_report and extras["report"] else None,
                    mux=os.path.join(job.folder, stem + ".sound" + (ext if ext in (".mp4", ".mkv", ".mov") else ".mp4"))
                    if job.want_mux else None,
                    progress=progress, stage=stage, extras_on_error="warn")
                check()
                rec = done.recovery
                outputs = {key: os.path.basename(p) for key, p in done.paths.items()}
                summary = _summary(rec)
                if job.want_spectrum:
                    summary["peaks"] = self._spectrum(job, rec, stem, outputs, progress, stage)
                if job.magnify:
                    self._magnify(job, rec, stem, outputs, progress, stage)
                check()
            job.summary = summary
            job.outputs = outputs
            job.warnings = _unique(str(w.message) for w in caught)
            self._finish(job, "done", "")
        except _Cancelled:
            shutil.rmtree(job.folder, ignore_errors=True)
            self._finish(job, "cancelled", "cancelled; nothing was written")
        except VismicError as exc:
            shutil.rmtree(job.folder, ignore_errors=True)
            self._finish(job, "error", one_line(exc))
        except MemoryError:
            shutil.rmtree(job.folder, ignore_errors=True)
            self._finish(job, "error", "out of memory; choose a smaller region of interest")
        except OSError as exc:
            shutil.rmtree(job.folder, ignore_errors=True)
            self._finish(job, "error", f"the system refused a read or write: {one_line(exc.strerror or exc)}")
        except Exception as exc:  # a bug: logged with its traceback on the server, one line to the client
            log.exception("job %s failed", job.id)
            shutil.rmtree(job.folder, ignore_errors=True)
            self._finish(job, "error", f"internal error ({exc.__class__.__name__}: {one_line(exc)}); this is a "
                                       "bug, please report it (the server's log has the details)")
        finally:
            if job.state != "done":
                job.warnings = _unique(str(w.message) for w in caught)

    def _spectrum(self, job: Job, rec, stem: str, outputs: dict, progress, stage) -> list[dict]:
        """The motion spectrum of the recovered region with its peaks (a PNG; the peaks in the summary);
        a failure is a warning: the audio is written."""
        from ..analysis.spectra import modal_peaks, motion_spectrum, noise_floor
        from ..plot import save_motion_spectrum

        stage("computing the motion spectrum")
        try:
            spec = motion_spectrum(job.path, fps=rec.params.fps, roi=rec.input.get("roi"), progress=progress)
            peaks = modal_peaks(spec)
            target = os.path.join(job.folder, stem + ".spectrum.png")
            save_motion_spectrum(spec, target, peaks=peaks, floor=noise_floor(spec))
            outputs["spectrum"] = os.path.basename(target)
            return [{"hz": p.hz, "snr_db": p.snr_db, "damping": p.damping} for p in peaks]
        except (VismicError, ValueError) as exc:
            warnings.warn(f"no motion spectrum: {one_line(exc)}", stacklevel=1)
            return []

    def _magnify(self, job: Job, rec, stem: str, outputs: dict, progress, stage) -> None:
        """A side-by-side video with the band's motion magnified; a failure is a warning."""
        from ..magnify import magnify

        lo, hi = job.magnify["band"]
        stage(f"magnifying {lo:g}-{hi:g} Hz x{job.magnify['factor']:g}")
        try:
            target = os.path.join(job.folder, stem + ".magnified.mp4")
            magnify(job.path, target, fps=rec.params.fps, band=(lo, hi), factor=job.magnify["factor"],
                    view="side-by-side", progress=progress)
            outputs["magnified"] = os.path.basename(target)
        except (VismicError, ValueError) as exc:
            warnings.warn(f"no magnified video: {one_line(exc)}", stacklevel=1)

    def _finish(self, job: Job, state: str, message: str) -> None:
        with self.lock:
            job.state, job.message, job.finished = state, message, time.time()
            job.stage = {"done": "done", "cancelled": "cancelled", "error": "failed"}[state]

    def job_file(self, job_id: str, name: str) -> str:
        job = self.job(job_id)
        if job.state != "done":
            raise ApiError(409, f"job {job_id} is {job.state}; its outputs exist only once it is done")
        if name not in job.outputs.values():
            raise ApiError(404, f"job {job_id} has no output named {name!r}")
        path = os.path.join(job.folder, name)
        if not os.path.isfile(path):
            raise ApiError(410, f"{name} is gone from the server's work folder")
        return path

    # ---- uploads -----------------------------------------------------------------------------
    async def upload(self, request: Request) -> dict:
        name = request.query_params.get("name", "")
        name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        ext = os.path.splitext(name)[1].lower()
        if not _SAFE_NAME.fullmatch(name):
            raise ApiError(400, f"upload name {name!r} is not allowed: use letters, digits, '.', '_', '-' and "
                                "spaces, starting with a letter or digit")
        if ext not in UPLOAD_EXTENSIONS:
            raise ApiError(400, f"{name}: only video files can be uploaded ({', '.join(UPLOAD_EXTENSIONS)})")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/octet-stream":
            raise ApiError(415, "send the file's bytes as the request body (Content-Type: application/octet-stream)")
        limit_text = f"{self.max_upload / 1e6:g} MB"
        kept = [os.path.join(self.upload_dir, f) for f in os.listdir(self.upload_dir) if not f.startswith(".")]
        if len(kept) >= self.max_uploads:
            raise ApiError(507, f"{len(kept)} videos are uploaded already, the most this server keeps "
                                "(restart with --max-uploads, or put the videos in the served folder)")
        used = sum(os.path.getsize(f) for f in kept if os.path.isfile(f))
        room = self.max_upload_total - used
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > room:
            raise ApiError(507, f"{name} ({int(declared) / 1e6:.1f} MB) does not fit: the uploads already take "
                                f"{used / 1e6:.1f} of {self.max_upload_total / 1e6:g} MB (restart with "
                                "--max-upload-total-mb, or put the video in the served folder)")
        if declared is not None and declared.isdigit() and int(declared) > self.max_upload:
            raise ApiError(413, f"{name} is {int(declared) / 1e6:.1f} MB; uploads are limited to {limit_text} "
                                "(restart with --max-upload-mb, or put the video in the served folder)")
        # An upload is an input being received, not an output: its final name is picked only once it
        # is complete and readable, so it is staged here rather than by vismic.io.atomic.
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=ext, dir=self.upload_dir)
        try:
            size = 0
            with os.fdopen(fd, "wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > room and size <= self.max_upload:
                        raise ApiError(507, f"{name} does not fit: all uploads together are limited to "
                                            f"{self.max_upload_total / 1e6:g} MB (restart with "
                                            "--max-upload-total-mb, or put the video in the served folder)")
                    if size > self.max_upload:
                        raise ApiError(413, f"{name} exceeds the upload limit of {limit_text} (restart with "
                                            "--max-upload-mb, or put the video in the served folder)")
                    fh.write(chunk)
            if size == 0:
                raise ApiError(400, f"{name} is empty")
            await run_in_threadpool(_check_readable, tmp, name)
            with self.lock:
                final = _unique_name(self.upload_dir, name)
                os.replace(tmp, os.path.join(self.upload_dir, final))
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        return {"id": UPLOAD_PREFIX + final, "name": f"{final} (uploaded)", "size": size, "origin": "upload"}

    def shutdown(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                job.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=False)
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _check_readable(path: str, name: str) -> None:
    from ..io import open_source

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_source(path) as src:
                if next(iter(src.iter_batches(batch=1, stop=1)), None) is None:
                    raise ApiError(400, f"{name}: no frame could be read")
    except VismicError as exc:
        raise ApiError(400, f"{name} is not a video vismic can read: {one_line(exc).replace(path, name)}") from None


def _unique_name(folder: str, name: str) -> str:
    stem, ext = os.path.splitext(name)
    candidate, i = name, 1
    while os.path.exists(os.path.join(folder, candidate)):
        candidate = f"{stem}-{i}{ext}"
        i += 1
    return candidate


def _unique(messages) -> list[str]:
    return list(dict.fromkeys(messages))


def _frame_png(frame) -> bytes:
    """PNG of one float frame: [0, 1] frames as they are, others stretched to their 0.5-99.5 % range."""
    import numpy as np
    from PIL import Image

    f = np.nan_to_num(np.asarray(frame, dtype=np.float32))
    lo, hi = float(f.min()), float(f.max())
    if lo < 0 or hi > 1:
        lo, hi = (float(v) for v in np.percentile(f, [0.5, 99.5]))
        f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
    img = Image.fromarray((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


_RS_FIELDS = ("rolling_shutter", "camera", "line_delay", "exposure")


def camera_choices() -> list[dict]:
    """The camera presets offered for rolling-shutter video (id, mode, line delay in us)."""
    from ..rolling_shutter import camera_table

    return [{"id": c.id, "label": f"{c.camera} {c.mode}".strip(), "line_delay_us": c.line_delay * 1e6}
            for c in camera_table()]


def _rolling_params(body: dict, *, fps: float, roi, options: dict):
    """RollingShutterParams from a job request (camera and/or line delay, optional exposure)."""
    from ..rolling_shutter import RollingShutterParams, parse_seconds

    camera = body.get("camera") or None
    if camera is not None and not isinstance(camera, str):
        raise ApiError(400, f"camera {camera!r} must be a preset name (see the camera list)")
    values = {}
    for key in ("line_delay", "exposure"):
        v = body.get(key)
        if v in (None, ""):
            continue
        if isinstance(v, str):
            try:
                v = parse_seconds(v)  # "1/2000", "16.15us" ...
            except ParameterError as exc:
                raise ApiError(400, f"{key}: {one_line(exc)}") from None
        if not _finite_number(v):
            raise ApiError(400, f"{key} {v!r} must be a time in seconds, e.g. 16.15e-6 or 1/2000")
        values[key] = float(v)
    return RollingShutterParams(fps=fps, camera=camera, roi=roi, notch=options["notch"], denoise=options["denoise"],
                                **values)


#: the web UI's recovery modes and what they run (``exact`` is the anchored per-coefficient path)
MODES = {"auto": "auto", "fast": "fast", "exact": "anchored"}


def _magnify_request(value, fps: float) -> dict | None:
    """``{"band": [lo, hi], "factor": k}`` checked (None: no magnified video)."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"band", "factor"}:
        raise ApiError(400, 'magnify must be {"band": [lo, hi], "factor": k} or null')
    from ..magnify import check_magnification  # a stage: imported when used (module docstring)

    try:
        lo, hi, factor = check_magnification(value.get("band"), value.get("factor"), fps)
    except ParameterError as exc:
        raise ApiError(400, f"magnify: {one_line(exc)}") from None
    return {"band": [lo, hi], "factor": factor}


def _summary(rec) -> dict:
    d = rec.diagnostics
    return {
        "rate": rec.rate,
        "n_samples": int(len(rec.audio)),
        "duration_s": len(rec.audio) / rec.rate,
        "frames_used": rec.input.get("frames_used"),
        "roi": rec.input.get("roi"),
        "estimated_snr_db": d.get("estimated_snr_db"),
        "n_channels_used": d.get("n_channels_used"),
        "lines_detected": [line.get("hz") for line in d.get("lines_detected", [])][:6],
        "seconds": rec.timings.get("total_s"),
        "frames_per_s": rec.timings.get("frames_per_s"),
        "rolling_shutter": bool(d.get("rolling_shutter")),
        "filled_fraction": d.get("filled_fraction"),
        "band_hz": d.get("band_hz"),
        "line_delay_s": (d.get("timing") or {}).get("line_delay_s"),
        "line_delay_check": (d.get("line_delay_check") or {}).get("message"),
    }
