"""The command line: contract spellings, outputs, and one clear line with exit 2 on bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vismic import simulate as sim
from vismic.cli import main

RATE = 2200.0


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory):
    d = tmp_path_factory.mktemp("scene")
    s = sim.builtin_sound("melody", rate=RATE, duration=0.4, seed=2)
    sc = sim.Scene(texture=sim.make_texture("pink", (96, 96), seed=2), sound=s, rate=RATE,
                   rms_px=0.01, shape=(64, 64), noise_sigma=2.0)
    path = d / "scene.mkv"
    sim.render(sc, path, truth_path=d / "scene.truth.wav")
    return path


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_recover_writes_all_outputs_and_json(scene_video, tmp_path, capsys):
    opts = tmp_path / "opts.wav"
    code, stdout, err = _run(["recover", scene_video, "-o", opts, "--fps", RATE, "--roi", "4,4,56,56",
                              "--scales", 3, "--orientations", 2, "--denoise", "specsub",
                              "--highpass", 60, "--spectrogram", "--json", "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["rate"] == RATE and res["params"]["denoise"] == "specsub" and res["params"]["scales"] == 3
    assert res["diagnostics"]["highpass_hz"] == 60 and res["diagnostics"]["highpass_reason"] == "given"
    for key in ("wav", "listen", "json", "spectrogram"):
        assert os.path.exists(res["outputs"][key]), key
    out = tmp_path / "rec.wav"
    code, stdout, err = _run(["recover", scene_video, "-o", out, "--fps", RATE], capsys)
    assert code == 0, err
    assert "estimated SNR" in stdout and str(out) in stdout
    side = json.loads((tmp_path / "rec.json").read_text())["diagnostics"]
    assert side["highpass_hz"] == 40.0 and "default" in side["highpass_reason"], "the sidecar says why"
    # score the recovery against the truth through the CLI too
    code, stdout, err = _run(["score", scene_video.parent / "scene.truth.wav", out, "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["correlation"] > 0.9
    # the 44.1 kHz listen copy against the 2,200 Hz truth: resampled, said, and scored like the WAV (the
    # high-pass used to follow the copy's rate, 1,102 Hz, and left nothing: correlation 0.19)
    code, stdout, err = _run(["score", scene_video.parent / "scene.truth.wav", tmp_path / "rec.listen.wav",
                              "--json"], capsys)
    res = json.loads(stdout)
    assert code == 0 and res["correlation"] > 0.9 and "resampled" in res["note"], (err, res)
    # an existing output is not overwritten without --force
    code, _, err = _run(["recover", scene_video, "-o", out, "--fps", RATE, "--quiet"], capsys)
    assert code == 2 and "--force" in err


@pytest.mark.parametrize(
    "make, args, needle",
    [
        (lambda d: d / "missing.mp4", ["--fps", "2200"], "no such file"),
        (lambda d: _text(d / "notvideo.mp4"), ["--fps", "2200"], "not a video"),
        (lambda d: _npy(d / "one.npy", 1), ["--fps", "2200"], "one frame"),
        (lambda d: _npy(d / "zero.npy", 0), ["--fps", "2200"], "no frames"),
        (lambda d: _npy(d / "ok.npy", 12), [], "frame rate"),
        (lambda d: _npy(d / "ok.npy", 12), ["--fps", "-3"], "fps"),
        (lambda d: _npy(d / "ok.npy", 12), ["--fps", "0"], "fps"),
        (lambda d: _npy(d / "ok.npy", 12), ["--fps", "100", "--roi", "30,30,40,40"], "outside"),
        (lambda d: _npy(d / "ok.npy", 12), ["--fps", "100", "--roi", "1,2,3"], "X,Y,W,H"),
        (lambda d: _npy(d / "flat.npy", 12, flat=True), ["--fps", "100"], "flat"),
        (lambda d: _npy(d / "nan.npy", 12, nan=True), ["--fps", "100"], "NaN"),
        (lambda d: _npy(d / "ok.npy", 12), ["--fps", "100", "--scales", "9"], "scales"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_wav(tmp_path, capsys, make, args, needle):
    inp = make(tmp_path)
    out = tmp_path / "out.wav"
    code, stdout, err = _run(["recover", inp, "-o", out, "--quiet", *args], capsys)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("vismic: error")]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".wav")]


def _text(path):
    path.write_text("this is not a video\n")
    return path


def _npy(path, n, flat=False, nan=False):
    tex = sim.make_texture("pink", (40, 40), seed=1)
    frames = np.repeat(tex[None], n, axis=0).astype(np.float32)
    if flat:
        frames[:] = 0.5
    if nan:
        frames[3, 5, 5] = np.nan
    np.save(path, frames)
    return path


def test_simulate_command(tmp_path, capsys):
    out = tmp_path / "sim.mkv"
    code, stdout, err = _run(["simulate", out, "--sound", "tone", "--freq", "300", "--fps", "1000",
                              "--duration", "0.1", "--size", "48x32", "--json"], capsys)
    assert code == 0, err
    meta = json.loads(stdout)
    assert meta["n_frames"] == 100 and os.path.exists(tmp_path / "sim.truth.wav")
    code, _, err = _run(["simulate", out, "--fps", "1000", "--duration", "0.1"], capsys)
    assert code == 2 and "exists" in err
    code, _, err = _run(["simulate", tmp_path / "x.mkv", "--fps", "-1"], capsys)
    assert code == 2 and "fps" in err


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["recover"])
    assert exc.value.code == 2


def test_python_dash_m_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vismic", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "vismic" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["--spectrogram", "{v}", "--force"], "is the input"),
    (["-o", "{d}/s.wav", "--spectrogram", "{d}/s.wav"], "are the same file"),
    (["--report", "{d}/o.json"], "are the same file"),
    (["--mux", "{v}", "--force"], "is the input"),
    (["--rolling-shutter", "--line-delay", "1e-6", "--spectrogram", "{v}", "--force"], "is the input"),
])
def test_outputs_never_overwrite_the_input_or_each_other(scene_video, tmp_path, capsys, args, needle):
    # issue 15 item 5: --spectrogram input.mp4 --force used to turn the input video into a PNG
    import shutil

    video = tmp_path / "v.mkv"
    shutil.copy(scene_video, video)
    before = video.read_bytes()
    argv = ["recover", video, "--fps", RATE, "-o", tmp_path / "o.wav"]
    argv += [a.format(v=video, d=tmp_path) for a in args]
    code, _, err = _run(argv, capsys)
    assert code == 2 and needle in err, err
    assert video.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["v.mkv"]


def test_recovering_a_simulation_beside_it_keeps_its_facts(tmp_path, capsys, monkeypatch):
    # `vismic recover scene.mkv -o scene.wav` after `vismic simulate scene.mkv` used to overwrite scene.json
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["simulate", "scene.mkv", "--fps", "2200", "--duration", "0.2", "--quiet"], capsys)
    assert code == 0, err
    facts = (tmp_path / "scene.truth.json").read_text()
    code, _, err = _run(["recover", "scene.mkv", "--fps", "2200", "-o", "scene.wav", "--quiet"], capsys)
    assert code == 0, err
    assert (tmp_path / "scene.truth.json").read_text() == facts
    assert json.loads((tmp_path / "scene.json").read_text())["params"]["fps"] == 2200


def test_long_mkv_runs_are_checkpointed_though_matroska_states_no_frame_count(tmp_path):
    # issue 15 item 10: Matroska stores no frame count, so long runs had no checkpoint at all
    import argparse

    from vismic.cli import _checkpoint_folder
    from vismic.io import open_source
    from vismic.io.writers import write_video
    from vismic.pipeline import RecoveryParams

    sc = sim.Scene(texture=sim.make_texture("pink", (64, 64), seed=1), rate=2200.0, rms_px=0.01, shape=(32, 32),
                   sound=sim.builtin_sound("noise", rate=2200.0, duration=0.2, seed=1))
    write_video(tmp_path / "c.mkv", sc.frames(batch=64), rate=2200.0)
    args = argparse.Namespace(no_checkpoint=False, checkpoint=None)
    with open_source(str(tmp_path / "c.mkv")) as src:
        assert src.n_frames is None and src.frames_estimate == sc.n_frames == 440
        assert _checkpoint_folder(args, str(tmp_path / "o.wav"), src, RecoveryParams(chunk=16)).endswith(
            "o.checkpoint")
        assert _checkpoint_folder(args, str(tmp_path / "o.wav"), src, RecoveryParams(chunk=64)) is None


def test_progress_on_a_log_is_a_line_every_few_seconds(monkeypatch, capsys):
    # issue 15: progress that suits a log when stderr is not a terminal (no carriage-return spam)
    from vismic.cli import _common

    now = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    update, close = _common._progress_bar(False, "recover")
    for k, done in enumerate((100, 200, 300, 400, 500)):
        now[0] = 3.0 * (k + 1)  # a batch every 3 s: a line at 6 s and 12 s, not at every batch
        update(done, 1000)
    close()
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("vismic: recover: ") for line in lines), lines
    assert "\r" not in "".join(lines) and len(lines) <= 3
    assert "/1000 frames" in lines[0] and "s left" in lines[0]


def test_flac_output(scene_video, tmp_path, capsys):
    # issue 15: outputs in FLAC as well as WAV (24-bit, the listenable copy in FLAC too)
    import soundfile as sf

    out = tmp_path / "r.flac"
    code, _, err = _run(["recover", scene_video, "--fps", RATE, "-o", out, "--quiet"], capsys)
    assert code == 0, err
    info = sf.info(str(out))
    assert info.format == "FLAC" and info.subtype == "PCM_24" and info.samplerate == RATE
    assert sf.info(str(tmp_path / "r.listen.flac")).samplerate == 44100 and (tmp_path / "r.json").exists()
    code, stdout, err = _run(["score", scene_video.parent / "scene.truth.wav", out, "--json"], capsys)
    assert code == 0 and json.loads(stdout)["correlation"] > 0.9, err
    code, _, err = _run(["recover", scene_video, "--fps", RATE, "-o", tmp_path / "f.flac", "--float"], capsys)
    assert code == 2 and "--float needs a .wav" in err


def test_start_and_duration_select_seconds_of_the_clip(scene_video, tmp_path, capsys):
    # issue 15: --start/--duration, as ffmpeg users expect; the same samples with 1 or 2 processes
    import soundfile as sf

    from vismic.denoise import highpass
    from vismic.metrics import correlation

    outs = {}
    for procs in ("1", "2"):
        out = tmp_path / f"r{procs}.wav"
        code, _, err = _run(["recover", scene_video, "--fps", RATE, "-o", out, "--start", "0.1", "--duration", "0.15",
                             "--processes", procs, "--chunk", "64", "--quiet"], capsys)
        assert code == 0, err
        outs[procs], rate = sf.read(str(out))
    assert len(outs["1"]) == 330 and rate == RATE
    assert np.array_equal(outs["1"], outs["2"]), "the range is the same whoever reads it"
    truth, _ = sf.read(str(scene_video.parent / "scene.truth.wav"))
    seg = highpass(truth[220:550], rate=RATE, cutoff=40.0)
    assert correlation(seg, outs["1"], max_lag=0) > 0.9, "the samples are those of 0.1-0.25 s"
    side = json.loads((tmp_path / "r1.json").read_text())
    assert side["input"]["frame_range"] == [220, 550]
    code, _, err = _run(["recover", scene_video, "--fps", RATE, "-o", tmp_path / "x.wav", "--start", "-1"], capsys)
    assert code == 2 and "--start" in err
    # map and spectrum take the same range
    code, stdout, err = _run(["map", scene_video, "--fps", RATE, "--start", "0.1", "--duration", "0.15", "--json"],
                             capsys)
    assert code == 0 and json.loads(stdout)["map"]["frames_used"] == 330, err
    code, stdout, err = _run(["spectrum", scene_video, "--fps", RATE, "--start", "0.1", "--json"], capsys)
    n = sf.info(str(scene_video.parent / "scene.truth.wav")).frames
    assert code == 0 and json.loads(stdout)["spectrum"]["frames_used"] == n - 220, err
    code, _, err = _run(["map", scene_video, "--fps", RATE, "--start", "100", "--json"], capsys)
    assert code == 2 and "beyond the end" in err and "Traceback" not in err


def test_loudness_normalisation_and_level(scene_video, tmp_path, capsys):
    """--normalize rms --level -26: the audio's RMS at -26 dBFS (peak kept under full scale), said
    in the sidecar; the default keeps the peak at 0.98; a level above 0 dBFS is refused."""
    import soundfile as sf

    out = tmp_path / "r.wav"
    code, _, err = _run(["recover", scene_video, "--fps", RATE, "-o", out, "--normalize", "rms", "--level", "-26",
                         "--quiet"], capsys)
    assert code == 0, err
    x, _ = sf.read(str(out))
    assert abs(20 * np.log10(np.sqrt(np.mean(x**2))) + 26.0) < 0.05
    level = json.loads((tmp_path / "r.json").read_text())["diagnostics"]["output_level"]
    assert level["mode"] == "rms" and level["level_db"] == -26.0 and not level["limited_by_peak"]
    listen, _ = sf.read(str(tmp_path / "r.listen.wav"))
    assert abs(20 * np.log10(np.sqrt(np.mean(listen**2))) + 26.0) < 0.3  # the listen copy at the same loudness
    code, _, err = _run(["recover", scene_video, "--fps", RATE, "-o", tmp_path / "d.wav", "--quiet"], capsys)
    x, _ = sf.read(str(tmp_path / "d.wav"))
    assert code == 0 and abs(np.abs(x).max() - 0.98) < 1e-4
    code, _, err = _run(["recover", scene_video, "--fps", RATE, "-o", tmp_path / "e.wav", "--level", "3"], capsys)
    assert code == 2 and "level_db" in err and not (tmp_path / "e.wav").exists()


def test_score_default_highpass_is_physical_at_20_khz(tmp_path, capsys):
    """rate/40 is 500 Hz at 20 kHz: it would score a 150 Hz voice fundamental away."""
    import soundfile as sf

    rate = 20000
    t = np.arange(rate) / rate
    rng = np.random.default_rng(0)
    voice = np.sin(2 * np.pi * 150 * t)
    sf.write(tmp_path / "truth.wav", voice, rate, subtype="FLOAT")
    sf.write(tmp_path / "est.wav", voice + 0.1 * rng.standard_normal(rate), rate, subtype="FLOAT")
    assert main(["score", str(tmp_path / "truth.wav"), str(tmp_path / "est.wav"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["snr_db"] > 15, res  # 150 Hz kept: 17 dB (a 500 Hz high-pass leaves only the noise)


def test_simulate_with_a_sound_file_keeps_the_duration_asked_for(tmp_path, capsys):
    # `--duration` used to be ignored when --sound named a file: the whole file was rendered
    import soundfile as sf

    wav = tmp_path / "voice.wav"
    sf.write(wav, np.sin(np.arange(8000) * 0.3), 8000)  # 1 s
    code, _, err = _run(["simulate", str(tmp_path / "a.npy"), "--sound", str(wav), "--fps", "1000",
                         "--duration", "0.25", "--size", "32x32", "--quiet"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "a.npy").shape[0] == 250
    code, _, err = _run(["simulate", str(tmp_path / "b.npy"), "--sound", str(wav), "--fps", "1000",
                         "--size", "32x32", "--quiet"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "b.npy").shape[0] == 1000
