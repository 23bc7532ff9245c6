"""Quality figures for docs/quality.md: recovered SNR against the Cramer-Rao bound and baselines.

Prints tables; it is not a test.  Usage::

    .venv/bin/python benchmarks/quality.py                 # procedural textures only
    .venv/bin/python benchmarks/quality.py --data ../shared/data   # + real textures, speech, clips

Every scene is rendered by vismic.simulate (which shares no code with the estimator), saved as a
raw .npy stack, recovered with vismic.pipeline.recover, and scored against the true motion after
the same high-pass as the recovery's (``rec.params.highpass``; the default is 40 Hz).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np

from vismic import simulate as sim
from vismic.denoise import default_highpass, highpass
from vismic.metrics import correlation, score, snr
from vismic.motion import global_lucas_kanade
from vismic.pipeline import RecoveryParams, recover

RATE = 2200.0


def make_scene(*, texture, sound, rms=0.01, sigma=2.0, shape=(128, 128), rate=RATE, seed=0, **kw):
    return sim.Scene(texture=texture, sound=sound, rate=rate, rms_px=rms, shape=shape, noise_sigma=sigma,
                     seed=seed, **kw)


def frames_of(scene, path):
    frames = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                       shape=(scene.n_frames, *scene.shape))
    i = 0
    for b in scene.frames(batch=256):
        frames[i : i + len(b)] = b
        i += len(b)
    frames.flush()
    return np.load(path, mmap_mode="r")


def recovered_snr(scene, path, **params):
    rec = recover(path, RecoveryParams(fps=scene.rate, **params))
    truth = highpass(scene.truth(), rate=scene.rate, cutoff=rec.params.highpass)
    return snr(truth, rec.audio, max_lag=3), rec


def lk_snr(scene, frames):
    hp = default_highpass(scene.rate)[0]
    lk = highpass(global_lucas_kanade(np.asarray(frames, dtype=np.float64)), rate=scene.rate, cutoff=hp)
    truth = highpass(scene.truth(), rate=scene.rate, cutoff=hp)
    return snr(truth, lk, max_lag=3)


CONFIGS = {
    "default": {},
    "paper pyramid (4x2, no high band)": {"high_band": False, "orientations": 2},
    "2 orientations": {"orientations": 2},
    "one region (grid 1x1)": {"grid": (1, 1)},
    "reference-frame phase": {"mode": "reference"},
}


def table_crb(textures, tmp):
    print("\n## Rigid scenes: recovered SNR vs the Cramer-Rao bound (dB), 1 s of band-limited noise at 2200 fps")
    print("| texture | rms px | sigma | CRB | Lucas-Kanade | " + " | ".join(CONFIGS) + " |")
    print("|---" * (4 + len(CONFIGS)) + "|")
    gaps = []
    for tname, tex in textures.items():
        for rms, sigma in ((0.003, 1.0), (0.01, 2.0), (0.03, 3.0)):
            sound = sim.builtin_sound("noise", rate=RATE, duration=1.0, seed=1)
            sc = make_scene(texture=tex, sound=sound, rms=rms, sigma=sigma)
            path = os.path.join(tmp, "s.npy")
            frames = frames_of(sc, path)
            bound = sc.cramer_rao()["snr_db"]
            row = [tname, f"{rms}", f"{sigma}", f"{bound:.2f}", f"{lk_snr(sc, frames):.2f}"]
            for name, p in CONFIGS.items():
                got, _ = recovered_snr(sc, path, **p)
                row.append(f"{got:.2f}")
                if name == "default":
                    gaps.append(bound - got)
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"\ndefault: gap to the bound mean {np.mean(gaps):.2f} dB, worst {np.max(gaps):.2f} dB")


def table_modes(tex, tmp):
    print("\n## Mode shapes, drift and flicker (pink texture, 128x128, 0.01 px, sigma 2, 2 s noise sound)")
    print("| scene | SNR dB | correlation |")
    print("|---|---|---|")
    cases = {
        "rigid": {},
        "halves in opposite phase": {"mode": "halves"},
        "halves in phase (control)": {"mode": "halves-in-phase"},
        "membrane (first drum mode)": {"mode": "membrane"},
        "10 px drift + 1% 120 Hz flicker": {"drift_px": 10.0, "flicker": 0.01},
        "10 px drift + flicker, reference-frame phase": {"drift_px": 10.0, "flicker": 0.01, "_mode": "reference"},
    }
    for name, kw in cases.items():
        kw = dict(kw)
        pmode = kw.pop("_mode", "increment")
        sound = sim.builtin_sound("noise", rate=RATE, duration=2.0, seed=2)
        sc = make_scene(texture=tex, sound=sound, **kw)
        path = os.path.join(tmp, "m.npy")
        frames_of(sc, path)
        got, rec = recovered_snr(sc, path, mode=pmode)
        truth = highpass(sc.truth(), rate=RATE, cutoff=rec.params.highpass)
        print(f"| {name} | {got:.2f} | {correlation(truth, rec.audio, max_lag=3):.3f} |", flush=True)


def _object_mask(shape, frac=0.6, soft=2.0):
    """A centred object covering ``frac`` of each axis, soft-edged; the rest is still background."""
    rows, cols = shape
    y = np.arange(rows)[:, None] - (rows - 1) / 2
    x = np.arange(cols)[None, :] - (cols - 1) / 2
    ry, rx = frac * rows / 2, frac * cols / 2
    edge = np.minimum(ry - np.abs(y), rx - np.abs(x))
    return np.clip(0.5 + edge / (2 * soft), 0.0, 1.0)


def table_realistic(textures, speech, tmp):
    """Issue 15: weak texture, lens blur, non-rigid modes at 0.005 px, objects over a still
    background, drift with flicker, 20 kHz small frames: each mode beside the bound and Lucas-Kanade."""
    print("\n## Realistic scenes: correlation with the truth (2 s, 2200 fps, 128x128 unless said)")
    print("| scene | CRB SNR dB | Lucas-Kanade | exact anchored | increment | reference | fast | default (auto: its "
          "choice) | exact's fusion |")
    print("|---|---|---|---|---|---|---|---|---|")
    pink = textures["pink (procedural)"]
    cases = [("membrane 0.005 px, pink, contrast 0.2, sigma 3", pink,
              dict(rms=0.005, sigma=3.0, mode="membrane", contrast=0.2))]
    for name, blur, sigma in (("crinklepaper", 1.0, 3.0), ("gravel", 1.0, 5.0)):
        key = f"{name} (photo)"
        if key in textures:
            cases.append((f"membrane 0.005 px, {name} blurred {blur} px, sigma {sigma:g}",
                          sim.blur_texture(textures[key], blur), dict(rms=0.005, sigma=sigma, mode="membrane")))
    obj = "gravel (photo)" if "gravel (photo)" in textures else "pink (procedural)"
    cases.append((f"rigid object over 36% of the frame, still background ({obj.split()[0]}, blur 1 px), 0.005 px",
                  sim.blur_texture(textures[obj], 1.0), dict(rms=0.005, sigma=2.0, mode=_object_mask((128, 128)))))
    cases.append(("membrane 0.005 px + 10 px drift + 1% 120 Hz flicker, pink, sigma 2", pink,
                  dict(rms=0.005, sigma=2.0, mode="membrane", drift_px=10.0, flicker=0.01)))
    obj_case = cases[-2]
    for bpp in (1.0, 0.3):
        cases.append((f"  same object, H.264 {bpp:g} bit/px", obj_case[1], {**obj_case[2], "_bpp": bpp}))
    for name, tex, kw in cases:
        kw = dict(kw)
        bpp = kw.pop("_bpp", None)
        sound = sim.builtin_sound("noise", rate=RATE, duration=2.0, seed=2)
        sc = make_scene(texture=tex, sound=sound, **kw)
        _realistic_row(name, sc, tmp, bpp=bpp)
    voice = next((x for k, x in speech.items() if "arctic" in k), None)
    rate = 20000.0
    words = (sim.load_sound(os.path.join(_DATA, "audio", "arctic_a0007.wav"), rate) if voice is not None and _DATA
             else sim.builtin_sound("melody", rate=rate, duration=2.0))
    sc = make_scene(texture=sim.make_texture("pink", (128, 128), seed=0), sound=words[: int(2 * rate)], rms=0.02,
                    sigma=2.0, shape=(96, 96), rate=rate)
    _realistic_row("20 kHz, 96x96, speech, rigid 0.02 px, sigma 2", sc, tmp)


def _realistic_row(name, sc, tmp, bpp=None):
    path = os.path.join(tmp, "r.npy")
    frames = frames_of(sc, path)
    if bpp is not None:  # what the camera wrote: H.264, decoded again for every estimator
        from rolling_shutter_quality import _h264  # the same encoder as the rolling-shutter benchmark

        from vismic.io import open_source

        npy, path = path, os.path.join(tmp, "r.mp4")
        _h264(npy, path, sc.rate, bpp)
        with open_source(path) as src:
            frames = np.concatenate(list(src.iter_batches(batch=256)))
    out = {}
    fusion = ""
    chose = ""
    for mode in ("anchored", "increment", "reference", "fast", "auto"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = recover(path, RecoveryParams(fps=sc.rate, mode=mode))
        truth = highpass(sc.truth(), rate=sc.rate, cutoff=rec.params.highpass)
        out[mode] = correlation(truth, rec.audio, max_lag=3)
        if mode == "anchored":
            fusion = f"{rec.diagnostics['fusion']} ({rec.diagnostics['fusion_agreement']:.2f})"
        if mode == "auto":
            chose = rec.diagnostics["mode"]["chosen"]
    hp = default_highpass(sc.rate)[0]
    lk = highpass(global_lucas_kanade(np.asarray(frames, dtype=np.float64)), rate=sc.rate, cutoff=hp)
    lk_c = correlation(highpass(sc.truth(), rate=sc.rate, cutoff=hp), lk, max_lag=3)
    print(f"| {name} | {sc.cramer_rao()['snr_db']:.1f} | {lk_c:.3f} | {out['anchored']:.3f} | {out['increment']:.3f} | "
          f"{out['reference']:.3f} | {out['fast']:.3f} | {out['auto']:.3f}: {chose} | {fusion} |", flush=True)


_DATA = None


def _box_mask(shape, box, soft=1.0):
    x, y, w, h = box
    rr = np.arange(shape[0])[:, None]
    cc = np.arange(shape[1])[None, :]
    edge = np.minimum(np.minimum(rr - y + 0.5, y + h - 0.5 - rr), np.minimum(cc - x + 0.5, x + w - 0.5 - cc))
    return np.clip(0.5 + edge / (2 * soft), 0.0, 1.0)


def table_auto_roi(textures, speech, tmp):
    """Issue 15 item 3: --roi auto against the hand-picked object box, rigid object over a still
    background of the same (lens-blurred) texture: only the motion tells them apart."""
    print("\n## Automatic ROI vs the object's box (192x192, 2.5 s of speech at 2200 fps, blur 1 px)")
    print("| texture | object box | rms px | sigma | SNR hand box | SNR --roi auto | auto - hand | whole frame "
          "| auto box |")
    print("|---|---|---|---|---|---|---|---|---|")
    voice = next((x for k, x in speech.items() if "arctic" in k), None)
    sound = voice if voice is not None else sim.builtin_sound("melody", rate=RATE, duration=2.5)
    sound = sound[: int(2.5 * RATE)]
    shape = (192, 192)
    cases = [("pink (procedural)", (50, 50, 64, 64), 0.005, 3.0), ("gravel (photo)", (40, 56, 96, 80), 0.01, 2.0),
             ("crinklepaper (photo)", (70, 30, 80, 110), 0.01, 2.0), ("brick (photo)", (20, 100, 120, 70), 0.005, 2.0),
             ("burlap (photo)", (96, 20, 90, 90), 0.005, 2.0)]
    for key, box, rms, sigma in cases:
        if key not in textures:
            continue
        big = sim.make_texture("pink", (240, 240), seed=3) if key.startswith("pink") else sim.load_texture(
            os.path.join(_DATA, "textures", key.split()[0] + ".png"), shape=(240, 240))
        sc = sim.Scene(texture=sim.blur_texture(big, 1.0), sound=sound, rate=RATE, rms_px=rms, shape=shape,
                       noise_sigma=sigma, mode=_box_mask(shape, box), seed=1)
        path = os.path.join(tmp, "roi.npy")
        frames_of(sc, path)
        got, roi = {}, None
        for name, r in (("hand", box), ("auto", "auto"), ("whole", None)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rec = recover(path, RecoveryParams(fps=RATE, roi=r))
            got[name] = snr(highpass(sc.truth(), rate=RATE, cutoff=rec.params.highpass), rec.audio, max_lag=3)
            if name == "auto":
                roi = rec.input["roi"]
        print(f"| {key} | {list(box)} | {rms} | {sigma:g} | {got['hand']:.2f} | {got['auto']:.2f} | "
              f"{got['auto'] - got['hand']:+.2f} | {got['whole']:.2f} | {roi} |", flush=True)


def table_speech(speech, tex, tmp):
    print("\n## Speech and music scenes (pink texture 128x128, sigma 2), full score against the truth")
    print("| sound | rms px | SNR | SSNR | LLR | STOI | CRB SNR |")
    print("|---|---|---|---|---|---|---|")
    for name, x in speech.items():
        for rms in (0.005, 0.02):
            sc = make_scene(texture=tex, sound=x, rms=rms)
            path = os.path.join(tmp, "sp.npy")
            frames_of(sc, path)
            rec = recover(path, RecoveryParams(fps=RATE))
            r = score(sc.truth(), rec.audio, rate_reference=RATE, rate_estimate=RATE,
                      highpass=rec.params.highpass)
            stoi = f"{r['stoi']:.3f}" if r["stoi"] is not None else "n/a"
            print(f"| {name} | {rms} | {r['snr_db']:.2f} | {r['segmental_snr_db']:.2f} | {r['llr']:.3f} | {stoi} | "
                  f"{sc.cramer_rao()['snr_db']:.2f} |", flush=True)


def real_clip(path):
    print(f"\n## Real clip {path} at 600 fps (filmed at 600 fps; container says 29.97)")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = recover(path, RecoveryParams(fps=600.0))
    import scipy.signal as ss

    f, p = ss.welch(rec.audio, fs=600.0, nperseg=256)
    peaks, _ = ss.find_peaks(p, prominence=p.max() * 0.05)
    top = sorted(peaks, key=lambda i: -p[i])[:4]
    print(f"estimated SNR {rec.diagnostics['estimated_snr_db']:.1f} dB, {time.perf_counter() - t0:.1f} s; "
          f"spectral peaks (Hz, strongest first): {', '.join(f'{f[i]:.1f}' for i in top)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="folder with textures/, audio/ and video/ (e.g. ../shared/data)")
    ap.add_argument("--quick", action="store_true", help="pink texture only, no speech table")
    ap.add_argument("--only", choices=("crb", "modes", "realistic", "roi", "speech"), help="one table only")
    a = ap.parse_args(argv)
    global _DATA
    _DATA = a.data
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    textures = {"pink (procedural)": sim.make_texture("pink", (160, 160), seed=0)}
    if not a.quick:
        textures["white (procedural)"] = sim.make_texture("white", (160, 160), seed=0)
    speech = {"melody (built-in)": sim.builtin_sound("melody", rate=RATE, duration=2.0)}
    if a.data:
        tdir = os.path.join(a.data, "textures")
        for name in ("crinklepaper", "gravel", "brick", "burlap"):
            p = os.path.join(tdir, f"{name}.png")
            if os.path.exists(p):
                textures[f"{name} (photo)"] = sim.load_texture(p, shape=(160, 160))
        adir = os.path.join(a.data, "audio")
        for name in ("morig", "forig", "arctic_a0007"):
            p = os.path.join(adir, f"{name}.wav")
            if os.path.exists(p):
                speech[f"{name} (speech)"] = sim.load_sound(p, RATE)
    with tempfile.TemporaryDirectory() as tmp:
        if a.only in (None, "crb"):
            table_crb(textures, tmp)
        if a.only in (None, "modes"):
            table_modes(textures["pink (procedural)"], tmp)
        if a.only in (None, "realistic"):
            table_realistic(textures, speech, tmp)
        if a.only in (None, "roi"):
            table_auto_roi(textures, speech, tmp)
        if not a.quick and a.only in (None, "speech"):
            table_speech(speech, textures["pink (procedural)"], tmp)
    if a.only is None and a.data and os.path.exists(os.path.join(a.data, "video", "guitar.mp4")):
        real_clip(os.path.join(a.data, "video", "guitar.mp4"))


if __name__ == "__main__":
    main()
