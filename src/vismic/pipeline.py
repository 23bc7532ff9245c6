"""Compose the stages: frames -> pyramid -> motion -> fuse -> post-processing -> outputs.

:func:`recover` is the one-call API; :class:`RecoveryParams` holds every knob (frozen, with a JSON
round trip so a sidecar can replay a run); :func:`save` writes the WAV at the true capture rate, a
listenable copy at a standard rate, a JSON sidecar and optionally a spectrogram, each atomically.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings

import numpy as np

from ._backends import one_blas_thread
from ._typing import ProgressFn
from .denoise import default_highpass, highpass_columns, normalize_to, postprocess
from .errors import ParameterError, VismicError
from .fuse import column_block, fuse
from .io import FrameSource
from .io.base import ROI
from .io.stream import input_facts, run_on_source, stream_motion
from .io.stream import resolve_rate as _resolve_rate
from .measure import build_estimator, measure_motion
from .outputs import output_paths, save
from .params import AUTO_FAST_LOSS_DB, AUTO_FAST_SNR_DB, AUTO_PROBE_FRAMES, Recovery, RecoveryParams

__all__ = ["RecoveryParams", "Recovery", "recover", "save", "output_paths", "stream_motion"]


# codecs that are usually lossy as cameras and encoders use them (FFV1, raw, PNG... are lossless)
_LOSSY_CODECS = frozenset({"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video", "vp8", "vp9", "av1", "mjpeg",
                           "prores", "dnxhd", "wmv2", "wmv3", "vc1", "theora", "msmpeg4v3"})


def recover(
    source: str | os.PathLike | FrameSource,
    params: RecoveryParams | None = None,
    *,
    progress: ProgressFn | None = None,
    checkpoint: str | os.PathLike | None = None,
    executor=None,
) -> Recovery:
    """Recover the sound that made the object in a video vibrate.

    Parameters
    ----------
    source : path or FrameSource
        Video file, image folder/glob, ``.npy`` stack, or camera file (see :func:`vismic.io.open_source`).
    params : RecoveryParams, optional
        Defaults to ``RecoveryParams()``.
    progress : callable, optional
        Called as ``progress(frames_done, frames_total_or_None)`` after each batch (each chunk
        when the work is spread over processes).
    checkpoint : path-like, optional
        Folder for per-chunk checkpoints: finished chunks are saved there, and a run restarted
        with the same input and parameters resumes from them (see :mod:`vismic.checkpoint`).
        The folder is left in place; remove it once the outputs are written.
    executor : optional
        Where chunks run: a :class:`concurrent.futures.Executor` or a ``dask.distributed.Client``
        (see :mod:`vismic.distributed`).  Default: local processes per ``params.processes``.

    Returns
    -------
    Recovery

    Raises
    ------
    VideoReadError
        Missing or unreadable input.
    ParameterError
        Missing or invalid rate, ROI outside the frame, invalid parameters.
    InputError
        Fewer than two frames, NaNs in the frames.
    NoTextureError
        The region has no texture to measure motion from.
    """
    params = params or RecoveryParams()
    t_start = time.perf_counter()
    return run_on_source(source, lambda src: _run(
        src, params, progress, t_start, checkpoint=os.fspath(checkpoint) if checkpoint is not None else None,
        executor=executor))


def _channel_geometry(channels) -> np.ndarray:
    """The ``geometry`` of :func:`vismic.fuse.fuse` for motion channels: region label and the
    phase change per pixel of displacement along x and y (``-omega (cos theta, sin theta)``)."""
    return np.array([[ch.region[0] * 4096 + ch.region[1], *ch.band.phase_per_px] for ch in channels],
                    dtype=np.float64)


def _filter_channels(signals: np.ndarray, *, rate: float, cutoff: float, integrate: bool) -> np.ndarray:
    """Integrate (frame-to-frame modes) and high-pass each channel, a block of channels at a time.

    Works column block by column block in float64 (:func:`vismic.fuse.column_block`: ~2 MB a
    block, fewer columns on longer clips) and stores float32 in place (``signals`` is overwritten
    when it is a writeable float32 array), so the temporaries stay about 10 MB whatever the
    clip length.  Channels with a non-finite sample come back all-NaN (the fusion leaves them out).
    """
    n, c = signals.shape
    block = column_block(n)
    inplace = signals.dtype == np.float32 and signals.flags.writeable
    out = signals if inplace else np.empty((n, c), np.float32)
    for j in range(0, c, block):
        x = np.asarray(signals[:, j : j + block], dtype=np.float64)
        finite = np.all(np.isfinite(x), axis=0)
        x[:, ~finite] = 0.0
        if integrate:
            np.cumsum(x, axis=0, out=x)
        y = highpass_columns(x, rate=rate, cutoff=cutoff)
        y[:, ~finite] = np.nan
        out[:, j : j + block] = y
    return out


def _run(src: FrameSource, params: RecoveryParams, progress: ProgressFn | None, t_start: float, *,
         checkpoint: str | None = None, executor=None) -> Recovery:
    rate, rate_source = _resolve_rate(src, params.fps)
    rows, cols = src.shape
    roi_auto = None
    if params.roi == "auto":  # a vibration map picks the region (a first pass over the clip's start)
        from .analysis.vibmap import auto_roi  # lazily: it imports scipy.signal (about a second)

        roi, roi_auto = auto_roi(src, rate=rate, batch=params.batch, progress=progress)
    else:
        roi = ROI(*params.roi).check(rows, cols) if params.roi is not None else ROI(0, 0, cols, rows)
    where = dict(rate=rate, rate_source=rate_source, roi=roi, roi_auto=roi_auto, t_start=t_start, executor=executor)
    if params.mode != "auto":
        return _recover_roi(src, params, progress, checkpoint=checkpoint, **where)
    return _recover_auto(src, params, progress, checkpoint, where)


def _recover_auto(src: FrameSource, params: RecoveryParams, progress: ProgressFn | None, checkpoint: str | None,
                  where: dict) -> Recovery:
    """``mode="auto"``: the fast path, or the exact anchored path where the data say it is better.

    The fast path runs first (a fraction of the exact path's cost).  Its result is kept when its
    estimated SNR is clear (>= :data:`AUTO_FAST_SNR_DB`) and, on the :data:`AUTO_PROBE_FRAMES`
    frames where its signal is loudest, the exact path's estimated SNR beats it by at most
    :data:`AUTO_FAST_LOSS_DB` (there the fast path loses a few tenths of a dB).  Else the exact path
    measures the clip again: weak signals, and textures or motions that the fast path's separate
    tiles serve less well (a structured texture, an object across tile borders: 1 dB and more;
    docs/quality.md).  Clips shorter than two probes go to the exact path at once.
    """
    roi, rate = where["roi"], where["rate"]
    exact_params = dataclasses.replace(params, mode="anchored")
    sub = os.path.join(checkpoint, "exact") if checkpoint is not None else None  # the exact pass's own chunks
    try:
        build_estimator(dataclasses.replace(params, mode="fast"), (roi.h, roi.w), n_frames=src.n_frames)
    except ParameterError as exc:  # a grid or scales given for the exact path: its tiles are too small
        rec = _recover_roi(src, exact_params, progress, checkpoint=checkpoint, **where)
        rec.diagnostics["mode"] = {"chosen": "anchored", "reason": f"auto: no fast path here ({exc})"}
        return rec
    def short(n: int) -> dict:
        return {"chosen": "anchored",
                "reason": f"auto: a short clip ({n} frames < {2 * AUTO_PROBE_FRAMES}): the exact path costs little"}

    if src.n_frames is not None and src.n_frames < 2 * AUTO_PROBE_FRAMES:
        rec = _recover_roi(src, exact_params, progress, checkpoint=checkpoint, **where)
        rec.diagnostics["mode"] = short(src.n_frames)
        return rec
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        fast = _recover_roi(src, dataclasses.replace(params, mode="fast"), progress, checkpoint=checkpoint, **where)
    clip_snr = fast.diagnostics["estimated_snr_db"]
    used = int(fast.input["frames_used"])
    if used < 2 * AUTO_PROBE_FRAMES:  # a container that did not state its length
        mode, why = "anchored", short(used)
    elif not clip_snr >= AUTO_FAST_SNR_DB:
        mode, why = "anchored", {"chosen": "anchored", "estimated_snr_db_fast": round(clip_snr, 2), "reason": (
            f"auto: a weak signal (the fast path's estimated SNR {clip_snr:.1f} dB < {AUTO_FAST_SNR_DB:g} dB): "
            "the exact path, better on weak or blurred texture")}
    else:
        first = _loudest(fast.raw, AUTO_PROBE_FRAMES)
        probe = _probe(src, params, roi, rate, first)
        mode, why = _auto_choice(probe["fast"], probe["anchored"], first, AUTO_PROBE_FRAMES)
        why["estimated_snr_db_fast"] = round(clip_snr, 2)
    if mode == "fast":
        for w in said:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        fast.diagnostics["mode"] = why
        return fast
    more = None if progress is None else (lambda done, total: progress(used + done, used + total if total else None))
    rec = _recover_roi(src, exact_params, more, checkpoint=sub, **where)
    rec.diagnostics["mode"] = why
    rec.timings["fast_pass_s"] = fast.timings["total_s"]
    return rec


def _loudest(x: np.ndarray, width: int) -> int:
    """Start of the ``width`` samples of ``x`` with the most energy."""
    e = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    return int(np.argmax(e[width:] - e[:-width]))


def _probe(src: FrameSource, params: RecoveryParams, roi: ROI, rate: float, first: int) -> dict[str, float]:
    """Estimated SNR (dB) of the fast and the exact anchored path on frames ``[first, first + AUTO_PROBE_FRAMES)``."""
    shape = (roi.h, roi.w)
    ests = {mode: build_estimator(dataclasses.replace(params, mode=mode), shape, n_frames=src.n_frames,
                                  compiled=False)[0] for mode in ("fast", "anchored")}
    rows: dict[str, list[np.ndarray]] = {mode: [] for mode in ests}
    hp = params.highpass if params.highpass is not None else default_highpass(rate)[0]
    with one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fit of few samples may warn; the full run says what matters
        for frames in src.iter_batches(batch=params.batch, roi=roi, start=first, stop=first + AUTO_PROBE_FRAMES):
            for mode, est in ests.items():
                rows[mode].append(est.process(frames))
        return {mode: (_probe_snr(np.concatenate(r), ests[mode].channels, rate=rate, cutoff=hp,
                                  max_lag=int(round(params.max_lag_ms * 1e-3 * rate)))
                       if sum(map(len, r)) >= 8 else -np.inf) for mode, r in rows.items()}


def _auto_choice(fast: float, exact: float, first: int, frames: int) -> tuple[str, dict]:
    """The rule of ``mode="auto"`` given the two paths' estimated SNRs (dB) on the probe ``[first, first + frames)``
    of a clip whose fast path gave a clear signal."""
    gain = exact - fast
    facts = {"probe_frames": [first, first + frames], "probe_snr_db": {"fast": round(fast, 2),
                                                                        "anchored": round(exact, 2)}}
    if not gain <= AUTO_FAST_LOSS_DB:
        return "anchored", {"chosen": "anchored", **facts, "reason": (
            f"auto: the exact path measured {gain:.1f} dB more than the fast path on frames {first}-"
            f"{first + frames - 1} (> {AUTO_FAST_LOSS_DB:g} dB: texture or motion the fast path's tiles serve "
            "less well)")}
    return "fast", {"chosen": "fast", **facts, "reason": (
        f"auto: a clear signal that the exact path measures only {gain:.1f} dB better on frames {first}-"
        f"{first + frames - 1}: the fast path")}


def _probe_snr(signals: np.ndarray, channels, *, rate: float, cutoff: float, max_lag: int) -> float:
    """Estimated SNR (dB) of the fused signal of a probe's motion channels.

    The channels are integrated and high-passed by zeroing their spectrum below ``cutoff`` (FFT):
    the decision needs no zero-phase filter, and scipy.signal (about a second to import) is then
    imported after the motion, as for any run.
    """
    x = np.nan_to_num(np.cumsum(signals.astype(np.float64), axis=0))
    spec = np.fft.rfft(x - x.mean(axis=0), axis=0)
    spec[: int(np.ceil(cutoff * len(x) / rate))] = 0.0
    x = np.fft.irfft(spec, n=len(x), axis=0)
    try:
        # the blind fit alone: a clear signal (the fast pass's estimate >= AUTO_FAST_SNR_DB) is where it is kept
        fusion = fuse(x, max_lag=min(max_lag, len(x) // 8), groups=np.array([ch.band.orientation for ch in channels]))
    except VismicError:
        return -np.inf
    return float(fusion.fused_snr_db)


def _recover_roi(src: FrameSource, params: RecoveryParams, progress: ProgressFn | None, *, rate: float,
                 rate_source: str, roi: ROI, roi_auto: dict | None, t_start: float, checkpoint: str | None,
                 executor) -> Recovery:
    """The recovery of one ROI with one estimator (``params.mode`` is not ``"auto"``)."""
    shape = (roi.h, roi.w)
    est, scales, grid = build_estimator(params, shape, n_frames=src.n_frames)

    signals, done, t_motion, run_info = measure_motion(src, est, params, roi, progress=progress, checkpoint=checkpoint,
                                                executor=executor, rate=rate)

    t1 = time.perf_counter()
    hp, hp_reason = ((params.highpass, "given") if params.highpass is not None else default_highpass(rate))
    filtered = _filter_channels(signals, rate=rate, cutoff=hp, integrate=params.mode != "reference")
    del signals
    max_lag = int(round(params.max_lag_ms * 1e-3 * rate))
    # the filtered channels are this run's own array: the fusion may use it as its working copy
    fusion = fuse(filtered, max_lag=max_lag, groups=np.array([ch.band.orientation for ch in est.channels]),
                  geometry=_channel_geometry(est.channels),
                  overwrite_x=True)
    del filtered
    t_fuse = time.perf_counter() - t1

    t2 = time.perf_counter()
    raw = fusion.signal
    x = raw  # zero-mean and high-passed already (the fusion combines centred, filtered channels)
    x, post = postprocess(x, rate=rate, lowest_hz=1.5 * hp, notch_mode=params.notch, denoise=params.denoise)
    lines, notched = post["lines_detected"], post["notched_hz"]
    audio, level = normalize_to(x, params.normalize, params.level_db)
    gain = level["gain"]
    t_post = time.perf_counter() - t2

    notes = list(fusion.notes)
    codec = getattr(src, "codec", None)
    if codec in _LOSSY_CODECS:
        notes.append(
            f"the input is {codec}-compressed: lossy coding can erase sub-pixel motion, and the estimated SNR "
            "counts whatever the channels agree on, codec artefacts included (docs/performance.md); "
            "judge by the spectrogram and by listening"
        )
    if fusion.fused_snr_db < 0:
        warnings.warn(
            f"the estimated SNR of the recovered signal is {fusion.fused_snr_db:.1f} dB: it is mostly "
            "noise; try another ROI, more light, or a larger motion",
            stacklevel=3,
        )
    used_params = dataclasses.replace(
        params, fps=rate, scales=scales, grid=grid, highpass=hp
    )
    info = input_facts(src, frames_used=done, rate=rate, rate_source=rate_source, roi=roi.as_list())
    order = np.argsort(-fusion.snr_db)
    chans = []
    for i in order:
        ch = est.channels[i]
        chans.append(
            {
                "name": ch.name,
                "level": ch.band.level,
                "orientation_deg": round(float(np.degrees(ch.band.angle)), 2),
                "region": list(ch.region),
                "rect": list(ch.rect),
                "lag_samples": int(fusion.lags[i]),
                "sign": int(fusion.signs[i]),
                "weight": float(fusion.weights[i]),
                "snr_db": float(fusion.snr_db[i]) if np.isfinite(fusion.snr_db[i]) else None,
            }
        )
    diagnostics = {
        "mode": {"chosen": params.mode, "reason": "given"},
        "estimated_snr_db": fusion.fused_snr_db,
        "fusion": fusion.method,
        "fusion_agreement": fusion.agreement,
        "n_channels": est.n_channels,
        "n_channels_used": int(fusion.used.sum()),
        "grid": list(grid),
        "bands": [b.name for b in est.pyramid.bands],
        "channels": chans,
        "lines_detected": lines,
        "notched_hz": notched,
        "highpass_hz": hp,
        "highpass_reason": hp_reason,
        "output_gain": gain,
        "output_level": level,
        "notes": notes,
    }
    if roi_auto is not None:
        diagnostics["roi_auto"] = roi_auto
    total = time.perf_counter() - t_start
    timings = {
        "motion_s": round(t_motion, 4),
        "fuse_s": round(t_fuse, 4),
        "post_s": round(t_post, 4),
        "total_s": round(total, 4),
        "frames_per_s": round(done / t_motion, 2) if t_motion > 0 else None,
        **run_info,
    }
    return Recovery(audio, rate, raw, used_params, info, diagnostics, timings)
