"""recover_and_write: the one recovery-to-files sequence of the CLI and the web UI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from vismic import simulate as sim
from vismic.errors import OutputError, ParameterError
from vismic.pipeline import RecoveryParams
from vismic.workflow import recover_and_write

RATE = 2000.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("wf")
    sound = sim.builtin_sound("tone", rate=RATE, duration=0.4, seed=0)
    scene = sim.Scene(texture=sim.make_texture("pink", (80, 80), seed=0), sound=sound, rate=RATE, rms_px=0.05,
                      shape=(64, 64), noise_sigma=0.5, seed=0)
    path = d / "clip.mkv"
    sim.render(scene, path, truth_path=d / "clip.truth.wav")
    return path, scene


def test_writes_audio_map_and_report_with_voice_in_the_sidecar(clip, tmp_path):
    path, scene = clip
    stages = []
    done = recover_and_write(path, RecoveryParams(fps=RATE), str(tmp_path / "o.wav"), spectrogram=True,
                             report=str(tmp_path / "o.html"), map_png=str(tmp_path / "o.map.png"),
                             stage=stages.append)
    assert set(done.paths) == {"wav", "listen", "json", "spectrogram", "map", "report"}
    assert all(os.path.isfile(p) for p in done.paths.values()), done.paths
    assert stages[0] == "recovering the sound" and "writing the audio" in stages and stages[-1] == "writing the report"
    side = json.loads((tmp_path / "o.json").read_text())
    assert "voice" in side["diagnostics"]  # the report implies the voice analysis, kept in the sidecar
    assert done.vibration_map is not None and done.voice is not None
    r = np.corrcoef(done.recovery.audio[100:-100], scene.truth()[100:-100])[0, 1]
    assert abs(r) > 0.9


def test_a_failed_extra_raises_or_warns_and_the_audio_stays(clip, tmp_path, monkeypatch):
    import vismic.report

    def broken(*a, **k):
        raise OutputError("cannot write o.html: No space left on device")

    monkeypatch.setattr(vismic.report, "write_report", broken)
    path, _ = clip
    with pytest.raises(OutputError, match="No space left"):
        recover_and_write(path, RecoveryParams(fps=RATE), str(tmp_path / "a.wav"), report=str(tmp_path / "a.html"))
    assert (tmp_path / "a.wav").exists() and not (tmp_path / "a.html").exists()
    with pytest.warns(UserWarning, match="no report: cannot write o.html"):
        done = recover_and_write(path, RecoveryParams(fps=RATE), str(tmp_path / "b.wav"),
                                 report=str(tmp_path / "b.html"), extras_on_error="warn")
    assert "report" not in done.paths and (tmp_path / "b.wav").exists()
    assert any(w.startswith("no report") for w in done.warnings)


@pytest.mark.parametrize("extra, match", [
    ({"report": "r.txt"}, "must be an .html path"),
    ({"map_png": "m.jpg"}, "must be a .png path"),
    ({"mux": "v.xyz"}, "must end in one of"),
    ({"extras_on_error": "ignore"}, "extras_on_error"),
])
def test_bad_extras_are_refused_before_any_work(clip, tmp_path, extra, match):
    path, _ = clip
    extra = {k: str(tmp_path / v) if k != "extras_on_error" else v for k, v in extra.items()}
    with pytest.raises(ParameterError, match=match):
        recover_and_write(path, RecoveryParams(fps=RATE), str(tmp_path / "o.wav"), **extra)
    assert list(tmp_path.iterdir()) == []


def test_an_extra_onto_the_input_is_refused(clip, tmp_path):
    path, _ = clip
    with pytest.raises(ParameterError, match="is the input"):
        recover_and_write(path, RecoveryParams(fps=RATE), str(tmp_path / "o.wav"), mux=str(path))
    assert list(tmp_path.iterdir()) == []
