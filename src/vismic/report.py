"""One self-contained HTML report of a recovery.

:func:`write_report` writes a single ``.html`` file that needs nothing else: figures are PNG data
URIs, the audio players play base64 WAV data URIs of 44.1 kHz listenable copies (Chromium refuses
WAVs below 3,000 Hz), styling is one inline ``<style>`` block and there is no script. Every string
that comes from the input (file names, paths, notes, warnings) is HTML-escaped.

Sections: summary, warnings, parameters, input facts, spectrograms before (the fused, high-passed
signal ``Recovery.raw``) and after post-processing (``Recovery.audio``), the vibration map (when
given), band/channel diagnostics, audio players, the voice report with its pitch track, and the
JSON sidecar.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from typing import Any

import numpy as np
import soundfile as sf

from . import __version__
from .errors import ParameterError, VideoReadError
from .io.atomic import atomic_path
from .io.audio import check_writable, resample
from .outputs import json_default
from .plot import _pyplot, pitch_track, spectrogram, spectrum
from .plot import vibration_map as draw_vibration_map

__all__ = ["write_report", "render_report", "LISTEN_RATE"]

#: rate of the audio embedded in the report (browsers play it)
LISTEN_RATE = 44100
#: the raw (before post-processing) signal gets its own player only up to this duration (size)
_RAW_PLAYER_MAX_S = 120.0

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.4;padding:0 1em}
h1{font-size:1.5em;margin-bottom:0.2em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.9em}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:0.5em 1em}.muted{color:#777}
img{max-width:100%;height:auto;border:1px solid #eee}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:0.85em}pre{background:#f7f7f7;padding:0.8em;overflow-x:auto;max-height:30em}
.kv td:first-child{font-weight:600;white-space:nowrap}
"""


def _e(value: Any) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _fmt(v: Any) -> str:
    if v is None:
        return '<span class="muted">-</span>'
    if isinstance(v, bool):
        return _e(v)
    if isinstance(v, float | np.floating):
        if not math.isfinite(v):
            return _e(v)
        return _e(f"{v:.6g}")
    if isinstance(v, list | tuple | dict):
        return "<code>" + _e(json.dumps(v, default=str)) + "</code>"
    return _e(v)


def _kv_table(d: dict) -> str:
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in d.items())
    return f'<table class="kv">{rows}</table>'


def _png(fig) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _wav_uri(x: np.ndarray, rate: float) -> str:
    """44.1 kHz 16-bit WAV data URI of ``x`` (resampled with soxr and peak-normalised)."""
    y = resample(np.asarray(x, dtype=np.float64), rate_in=rate, rate_out=LISTEN_RATE)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0:
        y = y * (0.98 / peak)
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1, 1), LISTEN_RATE, subtype="PCM_16", format="WAV")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _file_wav_uri(path: str) -> str:
    """Data URI of a WAV file already at a browser-playable rate (e.g. ``save``'s listenable copy)."""
    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        raise VideoReadError(f"{path}: not a WAV file soundfile can read ({exc})") from exc
    if info.samplerate < 3000:
        raise ParameterError(f"listen_wav {path} is at {info.samplerate} Hz; browsers refuse WAVs below 3000 Hz "
                             "(give the .listen.wav copy)")
    with open(path, "rb") as fh:
        data = fh.read()
    return "data:audio/wav;base64," + base64.b64encode(data).decode("ascii")


def _spectrograms(recovery) -> str:
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), constrained_layout=True)
    m0 = spectrogram(recovery.raw, rate=recovery.rate, ax=axes[0])
    axes[0].set_title("before: fused motion signal (high-passed), Recovery.raw")
    m1 = spectrogram(recovery.audio, rate=recovery.rate, ax=axes[1])
    post = []
    if recovery.diagnostics.get("notched_hz"):
        post.append("notches")
    if getattr(recovery.params, "denoise", "none") != "none":
        post.append(str(recovery.params.denoise))
    axes[1].set_title("after: output, Recovery.audio" + (f" ({', '.join(post)})" if post else " (no denoising)"))
    fig.colorbar(m0, ax=axes[0], label="dB")
    fig.colorbar(m1, ax=axes[1], label="dB")
    spec = _png(fig)
    fig, ax = plt.subplots(figsize=(10, 3), constrained_layout=True)
    spectrum(recovery.raw, rate=recovery.rate, ax=ax)
    line = ax.get_lines()[0]
    line.set_label("before")
    spectrum(recovery.audio, rate=recovery.rate, ax=ax, n_peaks=0)
    ax.get_lines()[-1].set_label("after")
    ax.legend(fontsize=8)
    ax.set_title("average spectra (strongest peaks of the fused signal marked)")
    avg = _png(fig)
    return _img(spec, "spectrograms before and after post-processing") + _img(avg, "average spectra")


def _vibration_map(vmap, roi=None) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    box = tuple(int(v) for v in roi) if roi is not None and len(roi) == 4 else None
    if box is not None and box == tuple(int(v) for v in vmap.roi):
        box = None  # the map covers exactly the recovery's region: nothing to outline
    mesh = draw_vibration_map(vmap, ax=ax, roi=box)
    fig.colorbar(mesh, ax=ax, label=getattr(mesh, "colorbar_label", "tile SNR (dB)"))
    ax.set_title(f"vibration map, {vmap.band[0]:.0f}-{vmap.band[1]:.0f} Hz"
                 + (" (outline: the region recovered)" if box is not None else ""))
    uri = _png(fig)
    out = _img(uri, "vibration map")
    summary = {}
    for key in ("band", "grid", "tile", "frames_used", "roi"):
        if hasattr(vmap, key):
            summary[key] = list(getattr(vmap, key)) if isinstance(getattr(vmap, key), tuple) else getattr(vmap, key)
    snr = np.asarray(getattr(vmap, "snr_db", np.array([np.nan])), dtype=np.float64)
    if np.isfinite(snr).any():
        r, c = np.unravel_index(np.nanargmax(snr), snr.shape)
        summary["best tile"] = f"row {r}, col {c}: {np.nanmax(snr):.1f} dB"
        if hasattr(vmap, "tile_rect"):
            summary["best tile (x, y, w, h)"] = list(vmap.tile_rect(int(r), int(c)))
    return out + _kv_table(summary)


def _channels(diag: dict) -> str:
    chans = diag.get("channels") or []
    parts = []
    top = {k: diag.get(k) for k in ("estimated_snr_db", "n_channels", "n_channels_used", "grid", "output_gain")
           if k in diag}
    if top:
        parts.append(_kv_table(top))
    if chans:
        cols = ["name", "level", "orientation_deg", "region", "lag_samples", "sign", "weight", "snr_db"]
        cols = [c for c in cols if any(c in ch for ch in chans)]
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = []
        for ch in chans:
            cells = []
            for c in cols:
                v = ch.get(c)
                cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
                cells.append(f"<td{cls}>{_fmt(v)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f"<p>Channels (band x region), highest estimated SNR first:</p><table><tr>{head}</tr>"
                     + "".join(body) + "</table>")
    lines = diag.get("lines_detected") or []
    if lines:
        rows = "".join(f"<tr><td class=num>{_fmt(d.get('hz'))}</td><td class=num>{_fmt(d.get('db_above_floor'))}"
                       f"</td></tr>" for d in lines)
        parts.append(f"<p>Mains-like lines detected (notched: {_fmt(diag.get('notched_hz'))}):</p>"
                     f"<table><tr><th>Hz</th><th>dB above floor</th></tr>{rows}</table>")
    notes = diag.get("notes") or []
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    other = {k: v for k, v in diag.items()
             if k not in ("channels", "lines_detected", "notes", "voice", "bands", "notched_hz") and k not in top}
    if other:
        parts.append("<details><summary>other diagnostics</summary>" + _kv_table(other) + "</details>")
    return "".join(parts) or '<p class="muted">no diagnostics</p>'


def _voice(voice) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.2), constrained_layout=True)
    pitch_track(voice, ax=ax)
    ax.set_title("pitch track (YIN)")
    uri = _png(fig)
    d = voice.to_dict(track=False)
    conf = d["gender_confidence"]
    gender = d["gender"] + (f" (confidence {conf:.2f})" if d["gender"] != "unknown" else "")
    spk = d["speakers"]
    facts = {
        "gender (from F0)": gender,
        "P(female), shrunk by reliability": d["p_female"],
        "reliability": d["reliability"],
        "median F0 (Hz)": d["median_f0_hz"],
        "F0 10th-90th percentile (Hz)": d["f0_range_hz"],
        "voiced fraction": d["voiced_fraction"],
        "voiced speech (s)": d["voiced_seconds"],
        "number of speakers": spk.get("count"),
    }
    parts = [_img(uri, "pitch track"), _kv_table(facts)]
    groups = spk.get("groups") or []
    if groups:
        rows = "".join(
            f"<tr><td class=num>{i + 1}</td><td class=num>{_fmt(g['median_f0_hz'])}</td>"
            f"<td class=num>{_fmt(g['share'])}</td><td class=num>{_fmt(g['voiced_seconds'])}</td>"
            f"<td>{_e(g['gender'])}</td><td class=num>{_fmt(g['gender_confidence'])}</td></tr>"
            for i, g in enumerate(groups))
        parts.append("<table><tr><th>speaker</th><th>median F0 (Hz)</th><th>share of voiced time</th>"
                     f"<th>voiced s</th><th>gender</th><th>confidence</th></tr>{rows}</table>")
    if d["notes"]:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in d["notes"]) + "</ul>")
    gm = d["gender_model"]
    parts.append(
        "<details><summary>methods and limits</summary>"
        f"<p><b>Pitch:</b> {_e(d['pitch_tracker']['method'])}; range {_e(d['pitch_tracker']['fmin_hz'])}-"
        f"{_e(d['pitch_tracker']['fmax_hz'])} Hz, threshold {_e(d['pitch_tracker']['threshold'])}.</p>"
        f"<p><b>Gender model:</b> {_e(gm['kind'])}; men around {_e(gm['male_centre_hz'])} Hz, women around "
        f"{_e(gm['female_centre_hz'])} Hz, spread {_e(gm['log_spread'])} (natural log); {_e(gm['sources'])}. "
        f"{_e(gm['shrinkage'])}; {_e(gm['decision'])}.</p>"
        f"<p><b>Speakers:</b> {_e(spk.get('method'))}. <b>Limits:</b> {_e(spk.get('limits'))}.</p></details>"
    )
    return "".join(parts)


def render_report(
    recovery,
    *,
    listen_wav: str | None = None,
    vibration_map=None,
    voice=None,
    title: str | None = None,
) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    if not hasattr(recovery, "audio") or not hasattr(recovery, "rate"):
        raise ParameterError("recovery must be a vismic Recovery (from vismic.pipeline.recover)")
    inp = dict(recovery.input or {})
    name = os.path.basename(str(inp.get("path", ""))) or "recovery"
    title = title or f"vismic report: {name}"
    n = len(recovery.audio)
    diag = recovery.diagnostics or {}
    snr = diag.get("estimated_snr_db")
    summary = {
        "input": inp.get("path"),
        "rate (Hz)": recovery.rate,
        "rate from": inp.get("rate_source"),
        "samples": n,
        "duration (s)": n / recovery.rate if recovery.rate else None,
        "estimated SNR (dB)": snr,
        "channels used": f"{diag.get('n_channels_used')} of {diag.get('n_channels')}" if "n_channels" in diag else None,
        "total time (s)": (recovery.timings or {}).get("total_s"),
        "vismic": __version__,
    }
    sec: list[tuple[str, str, str]] = [("summary", "Summary", _kv_table(summary))]
    warns = list(recovery.warnings or [])
    if warns:
        sec.append(("warnings", "Warnings", "".join(f'<p class="warn">{_e(w)}</p>' for w in warns)))
    else:
        sec.append(("warnings", "Warnings", '<p class="muted">none</p>'))
    params = recovery.params.to_dict() if hasattr(recovery.params, "to_dict") else dict(recovery.params)
    sec.append(("parameters", "Parameters", _kv_table(params)))
    sec.append(("input", "Input facts", _kv_table(inp)))
    sec.append(("spectrograms", "Spectrograms before and after post-processing", _spectrograms(recovery)))
    if vibration_map is not None:
        sec.append(("vibration-map", "Vibration map", _vibration_map(vibration_map, inp.get("roi"))))
    sec.append(("diagnostics", "Band and channel diagnostics", _channels(diag)))
    final = _file_wav_uri(listen_wav) if listen_wav else _wav_uri(recovery.audio, recovery.rate)
    players = [f"<p>Output (listenable copy, {LISTEN_RATE} Hz):<br><audio controls preload=\"none\" "
               f"src=\"{final}\"></audio></p>"]
    raw = getattr(recovery, "raw", None)
    if raw is not None and len(raw) / recovery.rate <= _RAW_PLAYER_MAX_S:
        players.append("<p>Before post-processing (fused, high-passed signal):<br><audio controls preload=\"none\" "
                       f"src=\"{_wav_uri(raw, recovery.rate)}\"></audio></p>")
    players.append(f'<p class="muted">Recovered at {_e(f"{recovery.rate:g}")} Hz; resampled to {LISTEN_RATE} Hz '
                   "because browsers refuse WAVs below 3000 Hz.</p>")
    sec.append(("audio", "Listen", "".join(players)))
    if voice is not None:
        sec.append(("voice", "Voice report", _voice(voice)))
    side = recovery.sidecar() if hasattr(recovery, "sidecar") else {}
    if voice is not None:
        side.setdefault("diagnostics", {})
        side["diagnostics"] = {**side["diagnostics"], "voice": voice.to_dict(track=False)}
    side_txt = json.dumps(side, indent=2, default=json_default)
    sec.append(("sidecar", "JSON sidecar", f"<details><summary>show</summary><pre>{_e(side_txt)}</pre></details>"))

    nav = " | ".join(f'<a href="#{sid}">{_e(t)}</a>' for sid, t, _ in sec)
    body = "".join(f'<section id="{sid}"><h2>{_e(t)}</h2>{content}</section>' for sid, t, content in sec)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class=\"muted\">sound recovered from video by vismic {_e(__version__)} "
        f"(the visual microphone)</p><nav>{nav}</nav>{body}</body></html>\n"
    )


def write_report(
    recovery,
    path: str | os.PathLike,
    *,
    listen_wav: str | None = None,
    vibration_map=None,
    voice=None,
    force: bool = False,
) -> str:
    """Write one self-contained HTML report of a recovery, atomically.

    Parameters
    ----------
    recovery : Recovery
        From :func:`vismic.pipeline.recover` (or the rolling-shutter recovery).
    path : path
        The ``.html`` file to write.
    listen_wav : path, optional
        The 44.1 kHz listenable copy written by :func:`vismic.pipeline.save` to embed; default: made
        from ``recovery.audio`` in memory the same way.
    vibration_map : VibrationMap, optional
        From :func:`vismic.analysis.vibmap.vibration_map`; drawn with :func:`vismic.plot.vibration_map`.
    voice : VoiceReport, optional
        From :func:`vismic.analysis.voice.voice_report`.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``force`` is False.
    ParameterError
        ``path`` does not end in .html/.htm, or ``listen_wav`` is below 3000 Hz.
    OutputError
        The file cannot be written.
    """
    path = os.fspath(path)
    if not path.lower().endswith((".html", ".htm")):
        raise ParameterError(f"--report {path}: the report must be an .html path")
    check_writable(path, force=force)
    text = render_report(recovery, listen_wav=listen_wav, vibration_map=vibration_map, voice=voice)
    with atomic_path(path, suffix=".html") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return path
