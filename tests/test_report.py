"""The HTML report: one self-contained file, every section, playable audio, escaped input strings."""

import base64
import io
import json
import re
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest
import soundfile as sf

from vismic import simulate as sim
from vismic.analysis.voice import voice_report
from vismic.cli import main
from vismic.errors import OutputExistsError, ParameterError
from vismic.pipeline import RecoveryParams, recover, save
from vismic.report import LISTEN_RATE, write_report

RATE = 2200.0
NASTY = "<img src=x onerror=alert('x')> & \"q\" <b>.npy"
SECTIONS = ("summary", "warnings", "parameters", "input", "spectrograms", "diagnostics", "audio", "voice", "sidecar")


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.ids, self.text = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v))
            if k == "id":
                self.ids.add(v)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    sound = sim.builtin_sound("melody", rate=RATE, duration=0.8, seed=0)
    scene = sim.Scene(texture=sim.make_texture("pink", (72, 72), seed=0), sound=sound, rate=RATE, shape=(40, 40))
    path = d / NASTY
    np.save(path, np.concatenate(list(scene.frames(batch=512))))
    rec = recover(path, RecoveryParams(fps=RATE))
    return rec, path


def _parse(text):
    p = _Collect()
    p.feed(text)
    p.close()
    return p


def _vmap(path):
    try:
        from vismic.analysis.vibmap import vibration_map
    except ImportError:  # pragma: no cover - the module ships with vismic
        return None
    return vibration_map(path, fps=RATE)


def test_self_contained_report_with_every_section(recovery, tmp_path):
    rec, src = recovery
    voice = voice_report(rec.audio, rate=rec.rate)
    vmap = _vmap(src)
    out = tmp_path / "r.html"
    assert write_report(rec, out, vibration_map=vmap, voice=voice) == str(out)
    text = out.read_text(encoding="utf-8")
    p = _parse(text)
    missing = [s for s in SECTIONS if s not in p.ids]
    assert not missing, missing
    if vmap is not None:
        assert "vibration-map" in p.ids
    # nothing external: no scripts, stylesheets or remote references; every src is a data URI
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    assert "http://" not in text and "https://" not in text
    srcs = [(t, v) for t, k, v in p.attrs if k == "src"]
    assert srcs and all(v.startswith("data:") for _, v in srcs), [v[:30] for _, v in srcs]
    imgs = [v for t, v in srcs if t == "img"]
    assert len(imgs) >= 3 + (vmap is not None)  # spectrograms, spectra, pitch track (+ map)
    for v in imgs:
        assert base64.b64decode(v.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # the players hold 44.1 kHz WAVs of the whole recovery (Chromium refuses WAVs below 3 kHz)
    audios = [v for t, v in srcs if t == "audio"]
    assert len(audios) == 2
    for v in audios:
        assert v.startswith("data:audio/wav;base64,")
        y, rate = sf.read(io.BytesIO(base64.b64decode(v.split(",", 1)[1])))
        assert rate == LISTEN_RATE
        assert len(y) == pytest.approx(len(rec.audio) * LISTEN_RATE / RATE, abs=2)
        assert 0.5 < np.max(np.abs(y)) <= 1.0
    # the voice report and the parameters are there as text
    body = " ".join(p.text)
    assert "gender (from F0)" in body and "number of speakers" in body
    assert "max_lag_ms" in body and "estimated SNR" in body


def test_input_strings_are_escaped(recovery, tmp_path):
    rec, _ = recovery
    rec.warnings.append("a <b>bold</b> warning & more")
    try:
        out = tmp_path / "esc.html"
        write_report(rec, out)
        text = out.read_text(encoding="utf-8")
    finally:
        rec.warnings.pop()
    assert "<img src=x" not in text and "<b>" not in text
    assert "&lt;img src=x onerror=alert(&#x27;x&#x27;)&gt; &amp; &quot;q&quot; &lt;b&gt;.npy" in text
    p = _parse(text)
    assert "b" not in p.tags and all(v.startswith("data:") for t, k, v in p.attrs if k == "src")
    assert any(NASTY in t for t in p.text)  # the parser gets the file name back as plain text


def test_listen_wav_is_embedded_as_is(recovery, tmp_path):
    rec, _ = recovery
    paths = save(rec, str(tmp_path / "r.wav"))
    out = tmp_path / "l.html"
    write_report(rec, out, listen_wav=paths["listen"])
    uri = re.search(r'<audio[^>]*src="(data:audio/wav;base64,[^"]+)"', out.read_text()).group(1)
    with open(paths["listen"], "rb") as fh:
        assert base64.b64decode(uri.split(",", 1)[1]) == fh.read()
    with pytest.raises(ParameterError, match="3000 Hz"):
        write_report(rec, tmp_path / "m.html", listen_wav=paths["wav"])  # the 2200 Hz file
    assert not (tmp_path / "m.html").exists()


def test_refuses_to_overwrite_and_non_html(recovery, tmp_path):
    rec, _ = recovery
    out = tmp_path / "r.html"
    out.write_text("keep")
    with pytest.raises(OutputExistsError):
        write_report(rec, out)
    assert out.read_text() == "keep"
    write_report(rec, out, force=True)
    assert out.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ParameterError, match=".html"):
        write_report(rec, tmp_path / "r.txt")
    assert not list(tmp_path.glob(".vismic-*")), "a temporary file was left behind"


def test_cli_recover_report_and_voice(tmp_path, capsys):
    sound = sim.builtin_sound("melody", rate=RATE, duration=0.6, seed=1)
    scene = sim.Scene(texture=sim.make_texture("pink", (64, 64), seed=1), sound=sound, rate=RATE, shape=(32, 32))
    src = tmp_path / "s.npy"
    np.save(src, np.concatenate(list(scene.frames(batch=512))))
    out, html = tmp_path / "o.wav", tmp_path / "o.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["recover", str(src), "--fps", "2200", "-o", str(out), "--report", str(html), "--quiet"])
    assert code == 0 and html.exists()
    side = json.loads((tmp_path / "o.json").read_text())
    v = side["diagnostics"]["voice"]
    assert v["gender"] in ("male", "female", "unknown") and len(v["f0_hz"]) == len(v["times_s"])
    assert "voice" in _parse(html.read_text()).ids
    # a bad --report path fails before any work, with one line
    code = main(["recover", str(src), "--fps", "2200", "-o", str(tmp_path / "p.wav"), "--report", "x.pdf"])
    err = capsys.readouterr().err
    assert code == 2 and "must be an .html path" in err and not (tmp_path / "p.wav").exists()
