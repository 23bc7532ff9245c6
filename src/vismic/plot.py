"""Figures. Functions take ``ax=None`` and return the artist they drew; matplotlib is loaded lazily
with the non-interactive Agg backend, so nothing here needs a display."""

from __future__ import annotations

import numpy as np
import scipy.signal as ss

from .io.atomic import atomic_path

__all__ = ["spectrogram", "spectrum", "save_spectrogram", "pitch_track", "vibration_map", "save_vibration_map",
           "motion_spectrum", "save_motion_spectrum", "deflection_shape", "save_deflection_shapes",
           "save_deflection_animation"]


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
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), constrained_layout=True,
                             gridspec_kw={"height_ratios": [1, 1, 0.8]})
    m0 = spectrogram(recovery.raw, rate=recovery.rate, ax=axes[0])
    axes[0].set_title("fused motion signal (high-passed)")
    m1 = spectrogram(recovery.audio, rate=recovery.rate, ax=axes[1])
    band = recovery.diagnostics.get("band_hz")  # a rolling-shutter recovery: content only up to its band
    fmax = min(recovery.rate / 2, 1.25 * band) if band else recovery.rate / 2
    post = []
    if recovery.diagnostics.get("notched_hz"):
        post.append("notched")
    if recovery.params.denoise != "none":
        post.append(recovery.params.denoise)
    axes[1].set_title("output" + (f" ({', '.join(post)})" if post else ""))
    fig.colorbar(m0, ax=axes[0], label="dB")
    fig.colorbar(m1, ax=axes[1], label="dB")
    line = spectrum(recovery.audio, rate=recovery.rate, ax=axes[2])
    axes[2].set_title("average spectrum of the output (strongest peaks marked)")
    if fmax < recovery.rate / 2:
        for ax in axes[:2]:
            ax.set_ylim(0, fmax)
        axes[2].set_xlim(0, fmax)
        shown = line.get_ydata()[line.get_xdata() <= fmax]
        axes[2].set_ylim(shown.max() - 80, shown.max() + 8)
    snr = recovery.diagnostics.get("estimated_snr_db")
    filled = recovery.diagnostics.get("filled_fraction")
    fig.suptitle(
        (f"{recovery.input.get('path', '')}  |  {recovery.rate:g} Hz  |  est. SNR {snr:.1f} dB"
         if snr is not None else f"{recovery.rate:g} Hz")
        + (f"  |  rolling shutter, {100 * filled:.0f} % of samples filled" if filled is not None else "")
    )
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def pitch_track(voice, ax=None):
    """Draw an F0 track (a :class:`~vismic.analysis.voice.VoiceReport` or ``PitchTrack``: ``times``, ``f0``).

    Voiced frames are dots (log-frequency axis); the median F0 and the male/female boundary of the
    gender model (158.7 Hz) are marked when the object carries them. Returns the ``Line2D`` of the dots.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    times = np.asarray(voice.times, dtype=np.float64)
    f0 = np.asarray(voice.f0, dtype=np.float64)
    (line,) = ax.plot(times, f0, ".", ms=3, color="C0", label="F0 (voiced frames)")
    ax.set_yscale("log")
    ax.set_ylim(50, 500)
    ax.set_yticks([60, 80, 100, 150, 200, 300, 400])
    ax.set_yticklabels(["60", "80", "100", "150", "200", "300", "400"])
    ax.minorticks_off()
    ax.axhline(158.7, color="0.6", lw=0.8, ls=":", label="male/female boundary (158.7 Hz)")
    median = getattr(voice, "median_f0_hz", None)
    if median:
        ax.axhline(median, color="C1", lw=1.2, label=f"median {median:.0f} Hz")
    if len(times):
        ax.set_xlim(0, max(float(times[-1]), 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("F0 (Hz)")
    ax.legend(loc="upper right", fontsize=7)
    return line


def _tile_edges(vmap) -> tuple[np.ndarray, np.ndarray]:
    """Column and row edges (full-frame pixels) of a vibration map's tile grid."""
    rows, cols = vmap.grid
    t = vmap.tiles
    xs = [t[j][0] for j in range(cols)] + [t[cols - 1][0] + t[cols - 1][2]]
    ys = [t[i * cols][1] for i in range(rows)] + [t[(rows - 1) * cols][1] + t[(rows - 1) * cols][3]]
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def vibration_map(vmap, ax=None, quantity: str = "snr_db", *, roi=None, alpha: float = 0.55):
    """Draw a :class:`~vismic.analysis.vibmap.VibrationMap` over the first frame of its region.

    Parameters
    ----------
    vmap : VibrationMap
    ax : matplotlib Axes, optional
    quantity : {"snr_db", "energy", "texture"}
        Per-tile SNR in dB, RMS motion in the band (from ``energy``; in dB re 1 px), or contrast
        (grey levels of 255). Tiles without texture are hatched ("no texture").
    roi : (x, y, w, h), optional
        A box to outline (e.g. the one :func:`~vismic.analysis.vibmap.select_roi` chose).
    alpha : float
        Opacity of the tile colours.

    Returns
    -------
    QuadMesh
        The tile colours (for a colour bar).
    """
    from matplotlib.patches import Rectangle  # matplotlib only when drawing (module docstring)

    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    x0, y0, w, h = vmap.roi
    ax.imshow(vmap.frame, cmap="gray", vmin=0.0, vmax=max(1.0, float(np.nanmax(vmap.frame))),
              extent=(x0, x0 + w, y0 + h, y0), interpolation="nearest")
    if quantity == "snr_db":
        vals, label, cmap = np.asarray(vmap.snr_db, dtype=float), "SNR (dB)", "inferno"
    elif quantity == "energy":
        with np.errstate(divide="ignore"):
            vals = 10 * np.log10(np.asarray(vmap.energy, dtype=float))
        vals[~np.isfinite(vals)] = np.nan
        label, cmap = "RMS motion (dB re 1 px)", "viridis"
    elif quantity == "texture":
        vals, label, cmap = np.asarray(vmap.texture, dtype=float) * 255.0, "contrast (grey levels)", "cividis"
    else:
        raise ValueError(f"quantity={quantity!r} must be snr_db, energy or texture")
    xs, ys = _tile_edges(vmap)
    finite = vals[np.isfinite(vals)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if quantity == "snr_db":
        lo = max(lo, hi - 30.0)
    mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(vals), cmap=cmap, alpha=alpha, vmin=lo,
                         vmax=hi if hi > lo else lo + 1.0, shading="flat")
    mesh.colorbar_label = label
    flat = ~np.isfinite(np.asarray(vmap.snr_db, dtype=float))
    for i, j in zip(*np.nonzero(flat), strict=True):
        ax.add_patch(Rectangle((xs[j], ys[i]), xs[j + 1] - xs[j], ys[i + 1] - ys[i], fill=False, hatch="//",
                               edgecolor="0.7", lw=0.0))
    if flat.any():
        ax.plot([], [], color="0.7", lw=0, marker="s", mfc="none", label="no texture")
    if roi is not None:
        rx, ry, rw, rh = (int(v) for v in roi)
        ax.add_patch(Rectangle((rx, ry), rw, rh, fill=False, edgecolor="cyan", lw=1.8))
        ax.plot([], [], color="cyan", lw=1.8, label=f"ROI {rx},{ry},{rw},{rh}")
    if flat.any() or roi is not None:
        ax.legend(loc="lower right", fontsize=7, framealpha=0.7)
    ax.set_xlim(x0, x0 + w)
    ax.set_ylim(y0 + h, y0)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    return mesh


def save_vibration_map(vmap, path: str, *, roi=None) -> str:
    """PNG of a vibration map: SNR and RMS motion per tile over the first frame (written atomically)."""
    plt = _pyplot()
    x0, y0, w, h = vmap.roi
    wide = w >= h
    fig, axes = plt.subplots(2 if wide else 1, 1 if wide else 2, constrained_layout=True,
                             figsize=(7.5, 2 * 6 * h / w + 1.0) if wide else (2 * 5 * w / h + 2.5, 5.5))
    for ax, q in zip(np.ravel(axes), ("snr_db", "energy"), strict=True):
        mesh = vibration_map(vmap, ax=ax, quantity=q, roi=roi)
        fig.colorbar(mesh, ax=ax, label=mesh.colorbar_label, shrink=0.9)
    lo, hi = vmap.band
    fig.suptitle(f"vibration map, {lo:g}-{hi:g} Hz, {vmap.frames_used} frames at {vmap.rate:g} fps, "
                 f"tiles of {vmap.tile} px", fontsize=10)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def motion_spectrum(spec, ax=None, *, peaks=None, floor=None, regions: bool = True, n_labels: int = 6):
    """Draw a :class:`~vismic.analysis.spectra.MotionSpectrum` in dB re 1 px^2/Hz.

    The whole-ROI spectrum is the thick line; the regions' spectra thin grey lines (``regions``);
    ``floor`` (an array like ``spec.psd``) dashed; ``peaks`` (:class:`~vismic.analysis.spectra.ModalPeak`
    list) marked, the first ``n_labels`` labelled with frequency and damping ratio.

    Returns
    -------
    Line2D
        The whole-ROI spectrum.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    f = np.asarray(spec.freqs, dtype=float)

    def db(p):
        return 10 * np.log10(np.maximum(np.asarray(p, dtype=float), 1e-30))

    if regions and spec.region_psd.shape[0] * spec.region_psd.shape[1] > 1:
        for row in spec.region_psd.reshape(-1, len(f)):
            if np.all(np.isfinite(row)):
                ax.plot(f, db(row), color="0.75", lw=0.6, zorder=1)
        ax.plot([], [], color="0.75", lw=0.6, label="regions")
    (line,) = ax.plot(f, db(spec.psd), color="C0", lw=1.2, label="whole ROI", zorder=3)
    if floor is not None:
        ax.plot(f, db(floor), color="C1", lw=0.8, ls="--", label="noise floor", zorder=2)
    lo, hi = spec.band
    sel = (f >= lo) & (f <= hi)
    if sel.any():
        top = float(db(spec.psd[sel]).max())
        bottom = float(np.percentile(db(spec.psd[sel]), 1))
        ax.set_ylim(bottom - 5, top + 8)
    for k, p in enumerate(peaks or []):
        level = db(np.interp(p.hz, f, spec.psd))
        ax.plot([p.hz], [level], "v", color="C3", ms=5, zorder=4)
        if k < n_labels:
            text = f"{p.hz:.1f} Hz" + (f"\nζ={p.damping:.2g}" if p.damping is not None else "")
            ax.annotate(text, (p.hz, level), textcoords="offset points", xytext=(3, 4), fontsize=7)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("displacement PSD (dB re 1 px²/Hz)")
    ax.legend(loc="upper right", fontsize=7)
    return line


def save_motion_spectrum(spec, path: str, *, peaks=None, floor=None, title: str | None = None) -> str:
    """PNG of a motion spectrum with its peaks (written atomically)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8), constrained_layout=True)
    motion_spectrum(spec, ax=ax, peaks=peaks, floor=floor)
    x, y, w, h = spec.roi
    ax.set_title(title or (f"motion spectrum of ROI {x},{y},{w},{h} ({spec.grid[0]}x{spec.grid[1]} regions), "
                           f"{spec.frames_used} frames at {spec.rate:g} fps, resolution {spec.resolution_hz:.2g} Hz"),
                 fontsize=9)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _shape_frame(ax, background, extent) -> None:
    if background is not None:
        ax.imshow(background, cmap="gray", vmin=0.0, vmax=max(1.0, float(np.nanmax(background))), extent=extent,
                  interpolation="nearest")


def deflection_shape(shape, ax=None, *, background=None, phase_of_cycle: float | None = None):
    """Draw an :class:`~vismic.analysis.deflection.OperatingShape` over a frame.

    Each region is coloured by its signed deflection along the reference direction,
    ``amplitude x cos(phase)`` (red: with the reference region, blue: against it), with an arrow of
    its motion at ``phase_of_cycle`` (radians; None: the arrows show the amplitude along the
    reference direction, signed). ``background``: the frame (full frame, grey, full scale 1).

    Returns
    -------
    QuadMesh
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    boxes = np.asarray(shape.regions, dtype=float)
    rows, cols = shape.amplitude.shape
    xs = np.r_[boxes[:cols, 0], boxes[cols - 1, 0] + boxes[cols - 1, 2]]
    ys = np.r_[boxes[::cols, 1], boxes[(rows - 1) * cols, 1] + boxes[(rows - 1) * cols, 3]]
    if background is not None:
        h, w = np.asarray(background).shape[:2]
        _shape_frame(ax, background, (0, w, h, 0))
    signed = shape.amplitude * np.cos(shape.phase)
    top = float(np.nanmax(np.abs(signed))) if np.any(np.isfinite(signed)) else 1.0
    mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(signed), cmap="RdBu_r", vmin=-top, vmax=top, alpha=0.55,
                         shading="flat")
    mesh.colorbar_label = "deflection along the reference direction (px)"
    cx = (xs[:-1] + xs[1:]) / 2
    cy = (ys[:-1] + ys[1:]) / 2
    gx, gy = np.meshgrid(cx, cy)
    v = np.nan_to_num(shape.vectors)
    if phase_of_cycle is None:  # the signed deflection along the reference direction
        vec = np.nan_to_num(signed)[..., None] * np.asarray(shape.direction)[None, None, :]
    else:  # the motion at that instant of the cycle (the reference region at phase 0 for 0)
        ref_phase = np.angle(v[shape.reference] @ np.asarray(shape.direction))
        vec = np.real(v * np.exp(1j * (phase_of_cycle - ref_phase)))
    size = 0.45 * min(np.diff(xs).min(), np.diff(ys).min())
    peak = float(np.nanmax(shape.amplitude)) or 1.0
    ax.quiver(gx, gy, vec[..., 0] / peak * size, vec[..., 1] / peak * size, angles="xy", scale_units="xy",
              scale=1.0, color="yellow", width=0.004)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[-1], ys[0])
    ax.set_title(f"{shape.hz:.1f} Hz (largest {np.nanmax(shape.amplitude):.3g} px)", fontsize=9)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    return mesh


def save_deflection_shapes(shapes, path: str, *, background=None, max_shapes: int = 6) -> str:
    """PNG of the operating deflection shapes (up to ``max_shapes``), one panel each (atomic)."""
    plt = _pyplot()
    shapes = list(shapes)[:max_shapes]
    if not shapes:
        raise ValueError("no deflection shape to draw (no spectral peak)")
    n = len(shapes)
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    boxes = np.asarray(shapes[0].regions, dtype=float)
    w = boxes[:, 0].max() + boxes[:, 2].max() - boxes[:, 0].min()
    h = boxes[:, 1].max() + boxes[:, 3].max() - boxes[:, 1].min()
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, constrained_layout=True,
                             figsize=(5.5 * ncols, max(2.5, 5.5 * h / w) * nrows + 0.6))
    for ax, shape in zip(axes.ravel(), shapes, strict=False):
        mesh = deflection_shape(shape, ax=ax, background=background)
        fig.colorbar(mesh, ax=ax, label="px", shrink=0.8)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle("operating deflection shapes (red: with the strongest region, blue: against it; arrows: motion)",
                 fontsize=9)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def save_deflection_animation(shape, path: str, *, background=None, frames: int = 16, fps: float = 8.0) -> str:
    """Animated GIF of one operating deflection shape over one cycle (arrows turn with the phase)."""
    from PIL import Image

    plt = _pyplot()
    pictures = []
    for i in range(frames):
        fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
        deflection_shape(shape, ax=ax, background=background, phase_of_cycle=2 * np.pi * i / frames)
        fig.canvas.draw()
        pictures.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3]))
        plt.close(fig)
    with atomic_path(path, suffix=".gif") as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=int(1000 / fps),
                         loop=0)
    return path

