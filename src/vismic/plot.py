"""Figures. Functions take ``ax=None`` and return the artist they drew; matplotlib is loaded lazily
with the non-interactive Agg backend, so nothing here needs a display."""

from __future__ import annotations

import numpy as np
import scipy.signal as ss

__all__ = ["spectrogram", "spectrum", "save_spectrogram"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def spectrogram(x: np.ndarray, *, rate: float, ax=None, dynamic_range_db: float = 70.0):
    """Draw the spectrogram of ``x`` (Hann windows of ~40 ms or 1/8 of the clip, 75 % overlap).

    Returns the ``QuadMesh`` drawn.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    x = np.asarray(x, dtype=np.float64)
    # ~40 ms windows, but at least 128 samples (frequency resolution) and at most a quarter clip
    nper = int(max(16, min(max(128, 2 ** round(np.log2(max(rate * 0.04, 1)))), len(x) // 4)))
    f, t, s = ss.spectrogram(x, fs=rate, window="hann", nperseg=nper, noverlap=7 * nper // 8)
    db = 10 * np.log10(s + 1e-20)
    top = db.max()
    mesh = ax.pcolormesh(t, f, db, shading="auto", vmin=top - dynamic_range_db, vmax=top, cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    return mesh


def spectrum(x: np.ndarray, *, rate: float, ax=None, n_peaks: int = 3):
    """Draw the average power spectrum (Welch) of ``x`` in dB and mark its strongest peaks.

    Returns the ``Line2D`` drawn.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    x = np.asarray(x, dtype=np.float64)
    nper = int(min(len(x), max(256, 2 ** round(np.log2(max(rate * 0.2, 1))))))
    f, p = ss.welch(x, fs=rate, nperseg=nper)
    db = 10 * np.log10(p + 1e-20)
    (line,) = ax.plot(f, db, lw=1)
    peaks, props = ss.find_peaks(db, prominence=6.0)
    for i in sorted(peaks, key=lambda k: -db[k])[:n_peaks]:
        ax.annotate(f"{f[i]:.1f} Hz", (f[i], db[i]), textcoords="offset points", xytext=(3, 3), fontsize=8)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("power (dB)")
    ax.set_xlim(0, rate / 2)
    return line


def save_spectrogram(recovery, path: str) -> str:
    """Spectrogram PNG of a :class:`~vismic.pipeline.Recovery` (raw fused signal and final audio)."""
    from .io.audio import atomic_path

    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), constrained_layout=True,
                             gridspec_kw={"height_ratios": [1, 1, 0.8]})
    m0 = spectrogram(recovery.raw, rate=recovery.rate, ax=axes[0])
    axes[0].set_title("fused motion signal (high-passed)")
    m1 = spectrogram(recovery.audio, rate=recovery.rate, ax=axes[1])
    post = []
    if recovery.diagnostics.get("notched_hz"):
        post.append("notched")
    if recovery.params.denoise != "none":
        post.append(recovery.params.denoise)
    axes[1].set_title("output" + (f" ({', '.join(post)})" if post else ""))
    fig.colorbar(m0, ax=axes[0], label="dB")
    fig.colorbar(m1, ax=axes[1], label="dB")
    spectrum(recovery.audio, rate=recovery.rate, ax=axes[2])
    axes[2].set_title("average spectrum of the output (strongest peaks marked)")
    snr = recovery.diagnostics.get("estimated_snr_db")
    fig.suptitle(
        f"{recovery.input.get('path', '')}  |  {recovery.rate:g} Hz  |  est. SNR {snr:.1f} dB"
        if snr is not None else f"{recovery.rate:g} Hz"
    )
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
