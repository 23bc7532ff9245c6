"""Where the vibrating object is in a rolling-shutter video: a vibration map per row band and
column strip, and the region it suggests (``--roi auto --rolling-shutter``).

A global-shutter vibration map cannot be used: at 30/60 fps the sound aliases into every band, and
a still background gives frames that are as "still" as a slow object. Here every column strip of
the frame gets its own :class:`~.row_motion.RowMotionEstimator`, and each row's gain and noise come
from the covariance of its two half-strips (:class:`~.rows.RowModel`): rows of a still background
have no gain, rows of the object have a gain well above the noise. The map is each row band's
summed SNR (information) per strip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._typing import ProgressFn
from ..errors import InputError, NoTextureError
from .row_motion import RowMotionEstimator, anchor_frames
from .rows import moving_rows, row_signals

__all__ = ["RowVibrationMap", "row_vibration_map", "select_roi"]

#: Seconds of video the map is made from (the clip's start).
MAP_SECONDS = 3.0
#: Strips within this many dB of the best one are part of the region.
STRIP_DROP_DB = 6.0
#: A strip joins the best one when their rows' motion agrees by this many standard errors.
MIN_COHERENCE = 5.0
#: Rows added above and below the rows that see the motion.
ROW_MARGIN = 8


@dataclass
class RowVibrationMap:
    """Per-row SNR of the motion in every column strip.

    Attributes
    ----------
    information : ndarray, shape (rows, n_strips)
        Each row's SNR (``a_r^2 / sigma_r^2``, :class:`~.rows.RowModel`) in each strip; 0 where
        the row shows no motion there.
    strips : list of (int, int)
        ``(x0, x1)`` column span of each strip.
    frames : int
        Frames the map was made from.
    direction_deg : list of float
        Motion direction found in each strip.
    motion : list of ndarray (frames, rows) or None
        Each strip's per-row motion in pixels along its direction (None: a flat strip); used to
        tell which strips move *with* the best one.
    """

    information: np.ndarray
    strips: list[tuple[int, int]]
    frames: int
    direction_deg: list[float]
    motion: list[np.ndarray | None] | None = None

    def band_db(self, rows_per_band: int = 16) -> np.ndarray:
        """The map in row bands of ``rows_per_band`` rows: summed SNR in dB (-inf: nothing moves)."""
        h = self.information.shape[0]
        nb = -(-h // rows_per_band)
        pad = np.zeros((nb * rows_per_band, self.information.shape[1]))
        pad[:h] = self.information
        s = pad.reshape(nb, rows_per_band, -1).sum(axis=1)
        with np.errstate(divide="ignore"):
            return 10 * np.log10(s)


def _strips(cols: int) -> list[tuple[int, int]]:
    n = int(np.clip(cols // 64, 1, 8))
    edges = np.linspace(0, cols, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def row_vibration_map(src: Any, *, fps: float, direction: str = "auto", batch: int = 16,
                      seconds: float = MAP_SECONDS, progress: ProgressFn | None = None) -> RowVibrationMap:
    """Map which rows of which column strips see the motion, from the clip's first ``seconds``.

    Parameters
    ----------
    src : FrameSource
        The video (read from its start; it can be read again afterwards).
    fps : float
        Frame rate in Hz.
    direction : {"auto", "x", "y"}
    batch : int
    seconds : float
        Length of the clip's start used.
    progress : callable, optional

    Returns
    -------
    RowVibrationMap

    Raises
    ------
    InputError
        Fewer than 8 frames.
    """
    rows, cols = src.shape
    strips = _strips(cols)
    ests = [RowMotionEstimator((rows, b - a), direction=direction, max_anchor=anchor_frames(fps)) for a, b in strips]
    outs: list[list[np.ndarray]] = [[] for _ in strips]
    stop = max(8, int(round(seconds * fps)))
    total = min(src.n_frames, stop) if src.n_frames else stop
    done = 0
    for frames in src.iter_batches(batch=batch, stop=stop):
        for i, (a, b) in enumerate(strips):
            outs[i].append(ests[i].process(frames[..., a:b]))
        done += len(frames)
        if progress is not None:
            progress(done, total)
    if done < 8:
        raise InputError(f"{src.path}: only {done} frames; at least 8 are needed to locate the vibrating object")
    info = np.zeros((rows, len(strips)))
    motion: list[np.ndarray | None] = [None] * len(strips)
    dirs = []
    for i, est in enumerate(ests):
        try:
            m = row_signals(np.concatenate(outs[i]), est.channels, est.information, segments=est.segments,
                            overwrite=True).model()
        except NoTextureError:  # a flat strip sees nothing
            dirs.append(float("nan"))
            continue
        info[:, i] = m.information
        motion[i] = m.raw.astype(np.float32)
        gx, gy = m.fuse["gx"], m.fuse["gy"]
        dirs.append(float(np.degrees(np.arctan2(gy, gx))) if (gx or gy) else float("nan"))
        outs[i] = []
    return RowVibrationMap(info, strips, done, dirs, motion)


def select_roi(vmap: RowVibrationMap, *, rows: int, cols: int) -> tuple[tuple[int, int, int, int], dict]:
    """The region of the strips within ``STRIP_DROP_DB`` of the best and of the weaker strips moving with
    it, over the rows that see the motion.

    A weaker strip joins when the covariance of its rows' motion with the best strip's, row by row (the
    same instants), stands ``MIN_COHERENCE`` standard errors above zero (a weakly textured part of the
    object; a still background shares nothing with it).

    Returns
    -------
    roi : (x, y, w, h)
    why : dict
        ``roi``, ``strips`` (each strip's span and summed SNR in dB), ``chosen`` (their indices),
        ``rows_seeing_motion`` ([first, last]), ``drop_db``, ``frames``; or ``fallback`` (why the
        whole frame is used).
    """
    total = vmap.information.sum(axis=0)
    strips_db = [float(10 * np.log10(t)) if t > 0 else None for t in total]
    why: dict[str, Any] = {"strips": [{"x0": a, "x1": b, "snr_db": s} for (a, b), s in zip(vmap.strips, strips_db,
                                                                                           strict=True)],
                           "drop_db": STRIP_DROP_DB, "frames": vmap.frames}
    if not np.any(total > 0):
        why.update(roi=[0, 0, cols, rows], fallback="no strip shows motion above its noise")
        return (0, 0, cols, rows), why
    best = float(total.max())
    b = int(np.argmax(total))
    if vmap.motion is not None and vmap.motion[b] is not None:
        # a strip belongs to the object when its rows move *with* the best strip's at the same instants
        # (same rows): a still background's rows share nothing with it, however its texture reads
        ref = vmap.motion[b].astype(np.float64)
        z = np.zeros(len(total))
        for i, mo in enumerate(vmap.motion):
            if mo is None:
                continue
            x = mo.astype(np.float64)
            n = x.shape[0]
            cross = np.einsum("nr,nr->", x, ref) / n
            se = math.sqrt(max(float(np.sum(x.var(axis=0) * ref.var(axis=0))) / n, 1e-300))
            z[i] = cross / se
        why["coherence"] = [round(float(v), 1) for v in z]
    else:
        z = np.zeros(len(total))
    # the strips within STRIP_DROP_DB of the best, and every weaker one that moves with it
    chosen = [i for i, t in enumerate(total)
              if t >= best * 10 ** (-STRIP_DROP_DB / 10) or (z[i] >= MIN_COHERENCE and t > 0)]
    x0, x1 = vmap.strips[min(chosen)][0], vmap.strips[max(chosen)][1]
    seen = np.flatnonzero(moving_rows(vmap.information[:, chosen].sum(axis=1)))
    y0 = max(0, int(seen[0]) - ROW_MARGIN)
    y1 = min(rows, int(seen[-1]) + 1 + ROW_MARGIN)
    if y1 - y0 < 16:  # too few rows for the row model: widen symmetrically
        y0, y1 = max(0, (y0 + y1) // 2 - 8), min(rows, (y0 + y1) // 2 + 8)
    roi = (x0, y0, x1 - x0, y1 - y0)
    why.update(roi=list(roi), chosen=chosen, rows_seeing_motion=[int(seen[0]), int(seen[-1])])
    return roi, why
