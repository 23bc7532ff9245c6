"""Rolling-shutter quality figures for docs/rolling_shutter.md (prints them; not a test).

Usage::

    .venv/bin/python benchmarks/rolling_shutter_quality.py                         # synthetic speech
    .venv/bin/python benchmarks/rolling_shutter_quality.py --data ../shared/data   # + real speech, photos
    .venv/bin/python benchmarks/rolling_shutter_quality.py --data ../shared/data --only real

Section 5 ("real scenes") renders what real footage has: the object over part of the rows in front
of a still textured background, natural textures (photographs from ``DATA/textures``, else blurred
procedural ones) seen through a lens blur, weak texture, read noise, H.264 at phone-like bit
rates, Pentax and phone timings, horizontal and vertical motion, no ROI given. Its first rows are
the scenes the estimator was developed on; the rows marked "held out" use other textures, voices,
coverages, blurs and seeds and were never looked at before the estimator was frozen.

Scenes are rendered by :class:`vismic.simulate.RollingShutterScene` at full camera timing (the
Pentax K-01 of Davis et al. 2014: 720 rows, 59.94 fps, 16.15 us per row, 1/2000 s; an iPhone 6S:
720 rows, 30 fps, 20.85 us), a pink texture 128 px wide, 0.05 px RMS horizontal motion and
read noise of 2 grey levels. The truth is the scene's displacement at each output sample's
instant (no lag search: the timing is exact). The naive answer is vismic's global-shutter
pipeline on the same video, one sample per frame, upsampled to the same rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
import warnings
from fractions import Fraction

import numpy as np
import soxr

from vismic import rolling_shutter as rs
from vismic import simulate as sim
from vismic.denoise import highpass
from vismic.metrics import correlation, snr, stoi
from vismic.pipeline import RecoveryParams, recover

SOUND_RATE = 32_000.0
PENTAX = {"fps": 59.94, "line_delay": 16.15e-6, "exposure": 1 / 2000, "rows": 720}
PHONE = {"fps": 30.0, "line_delay": 20.85e-6, "exposure": 1 / 1000, "rows": 720}


def speech(data: str | None, duration: float) -> tuple[np.ndarray, str]:
    """Speech band-limited to 60 Hz - 2 kHz at SOUND_RATE: CMU ARCTIC if available, else a synthetic voice."""
    if data and os.path.exists(os.path.join(data, "audio", "arctic_a0007.wav")):
        import soundfile as sf

        x, r = sf.read(os.path.join(data, "audio", "arctic_a0007.wav"))
        x = soxr.resample(x if x.ndim == 1 else x.mean(axis=1), r, SOUND_RATE)
        name = "CMU ARCTIC a0007 (male)"
    else:
        from scipy.signal import lfilter

        n = int(SOUND_RATE * duration)
        t = np.arange(n) / SOUND_RATE
        phase = np.cumsum(130 + 30 * np.sin(2 * np.pi * 0.7 * t)) / SOUND_RATE
        x = np.diff(np.floor(phase), prepend=0.0)
        for fc, bw in ((600.0, 90.0), (1300.0, 120.0), (2400.0, 150.0)):
            r = np.exp(-np.pi * bw / SOUND_RATE)
            x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / SOUND_RATE), r * r], x)
        x *= 0.5 - 0.5 * np.cos(2 * np.pi * 2.5 * t)
        name = "synthetic voice (glottal pulses, 3 formants)"
    x = x[: int(SOUND_RATE * duration)]
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1 / SOUND_RATE)
    spec[(f > 2000) | (f < 60)] = 0
    return np.fft.irfft(spec, x.size), name


def render(sound, cam, *, cols, folder, name, seed=0, **kw) -> tuple[sim.RollingShutterScene, str, float]:
    rows = cam["rows"]
    sc = sim.RollingShutterScene(
        texture=sim.make_texture("pink", (rows + 16, cols + 16), seed=seed), sound=sound, sound_rate=SOUND_RATE,
        fps=cam["fps"], line_delay=cam["line_delay"], exposure=cam["exposure"], shape=(rows, cols),
        rms_px=kw.pop("rms_px", 0.05), noise_sigma=kw.pop("noise_sigma", 2.0), seed=seed, **kw)
    path = os.path.join(folder, name + ".npy")
    t0 = time.perf_counter()
    save_npy(sc, path)
    return sc, path, time.perf_counter() - t0


def save_npy(sc, path) -> str:
    """Render a scene's frames into a .npy file, streamed (memory does not grow with the clip)."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=sc.dtype, shape=(sc.n_frames, *sc.shape))
    i = 0
    for b in sc.frames(batch=16):
        mm[i : i + len(b)] = b
        i += len(b)
    mm.flush()
    del mm
    return path


def truth(sc, rec, *, exposed=False):
    t = sc.start_time + rec.diagnostics["time_of_first_sample_s"] + np.arange(len(rec.audio)) / rec.rate
    return highpass(sc.truth_at(t, exposed=exposed), rate=rec.rate, cutoff=rec.params.highpass)


def naive(sc, path, rate):
    """One sample per frame (the global-shutter pipeline), upsampled to ``rate``, and its truth."""
    rec = recover(path, RecoveryParams(fps=sc.fps))
    up = soxr.resample(rec.audio, sc.fps, rate)
    t = np.arange(len(up)) / rate
    return up, highpass(sc.truth_at(t), rate=rate, cutoff=20.0)


def run(sc, path, **kw):
    params = rs.RollingShutterParams(fps=sc.fps, **kw)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = rs.recover_rolling_shutter(path, params)
    return rec, time.perf_counter() - t0, [str(w.message) for w in caught]


def tone_figures(folder, cols):
    print("== 1. A 300 Hz tone (5x the frame rate) at Pentax K-01 timing, 2 s ==")
    sound = sim.builtin_sound("tone", rate=SOUND_RATE, duration=2.0, freq=300.0)
    sc, path, t_render = render(sound, PENTAX, cols=cols, folder=folder, name="tone")
    rec, secs, _ = run(sc, path, camera="pentax-k-01")
    x, r = rec.audio, rec.rate
    n = len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(n), 16 * n))
    f = np.fft.rfftfreq(16 * n, 1 / r)
    k = int(np.argmax(spec))
    others = (np.abs(f - f[k]) > 10) & (f > 20)
    j = int(np.argmax(np.where(others, spec, 0)))
    print(f"recovered tone at {f[k]:.2f} Hz (error {f[k] - 300:+.2f} Hz); strongest other line "
          f"{20 * np.log10(spec[j] / spec[k]):.1f} dB at {f[j]:.1f} Hz; output rate {r:.1f} Hz")
    print(f"correlation with the exposed truth {correlation(truth(sc, rec, exposed=True), x, max_lag=0):.3f}; "
          f"estimated SNR {rec.diagnostics['estimated_snr_db']:.1f} dB; render {t_render:.1f} s, recover {secs:.1f} s")
    up, tr = naive(sc, path, r)
    m = min(len(up), n)
    ns = np.abs(np.fft.rfft(up[:m] * np.hanning(m)))
    nf = np.fft.rfftfreq(m, 1 / r)
    print(f"naive (one sample per frame): strongest line at {nf[np.argmax(ns)]:.2f} Hz "
          "(300 Hz aliases to |300 - 5 x 59.94| = 0.3 Hz, under the high-pass)")


def speech_figures(folder, cols, data):
    sound, name = speech(data, 3.0)
    print(f"\n== 2. Speech ({name}, 60 Hz-2 kHz, 3 s) at Pentax K-01 timing, 0.05 px RMS ==")
    sc, path, t_render = render(sound, PENTAX, cols=cols, folder=folder, name="speech", seed=3)
    rows = []
    for label, kw in (("--camera pentax-k-01", {"camera": "pentax-k-01"}),
                      ("  + --equalize", {"camera": "pentax-k-01", "equalize": True}),
                      ("  --direction x", {"camera": "pentax-k-01", "direction": "x"})):
        rec, secs, _ = run(sc, path, **kw)
        t_true, t_exp = truth(sc, rec), truth(sc, rec, exposed=True)
        rows.append((label, correlation(t_true, rec.audio, max_lag=0), correlation(t_exp, rec.audio, max_lag=0),
                     snr(t_true, rec.audio, max_lag=0), stoi(t_true, rec.audio, rate=rec.rate, max_lag=0), secs))
        if label.startswith("--camera"):
            main = rec
    up, tr = naive(sc, path, main.rate)
    lag = int(0.02 * main.rate)
    rows.append(("naive: one sample per frame", correlation(tr, up, max_lag=lag), float("nan"),
                 snr(tr, up, max_lag=lag), stoi(tr, up, rate=main.rate, max_lag=lag), float("nan")))
    print(f"{'':30s} {'corr':>6s} {'corr(exposed)':>13s} {'SNR dB':>7s} {'STOI':>6s} {'secs':>6s}")
    for label, c, ce, s, st, secs in rows:
        print(f"{label:30s} {c:6.3f} {ce:13.3f} {s:7.2f} {st:6.3f} {secs:6.1f}")
    d = main.diagnostics
    print(f"working rate {d['working_rate_hz']:.0f} Hz, {d['filled_fraction'] * 100:.1f} % filled, AR order "
          f"{d['ar_order']}, motion {main.timings['frames_per_s']:.0f} frames/s ({cols}x720), render {t_render:.1f} s")
    print(f"line-delay check: {d['line_delay_check']['message']}")
    print(f"per-row noise vs the Cramer-Rao bound of one row (horizontal motion): {row_noise_vs_crb(sc, path):+.2f} dB")
    return sc, path


def row_noise_vs_crb(sc, path) -> float:
    """Median over rows of (measured per-row noise variance / Cramer-Rao bound), in dB."""
    from vismic.io import open_source

    with open_source(path) as src:
        est = rs.RowMotionEstimator(src.shape, direction="x")
        inc = np.concatenate([est.process(b) for b in src.iter_batches(batch=16)])
    rows = rs.row_signals(inc, est.channels, est.information, segments=est.segments)
    measured = 1 / (1 / rows.noise[0] + 1 / rows.noise[1])  # both halves: the whole row
    still = dataclasses.replace(sc, rms_px=0.0)
    rest = next(still.clean_frames(stop=1))[0]
    k = 2 * np.pi * np.fft.fftfreq(rest.shape[1])
    gx = np.real(np.fft.ifft(np.fft.fft(rest, axis=1) * 1j * k, axis=1))
    var = (sc.noise_sigma / 255) ** 2 + (1 / 255) ** 2 / 12  # read noise + 8-bit quantisation, full scale
    crb = var / np.sum(gx**2, axis=1)
    return float(10 * np.log10(np.median(measured / crb)))


def phone_figures(folder, cols, data):
    sound, _ = speech(data, 3.0)
    print("\n== 3. Same speech, phone timing (iPhone 6S: 30 fps, 720 rows, 20.85 us, 1/1000 s; 55 % missing) ==")
    sc, path, _ = render(sound, PHONE, cols=cols, folder=folder, name="phone", seed=4)
    for label, kw in (("--camera iphone-6s (exposure unknown)", {"camera": "iphone-6s"}),
                      ("--camera iphone-6s --exposure 1/1000", {"camera": "iphone-6s", "exposure": 1 / 1000})):
        rec, secs, _ = run(sc, path, **kw)
        t_true = truth(sc, rec)
        lag = int(0.002 * rec.rate)  # an unknown exposure leaves the samples stamped at its start, E/2 early
        rho, rho0 = correlation(t_true, rec.audio, max_lag=lag), correlation(t_true, rec.audio, max_lag=0)
        st = stoi(t_true, rec.audio, rate=rec.rate, max_lag=lag)
        d = rec.diagnostics
        print(f"{label:40s} corr {rho:.3f} (at lag 0: {rho0:.3f})  STOI {st:.3f}  band {d['band_hz']:.0f} Hz "
              f"({d['band_source']})  filled {d['filled_fraction'] * 100:.0f} %  {secs:.1f} s")
    up, tr = naive(sc, path, rec.rate)
    print(f"{'naive: one sample per frame':40s} corr {correlation(tr, up, max_lag=int(0.03 * rec.rate)):.3f}")


def line_delay_figures(folder, cols, speech_scene):
    print("\n== 4. Wrong line delay (off by 10 %) ==")
    d = PENTAX["line_delay"]
    for fl in (100.0, 700.0):
        sc, path, _ = render(np.ones(int(SOUND_RATE * 0.7)), PENTAX, cols=cols, folder=folder, name=f"flicker{fl:g}",
                             rms_px=0.0, flicker=0.05, flicker_hz=fl, n_frames=30)
        cal = rs.calibrate_flicker(path, fps=PENTAX["fps"], flicker_hz=fl)
        checks = [rs.check_line_delay(cal, d * k)["consistent"] for k in (1.0, 1.1, 0.9)]
        print(f"flicker {fl:5g} Hz, 30 frames: line delay {cal.line_delay * 1e6:.4f} +- "
              f"{cal.line_delay_std * 1e6:.4f} us (error {(cal.line_delay / d - 1) * 100:+.3f} %), readout "
              f"{cal.readout}; consistent with d, 1.1 d, 0.9 d: {checks}")
    sc, path = speech_scene
    for k in (1.0, 1.1, 0.9, 1.03):
        rec, _, msgs = run(sc, path, line_delay=d * k, exposure=PENTAX["exposure"])
        c = rec.diagnostics["line_delay_check"]
        rho = correlation(truth(sc, rec), rec.audio, max_lag=0)
        est = c["estimated_line_delay_s"]
        print(f"speech recovered with {k:.2f} d: flagged={c['flagged']!s:5s} data fit {est * 1e6:.3f} us "
              f"({(est / d - 1) * 100:+.2f} % from true); mismatch {c['mismatch_at_assumed']:.3f} at the given "
              f"value; correlation {rho:.3f}")


# ----------------------------------------------------------------------------- 5. real scenes


def _texture(data, name, shape, blur, seed):
    """A photographed texture through a lens blur, or (no data folder) a blurred procedural one."""
    path = os.path.join(data, "textures", name) if data else None
    if path and os.path.exists(path):
        tex = sim.load_texture(path, shape=shape)
    else:
        tex = sim.make_texture("pink", shape, seed=seed)
    return sim.blur_texture(tex, blur)


def _voice(data, name, duration):
    """Another speaker (8 kHz codec2 samples, held out), band-limited like :func:`speech`."""
    path = os.path.join(data, "audio", name) if data else None
    if not (path and os.path.exists(path)):
        return speech(None, duration)[0]
    import soundfile as sf

    x, r = sf.read(path)
    x = soxr.resample(x if x.ndim == 1 else x.mean(axis=1), r, SOUND_RATE)
    x = np.tile(x, int(np.ceil(duration * SOUND_RATE / x.size)))[: int(duration * SOUND_RATE)]
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1 / SOUND_RATE)
    spec[(f > 2000) | (f < 60)] = 0
    return np.fft.irfft(spec, x.size)


#: name, camera, object texture, background texture, blur px, coverage (rows), contrast, direction, voice,
#: codec (None or bits per pixel for H.264), columns, held out
REAL_SCENES = [
    ("pink, whole frame (the reference scene)", PENTAX, None, None, 0.0, (0.0, 1.0), 0.8, 0.0, None, None, 128, False),
    ("stone, whole frame", PENTAX, "gravel.png", None, 0.8, (0.0, 1.0), 0.8, 0.0, None, None, 128, False),
    ("stone 70 % of rows over brick", PENTAX, "gravel.png", "brick.png", 0.8, (0.15, 0.85), 0.8, 0.0, None, None,
     128, False),
    ("  same, phone timing", PHONE, "gravel.png", "brick.png", 0.8, (0.15, 0.85), 0.8, 0.0, None, None, 128, False),
    ("  same, weak crinkled paper over paper", PHONE, "crinklepaper.png", "paper.png", 1.0, (0.15, 0.85), 0.4, 0.0,
     None, None, 128, False),
    ("burlap 70 %, weak, vertical motion", PENTAX, "burlap.png", "gravel.png", 1.0, (0.2, 0.9), 0.4, 90.0, None,
     None, 128, False),
    ("camera photo 60 % over burlap", PENTAX, "camera.png", "burlap.png", 1.2, (0.3, 0.9), 0.8, 0.0, "hts1a.wav",
     None, 128, True),
    ("  same, H.264 0.4 bit/px (12 Mbit/s at 720p30)", PENTAX, "camera.png", "burlap.png", 1.2, (0.3, 0.9), 0.8,
     0.0, "hts1a.wav", 0.4, 128, True),
    ("  same, H.264 0.15 bit/px", PENTAX, "camera.png", "burlap.png", 1.2, (0.3, 0.9), 0.8, 0.0, "hts1a.wav", 0.15,
     128, True),
    ("brick 80 % over paper, phone, 35 deg", PHONE, "brick.png", "paper.png", 1.5, (0.05, 0.85), 0.7, 35.0,
     "hts2a.wav", None, 128, True),
    ("  same, H.264 0.4 bit/px", PHONE, "brick.png", "paper.png", 1.5, (0.05, 0.85), 0.7, 35.0, "hts2a.wav", 0.4,
     128, True),
    ("paper (weak) 75 % over gravel, 256 px wide", PENTAX, "paper.png", "gravel.png", 1.0, (0.1, 0.85), 0.6, 0.0,
     "morig.wav", None, 256, True),
]


def _h264(frames_path, out, fps, bpp):
    """Encode a .npy clip as H.264 (libx264, yuv420p) at ``bpp`` bits per pixel per frame; returns Mbit/s."""
    import av

    a = np.load(frames_path, mmap_mode="r")
    n, h, w = a.shape
    with av.open(out, mode="w") as c:
        s = c.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.bit_rate = int(bpp * w * h * fps)
        buf = np.full((h * 3 // 2, w), 128, np.uint8)  # luma = the frame, chroma flat
        for i in range(n):
            buf[:h] = a[i]
            f = av.VideoFrame.from_ndarray(buf, format="yuv420p")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return os.path.getsize(out) * 8 / (n / fps) / 1e6


def frame_rate_lines(x, t, rate, fps, band):
    """Lines at multiples of the frame rate, in the recovery and in the truth, in dB.

    For every ``k fps`` below ``band``: the mean power within +-1 Hz over the median power 3-25 Hz
    away (dB above the local floor). Speech itself puts some multiples a few dB above their floor
    (on a 3 s clip the truth's strongest reaches ~5 dB), so the recovery is compared with the
    truth: returns the strongest recovered level, the strongest true level, and the mean over
    ``k`` of recovered minus true level (a systematic frame-rate artefact makes it positive: the
    lines a still background used to leave were 11-16 dB above the floor at every multiple).
    """
    def levels(y):
        n = len(y)
        f = np.fft.rfftfreq(n, 1 / rate)
        p = np.abs(np.fft.rfft((y - y.mean()) * np.hanning(n))) ** 2
        out = []
        for k in range(1, int(band / fps) + 1):
            on = np.abs(f - k * fps) <= 1.0
            near = (np.abs(f - k * fps) > 3) & (np.abs(f - k * fps) < 25)
            out.append(10 * np.log10(p[on].mean() / np.median(p[near])))
        return np.array(out)

    a, b = levels(x), levels(t)
    return float(a.max()), float(b.max()), float(np.mean(a - b))


def real_scene_figures(folder, data):
    print("\n== 5. Real scenes: still background, natural textures, weak texture, H.264, no ROI given ==")
    print("(speech 0.05 px RMS, read noise 2 grey levels, 3 s; rows marked * were held out while developing)")
    hdr = (f"{'scene':50s} {'timing':6s} {'corr':>5s} {'STOI':>5s} {'lines rec/true':>14s} {'excess':>6s} "
           f"{'filled':>6s} {'band':>5s} {'auto-ROI corr':>13s} {'secs':>5s}")
    print(hdr)
    for (label, cam, obj, bg, blur, cover, contrast, angle, voice, bpp, cols, held) in REAL_SCENES:
        rows = cam["rows"]
        shp = (rows + 16, cols + 16)
        seed = 11 if held else 5
        sound = _voice(data, voice, 3.0) if voice else speech(data, 3.0)[0]
        kw = {}
        if cover != (0.0, 1.0):
            kw["object_mask"] = sim.object_rows_mask((rows, cols), cover)
            kw["background"] = _texture(data, bg, shp, blur, seed + 1)
        tex = (sim.make_texture("pink", shp, seed=3) if obj is None else _texture(data, obj, shp, blur, seed))
        sc = sim.RollingShutterScene(texture=tex, sound=sound, sound_rate=SOUND_RATE, fps=cam["fps"],
                                     line_delay=cam["line_delay"], exposure=cam["exposure"], shape=(rows, cols),
                                     rms_px=0.05, noise_sigma=2.0, contrast=contrast, direction_deg=angle, seed=seed,
                                     **kw)
        name = f"real{REAL_SCENES.index((label, cam, obj, bg, blur, cover, contrast, angle, voice, bpp, cols, held))}"
        path = save_npy(sc, os.path.join(folder, name + ".npy"))
        if bpp:
            mp4 = os.path.join(folder, name + ".mp4")
            _h264(path, mp4, cam["fps"], bpp)
            path = mp4
        timing = "pentax" if cam is PENTAX else "phone"
        res = {}
        for roi in (None, "auto"):
            rec, secs, _ = run(sc, path, line_delay=cam["line_delay"], exposure=cam["exposure"], roi=roi)
            t_true = truth(sc, rec)
            res[roi] = (rec, secs, correlation(t_true, rec.audio, max_lag=0), t_true)
        rec, secs, rho, t_true = res[None]
        st = stoi(t_true, rec.audio, rate=rec.rate, max_lag=0)
        d = rec.diagnostics
        top, top_true, excess = frame_rate_lines(rec.audio, t_true, rec.rate, sc.fps, min(d["band_hz"], 2000.0))
        mark = "* " if held else "  "
        print(f"{mark + label:50s} {timing:6s} {rho:5.3f} {st:5.3f} {top:6.1f} / {top_true:5.1f} {excess:6.1f}"
              f" {d['filled_fraction'] * 100:5.0f}% {d['band_hz']:5.0f} {res['auto'][2]:13.3f} {secs:5.1f}")
    print("lines rec/true: the strongest multiple of the frame rate in dB above its local floor, in the recovery "
          "and in the truth; excess: their mean difference over the multiples below the band (dB)")


def long_lines_figures(folder, data):
    """The issue's scene over 12 s (four voices), where the line levels scatter less than on 3 s."""
    print("\n== 6. Frame-rate lines over 12 s: stone over 70 % of the rows, brick behind, Pentax timing, no ROI ==")
    parts = [speech(data, 4.0)[0]] + [_voice(data, v, d) for v, d in (("hts1a.wav", 3.0), ("hts2a.wav", 3.0),
                                                                      ("morig.wav", 2.0))]
    sound = np.concatenate([p / np.std(p) for p in parts])
    cam, cols = PENTAX, 128
    rows = cam["rows"]
    shp = (rows + 16, cols + 16)
    sc = sim.RollingShutterScene(
        texture=_texture(data, "gravel.png", shp, 0.8, 5), background=_texture(data, "brick.png", shp, 0.8, 6),
        object_mask=sim.object_rows_mask((rows, cols), (0.15, 0.85)), sound=sound, sound_rate=SOUND_RATE,
        fps=cam["fps"], line_delay=cam["line_delay"], exposure=cam["exposure"], shape=(rows, cols), rms_px=0.05,
        noise_sigma=2.0, seed=5)
    path = save_npy(sc, os.path.join(folder, "long.npy"))
    rec, secs, _ = run(sc, path, line_delay=cam["line_delay"], exposure=cam["exposure"])
    t_true = truth(sc, rec)
    band = min(rec.diagnostics["band_hz"], 2000.0)
    n = len(rec.audio)
    f = np.fft.rfftfreq(n, 1 / rec.rate)

    def levels(y):
        p = np.abs(np.fft.rfft((y - y.mean()) * np.hanning(n))) ** 2
        out = []
        for k in range(1, int(band / sc.fps) + 1):
            on = np.abs(f - k * sc.fps) <= 1.0
            near = (np.abs(f - k * sc.fps) > 3) & (np.abs(f - k * sc.fps) < 25)
            out.append(10 * np.log10(p[on].mean() / np.median(p[near])))
        return np.array(out)

    a, b = levels(rec.audio), levels(t_true)
    not_true = b < 3.0
    print(f"correlation {correlation(t_true, rec.audio, max_lag=0):.3f}, {len(a)} multiples of {sc.fps} Hz below "
          f"{band:.0f} Hz, {rec.diagnostics['filled_fraction'] * 100:.0f} % filled, {secs:.1f} s")
    print(f"recovered level above the local floor: median {np.median(a):.1f} dB, max {a.max():.1f} dB "
          f"(truth: median {np.median(b):.1f}, max {b.max():.1f}); where the truth has no line (< 3 dB): max "
          f"{a[not_true].max():.1f} dB at {(np.flatnonzero(not_true)[np.argmax(a[not_true])] + 1) * sc.fps:.0f} Hz; "
          f"multiples above 5 dB that the truth lacks: {int(np.sum((a > 5) & (a - b > 3)))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="the shared data folder (for CMU ARCTIC speech)")
    ap.add_argument("--cols", type=int, default=128, help="ROI width in pixels (default 128)")
    ap.add_argument("--only", choices=("reference", "real", "lines"),
                    help="run only sections 1-4, only 5-6, or only 6")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if a.only == "lines":
            long_lines_figures(folder, a.data)
            return
        if a.only != "real":
            tone_figures(folder, a.cols)
            speech_scene = speech_figures(folder, a.cols, a.data)
            phone_figures(folder, a.cols, a.data)
            line_delay_figures(folder, a.cols, speech_scene)
        if a.only != "reference":
            real_scene_figures(folder, a.data)
            long_lines_figures(folder, a.data)


if __name__ == "__main__":
    main()
