"""The web UI's API (vismic serve): path confinement, bad input as JSON errors, jobs, uploads, the CLI.

Runs in-process with Starlette's TestClient; skipped when the ``web`` extra is not installed.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the web extra is not installed: pip install \"vismic[web]\"")
with warnings.catch_warnings():  # older Starlette warns when it falls back to httpx
    warnings.simplefilter("ignore")
    try:
        from starlette.testclient import TestClient
    except (ImportError, RuntimeError):
        pytest.skip("Starlette's TestClient needs httpx2: pip install \"vismic[test,web]\"", allow_module_level=True)

import soundfile as sf  # noqa: E402
from PIL import Image  # noqa: E402

from vismic import simulate as sim  # noqa: E402
from vismic.cli import main  # noqa: E402
from vismic.io import open_source  # noqa: E402
from vismic.web import create_app  # noqa: E402
from vismic.web.app import is_loopback  # noqa: E402

RATE = 2200.0
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A served folder: two small scenes (one in a subfolder), a non-video file, a hidden video."""
    d = tmp_path_factory.mktemp("served")
    s = sim.builtin_sound("melody", rate=RATE, duration=0.3, seed=2)
    sc = sim.Scene(texture=sim.make_texture("pink", (96, 96), seed=2), sound=s, rate=RATE,
                   rms_px=0.01, shape=(64, 64), noise_sigma=2.0)
    sim.render(sc, d / "scene.mp4", truth_path=d / "scene.truth.wav")
    (d / "sub").mkdir()
    sim.render(sc, d / "sub" / "other.mp4", truth_path=d / "sub" / "other.truth.wav")
    (d / "notes.txt").write_text("not a video")
    (d / ".hidden.mp4").write_bytes((d / "scene.mp4").read_bytes())
    return d


@pytest.fixture(scope="module")
def outside(tmp_path_factory, folder):
    """A video outside the served folder, and links to it (and to its folder) from inside."""
    d = tmp_path_factory.mktemp("outside")
    (d / "secret.mp4").write_bytes((folder / "scene.mp4").read_bytes())
    return d


def _snapshot(path) -> dict:
    return {os.path.relpath(os.path.join(r, f), path): os.path.getmtime(os.path.join(r, f))
            for r, _, fs in os.walk(path) for f in fs}


@pytest.fixture
def client(folder, tmp_path):
    work = tmp_path / "work"
    app = create_app(folder, workdir=work, max_upload_mb=2.0)
    with TestClient(app, base_url=BASE) as c:
        c.workdir = work
        yield c


def _wait(client, job_id, timeout=60.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def _assert_json_error(resp, status, needle):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"}, body
    assert needle.lower() in body["error"].lower(), body["error"]
    assert "Traceback" not in resp.text and "File \"" not in resp.text


def test_page_and_static_files_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/style.css"):
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert "http://" not in r.text and "https://" not in r.text, f"{asset} fetches from outside"
    assert "http://" not in page.text and "https://" not in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe-eval" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/config").json()["max_upload_bytes"] == 2_000_000
    for probe in ("/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e/%2e%2e/cli.py"):
        r = client.get(probe)
        assert r.status_code == 404 and "import" not in r.text, probe


def test_listing_holds_only_videos_inside_the_folder(client, folder, outside):
    link = folder / "link.mp4"
    dlink = folder / "linkdir"
    link.symlink_to(outside / "secret.mp4")
    dlink.symlink_to(outside, target_is_directory=True)
    try:
        ids = [v["id"] for v in client.get("/api/videos").json()["videos"]]
    finally:
        link.unlink()
        dlink.unlink()
    assert ids == ["scene.mp4", "sub/other.mp4"]


def test_first_frame_and_facts(client, folder):
    info = client.get("/api/video", params={"video": "sub/other.mp4"}).json()
    assert (info["rows"], info["cols"], info["n_frames"]) == (64, 64, 660)
    png = client.get("/api/frame", params={"video": "sub/other.mp4"})
    assert png.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(png.content)))
    with open_source(str(folder / "sub" / "other.mp4")) as src:
        first = next(src.iter_batches(batch=1, stop=1))[0]
    assert img.shape == (64, 64)
    # the PNG is the reader's first frame in 8-bit grey levels (rounding only)
    assert np.max(np.abs(img.astype(float) - first * 255)) <= 0.5 + 1e-3, "first frame PNG differs from the frame"


@pytest.mark.parametrize(
    "video, status, needle",
    [
        ("../outside/secret.mp4", 403, "'..'"),
        ("sub/../../x.mp4", 403, "'..'"),
        ("/etc/passwd", 403, "absolute path"),
        ("~/x.mp4", 403, "absolute path"),
        ("link.mp4", 403, "outside the served folder"),
        ("linkdir/secret.mp4", 403, "outside the served folder"),
        ("missing.mp4", 404, "no such video"),
        ("", 400, "no video chosen"),
        ("upload:../x.mp4", 400, "not the name of an uploaded video"),
    ],
)
def test_paths_outside_the_folder_are_refused(client, folder, outside, video, status, needle):
    (folder / "link.mp4").symlink_to(outside / "secret.mp4")
    (folder / "linkdir").symlink_to(outside, target_is_directory=True)
    try:
        for url in ("/api/video", "/api/frame"):
            _assert_json_error(client.get(url, params={"video": video}), status, needle)
        r = client.post("/api/jobs", json={"video": video, "fps": RATE})
        _assert_json_error(r, status, needle)
    finally:
        (folder / "link.mp4").unlink()
        (folder / "linkdir").unlink()
    assert os.listdir(client.workdir / "jobs") == []


def test_job_runs_and_serves_its_outputs(client, folder):
    before = _snapshot(folder)
    r = client.post("/api/jobs", json={"video": "scene.mp4", "fps": RATE, "roi": [4, 4, 56, 56], "map": False,
                                       "report": False})  # those two: test_report_and_vibration_map
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"])
    assert job["state"] == "done", job
    assert job["summary"]["roi"] == [4, 4, 56, 56] and job["summary"]["rate"] == RATE
    assert set(job["outputs"]) == {"wav", "listen", "json", "spectrogram"}
    # the WAV keeps the true rate; the listenable copy is 44.1 kHz; both come back through the API
    wav = client.get(job["outputs"]["wav"]["url"], params={"download": "1"})
    assert wav.status_code == 200 and "attachment" in wav.headers["content-disposition"]
    audio, rate = sf.read(io.BytesIO(wav.content))
    assert rate == 2200 and len(audio) == 660
    truth, _ = sf.read(folder / "scene.truth.wav")
    hp = np.fft.rfft(audio)
    hp[: int(len(audio) * 55 / RATE) + 1] = 0  # the recovery is high-passed at rate/40
    t = np.fft.rfft(truth)
    t[: int(len(truth) * 55 / RATE) + 1] = 0
    corr = np.corrcoef(np.fft.irfft(hp, len(audio)), np.fft.irfft(t, len(truth)))[0, 1]
    assert abs(corr) > 0.9, f"recovered audio does not follow the truth (r={corr:.3f})"
    listen, lrate = sf.read(io.BytesIO(client.get(job["outputs"]["listen"]["url"]).content))
    assert lrate == 44100
    png = client.get(job["outputs"]["spectrogram"]["url"])
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    side = client.get(job["outputs"]["json"]["url"]).json()
    assert side["params"]["roi"] == [4, 4, 56, 56]
    # outputs live in the work folder, never in the served folder
    assert _snapshot(folder) == before
    assert sorted(os.listdir(client.workdir / "jobs" / job["id"])) == sorted(
        o["name"] for o in job["outputs"].values())
    # only the job's own outputs can be fetched
    _assert_json_error(client.get(f"/api/jobs/{job['id']}/files/%2e%2e"), 404, "no output named")
    _assert_json_error(client.get(f"/api/jobs/{job['id']}/files/scene.truth.wav"), 404, "no output named")
    _assert_json_error(client.get("/api/jobs/nope"), 404, "no job")
    _assert_json_error(client.post(f"/api/jobs/{job['id']}/cancel"), 409, "already finished")


def test_report_and_vibration_map(client):
    """The optional outputs appear when their modules are installed, and only when asked for (map)."""
    from vismic.web.jobs import optional_extras

    opt = client.get("/api/config").json()["optional"]
    assert opt == optional_extras()
    if not (opt["report"] or opt["map"]):
        pytest.skip("neither vismic.report nor vismic.plot.vibration_map is installed")
    jobs = {}
    for want in (True, False):
        r = client.post("/api/jobs", json={"video": "sub/other.mp4", "fps": RATE, "map": want, "report": want})
        jobs[want] = _wait(client, r.json()["id"])
        assert jobs[want]["state"] == "done" and not jobs[want]["warnings"], jobs[want]
    assert ("map" in jobs[True]["outputs"]) == opt["map"] and "map" not in jobs[False]["outputs"]
    assert ("report" in jobs[True]["outputs"]) == opt["report"] and "report" not in jobs[False]["outputs"]
    if opt["map"]:
        png = client.get(jobs[True]["outputs"]["map"]["url"])
        assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    if opt["report"]:
        rep = client.get(jobs[True]["outputs"]["report"]["url"])
        assert rep.status_code == 200 and rep.headers["content-type"].startswith("text/html")
        assert "inline" in rep.headers["content-disposition"] and "<html" in rep.text.lower()
        assert ("Vibration map" in rep.text) == opt["map"]


def test_whole_frame_when_no_roi_and_denoise_option(client):
    r = client.post("/api/jobs", json={"video": "sub/other.mp4", "fps": "2200", "roi": None, "denoise": "specsub",
                                       "map": False, "report": False})
    job = _wait(client, r.json()["id"])
    assert job["state"] == "done", job
    assert job["summary"]["roi"] == [0, 0, 64, 64] and job["params"]["denoise"] == "specsub"


BAD_JOBS = [
    ({"fps": 0}, "capture rate 0 Hz is invalid"),
    ({"fps": -2200}, "must be a positive number"),
    ({"fps": None}, "no capture rate"),
    ({"fps": "fast"}, "is not a number"),
    ({"fps": True}, "is invalid"),
    ({"fps": RATE, "roi": [10, 10, 0, 0]}, "zero area"),
    ({"fps": RATE, "roi": [10, 10, 20, 0]}, "zero area"),
    ({"fps": RATE, "roi": [10, 10, -5, 20]}, "zero area"),
    ({"fps": RATE, "roi": [50, 50, 30, 30]}, "outside the 64x64 frame"),
    ({"fps": RATE, "roi": [1, 2, 3]}, "must be [x, y, w, h]"),
    ({"fps": RATE, "denoise": "magic"}, "denoise 'magic' must be one of"),
    ({"fps": RATE, "notch": 50}, "notch 50 must be one of"),
    ({"fps": RATE, "map": "yes"}, "must be true or false"),
    ({"fps": RATE, "report": 1}, "report 1 must be true or false"),
    ({"fps": RATE, "scales": 3}, "unknown field"),
    ({"fps": RATE, "line_delay": 1e-5}, "apply only to rolling-shutter video"),
    ({"fps": RATE, "rolling_shutter": "yes"}, "rolling_shutter 'yes' must be true or false"),
    ({"fps": 59.94, "rolling_shutter": True}, "needs the line delay"),
    ({"fps": 59.94, "rolling_shutter": True, "camera": "pentax k1"}, "close matches: pentax-k-01"),
    ({"fps": 59.94, "rolling_shutter": True, "line_delay": 1e-3}, "does not fit the frame period"),
    ({"fps": 59.94, "rolling_shutter": True, "line_delay": "soon"}, "line_delay"),
]


@pytest.mark.parametrize("extra, needle", BAD_JOBS)
def test_bad_job_requests_write_nothing(client, folder, extra, needle):
    before = _snapshot(folder)
    _assert_json_error(client.post("/api/jobs", json={"video": "scene.mp4", **extra}), 400, needle)
    assert os.listdir(client.workdir / "jobs") == [] and _snapshot(folder) == before


def test_nan_rate_and_malformed_bodies(client):
    nan = b'{"video": "scene.mp4", "fps": NaN}'
    r = client.post("/api/jobs", content=nan, headers={"Content-Type": "application/json"})
    _assert_json_error(r, 400, "capture rate nan Hz is invalid")
    r = client.post("/api/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    _assert_json_error(r, 400, "not valid JSON")
    r = client.post("/api/jobs", content=b"[1, 2]", headers={"Content-Type": "application/json"})
    _assert_json_error(r, 400, "JSON object")
    r = client.post("/api/jobs", content=b'{"video": "scene.mp4"}', headers={"Content-Type": "text/plain"})
    _assert_json_error(r, 415, "Content-Type: application/json")
    _assert_json_error(client.get("/api/nothing"), 404, "not found")
    assert os.listdir(client.workdir / "jobs") == []


def test_one_job_per_video_and_cancel(folder, tmp_path):
    work = tmp_path / "work"
    with TestClient(create_app(folder, workdir=work, max_workers=1), base_url=BASE) as client:
        first = client.post("/api/jobs", json={"video": "scene.mp4", "fps": RATE}).json()
        # a second job on the same video is refused while the first is queued or running
        _assert_json_error(client.post("/api/jobs", json={"video": "scene.mp4", "fps": RATE}), 409, "already")
        # another video queues behind it (one worker) and can be cancelled before it starts
        queued = client.post("/api/jobs", json={"video": "sub/other.mp4", "fps": RATE})
        assert queued.status_code == 202
        assert client.post(f"/api/jobs/{queued.json()['id']}/cancel").json()["stage"] == "cancelling"
        # cancelling the running job stops it at the next batch
        client.post(f"/api/jobs/{first['id']}/cancel")
        for jid in (first["id"], queued.json()["id"]):
            job = _wait(client, jid)
            assert job["state"] == "cancelled" and "nothing was written" in job["message"], job
            assert job["outputs"] == {}
        assert os.listdir(work / "jobs") == []
        # once it is over, the same video can run again
        again = client.post("/api/jobs", json={"video": "scene.mp4", "fps": RATE, "map": False, "report": False})
        assert again.status_code == 202 and _wait(client, again.json()["id"])["state"] == "done"


def test_job_errors_from_the_pipeline_are_one_line(client, folder):
    flat = folder / "flat.npy"
    np.save(flat, np.full((20, 32, 32), 0.5, dtype=np.float32))
    try:
        r = client.post("/api/jobs", json={"video": "flat.npy", "fps": RATE})
        job = _wait(client, r.json()["id"])
    finally:
        flat.unlink()
    assert job["state"] == "error" and "flat" in job["message"] and "\n" not in job["message"], job
    assert os.listdir(client.workdir / "jobs") == []


def test_upload(client, folder):
    data = (folder / "scene.mp4").read_bytes()
    assert len(data) < 2_000_000, "the fixture must fit the 2 MB test limit"
    oct_ = {"Content-Type": "application/octet-stream"}
    r = client.post("/api/upload", params={"name": "my clip.mp4"}, content=data, headers=oct_)
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    assert vid == "upload:my clip.mp4"
    assert vid in [v["id"] for v in client.get("/api/videos").json()["videos"]]
    assert client.get("/api/video", params={"video": vid}).json()["n_frames"] == 660
    # the same name again gets a new name, never overwriting
    r2 = client.post("/api/upload", params={"name": "my clip.mp4"}, content=data, headers=oct_)
    assert r2.json()["id"] == "upload:my clip-1.mp4"
    uploads = client.workdir / "uploads"
    kept = sorted(os.listdir(uploads))
    assert kept == ["my clip-1.mp4", "my clip.mp4"]
    assert not (folder / "my clip.mp4").exists(), "uploads must not go into the served folder"


@pytest.mark.parametrize(
    "name, body, headers, status, needle",
    [
        ("big.mp4", b"\0" * 2_000_001, None, 413, "limited to 2 MB"),
        ("big.mp4", None, None, 413, "exceeds the upload limit"),  # streamed, no Content-Length
        ("junk.mp4", b"not a video at all", None, 400, "not a video vismic can read"),
        ("empty.mp4", b"", None, 400, "is empty"),
        ("notes.txt", b"hello", None, 400, "only video files"),
        (".hidden.mp4", b"hello", None, 400, "is not allowed"),
        ("clip.mp4", b"hello", {"Content-Type": "multipart/form-data"}, 415, "octet-stream"),
    ],
)
def test_bad_uploads_write_nothing(client, name, body, headers, status, needle):
    if body is None:
        def body():
            for _ in range(40):
                yield b"\0" * 100_000
        body = body()
    r = client.post("/api/upload", params={"name": name}, content=body,
                    headers=headers or {"Content-Type": "application/octet-stream"})
    _assert_json_error(r, status, needle)
    assert os.listdir(client.workdir / "uploads") == [], "a refused upload left a file behind"


def test_foreign_host_and_cross_site_posts_are_refused(client):
    _assert_json_error(client.get("/api/config", headers={"Host": "evil.example"}), 403, "not served here")
    r = client.post("/api/jobs", json={"video": "scene.mp4", "fps": RATE}, headers={"Origin": "http://evil.example"})
    _assert_json_error(r, 403, "cross-site")
    assert os.listdir(client.workdir / "jobs") == []
    assert client.get("/api/config", headers={"Host": "localhost:8000"}).status_code == 200


def test_app_refuses_bad_setup(folder, tmp_path):
    from vismic.errors import ParameterError

    with pytest.raises(ParameterError, match="is not a folder"):
        create_app(tmp_path / "missing")
    with pytest.raises(ParameterError, match="max-upload-mb"):
        create_app(folder, max_upload_mb=0)
    with pytest.raises(ParameterError, match="inside the served folder"):
        create_app(folder, workdir=folder / "work")
    assert not (folder / "work").exists()


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20") and not is_loopback("::")


# ---- the CLI -----------------------------------------------------------------------------------
def test_serve_without_the_extra_prints_the_install_hint(monkeypatch, capsys, folder):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    assert main(["serve", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("vismic: error:") and 'pip install "vismic[web]"' in err


def test_serve_bad_folder_and_busy_port(capsys, folder, tmp_path):
    assert main(["serve", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", str(folder), "--port", str(port), "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 127.0.0.1" in err and "--port" in err and "Traceback" not in err


def test_serve_warns_loudly_off_loopback(monkeypatch, capsys, folder, tmp_path):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(sockets))
    assert main(["serve", str(folder), "--host", "0.0.0.0", "--port", "0", "--workdir", str(tmp_path / "w")]) == 0
    out, err = capsys.readouterr()
    assert len(served) == 1 and "serving" in out
    assert "vismic: warning: WARNING: --host 0.0.0.0 is not a loopback address" in err and "no password" in err


def test_serve_command_serves_and_stops_cleanly(folder):
    proc = subprocess.Popen([sys.executable, "-m", "vismic", "serve", str(folder), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving" in line, line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0]
        workdir = proc.stdout.readline().split(" go to ")[1].split()[0]
        with urllib.request.urlopen(url + "api/config", timeout=10) as resp:
            cfg = json.load(resp)
        assert cfg["folder"] == os.path.realpath(folder) and os.path.isdir(workdir)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and not os.path.exists(workdir), "the temp work folder outlived the server"


def test_rolling_shutter_job_with_auto_region(tmp_path):
    """A 30/60 fps rolling-shutter clip through the web API: line delay, exposure, --roi auto, report."""
    from vismic.io.writers import write_video

    served = tmp_path / "served"
    served.mkdir()
    rows, cols, fps = 120, 64, 59.94
    d = 1 / fps / 172
    rate = 40_000.0
    sound = sim.builtin_sound("tone", rate=rate, duration=1.5, freq=300.0)
    shp = (rows + 16, cols + 16)
    sc = sim.RollingShutterScene(texture=sim.make_texture("pink", shp, seed=1), sound=sound, sound_rate=rate,
                                 fps=fps, line_delay=d, exposure=1 / 2000, shape=(rows, cols), rms_px=0.05,
                                 object_mask=sim.object_rows_mask((rows, cols), (0.2, 0.8)),
                                 background=sim.make_texture("pink", shp, seed=2))
    write_video(served / "rs.mkv", sc.frames(batch=32), rate=fps)
    with TestClient(create_app(served, workdir=tmp_path / "work"), base_url=BASE) as client:
        cams = client.get("/api/config").json()["cameras"]
        assert any(c["id"].startswith("pentax-k-01") for c in cams)
        r = client.post("/api/jobs", json={"video": "rs.mkv", "fps": fps, "rolling_shutter": True,
                                           "line_delay": repr(d), "exposure": "1/2000", "roi": "auto",
                                           "map": False, "report": True})
        assert r.status_code == 202, r.text
        job = _wait(client, r.json()["id"])
        assert job["state"] == "done", job
        s = job["summary"]
        assert s["rolling_shutter"] and s["rate"] == pytest.approx(1 / d) and s["line_delay_s"] == pytest.approx(d)
        assert 0.3 < s["filled_fraction"] < 0.75 and job["params"]["roi"] == "auto"
        assert set(job["outputs"]) >= {"wav", "listen", "json", "spectrogram", "report"}
        audio, wav_rate = sf.read(io.BytesIO(client.get(job["outputs"]["wav"]["url"]).content))
        spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        peak = np.fft.rfftfreq(len(audio), 1 / wav_rate)[np.argmax(spec)]
        assert abs(peak - 300.0) < 2.0, f"the 300 Hz tone (5x the frame rate) came back at {peak:.1f} Hz"


def test_mode_spectrum_mux_and_magnify_through_the_api(client, folder):
    """Every recover option of the CLI that the page offers: fast/exact path, motion spectrum with its
    peaks, the sound muxed into the video, a magnified side-by-side video; the job list shows it."""
    r = client.post("/api/jobs", json={"video": "scene.mp4", "fps": RATE, "mode": "fast", "spectrum": True,
                                       "mux": True, "magnify": {"band": [100, 400], "factor": 5},
                                       "map": False, "report": False})
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"], timeout=120)
    assert job["state"] == "done", job
    assert job["params"]["mode"] == "fast"
    assert {"spectrum", "mux", "magnified"} <= set(job["outputs"]), job["outputs"]
    assert isinstance(job["summary"]["peaks"], list)
    for key in ("spectrum", "mux", "magnified"):
        assert client.get(job["outputs"][key]["url"]).status_code == 200
    listed = client.get("/api/jobs").json()["jobs"]
    assert listed[0]["id"] == job["id"] and listed[0]["state"] == "done"
    exact = client.post("/api/jobs", json={"video": "sub/other.mp4", "fps": RATE, "mode": "exact", "map": False,
                                           "report": False})
    assert _wait(client, exact.json()["id"])["params"]["mode"] == "anchored"


@pytest.mark.parametrize("extra, needle", [
    ({"mode": "slow"}, "mode 'slow' must be one of"),
    ({"magnify": {"band": [100, 1200], "factor": 5}}, "half the capture rate"),
    ({"magnify": {"band": [100, 200], "factor": 0}}, "factor"),
    ({"magnify": [100, 200]}, "magnify must be"),
    ({"mode": "fast", "rolling_shutter": True, "line_delay": 1e-5}, "leave the mode on auto"),
])
def test_bad_new_options_are_refused(client, extra, needle):
    _assert_json_error(client.post("/api/jobs", json={"video": "scene.mp4", "fps": RATE, **extra}), 400, needle)
    assert client.get("/api/jobs").json()["jobs"] == []


def test_uploads_are_capped_in_number_and_total_size(folder, tmp_path):
    data = (folder / "scene.mp4").read_bytes()
    oct_ = {"Content-Type": "application/octet-stream"}
    app = create_app(folder, workdir=tmp_path / "w", max_upload_mb=2.0, max_uploads=2)
    with TestClient(app, base_url=BASE) as c:
        for i in range(2):
            assert c.post("/api/upload", params={"name": f"c{i}.mp4"}, content=data, headers=oct_).status_code == 201
        _assert_json_error(c.post("/api/upload", params={"name": "c2.mp4"}, content=data, headers=oct_), 507,
                           "--max-uploads")
        assert c.get("/api/config").json()["max_uploads"] == 2
    total = 2.5 * len(data) / 1e6
    app = create_app(folder, workdir=tmp_path / "w2", max_upload_mb=2.0, max_upload_total_mb=max(total, 2.0))
    with TestClient(app, base_url=BASE) as c:
        n_ok = 0
        for i in range(5):
            r = c.post("/api/upload", params={"name": f"d{i}.mp4"}, content=data, headers=oct_)
            if r.status_code != 201:
                _assert_json_error(r, 507, "--max-upload-total-mb")
                break
            n_ok += 1
        assert 1 <= n_ok < 5
        assert len(os.listdir(tmp_path / "w2" / "uploads")) == n_ok  # the refused one left nothing behind
    from vismic.errors import ParameterError

    with pytest.raises(ParameterError, match="max-uploads"):
        create_app(folder, workdir=tmp_path / "w3", max_uploads=0)
