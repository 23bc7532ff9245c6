"""Vibration map: where in the frame does something vibrate, and how clearly?

The frame (or an ROI) is cut into tiles of ``tile`` pixels; each tile into 2 x 2 cells.  The
motion of every cell is measured with the same machinery as a recovery (complex steerable
pyramid, amplitude-weighted anchored phase per region, :class:`vismic.motion.MotionEstimator`)
and the band signals of a cell are projected onto a 2-D displacement ``(dx, dy)`` in pixels by
least squares on the bands' nominal wave vectors (``phase ~ -k_b . d``; pixel units are approximate,
since a texture's local frequency is not exactly a band's centre frequency).  The displacements are
integrated, band-passed to ``band`` (zero-phase Butterworth) and summarised per tile.

Per-tile SNR without a noise model (split-half)
-----------------------------------------------
The two diagonals of a tile's 2 x 2 cells see the same rigid motion through different pixels, hence
through (nearly) independent noise.  With ``A`` and ``B`` the two diagonal means, the symmetrised
cross-covariance ``S = sym E[A B^T]`` estimates the covariance of the *signal* alone (noise that is
independent in A and B averages out of it), while ``C = cov((A + B) / 2)`` holds signal plus noise.
Along the principal direction ``u`` of ``S``::

    snr = u^T S u / (u^T C u - u^T S u)

This does not depend on the motion's scale, the texture's contrast or the lighting, and a static
textured background comes out low (its cells share no motion).  Pyramid filters reach a few pixels
across the cell borders, so the noise of neighbouring cells is slightly correlated: static tiles sit
near -2 to -12 dB instead of -inf (measured on rendered scenes).  Flat tiles are reported as "no
texture" (``texture`` below half a grey level, or a cell with no motion weight).

Choosing a region (:func:`select_roi`)
--------------------------------------
Tiles within ``drop_db`` (6 dB) of the best tile and above ``min_snr_db`` (0 dB), connected to the best
tile, form the region.  Its box is then refined at cell resolution: every cell near the region is
regressed on the region's own motion (a leave-one-tile-out reference); the gain, relative to that of
fully moving cells, is the fraction of the cell that moves with the region.  Cells moving at least
half as much (``drop_db`` = 6 dB in amplitude) form the box, whose sides are then placed to sub-cell
precision from the moving fractions of the boundary cells.  Six dB is the physical break-even point: a
cell whose pixels move over less than half of its area dilutes an amplitude-weighted average more than
it adds to it.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import label

from .._typing import ProgressFn
from ..errors import NoTextureError, ParameterError
from ..io import FrameSource
from ..io.base import ROI
from ..motion import region_edges
from .cells import (
    MIN_FRAMES,
    CellMotion,
    check_band,
    check_roi,
    displacement_in_band,
    open_frames,
    pick_scales,
    resolve_rate,
    stream_cells,
)

__all__ = ["VibrationMap", "vibration_map", "select_roi", "auto_roi", "DEFAULT_MAX_FRAMES"]


#: frames analysed by default (the first ones of the clip): ~1.9 s at 2200 fps, 6.8 s at 600 fps
DEFAULT_MAX_FRAMES = 4096
#: tiles whose first-frame contrast (standard deviation, full scale = 1) is below this have no texture
MIN_CONTRAST = 0.5 / 255
#: reported SNRs are clipped to this range (dB); below the floor a tile shows no coherent motion at all
SNR_RANGE_DB = (-40.0, 60.0)


@dataclass
class VibrationMap:
    """Per-tile vibration strength of a clip (what :func:`vibration_map` returns).

    Attributes
    ----------
    rate : float
        Capture rate in Hz.
    band : tuple of float
        ``(lo_hz, hi_hz)`` of the band the tiles were measured in.
    tiles : list of tuple of int
        ``(x, y, w, h)`` of every tile in full-frame pixels, row by row (``grid[0] * grid[1]`` of them).
    grid : tuple of int
        ``(rows, cols)`` of the tile grid.
    snr_db : ndarray, shape (rows, cols), float64
        Split-half SNR of each tile's motion in ``band`` along its principal direction, in dB, clipped to
        :data:`SNR_RANGE_DB`; NaN for tiles without texture.
    energy : ndarray, shape (rows, cols), float64
        Estimated in-band mean-square displacement of the signal (noise excluded), in px^2 (approximate
        pixel units); NaN without texture.
    texture : ndarray, shape (rows, cols), float64
        Contrast of each tile in the first frame: standard deviation of intensity (full scale = 1).
    frame : ndarray, shape (H, W), float32
        First frame of the analysed region (intensity, full scale = 1).
    frames_used : int
        Frames analysed (the first ones of the clip, at most ``max_frames``).
    direction_deg : ndarray, shape (rows, cols), float64
        Principal direction of each tile's motion in degrees in [0, 180) (0 = +x, 90 = +y, down).
    roi : tuple of int
        ``(x, y, w, h)`` of the analysed region in full-frame pixels.
    tile : int
        Nominal tile size in pixels (tiles are near-equal splits of the region, so sizes differ by a pixel).
    max_frames : int
        The cap on analysed frames that was in force.
    """

    rate: float
    band: tuple[float, float]
    tiles: list[tuple[int, int, int, int]]
    grid: tuple[int, int]
    snr_db: np.ndarray
    energy: np.ndarray
    texture: np.ndarray
    frame: np.ndarray = field(repr=False)
    frames_used: int
    direction_deg: np.ndarray
    roi: tuple[int, int, int, int]
    tile: int
    max_frames: int
    #: band-passed cell displacements, shape (n, 2, 2*rows, 2*cols), float32 (for :func:`select_roi`)
    cells: np.ndarray | None = field(default=None, repr=False)
    #: cell edges in region pixels: (row edges (2*rows+1,), column edges (2*cols+1,))
    cell_edges: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def textured(self) -> np.ndarray:
        """Boolean (rows, cols): tiles with texture to measure motion from."""
        return np.isfinite(self.snr_db)

    def tile_rect(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` of tile ``(row, col)`` in full-frame pixels."""
        return self.tiles[row * self.grid[1] + col]

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no frame pixels, no signals; NaN becomes None)."""

        def grid_list(a: np.ndarray, nd: int = 2) -> list:
            return [[None if not np.isfinite(v) else round(float(v), nd) for v in row] for row in a]

        return {
            "rate": self.rate,
            "band_hz": [float(self.band[0]), float(self.band[1])],
            "roi": list(self.roi),
            "tile_px": self.tile,
            "grid": list(self.grid),
            "frames_used": self.frames_used,
            "max_frames": self.max_frames,
            "tiles": [list(t) for t in self.tiles],
            "snr_db": grid_list(self.snr_db),
            "energy_px2": [[None if not np.isfinite(v) else float(f"{v:.4g}") for v in row] for row in self.energy],
            "texture": grid_list(self.texture, 4),
            "direction_deg": grid_list(self.direction_deg, 1),
            "method": "split-half SNR per tile (cross-covariance of the two diagonals of 2x2 cells), "
                      "principal direction, band-passed displacement",
        }


# ----------------------------------------------------------------------------------------------
# The map
# ----------------------------------------------------------------------------------------------


def _default_tile(rows: int, cols: int) -> int:
    """~1/6 of the short side, between 24 and 48 px (never more than the short side)."""
    return int(min(min(rows, cols), np.clip(round(min(rows, cols) / 6), 24, 48)))


def vibration_map(
    source: str | os.PathLike | FrameSource,
    *,
    fps: float | None = None,
    roi=None,
    band: tuple[float, float] | None = None,
    tile: int | None = None,
    max_frames: int | None = None,
    batch: int = 16,
    progress: ProgressFn | None = None,
) -> VibrationMap:
    """Measure, tile by tile, how strongly and how clearly the scene vibrates in a band.

    Parameters
    ----------
    source : path or FrameSource
        Video file, image folder/glob, ``.npy`` stack or camera file (:func:`vismic.io.open_source`).
    fps : float, optional
        True capture rate in Hz (rules as in :func:`vismic.pipeline.recover`).
    roi : (x, y, w, h), optional
        Region to map, in pixels (default: the whole frame).
    band : (lo_hz, hi_hz), optional
        Band of interest (default ``(rate/40, 0.45*rate)``).
    tile : int, optional
        Tile size in pixels, >= 8 (default: ~1/6 of the region's short side, 24-48 px).
    max_frames : int, optional
        Analyse at most this many frames from the start (default :data:`DEFAULT_MAX_FRAMES`).
    batch : int
        Frames per batch.
    progress : callable, optional
        ``progress(frames_done, frames_total_or_None)`` after each batch.

    Returns
    -------
    VibrationMap

    Raises
    ------
    ParameterError
        Unknown rate, bad ROI, band or tile.
    InputError
        Fewer than 16 frames.
    NoTextureError
        The region is flat.
    VideoReadError
        Missing or unreadable input.
    """
    src, own = open_frames(source)
    try:
        rate = resolve_rate(src, fps)
        return _map(src, rate=rate, roi=check_roi(src, roi), band=check_band(band, rate), tile=tile,
                    max_frames=max_frames, batch=batch, progress=progress)
    finally:
        if own:
            src.close()


def _map(src: FrameSource, *, rate: float, roi: ROI, band: tuple[float, float], tile: int | None,
         max_frames: int | None, batch: int, progress: ProgressFn | None) -> VibrationMap:
    rows, cols = roi.h, roi.w
    if min(rows, cols) < 16:
        raise ParameterError(f"the region is {cols}x{rows} pixels; a vibration map needs at least 16x16 (a larger ROI)")
    if tile is None:
        tile = _default_tile(rows, cols)
    if isinstance(tile, bool) or not isinstance(tile, int | np.integer) or not 8 <= tile <= min(rows, cols):
        raise ParameterError(
            f"tile={tile} must be a whole number of pixels from 8 to the region's short side ({min(rows, cols)})"
        )
    max_frames = DEFAULT_MAX_FRAMES if max_frames is None else max_frames
    if isinstance(max_frames, bool) or not isinstance(max_frames, int | np.integer) or max_frames < MIN_FRAMES:
        raise ParameterError(f"max_frames={max_frames} must be an integer >= {MIN_FRAMES}")
    if int(batch) < 1:
        raise ParameterError(f"batch={batch} must be >= 1")
    tile, max_frames = int(tile), int(max_frames)
    gy, gx = max(1, rows // tile), max(1, cols // tile)
    ey, ex = region_edges(rows, 2 * gy), region_edges(cols, 2 * gx)
    cell = min(np.diff(ey).min(), np.diff(ex).min())
    motion = CellMotion((rows, cols), (2 * gy, 2 * gx), pick_scales((rows, cols), float(cell), 3))

    vel, first, done = stream_cells(src, motion, roi=roi, batch=int(batch), max_frames=max_frames,
                                    progress=progress, what="a vibration map")
    bp = displacement_in_band(vel, rate=rate, band=band)
    del vel
    n = bp.shape[0]
    c = bp.reshape(n, 2, gy, 2, gx, 2)
    a = 0.5 * np.add(c[:, :, :, 0, :, 0], c[:, :, :, 1, :, 1], dtype=np.float64)  # (n, 2, gy, gx): one diagonal
    b = 0.5 * np.add(c[:, :, :, 0, :, 1], c[:, :, :, 1, :, 0], dtype=np.float64)  # the other
    s = np.einsum("nkyx,nlyx->yxkl", a, b) / n
    s = 0.5 * (s + np.swapaxes(s, -1, -2))  # signal covariance (2x2 per tile)
    d = 0.5 * (a + b)
    cov = np.einsum("nkyx,nlyx->yxkl", d, d) / n  # signal + noise
    evals, evecs = np.linalg.eigh(s)
    u = evecs[..., :, -1]  # principal direction (gy, gx, 2)
    sig = evals[..., -1]
    tot = np.einsum("yxk,yxkl,yxl->yx", u, cov, u)
    noise = np.maximum(tot - sig, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = 10 * np.log10(np.maximum(sig, 0) / noise)
    snr = np.clip(np.nan_to_num(snr, nan=SNR_RANGE_DB[0], neginf=SNR_RANGE_DB[0]), *SNR_RANGE_DB)
    energy = np.maximum(np.trace(s, axis1=-2, axis2=-1), 0.0)
    direction = np.degrees(np.arctan2(u[..., 1], u[..., 0])) % 180.0

    ty, tx = ey[::2], ex[::2]
    texture = _tile_std(first, ty, tx)
    ok = (texture >= MIN_CONTRAST) & motion.valid.reshape(gy, 2, gx, 2).all(axis=(1, 3))
    if not ok.any():
        raise NoTextureError(
            f"no tile of the region x={roi.x},y={roi.y},w={roi.w},h={roi.h} has texture to measure motion from; "
            "choose a textured region"
        )
    snr[~ok] = np.nan
    energy[~ok] = np.nan
    direction[~ok] = np.nan
    tiles = [(int(roi.x + tx[j]), int(roi.y + ty[i]), int(tx[j + 1] - tx[j]), int(ty[i + 1] - ty[i]))
             for i in range(gy) for j in range(gx)]
    return VibrationMap(
        rate=float(rate), band=(float(band[0]), float(band[1])), tiles=tiles, grid=(gy, gx), snr_db=snr,
        energy=energy, texture=texture, frame=first, frames_used=done, direction_deg=direction,
        roi=(roi.x, roi.y, roi.w, roi.h), tile=tile, max_frames=max_frames, cells=bp,
        cell_edges=(ey, ex),
    )


def _tile_std(img: np.ndarray, ey: np.ndarray, ex: np.ndarray) -> np.ndarray:
    """Standard deviation of ``img`` in every tile of the grid with edges ``ey`` x ``ex``."""
    x = img.astype(np.float64)
    s1 = np.add.reduceat(np.add.reduceat(x, ey[:-1], axis=0), ex[:-1], axis=1)
    s2 = np.add.reduceat(np.add.reduceat(x * x, ey[:-1], axis=0), ex[:-1], axis=1)
    cnt = np.diff(ey)[:, None] * np.diff(ex)[None, :]
    return np.sqrt(np.maximum(s2 / cnt - (s1 / cnt) ** 2, 0.0))


# ----------------------------------------------------------------------------------------------
# Choosing the region
# ----------------------------------------------------------------------------------------------


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    return label(mask, structure=np.ones((3, 3), dtype=int))


def select_roi(
    vmap: VibrationMap,
    *,
    drop_db: float = 6.0,
    min_snr_db: float = 0.0,
    refine: bool = True,
    min_size: int = 16,
) -> tuple[ROI, dict]:
    """Pick the region that vibrates most clearly: a connected group of high-SNR tiles, as a box.

    Parameters
    ----------
    vmap : VibrationMap
    drop_db : float
        Tiles within this many dB of the best one are kept, and, when refining, cells that move at
        least ``10**(-drop_db/20)`` as much as fully moving ones (default 6 dB: half; a cell whose
        pixels move over less than half of its area dilutes an average more than it adds).
    min_snr_db : float
        Absolute floor: if no tile reaches it, nothing stands out and the whole analysed region is
        returned (with a warning).
    refine : bool
        Refine the box at cell resolution (half a tile) from the fraction of each cell that moves with
        the chosen tiles, with sub-cell edges.
    min_size : int
        Smallest box side in pixels (the box is grown around its centre, inside the region, if smaller).

    Returns
    -------
    roi : ROI
        In full-frame pixels.
    why : dict
        JSON-serialisable: the tiles chosen with their SNR, the threshold, the best tile, the runner-up
        (best tile outside the chosen group), whether the box was refined, and ``fallback`` (a reason,
        or None).

    Warns
    -----
    UserWarning
        When nothing stands out and the whole region is used.
    """
    if not (math.isfinite(drop_db) and drop_db > 0):
        raise ParameterError(f"drop_db={drop_db} must be > 0 dB")
    if not math.isfinite(min_snr_db):
        raise ParameterError(f"min_snr_db={min_snr_db} must be a finite number of dB")
    x0, y0, w0, h0 = vmap.roi
    whole = ROI(x0, y0, w0, h0)
    snr = np.where(np.isfinite(vmap.snr_db), vmap.snr_db, -np.inf)
    why: dict = {
        "method": "vibration map: split-half SNR per tile in the band; tiles within drop_db of the best and "
                  "above min_snr_db, connected to the best; box refined at cell resolution",
        "band_hz": [vmap.band[0], vmap.band[1]],
        "tile_px": vmap.tile,
        "frames_used": vmap.frames_used,
        "drop_db": drop_db,
        "min_snr_db": min_snr_db,
    }
    best = np.unravel_index(int(np.argmax(snr)), snr.shape)
    best_snr = float(snr[best])
    why["best_tile"] = {"rect": list(vmap.tile_rect(*best)), "snr_db": _r(best_snr)}
    if not best_snr >= min_snr_db:
        reason = (f"no tile stands out: the best tile's SNR is {best_snr:.1f} dB, below the {min_snr_db:g} dB floor; "
                  "using the whole region")
        warnings.warn(f"--roi auto: {reason}", stacklevel=2)
        why.update(fallback=reason, threshold_db=min_snr_db, tiles=[], runner_up=None, refined=False,
                   roi=whole.as_list())
        return whole, why
    thr = max(best_snr - drop_db, min_snr_db)
    labels, _ = _components(snr >= thr)
    comp = labels == labels[best]
    why["threshold_db"] = _r(thr)
    why["tiles"] = [{"rect": list(vmap.tile_rect(i, j)), "snr_db": _r(float(snr[i, j]))}
                    for i, j in zip(*np.nonzero(comp), strict=True)]
    rest = np.where(comp, -np.inf, snr)
    if np.isfinite(rest).any() and rest.max() > -np.inf:
        ru = np.unravel_index(int(np.argmax(rest)), rest.shape)
        rlab, _ = _components(rest >= thr)
        group = (rlab == rlab[ru]) if rest[ru] >= thr else np.zeros_like(comp)
        why["runner_up"] = {"rect": list(vmap.tile_rect(*ru)), "snr_db": _r(float(rest[ru])),
                            "group_tiles": int(group.sum()),
                            "above_threshold": bool(rest[ru] >= thr)}
    else:
        why["runner_up"] = None
    ey, ex = vmap.cell_edges if vmap.cell_edges is not None else (None, None)
    box = None
    why["refined"] = False
    if refine and vmap.cells is not None and ey is not None:
        box = _refine(vmap, comp, drop_db, why)
    if box is None:
        ii, jj = np.nonzero(comp)
        r0, r1 = vmap.tile_rect(ii.min(), jj.min()), vmap.tile_rect(ii.max(), jj.max())
        box = (r0[0], r0[1], r1[0] + r1[2], r1[1] + r1[3])
    roi = _grow(box, whole, min_size)
    why["fallback"] = None
    why["roi"] = roi.as_list()
    return roi, why


def _r(v: float) -> float | None:
    return round(v, 2) if math.isfinite(v) else None


def _refine(vmap: VibrationMap, comp: np.ndarray, drop_db: float, why: dict) -> tuple[int, int, int, int] | None:
    """Box (x0, y0, x1, y1) of the cells that move with the chosen tiles, edges placed to sub-cell precision.

    The reference is the first principal component (in pixels) of the chosen tiles' cell displacements,
    split into its two diagonals of cells; each cell's displacement along the region's direction is
    regressed on the diagonal it is not part of (both, for cells outside the chosen tiles), and the
    gain, relative to that of fully moving cells, is the fraction of the cell that moves with the
    region (amplitude-weighted; small motions add linearly).
    The box starts as the chosen tiles' cells and grows (or shrinks) by whole strips of cells: a strip
    joins when its cells move on average at least ``10**(-drop_db/20)`` (0.5 for 6 dB) as much as the
    region, significantly (2 standard errors of that mean); each side is then moved by the moving
    fraction of its boundary cells and of the cells just outside.
    """
    cells = vmap.cells
    n = cells.shape[0]
    cy_n, cx_n = cells.shape[2], cells.shape[3]
    ey, ex = vmap.cell_edges
    tiles_i, tiles_j = np.nonzero(comp)
    own = [(2 * i + a, 2 * j + b) for i, j in zip(tiles_i, tiles_j, strict=True) for a in (0, 1) for b in (0, 1)]
    z = np.stack([cells[:, :, y, x] for y, x in own], axis=2).astype(np.float64)  # (n, 2, m)
    zf = z.reshape(n, -1)
    vals, vecs = np.linalg.eigh(zf.T @ zf / n)
    w = vecs[:, -1]
    if vals[-1] <= 0:
        return None
    wm = w.reshape(2, -1)
    u = np.linalg.eigh(wm @ wm.T)[1][:, -1]  # the region's principal direction of motion
    if float(np.sum(u @ wm)) < 0:  # the sign that makes the cells' motion along u agree with the reference
        u = -u
    # Two references from the two diagonals of the chosen tiles' cells (disjoint pixels, equal
    # shares of the region): a chosen cell is measured against the diagonal it is not on, any other
    # cell against both.  A cell's own noise is then never in its reference, and every gain is
    # shrunk alike by a reference's noise, so gains compare across cells.
    half = np.array([(y + x) % 2 for y, x in own])
    sides = [np.concatenate([np.flatnonzero(half == h), len(own) + np.flatnonzero(half == h)]) for h in (0, 1)]
    refs = [zf[:, c] @ w[c] for c in sides]
    if min(float(r @ r) for r in refs) <= 0:
        return None
    side_of = {cell: int(h) for cell, h in zip(own, half, strict=True)}

    def against(cy: int, cx: int, k: int) -> tuple[float, float]:
        r = refs[k]
        x = cells[:, :, cy, cx].astype(np.float64) @ u  # displacement along the region's direction
        rr = float(r @ r)
        g = float(x @ r) / rr
        resid = x - g * r
        return g, math.sqrt(max(float(resid @ resid) / max(n - 1, 1), 0.0) / rr)

    # each reference's gain for a fully moving cell: the median over the other diagonal's cells
    # that move at least half as much as its most moving one (chosen tiles may be partly still)
    level = []
    for k in (0, 1):
        g = np.array([against(cy, cx, k)[0] for cy, cx in own if side_of[(cy, cx)] != k])
        level.append(float(np.median(g[g >= 0.5 * g.max()])) if g.size and g.max() > 0 else 0.0)
    if not min(level) > 0:
        return None
    frac = np.zeros((cy_n, cx_n))  # signed: a cell moving in opposite phase does not move "with" it
    err = np.full((cy_n, cx_n), np.inf)
    valid = np.repeat(np.repeat(np.isfinite(vmap.snr_db), 2, axis=0), 2, axis=1)
    for cy, cx in zip(*np.nonzero(valid), strict=True):
        ks = [1 - side_of[(cy, cx)]] if (cy, cx) in side_of else [0, 1]
        got = [against(cy, cx, k) for k in ks]
        frac[cy, cx] = float(np.mean([g / level[k] for (g, _), k in zip(got, ks, strict=True)]))
        err[cy, cx] = math.sqrt(sum((e / level[k]) ** 2 for (_, e), k in zip(got, ks, strict=True))) / len(ks)
    core = np.zeros((cy_n, cx_n), dtype=bool)
    for cy, cx in own:
        core[cy, cx] = True
    need = 10 ** (-drop_db / 20)
    # Grow the box of the chosen tiles' cells a strip of cells at a time: a side moves out by one
    # row (column) of cells when that strip, across the box, moves at least ``need`` as much as the
    # region on average; a boundary strip that does not is dropped.  A strip's mean is far less noisy
    # than one cell's, so weak but genuinely moving cells join and noisy still ones do not.
    def moves(rows: slice, cols: slice) -> bool:
        f, e = frac[rows, cols], err[rows, cols]
        se = math.sqrt(float(np.sum(np.minimum(e, 1e6) ** 2))) / max(f.size, 1)
        return bool(f.size) and float(f.mean()) >= need and float(f.mean()) >= 2.0 * se

    def grow() -> tuple[int, int, int, int]:
        yy, xx = np.nonzero(core)
        r0, r1, c0, c1 = int(yy.min()), int(yy.max()), int(xx.min()), int(xx.max())
        for _ in range(cy_n + cx_n):
            changed = False
            if r1 > r0 and not moves(slice(r0, r0 + 1), slice(c0, c1 + 1)):
                r0, changed = r0 + 1, True
            if r1 > r0 and not moves(slice(r1, r1 + 1), slice(c0, c1 + 1)):
                r1, changed = r1 - 1, True
            if c1 > c0 and not moves(slice(r0, r1 + 1), slice(c0, c0 + 1)):
                c0, changed = c0 + 1, True
            if c1 > c0 and not moves(slice(r0, r1 + 1), slice(c1, c1 + 1)):
                c1, changed = c1 - 1, True
            if r0 > 0 and moves(slice(r0 - 1, r0), slice(c0, c1 + 1)):
                r0, changed = r0 - 1, True
            if r1 + 1 < cy_n and moves(slice(r1 + 1, r1 + 2), slice(c0, c1 + 1)):
                r1, changed = r1 + 1, True
            if c0 > 0 and moves(slice(r0, r1 + 1), slice(c0 - 1, c0)):
                c0, changed = c0 - 1, True
            if c1 + 1 < cx_n and moves(slice(r0, r1 + 1), slice(c1 + 1, c1 + 2)):
                c1, changed = c1 + 1, True
            if not changed:
                break
        return r0, r1, c0, c1

    r0, r1, c0, c1 = grow()
    # The chosen cells' gains read high (neighbouring cells of a tile share some noise through the
    # pyramid's filters), so "fully moving" is re-read off the box's other cells where there are
    # enough of them, and the box grown again on that scale.
    inner = np.zeros_like(core)
    inner[r0 : r1 + 1, c0 : c1 + 1] = True
    inner &= ~core & (frac >= need)
    if inner.sum() >= 4:
        scale = float(np.median(frac[inner]))
        frac, err = frac / scale, err / scale
        r0, r1, c0, c1 = grow()
        why["cell_gain_rescaled"] = round(1.0 / scale, 3)
    f = np.clip(frac, 0.0, 1.0)

    def edge(inner: float, w_in: float, f_in: float, w_out: float, f_out: float, sign: int) -> float:
        # the moving part reaches f_in into the boundary cell and f_out into the next one out
        return inner + sign * (f_in * w_in + f_out * w_out)

    rows, cols_ = slice(r0, r1 + 1), slice(c0, c1 + 1)
    left = edge(float(ex[c0 + 1]), float(ex[c0 + 1] - ex[c0]), f[rows, c0].mean(),
                float(ex[c0] - ex[c0 - 1]) if c0 > 0 else 0.0, f[rows, c0 - 1].mean() if c0 > 0 else 0.0, -1)
    right = edge(float(ex[c1]), float(ex[c1 + 1] - ex[c1]), f[rows, c1].mean(),
                 float(ex[c1 + 2] - ex[c1 + 1]) if c1 + 1 < cx_n else 0.0,
                 f[rows, c1 + 1].mean() if c1 + 1 < cx_n else 0.0, 1)
    top_ = edge(float(ey[r0 + 1]), float(ey[r0 + 1] - ey[r0]), f[r0, cols_].mean(),
                float(ey[r0] - ey[r0 - 1]) if r0 > 0 else 0.0, f[r0 - 1, cols_].mean() if r0 > 0 else 0.0, -1)
    bottom = edge(float(ey[r1]), float(ey[r1 + 1] - ey[r1]), f[r1, cols_].mean(),
                  float(ey[r1 + 2] - ey[r1 + 1]) if r1 + 1 < cy_n else 0.0,
                  f[r1 + 1, cols_].mean() if r1 + 1 < cy_n else 0.0, 1)
    x0, y0 = vmap.roi[0], vmap.roi[1]
    why["refined"] = True
    why["cells_kept"] = (r1 - r0 + 1) * (c1 - c0 + 1)
    why["cell_fraction_threshold"] = round(10 ** (-drop_db / 20), 3)
    why["direction_deg"] = round(float(np.degrees(np.arctan2(u[1], u[0])) % 180.0), 1)
    return (int(round(x0 + left)), int(round(y0 + top_)), int(round(x0 + right)), int(round(y0 + bottom)))


def _grow(box: tuple[int, int, int, int], whole: ROI, min_size: int) -> ROI:
    """ROI of ``box`` (x0, y0, x1, y1), grown around its centre to ``min_size`` inside ``whole``."""
    x0, y0, x1, y1 = box

    def widen(a: int, b: int, lo: int, hi: int) -> tuple[int, int]:
        need = min(min_size, hi - lo) - (b - a)
        if need > 0:
            a -= need // 2
            b += need - need // 2
            if a < lo:
                b, a = b + (lo - a), lo
            if b > hi:
                a, b = a - (b - hi), hi
        return a, b

    x0, x1 = widen(x0, x1, whole.x, whole.x + whole.w)
    y0, y1 = widen(y0, y1, whole.y, whole.y + whole.h)
    return ROI(x0, y0, x1 - x0, y1 - y0)


def auto_roi(src: FrameSource, *, rate: float, batch: int = 16,
             progress: ProgressFn | None = None) -> tuple[ROI, dict]:
    """Map the whole frame and pick the region (the ``roi="auto"`` step of :func:`vismic.pipeline.recover`).

    Returns
    -------
    roi : ROI
    why : dict
        :func:`select_roi`'s reasons, plus the map's summary under ``"map"``.
    """
    rows, cols = src.shape
    vmap = _map(src, rate=rate, roi=ROI(0, 0, cols, rows), band=check_band(None, rate), tile=None,
                max_frames=None, batch=batch, progress=progress)
    roi, why = select_roi(vmap)
    m = vmap.to_dict()
    why["map"] = {k: m[k] for k in ("grid", "snr_db", "max_frames")}
    return roi, why
