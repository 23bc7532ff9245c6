"""Voice-report figures for docs/analysis.md and docs/quality.md: gender and speaker count on recovered speech.

Prints tables; it is not a test.  Usage::

    .venv/bin/python benchmarks/voice_quality.py --data ../shared/data

Real speech (codec2's ``morig`` = male, ``forig`` = female; CMU ARCTIC ``arctic_a0007`` and codec2's
``hts1a``/``hts2a`` whose speakers' genders the data README does not state) is resampled to the capture
rate and drives the motion of a rendered scene (vismic.simulate; exact Fourier shifts, read noise
``sigma`` grey levels, 8-bit), at several motion levels. The sound is recovered with
vismic.pipeline.recover (defaults) and :func:`vismic.analysis.voice.voice_report` is run on
``Recovery.audio``. The recovered SNR is measured against the true motion after the recovery's own high-pass.
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
from vismic.analysis.voice import voice_report
from vismic.denoise import highpass
from vismic.metrics import snr
from vismic.pipeline import RecoveryParams, recover

RATE = 2200.0
LEVELS = (0.001, 0.002, 0.005, 0.01, 0.02)
TRUTH = {"morig": "male", "forig": "female"}


def recovered(sound, tex, *, rms, sigma=2.0, shape=(128, 128), seed=0, tmp):
    scene = sim.Scene(texture=tex, sound=sound, rate=RATE, rms_px=rms, shape=shape, noise_sigma=sigma, seed=seed)
    path = os.path.join(tmp, "s.npy")
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(scene.n_frames, *scene.shape))
    i = 0
    for b in scene.frames(batch=256):
        mm[i : i + len(b)] = b
        i += len(b)
    mm.flush()
    del mm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = recover(path, RecoveryParams(fps=RATE))
    truth = highpass(scene.truth(), rate=RATE, cutoff=rec.params.highpass)
    return rec, snr(truth, rec.audio, max_lag=3)


def fmt_gender(v) -> str:
    return v.gender if v.gender == "unknown" else f"{v.gender} ({v.gender_confidence:.2f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with audio/ and textures/ (e.g. ../shared/data)")
    ap.add_argument("--seeds", type=int, default=2, help="noise seeds per scene (default 2)")
    a = ap.parse_args(argv)
    audio = os.path.join(a.data, "audio")
    names = ["morig", "forig", "arctic_a0007", "hts1a", "hts2a"]
    speech = {n: sim.load_sound(os.path.join(audio, f"{n}.wav"), RATE) for n in names}
    textures = {"pink (procedural)": sim.make_texture("pink", (160, 160), seed=0)}
    crinkle = os.path.join(a.data, "textures", "crinklepaper.png")
    if os.path.exists(crinkle):
        textures["crinklepaper (photo)"] = sim.load_texture(crinkle, shape=(160, 160))
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        print("\n### Clean speech (no video): the reference F0 and labels, at 2200 Hz")
        print("| sound | truth | median F0 Hz | voiced fraction | gender (confidence) | speakers |")
        print("|---|---|---|---|---|---|")
        for n, s in speech.items():
            v = voice_report(s, rate=RATE)
            print(f"| {n} | {TRUTH.get(n, 'not documented')} | {v.median_f0_hz:.1f} | {v.voiced_fraction:.2f} | "
                  f"{fmt_gender(v)} | {v.speakers['count']} |")

        print(f"\n### Recovered from rendered scenes (128x128, sigma 2, 2200 fps; {a.seeds} noise seeds each)")
        print("| sound | truth | texture | rms px | recovered SNR dB | median F0 Hz | voiced fraction | "
              "gender (confidence) | speakers |")
        print("|---|---|---|---|---|---|---|---|---|")
        tally: dict[float, list[str]] = {r: [] for r in LEVELS}
        for n, s in speech.items():
            for tname, tex in textures.items():
                for rms in LEVELS:
                    cells = []
                    for seed in range(a.seeds):
                        rec, got = recovered(s, tex, rms=rms, seed=seed, tmp=tmp)
                        v = voice_report(rec.audio, rate=rec.rate)
                        cells.append((got, v))
                        if n in TRUTH:
                            tally[rms].append("right" if v.gender == TRUTH[n] else
                                              "unknown" if v.gender == "unknown" else "WRONG")
                    snrs = "/".join(f"{c[0]:.1f}" for c in cells)
                    f0 = "/".join("-" if c[1].median_f0_hz is None else f"{c[1].median_f0_hz:.1f}" for c in cells)
                    vf = "/".join(f"{c[1].voiced_fraction:.2f}" for c in cells)
                    g = "/".join(fmt_gender(c[1]) for c in cells)
                    spk = "/".join(str(c[1].speakers["count"]) for c in cells)
                    print(f"| {n} | {TRUTH.get(n, 'n/d')} | {tname} | {rms} | {snrs} | {f0} | {vf} | {g} | {spk} |")
                    sys.stdout.flush()

        print("\n### Gender on morig/forig by motion level (all textures and seeds)")
        print("| rms px | right | unknown | wrong |")
        print("|---|---|---|---|")
        for rms, t in tally.items():
            print(f"| {rms} | {t.count('right')} | {t.count('unknown')} | {t.count('WRONG')} |")

        print("\n### Two speakers: morig then forig (one after the other), pink texture")
        print("| rms px | recovered SNR dB | speakers | groups (median F0 Hz, share, gender) | overall gender |")
        print("|---|---|---|---|---|")
        pair = np.concatenate([speech["morig"], speech["forig"]])
        tex = textures["pink (procedural)"]
        for rms in LEVELS:
            rec, got = recovered(pair, tex, rms=rms, tmp=tmp)
            v = voice_report(rec.audio, rate=rec.rate)
            groups = "; ".join(f"{g['median_f0_hz']:.0f} Hz, {g['share']:.2f}, {g['gender']}"
                               for g in v.speakers["groups"]) or "-"
            print(f"| {rms} | {got:.1f} | {v.speakers['count']} | {groups} | {v.gender} |")
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
