"""End to end: ``vismic serve`` driven in headless Chromium through Playwright.

Starts the real server (``python -m vismic serve``) on a free port of 127.0.0.1 over a temp folder
holding a small simulated video, then picks the video, drags an ROI with the mouse, sets the rate,
runs, waits for the progress bar to finish, checks the spectrogram loaded and the WAV download
works, and tries bad input (rate 0, a zero-area ROI, a path outside the folder, oversized and
unreadable uploads): each gives a message in the page and writes nothing.

Uses the system Chromium (Debian's ``chromium``; ``playwright install`` downloads are not needed);
``VISMIC_CHROMIUM`` names another binary. Skips with the reason when Playwright or the browser is
missing, unless ``VISMIC_REQUIRE_BROWSER=1`` (CI sets it once it installed the browser), which turns
those skips into failures. ``VISMIC_SCREENSHOT=PATH`` also saves a screenshot of the page there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from vismic import simulate as sim

RATE = 2200.0
REQUIRED = os.environ.get("VISMIC_REQUIRE_BROWSER") == "1"


def _skip(reason: str):
    if REQUIRED:
        pytest.fail(f"VISMIC_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _chromium() -> str | None:
    env = os.environ.get("VISMIC_CHROMIUM")
    if env:
        return env if os.path.isfile(env) else None
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    for module in ("starlette", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            _skip(f"the web extra is not installed (no {module}): pip install \"vismic[web]\"")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _skip("Playwright's Python package is not installed: pip install \"vismic[test]\"")
    exe = _chromium()
    if exe is None:
        _skip("no Chromium found: install Debian's chromium (apt-get install chromium) or set VISMIC_CHROMIUM")
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=exe, headless=True,
                                   args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        except Error as exc:
            _skip(f"Chromium at {exe} does not start under Playwright: {str(exc).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    sound = sim.builtin_sound("melody", rate=RATE, duration=0.3, seed=3)
    scene = sim.Scene(texture=sim.make_texture("pink", (96, 96), seed=3), sound=sound, rate=RATE,
                      rms_px=0.01, shape=(64, 64), noise_sigma=2.0)
    sim.render(scene, folder / "scene.mp4", truth_path=tmp_path / "scene.truth.wav")
    (tmp_path / "secret.mp4").write_bytes((folder / "scene.mp4").read_bytes())
    work = tmp_path / "work"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vismic", "serve", str(folder), "--port", "0", "--workdir", str(work),
         "--max-upload-mb", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        if "serving" not in line:
            proc.kill()
            pytest.fail(f"vismic serve did not start: {line}{proc.stderr.read()}")
        yield {"url": line.split(" at ")[1].split()[0], "folder": folder, "work": work, "tmp": tmp_path}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert "Traceback" not in err, err


def _message(page, needle: str) -> str:
    page.wait_for_function(
        "needle => { const m = document.getElementById('message');"
        " return !m.hidden && m.textContent.toLowerCase().includes(needle); }",
        arg=needle.lower(),
    )
    return page.inner_text("#message")


def test_browser_end_to_end(browser, server):
    t0 = time.monotonic()
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval(), which the page's
    # Content-Security-Policy forbids (the policy itself is checked in test_web.py)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page.set_default_timeout(20_000)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    jobs_dir = server["work"] / "jobs"

    page.goto(server["url"])
    page.click("#videos li[data-id='scene.mp4']")
    page.wait_for_function("document.getElementById('video-info').textContent.includes('64×64')")
    page.wait_for_selector("#frame[data-video='scene.mp4']")  # the first frame is drawn

    # bad input: each gives a clear message in the page and writes nothing
    page.fill("#fps", "0")
    page.click("#run")
    assert "capture rate 0 Hz is invalid" in _message(page, "capture rate 0 Hz")
    box = page.locator("#frame").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a click: zero-area ROI
    assert page.input_value("#roi-w") == "0"
    page.fill("#fps", "2200")
    page.click("#run")
    _message(page, "zero area")
    page.fill("#video-path", "../secret.mp4")
    page.click("#open")
    _message(page, "only files under the served folder")
    page.set_input_files("#upload-file", files=[{"name": "big.mp4", "mimeType": "video/mp4",
                                                 "buffer": b"\0" * 1_100_000}])
    page.click("#upload")
    _message(page, "uploads are limited to 1.0 MB")  # the page's own check, before sending
    page.evaluate("S.config.max_upload_bytes = 1e12")  # without it, the server's 413 reaches the page
    page.click("#upload")
    _message(page, "uploads are limited to 1 MB (restart with --max-upload-mb")
    page.set_input_files("#upload-file", files=[{"name": "junk.mp4", "mimeType": "video/mp4",
                                                 "buffer": b"not a video"}])
    page.click("#upload")
    _message(page, "not a video vismic can read")
    assert not jobs_dir.exists() or os.listdir(jobs_dir) == [], "bad input wrote a job folder"
    assert os.listdir(server["work"] / "uploads") == [], "a refused upload left a file"
    assert os.listdir(server["folder"]) == ["scene.mp4"]

    # rolling shutter: the options appear with the checkbox, the camera list is filled, a bad line delay is
    # refused with its reason, and unticking hides them again
    assert page.locator("#rs-options").is_hidden()
    page.check("#rolling")
    assert page.locator("#rs-options").is_visible()
    assert page.locator("#camera option").count() > 100
    page.select_option("#camera", value=page.eval_on_selector(
        "#camera", "s => [...s.options].find(o => o.value.startsWith('pentax-k-01')).value"))
    page.click("#roi-clear")  # the zero-area ROI above would be refused first
    page.fill("#fps", "2200")
    page.fill("#line-delay", "1e-3")
    page.click("#run")
    _message(page, "does not fit the frame period")
    page.fill("#line-delay", "")
    page.uncheck("#rolling")
    assert page.locator("#rs-options").is_hidden()
    assert not jobs_dir.exists() or os.listdir(jobs_dir) == [], "a refused rolling-shutter job wrote a folder"

    # drag an ROI with the mouse over most of the frame (the messages above moved it: measure again)
    box = page.locator("#frame").bounding_box()
    page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + 0.1 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.9 * box["height"], steps=8)
    page.mouse.up()
    roi = [int(page.input_value(f"#roi-{k}")) for k in "xywh"]
    assert all(abs(v - want) <= 1 for v, want in zip(roi, (6.4, 6.4, 51.2, 51.2), strict=True)), roi

    # run with the rate set, and wait for the progress bar to fill
    page.fill("#fps", "2200")
    page.click("#run")
    page.wait_for_function("['done', 'failed', 'cancelled'].includes(document.getElementById('progress-text')"
                           ".textContent)", timeout=30_000)
    assert page.inner_text("#progress-text") == "done" and page.locator("#message").is_hidden(), \
        page.inner_text("#message")
    assert page.eval_on_selector("#progress", "p => p.value") == 1
    assert page.locator("#results").is_visible()
    assert f"ROI {','.join(map(str, roi))}" in page.inner_text("#summary")
    page.wait_for_function("() => { const i = document.getElementById('spectrogram');"
                           " return i.complete && i.naturalWidth > 0; }")
    if page.evaluate("S.config.optional.map"):  # the vibration map, where that analysis is installed
        page.wait_for_function("() => { const i = document.getElementById('map');"
                               " return i.complete && i.naturalWidth > 0; }")
    if page.evaluate("S.config.optional.report"):
        assert page.get_attribute("#dl-report", "href").endswith(".report.html")
    # the WAV link: fetch it from the page (waiting for <audio> metadata hangs headless Chromium)
    href = page.get_attribute("#dl-wav", "href")
    got = page.evaluate("""async (href) => {
        const r = await fetch(href);
        const b = new DataView(await r.arrayBuffer());
        return {status: r.status, size: b.byteLength, riff: b.getUint32(0, false), rate: b.getUint32(24, true),
                disposition: r.headers.get('content-disposition')};
    }""", href)
    assert got["status"] == 200 and got["riff"] == 0x52494646 and got["rate"] == 2200, got  # "RIFF", 2200 Hz
    assert got["size"] == 44 + 2 * 660 and "attachment" in got["disposition"], got
    assert page.get_attribute("#player", "src").endswith(".listen.wav")

    # the rest of the CLI's options: fast path, motion spectrum and peaks, the sound in the video, magnify
    page.select_option("#mode", "fast")
    page.select_option("#denoise", "specsub")
    page.select_option("#notch", "auto")
    page.check("#roi-auto")
    page.check("#want-spectrum")
    page.check("#want-mux")
    assert page.locator("#mag-options").is_hidden()
    page.check("#want-magnify")
    page.fill("#mag-lo", "2000")  # above half the rate: refused with its reason
    page.fill("#mag-hi", "3000")
    page.click("#run")
    _message(page, "half the capture rate")
    page.fill("#mag-lo", "100")
    page.fill("#mag-hi", "400")
    page.fill("#mag-factor", "5")
    first = page.evaluate("S.job.id")
    page.click("#run")
    page.wait_for_function("prev => S.job && S.job.id !== prev && S.job.state === 'done'", arg=first, timeout=40_000)
    page.wait_for_function("() => !document.getElementById('results').hidden")
    for key in ("spectrum", "mux", "magnified"):
        assert page.locator(f"#dl-{key}").count() == 1, key
    page.wait_for_function("() => { const i = document.getElementById('spectrum');"
                           " return i.complete && i.naturalWidth > 0; }")
    assert page.get_attribute("#magnified", "src").endswith(".magnified.mp4")
    assert "motion peak" in page.inner_text("#summary")
    jobs = [f for f in os.listdir(jobs_dir)]
    params = [json.loads((jobs_dir / j / f).read_text()) for j in jobs for f in os.listdir(jobs_dir / j)
              if f.endswith(".json")]
    given = [p for p in params if p["diagnostics"]["mode"].get("reason") == "given"]
    assert len(params) == 2 and [p["diagnostics"]["mode"]["chosen"] for p in given] == ["fast"], params
    assert given[0]["params"]["denoise"] == "specsub" and given[0]["params"]["notch"] == "auto"
    assert "roi_auto" in given[0]["diagnostics"]

    shot = os.environ.get("VISMIC_SCREENSHOT")  # the page with every output of a job (docs/web.md)
    page.screenshot(path=shot or str(server["tmp"] / "web-ui.png"), full_page=True)

    # a reload keeps the job list (the server holds it): show an earlier job, cancel a running one
    page.reload()
    page.wait_for_selector("#jobs li.job.done .show-job")
    assert page.locator("#jobs li.job.done").count() == 2
    page.locator("#jobs li.job.done .show-job").first.click()
    assert page.locator("#results").is_visible() and page.locator("#dl-magnified").count() == 1
    page.click("#videos li[data-id='scene.mp4']")
    page.wait_for_selector("#frame[data-video='scene.mp4']")
    hint = page.inner_text("#fps-hint")
    assert page.input_value("#fps") == "2200" and ("container" in hint or "camera file" in hint), hint
    page.check("#want-magnify")
    page.fill("#mag-lo", "100")
    page.fill("#mag-hi", "400")
    page.check("#want-spectrum")
    page.click("#run")
    page.wait_for_selector("#jobs li.job .cancel-job")
    page.locator("#jobs li.job .cancel-job").first.click()
    page.wait_for_selector("#jobs li.job.cancelled", timeout=30_000)
    page.wait_for_function("() => !S.job || !['queued', 'running'].includes(S.job.state)")

    # a rolling-shutter recovery with a line delay and an exposure
    page.uncheck("#want-magnify")
    page.uncheck("#want-spectrum")
    page.check("#rolling")
    page.fill("#line-delay", "5e-6")
    page.fill("#exposure", "1/5000")
    before = page.evaluate("S.job && S.job.id")
    page.click("#run")
    page.wait_for_function("prev => S.job && S.job.id !== prev && S.job.state === 'done'", arg=before,
                           timeout=40_000)
    page.wait_for_function("() => !document.getElementById('results').hidden")
    assert "rolling shutter: line delay 5" in page.inner_text("#summary")

    assert js_errors == [], js_errors
    assert all(u.startswith(server["url"]) or u.startswith("data:") for u in requested), \
        [u for u in requested if not u.startswith(server["url"])]
    page.close()
    assert time.monotonic() - t0 < 120, "the browser test should take well under two minutes"
