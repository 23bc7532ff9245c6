"""Fast mode, chunked and parallel motion, checkpoints and resume, Dask: same answers, any schedule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import make_scene, pink_texture, shifted_frames

from vismic import simulate as sim
from vismic.denoise import highpass
from vismic.errors import InputError, ParameterError
from vismic.measure import build_estimator, motion_range
from vismic.metrics import correlation, snr
from vismic.motion import FastMotionEstimator, MotionEstimator
from vismic.pipeline import RecoveryParams, recover
from vismic.pyramid import ComplexSteerablePyramid

RATE = 2200.0


def _scene(*, shape=(64, 80), direction=30.0, **kw):
    return make_scene(rate=RATE, shape=shape, direction_deg=direction, **kw)


def _npy(scene, path):
    np.save(path, np.concatenate(list(scene.frames(batch=512))))
    return str(path)


@pytest.mark.parametrize("texture", ["pink", "white", "checker"])
@pytest.mark.parametrize("rms", [0.003, 0.03])
def test_fast_mode_agrees_with_the_exact_path_on_rigid_scenes(tmp_path, texture, rms):
    sc = _scene(rms=rms, texture=texture, shape=(96, 96), duration=0.5)
    path = _npy(sc, tmp_path / "s.npy")
    truth = highpass(sc.truth(), rate=RATE, cutoff=RATE / 40)
    # the first-order approximation's cost: against the exact path with the same phase reference (anchored)
    exact = recover(path, RecoveryParams(fps=RATE, processes=1, mode="anchored"))
    fast = recover(path, RecoveryParams(fps=RATE, mode="fast", processes=1))
    # The bar is 0.99; measured 0.999+ on these scenes (docs/performance.md).
    assert correlation(exact.audio, fast.audio) >= 0.99, (texture, rms)
    gap = snr(truth, exact.audio) - snr(truth, fast.audio)
    assert gap < 0.6, f"fast mode loses {gap:.2f} dB against the exact path ({texture}, {rms} px)"


def test_fast_estimator_measures_a_known_shift_in_radians():
    """A pure translation by d px moves a band's phase by k.d: angle(S_b) must say so for each band."""
    tex = pink_texture((64, 64), seed=3)
    d = 0.02
    frames = shifted_frames(tex, [0.0, d])
    est = FastMotionEstimator((64, 64), scales=3, orientations=4, high_band=False, grid=(1, 1))
    exact = MotionEstimator(ComplexSteerablePyramid((64, 64), scales=3, orientations=4), grid=(1, 1))
    v_fast = est.process(frames)[1]
    v_exact = exact.process(frames)[1]
    strong = np.abs(v_exact) > 0.2 * np.abs(v_exact).max()
    assert np.all(np.sign(v_fast[strong]) == np.sign(v_exact[strong]))
    np.testing.assert_allclose(v_fast[strong], v_exact[strong], rtol=0.1,
                               err_msg="fast band phases must match the exact ones to first order")


def test_fast_anchored_follows_drift_and_stays_white_on_a_still_scene():
    """The fast path's anchored phase (the default's first pass): 10 px of drift renews the anchor and
    the motion is still followed; on a still, noisy scene its integrated noise does not random-walk."""
    sc = _scene(duration=0.5, shape=(64, 64), drift_px=10.0, rms=0.02)
    frames = np.concatenate(list(sc.frames(batch=256))).astype(np.float32) / 255
    est = FastMotionEstimator((64, 64), scales=3, grid=(1, 1))
    assert est.mode == "anchored"
    d = np.cumsum(np.concatenate([est.process(frames[i : i + 16]) for i in range(0, len(frames), 16)]), axis=0)
    assert est.renewals >= 5
    truth = highpass(sc.truth(), rate=RATE, cutoff=RATE / 40)
    best = max(abs(correlation(truth, highpass(d[:, j].astype(float), rate=RATE, cutoff=RATE / 40)))
               for j in range(d.shape[1]) if np.all(np.isfinite(d[:, j])))
    assert best > 0.9, best
    still = _scene(duration=1.0, shape=(64, 64), rms=0.0)
    frames = np.concatenate(list(still.frames(batch=256))).astype(np.float32) / 255
    out = {}
    for mode in ("anchored", "increment"):
        e = FastMotionEstimator((64, 64), scales=3, grid=(1, 1), mode=mode)
        x = np.cumsum(np.concatenate([e.process(frames[i : i + 16]) for i in range(0, len(frames), 16)]), axis=0)
        out[mode] = np.var(x - x.mean(axis=0), axis=0).sum()
    assert out["anchored"] < out["increment"], out


def test_batches_do_not_change_the_exact_estimator():
    rng = np.random.default_rng(0)
    frames = rng.random((20, 48, 48)).astype(np.float32)
    pyr = ComplexSteerablePyramid((48, 48), scales=2, orientations=4, high_band=True)
    a = MotionEstimator(pyr, grid=(2, 2))
    b = MotionEstimator(pyr, grid=(2, 2))
    whole = a.process(frames)
    pieces = np.concatenate([b.process(frames[i : i + 3]) for i in range(0, 20, 3)])
    assert np.array_equal(whole, pieces), "the exact estimator must not depend on batching"


@pytest.mark.parametrize("mode", ["anchored", "increment", "reference", "fast"])
def test_motion_range_equals_one_pass(tmp_path, mode):
    # anchored: 3 px of drift renews the anchor inside the chunks too (chunks start on the anchor grid)
    sc = _scene(duration=0.3, drift_px=3.0 if mode == "anchored" else 0.0)
    path = _npy(sc, tmp_path / "s.npy")
    params = RecoveryParams(fps=RATE, mode=mode, grid=(1, 2))
    task = {"path": path, "params": params.to_dict(), "roi": [0, 0, 80, 64], "shape": [64, 80],
            "n_frames": sc.n_frames}
    whole = motion_range({**task, "start": 0, "stop": sc.n_frames})["signals"]
    step = 128 if mode in ("anchored", "fast") else 100
    parts = [motion_range({**task, "start": a, "stop": min(a + step, sc.n_frames)})["signals"]
             for a in range(0, sc.n_frames, step)]
    joined = np.concatenate(parts)
    assert joined.shape == whole.shape
    # exact modes: bit for bit; fast mode: float32 rounding of the batched matrix product
    tol = 0 if mode != "fast" else 1e-5 * np.abs(whole).max()
    assert np.max(np.abs(joined - whole)) <= tol, mode


@pytest.mark.parametrize("mode", ["anchored", "increment", "fast", "auto"])
def test_processes_give_the_serial_result(tmp_path, mode):
    sc = _scene(duration=1.0, drift_px=4.0)
    path = _npy(sc, tmp_path / "s.npy")
    # chunk=500 is rounded up to the anchor grid (512): chunks start where every run renews its anchor
    serial = recover(path, RecoveryParams(fps=RATE, mode=mode, processes=1, chunk=500))
    pooled = recover(path, RecoveryParams(fps=RATE, mode=mode, processes=2, chunk=500))
    assert pooled.timings["processes"] == 2
    assert pooled.timings["chunk_frames"] % 128 == 0
    assert pooled.params.mode == serial.params.mode  # auto: the same choice
    np.testing.assert_allclose(pooled.audio, serial.audio, atol=1e-6, err_msg="parallel != serial")


def test_parallel_run_raises_a_chunks_error(tmp_path, monkeypatch):
    """An error in a chunk computed in this process stops the run (the pool is shut down)."""
    import vismic.measure as pl

    sc = _scene(duration=1.0)
    path = _npy(sc, tmp_path / "s.npy")
    real = pl.motion_range

    def failing(task):
        if task["start"] > 0:
            raise InputError("chunk failed on purpose")
        return real(task)

    monkeypatch.setattr(pl, "motion_range", failing)
    with pytest.raises(InputError, match="on purpose"):
        recover(path, RecoveryParams(fps=RATE, processes=2, chunk=256))


def test_script_without_main_guard_falls_back_to_one_process(tmp_path):
    """Workers that cannot start (a script re-run by every new process) leave the work to this one."""
    sc = _scene(duration=1.0)
    path = _npy(sc, tmp_path / "s.npy")
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import numpy as np\n"
        "from vismic.pipeline import RecoveryParams, recover\n"
        f"rec = recover({path!r}, RecoveryParams(fps={RATE}, processes=2, chunk=128))\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, rec.audio)\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "continuing in one process" in proc.stderr
    serial = recover(path, RecoveryParams(fps=RATE, processes=1, chunk=128))
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), serial.audio, atol=1e-6)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("processes", [1, 2])
def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, processes):
    sc = _scene(duration=1.5)
    path = _npy(sc, tmp_path / "s.npy")
    params = RecoveryParams(fps=RATE, processes=processes, chunk=256)
    clean = recover(path, params)
    ck = tmp_path / "ck"

    def interrupt(done, total):
        if done >= 3 * 256:
            raise _Stop

    with pytest.raises(_Stop):
        recover(path, params, progress=interrupt, checkpoint=ck)
    saved = sorted(p for p in os.listdir(ck) if p.startswith("chunk-"))
    assert 1 <= len(saved) < 13, saved
    resumed = recover(path, params, checkpoint=ck)
    assert resumed.timings["chunks_resumed"] == len(saved)
    np.testing.assert_array_equal(resumed.audio, clean.audio)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    sc = _scene(duration=0.3)
    path = _npy(sc, tmp_path / "s.npy")
    ck = tmp_path / "ck"
    recover(path, RecoveryParams(fps=RATE, chunk=128, processes=1), checkpoint=ck)
    with pytest.raises(ParameterError, match="another run"):
        recover(path, RecoveryParams(fps=RATE, chunk=128, processes=1, orientations=2), checkpoint=ck)


def test_a_damaged_chunk_is_computed_again(tmp_path):
    sc = _scene(duration=0.5)
    path = _npy(sc, tmp_path / "s.npy")
    ck = tmp_path / "ck"
    params = RecoveryParams(fps=RATE, chunk=128, processes=1)
    first = recover(path, params, checkpoint=ck)
    victim = sorted(p for p in os.listdir(ck) if p.startswith("chunk-"))[2]
    (ck / victim).write_bytes(b"not a numpy file")
    again = recover(path, params, checkpoint=ck)
    chunks = [p for p in os.listdir(ck) if p.startswith("chunk-")]
    assert again.timings["chunks_resumed"] == len(chunks) - 1  # all but the victim
    np.testing.assert_array_equal(again.audio, first.audio)


def test_parameters_are_validated():
    for bad in ({"processes": 0}, {"chunk": 3}, {"mode": "quick"}):
        with pytest.raises(ParameterError):
            RecoveryParams(**bad)
    p = RecoveryParams(mode="fast", processes=2, chunk=1000)
    assert RecoveryParams.from_json(p.to_json()) == p


def test_fast_mode_refuses_tiles_too_small(tmp_path):
    with pytest.raises(ParameterError, match="tiles"):
        build_estimator(RecoveryParams(mode="fast", grid=(8, 8), scales=3), (64, 64))


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vismic", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_killed_cli_run_resumes_with_the_same_command(tmp_path):
    """A real SIGKILL part-way; the same command again finishes from the checkpoint with the same WAV."""
    sc = _scene(duration=6.0, shape=(96, 96))
    path = _npy(sc, tmp_path / "s.npy")
    cmd = ["recover", path, "--fps", "2200", "--chunk", "512", "--processes", "1", "--quiet", "-o"]
    ref = _cli(*cmd, "ref.wav", "--no-checkpoint", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    run = cmd + ["out.wav", "--checkpoint", "ck"]
    proc = subprocess.Popen([sys.executable, "-m", "vismic", *run], cwd=tmp_path, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if os.path.isdir(tmp_path / "ck") and sum(p.startswith("chunk-") for p in os.listdir(tmp_path / "ck")) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; lengthen the clip"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out.wav").exists()
    again = _cli(*run, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["timings"]["chunks_resumed"] >= 3
    a, _ = sf.read(tmp_path / "ref.wav")
    b, _ = sf.read(tmp_path / "out.wav")
    np.testing.assert_array_equal(a, b)


def test_cli_fast_mode_and_checkpoint_flags(tmp_path):
    sc = _scene(duration=0.5)
    path = _npy(sc, tmp_path / "s.npy")
    r = _cli("recover", path, "--fps", "2200", "--mode", "fast", "--chunk", "128", "--checkpoint", "ck",
             "--quiet", "--json", "-o", "a.wav", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    side = json.loads(r.stdout)
    assert side["params"]["mode"] == "fast"
    assert (tmp_path / "ck").is_dir(), "a folder named with --checkpoint is kept"
    r = _cli("recover", path, "--fps", "2200", "--checkpoint", "ck", "--no-checkpoint", "-o", "b.wav", cwd=tmp_path)
    assert r.returncode == 2 and "contradict" in r.stderr and "Traceback" not in r.stderr


def test_dask_local_cluster_gives_the_local_result(tmp_path):
    pytest.importorskip("distributed", reason="Dask is an optional extra: pip install 'vismic[dask]'")
    from vismic.distributed import dask_client

    sc = _scene(duration=1.0)
    path = _npy(sc, tmp_path / "s.npy")
    params = RecoveryParams(fps=RATE, chunk=512, processes=1)
    local = recover(path, params)
    with dask_client(n_workers=2) as client:
        remote = recover(path, params, executor=client)
    assert remote.timings["processes"] == "dask"
    # exact mode: every chunk is computed bit for bit as in the local pass (tolerance 0)
    np.testing.assert_array_equal(remote.audio, local.audio)


@pytest.mark.parametrize("bframes", [0, 3])
def test_video_ranges_equal_a_full_read(tmp_path, monkeypatch, bframes):
    """Workers read their own frame range: with keyframe seeking (no B-frames) or decode-and-skip (B-frames)."""
    import fractions

    av = pytest.importorskip("av")
    from vismic.io import open_source

    rng = np.random.default_rng(0)
    base = rng.random((64, 80)) * 255
    path = tmp_path / "gop.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fractions.Fraction(30))
        s.width, s.height, s.pix_fmt = 80, 64, "yuv420p"
        s.options = {"g": "25", "bf": str(bframes), "crf": "20"}
        for i in range(200):
            f = np.clip(np.roll(base, i // 3, axis=1) + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
            for pk in s.encode(av.VideoFrame.from_ndarray(f, format="gray")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    src = open_source(str(path))
    full = np.concatenate(list(src.iter_batches(batch=32)))
    assert len(full) == 200
    for start in (1, 24, 25, 26, 101, 199):
        part = np.concatenate(list(src.iter_batches(batch=7, start=start, stop=start + 30)))
        np.testing.assert_array_equal(part, full[start : start + 30], err_msg=f"frames from {start}")
    # one decoder thread (what every process of a parallel run uses): the same frames
    one = open_source(str(path))
    one.decode_threads = 1
    threads = []
    frames = type(one)._frames

    def spy(container, stream, ends):
        threads.append(stream.codec_context.thread_count)
        return frames(container, stream, ends)

    monkeypatch.setattr(type(one), "_frames", staticmethod(spy))
    part = np.concatenate(list(one.iter_batches(batch=7, start=26, stop=126)))
    assert threads == [1]
    np.testing.assert_array_equal(part, full[26:126])


def test_chunks_of_a_parallel_run_decode_with_one_thread(tmp_path):
    """Every process decodes its own range on its core: the tasks ask for one decoder thread."""
    from concurrent.futures import ThreadPoolExecutor

    tasks = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, task):
            tasks.append(task)
            return super().submit(fn, task)

    sc = _scene(duration=0.5)
    path = _npy(sc, tmp_path / "s.npy")
    with Recording(max_workers=2) as pool:
        recover(path, RecoveryParams(fps=RATE, chunk=256), executor=pool)
    assert len(tasks) >= 4 and all(t["decode_threads"] == 1 for t in tasks)


def test_a_serial_run_imports_the_post_processing_after_the_motion(tmp_path):
    """scipy.signal (~0.5 s of import, mostly holding the GIL) must not be imported beside the
    motion loop: a thread importing it made every FFT and ufunc call of the loop wait for the GIL."""
    sc = _scene(duration=0.5)
    path = _npy(sc, tmp_path / "s.npy")
    code = (
        "import sys\n"
        "from vismic.pipeline import RecoveryParams, recover\n"
        "seen = []\n"
        "recover(sys.argv[1], RecoveryParams(fps=2200, processes=1, batch=32),\n"
        "        progress=lambda done, n: seen.append('scipy.signal' in sys.modules))\n"
        "print(sum(seen), len(seen), 'scipy.signal' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    imported_during, batches, imported_after = r.stdout.split()
    assert int(batches) > 10 and imported_during == "0" and imported_after == "True", r.stdout


@pytest.mark.parametrize("fps", [600.0, 2200.0])
def test_matroska_runs_in_parallel_when_its_frames_can_be_sought(tmp_path, monkeypatch, fps):
    """Matroska states no frame count.  When its timestamps are distinct (vismic's writer keeps them
    so at any rate; other muxers' millisecond clock does up to 1,000 fps) a demux-only scan counts
    the frames and workers seek to their ranges: the same audio as one process.  Files whose
    timestamps repeat stay in one process."""
    import vismic.io.video as video
    from vismic.io import open_source
    from vismic.io.writers import write_video

    s = sim.builtin_sound("noise", rate=fps, duration=1500 / fps, seed=1)
    sc = sim.Scene(texture=sim.make_texture("pink", (96, 112), seed=1), sound=s, rate=fps, rms_px=0.02,
                   shape=(64, 80), noise_sigma=2.0, seed=1)
    path = tmp_path / "s.mkv"
    write_video(path, sc.frames(batch=256), rate=fps)
    with open_source(str(path)) as src:
        assert src.n_frames is None and src.indexed_frames() == sc.n_frames
    serial = recover(path, RecoveryParams(fps=fps, processes=1, chunk=256))
    pooled = recover(path, RecoveryParams(fps=fps, processes=2, chunk=256))
    assert pooled.timings["processes"] == 2 and len(pooled.audio) == sc.n_frames
    np.testing.assert_allclose(pooled.audio, serial.audio, atol=1e-6, err_msg="parallel != serial")
    monkeypatch.setattr(video, "_presentation_pts", lambda path: None)  # repeated timestamps
    alone = recover(path, RecoveryParams(fps=fps, processes=2, chunk=256))
    assert alone.timings["processes"] == 1
    np.testing.assert_array_equal(alone.audio, serial.audio)
