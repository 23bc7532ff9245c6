"""Muxing recovered audio into the footage: streams, frames, durations, pitch, alignment, errors."""

import json

import av
import numpy as np
import pytest
import soundfile as sf

from vismic import simulate as sim
from vismic.cli import main
from vismic.errors import InputError, OutputExistsError, ParameterError, VideoReadError
from vismic.io.mux import mux, time_stretch

FPS = 2200.0  # capture rate; vismic's MKV writer stores a nominal 1000 fps: a 2.2x slow-motion clip
N = 1100  # frames (0.5 s)
TONE = 300.0


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    sound = sim.builtin_sound("tone", rate=FPS, duration=N / FPS, freq=TONE)
    scene = sim.Scene(texture=sim.make_texture("pink", (64, 80), seed=0), sound=sound, rate=FPS, shape=(32, 48))
    out = {}
    for suffix in (".mkv", ".mp4"):  # FFV1 at a nominal 1000 fps; lossless H.264 at 2200 fps (real time)
        sim.render(scene, d / f"clip{suffix}", force=True)
        out[suffix] = str(d / f"clip{suffix}")
    out["dir"] = d
    return out


def _tone(n=N, f=TONE, rate=FPS):
    return np.sin(2 * np.pi * f * np.arange(n) / rate)


def _luma(path):
    with av.open(path) as c:
        out = []
        for fr in c.decode(video=0):
            plane = fr.planes[0]
            out.append(np.frombuffer(plane, np.uint8).reshape(fr.height, plane.line_size)[:, : fr.width].copy())
    return np.array(out)


def _audio(path):
    with av.open(path) as c:
        assert [s.type for s in c.streams] == ["video", "audio"], [s.type for s in c.streams]
        a = c.streams.audio[0]
        rate = a.codec_context.sample_rate
        chunks, start = [], None
        for fr in c.decode(a):
            if start is None:
                start = float(fr.pts * fr.time_base)
            x = fr.to_ndarray().reshape(-1).astype(np.float64)
            chunks.append(x / 32768.0 if fr.format.name.startswith("s16") else x)
    return np.concatenate(chunks), rate, start


def _peak_hz(y, rate):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), 8 * len(y)))
    return np.argmax(spec) * rate / (8 * len(y))


@pytest.mark.parametrize(
    "timing, pitch, duration, freq",
    [
        ("realtime", "keep", N / FPS, TONE),  # true duration and pitch under a 2.2x slowed picture
        ("stretch", "shift", N / 1000.0, TONE * 1000.0 / FPS),  # stretched by resampling: 2.2x lower
        ("stretch", "keep", N / 1000.0, TONE),  # stretched by the phase vocoder: pitch kept
    ],
)
def test_mkv_remux_durations_and_pitch(clips, tmp_path, timing, pitch, duration, freq):
    out = str(tmp_path / "out.mkv")
    res = mux(clips[".mkv"], _tone(), out, audio_rate=FPS, capture_fps=FPS, timing=timing, pitch=pitch)
    assert res["video"]["mode"] == "copy" and res["video"]["bit_exact"]
    assert res["slow_motion_factor"] == pytest.approx(2.2)
    assert np.array_equal(_luma(out), _luma(clips[".mkv"])), "copied frames differ from the input"
    y, rate, start = _audio(out)
    assert rate == 48000 and start == pytest.approx(0.0, abs=1e-3)
    # FLAC is lossless: the length is exact to a sample of the 48 kHz track
    assert len(y) / rate == pytest.approx(duration, abs=2 / rate)
    assert _peak_hz(y, rate) == pytest.approx(freq, rel=0.005)
    assert res["audio"]["duration_s"] == pytest.approx(duration, abs=2 / rate)


def test_mp4_copy_keeps_frames_and_aac_track(clips, tmp_path):
    out = str(tmp_path / "out.mp4")
    res = mux(clips[".mp4"], _tone(), out, audio_rate=FPS, capture_fps=FPS, timing="stretch")
    assert res["video"]["mode"] == "copy" and res["video"]["codec"] == "h264"
    assert res["slow_motion_factor"] == pytest.approx(1.0) and res["pitch"] is None  # real-time container
    assert np.array_equal(_luma(out), _luma(clips[".mp4"]))
    y, rate, start = _audio(out)
    # AAC adds up to one 1024-sample frame of padding at the end
    assert N / FPS <= len(y) / rate <= N / FPS + 1024 / rate + 1e-9
    assert _peak_hz(y[1000:20000], rate) == pytest.approx(TONE, rel=0.01)


def test_reencode_when_the_container_cannot_play_the_codec(clips, tmp_path):
    frames = _luma(clips[".mkv"])
    res = mux(clips[".mkv"], _tone(), str(tmp_path / "a.mp4"), audio_rate=FPS, capture_fps=FPS)
    assert res["video"]["mode"] == "h264" and not res["video"]["bit_exact"]
    assert any("not bit-exact" in n for n in res["notes"])
    got = _luma(str(tmp_path / "a.mp4"))
    assert got.shape == frames.shape
    assert abs(float(got.mean()) - float(frames.mean())) < 3  # lossy but the same picture
    res = mux(clips[".mkv"], _tone(), str(tmp_path / "b.mp4"), audio_rate=FPS, capture_fps=FPS,
              video_mode="lossless")
    assert res["video"]["mode"] == "lossless" and res["video"]["bit_exact"]
    assert np.array_equal(_luma(str(tmp_path / "b.mp4")), frames)


def test_stretched_audio_sits_under_its_frames(clips, tmp_path):
    """A click at sample k (frame k) plays when frame k is shown: k / 1000 s into the slowed clip."""
    clicks = np.zeros(N)
    for k in (200, 700):
        clicks[k] = 1.0
    out = str(tmp_path / "clicks.mkv")
    mux(clips[".mkv"], clicks, out, audio_rate=FPS, capture_fps=FPS, timing="stretch", pitch="shift")
    y, rate, _ = _audio(out)
    for k in (200, 700):
        t = k / 1000.0
        i0, i1 = int((t - 0.05) * rate), int((t + 0.05) * rate)
        got = (i0 + np.argmax(np.abs(y[i0:i1]))) / rate
        assert got == pytest.approx(t, abs=2e-3), (k, got)


def test_capture_rate_and_exact_audio_rate_from_the_vismic_sidecar(clips, tmp_path):
    wav = tmp_path / "rec.wav"
    sf.write(wav, 0.5 * _tone(), 2200, subtype="PCM_16")
    (tmp_path / "rec.json").write_text(json.dumps({"rate": 2200.0, "params": {"fps": 2200.0}}))
    res = mux(clips[".mkv"], str(wav), str(tmp_path / "o.mkv"), timing="stretch", pitch="shift")
    assert res["capture_fps"] == 2200.0 and res["audio"]["source_rate"] == 2200.0
    with pytest.raises(ParameterError, match="capture rate is unknown"):
        mux(clips[".mkv"], _tone(), str(tmp_path / "p.mkv"), audio_rate=FPS)


def test_time_stretch_keeps_pitch_and_scales_length():
    rate = 48000
    x = np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)
    for factor in (0.5, 3.0, 20.0):
        y = time_stretch(x, factor=factor)
        assert len(y) == round(len(x) * factor)
        mid = y[len(y) // 4 : 3 * len(y) // 4]
        assert _peak_hz(mid, rate) == pytest.approx(440, rel=0.003), factor
        # steady level: no gaps or doubling from the overlap-add
        rms = np.sqrt(np.mean(mid**2))
        assert rms == pytest.approx(np.sqrt(0.5), rel=0.1), (factor, rms)


def test_bad_input(clips, tmp_path):
    v = clips[".mkv"]
    with pytest.raises(ParameterError, match="must end in"):
        mux(v, _tone(), str(tmp_path / "o.avi"), audio_rate=FPS, capture_fps=FPS)
    with pytest.raises(ParameterError):
        mux(v, _tone(), str(tmp_path / "o.mp4"), audio_rate=FPS, capture_fps=FPS, timing="slow")
    with pytest.raises(VideoReadError):
        mux(str(tmp_path / "missing.mkv"), _tone(), str(tmp_path / "o.mp4"), audio_rate=FPS, capture_fps=FPS)
    with pytest.raises(VideoReadError):
        mux(v, str(tmp_path / "missing.wav"), str(tmp_path / "o.mp4"), capture_fps=FPS)
    with pytest.raises(InputError):
        mux(v, np.array([0.0, np.nan]), str(tmp_path / "o.mp4"), audio_rate=FPS, capture_fps=FPS)
    with pytest.raises(ParameterError, match="Matroska"):  # 2200 fps container: millisecond timestamps collide
        mux(clips[".mp4"], _tone(), str(tmp_path / "o.mkv"), audio_rate=FPS, capture_fps=FPS)
    with pytest.raises(ParameterError, match="cannot be copied"):
        mux(v, _tone(), str(tmp_path / "o.mp4"), audio_rate=FPS, capture_fps=FPS, video_mode="copy")
    with pytest.raises(ParameterError, match="input video"):
        mux(v, _tone(), v, audio_rate=FPS, capture_fps=FPS, force=True)
    out = tmp_path / "exists.mkv"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        mux(v, _tone(), str(out), audio_rate=FPS, capture_fps=FPS)
    assert out.read_bytes() == b"keep me"
    assert not list(tmp_path.glob(".*tmp*")), "a temporary file was left behind"


def test_cli_mux(clips, tmp_path, capsys):
    wav = tmp_path / "rec.wav"
    sf.write(wav, 0.5 * _tone(), 2200, subtype="PCM_16")
    out = tmp_path / "m.mkv"
    assert main(["mux", clips[".mkv"], str(wav), "-o", str(out), "--fps", "2200", "--timing", "stretch",
                 "--pitch", "shift", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["timing"] == "stretch" and res["pitch"] == "shift" and out.exists()
    assert main(["mux", clips[".mkv"], str(wav), "-o", str(out), "--fps", "2200"]) == 2  # exists
    err = capsys.readouterr().err
    assert err.startswith("vismic: error:") and "--force" in err and "Traceback" not in err
    assert main(["mux", clips[".mkv"], str(wav), "-o", str(tmp_path / "n.mkv")]) == 2  # no capture rate
    assert "--fps" in capsys.readouterr().err


def test_cli_recover_mux(clips, tmp_path, capsys):
    out = tmp_path / "withsound.mkv"
    assert main(["recover", clips[".mkv"], "-o", str(tmp_path / "r.wav"), "--fps", "2200", "--mux", str(out),
                 "--timing", "stretch", "--pitch", "keep", "--quiet"]) == 0
    y, rate, _ = _audio(str(out))
    assert len(y) / rate == pytest.approx(N / 1000.0, abs=2 / rate)
    assert _peak_hz(y, rate) == pytest.approx(TONE, rel=0.01)
    assert np.array_equal(_luma(str(out)), _luma(clips[".mkv"]))
    npy = tmp_path / "frames.npy"
    np.save(npy, np.zeros((10, 16, 16), np.uint8))
    assert main(["recover", str(npy), "--fps", "2200", "--mux", str(tmp_path / "x.mp4")]) == 2
    assert "needs a video file" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["auto", "lossless"])
def test_mkv_above_1000_fps_with_millisecond_timestamps(tmp_path, mode):
    # issue 15 item 4: Matroska stores milliseconds, so a 2,200 fps MKV's frames come stamped 0, 0, 1, 1, ...;
    # passed through, the MP4 muxer refused them ("internal error ... returned 22")
    from fractions import Fraction

    rng = np.random.default_rng(0)
    video = tmp_path / "hi.mkv"
    with av.open(str(video), "w") as c:
        s = c.add_stream("ffv1", rate=Fraction(2200))
        s.width, s.height, s.pix_fmt = 64, 48, "gray"
        for i in range(440):
            f = av.VideoFrame.from_ndarray((rng.random((48, 64)) * 255).astype(np.uint8), format="gray")
            f.pts, f.time_base = i, Fraction(1, 2200)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with av.open(str(video)) as c:
        stamps = [p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None][:4]
    assert stamps == [0, 0, 1, 1], "the fixture must have colliding millisecond timestamps"
    audio = np.sin(2 * np.pi * 300 * np.arange(440) / 2200)
    res = mux(video, audio, tmp_path / "out.mp4", audio_rate=2200, capture_fps=2200, video_mode=mode)
    assert res["video"]["frames"] == 440 and any("numbered by their index" in n for n in res["notes"])
    with av.open(str(tmp_path / "out.mp4")) as c:
        v = c.streams.video[0]
        assert v.frames == 440 and float(v.duration * v.time_base) == pytest.approx(0.2, abs=1e-3)
        assert len(c.streams.audio) == 1
    with pytest.raises(ParameterError, match="millisecond timestamps"):
        mux(video, audio, tmp_path / "out.mkv", audio_rate=2200, capture_fps=2200)
