"""Local motion from complex band phases, summed into per-band, per-region signals.

For a band coefficient ``C = A exp(i phi)`` a sub-pixel shift ``d`` changes the phase by
``k . d`` (``k`` the band's local frequency), so the amplitude-weighted phase change summed over a
region measures the region's motion along the band's direction (Davis et al. 2014, eq. 3).

Two references for the phase change are offered:

``"increment"`` (default)
    frame-to-frame increments ``angle(C_t conj(C_{t-1}))`` weighted by ``|C_t C_{t-1}|``, summed
    per region into a velocity, later integrated in time (:func:`integrate`).  Each increment is
    tiny, so slow drift of many pixels never wraps the phase; for pixels whose phase does not wrap,
    the sum telescopes to the same answer as the first-frame reference, so no noise accumulates.
``"reference"``
    the phase change against the first frame (the paper's method), weighted by ``|C_t C_0|``.
    Breaks once the object drifts by a sizeable fraction of the finest wavelength.

The region sums are normalised by the region's total weight in each frame, which keeps the
signal in radians and makes it insensitive to lighting changes that scale the amplitudes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ParameterError
from .pyramid import Band, ComplexSteerablePyramid

__all__ = ["Channel", "MotionEstimator", "integrate", "region_edges", "global_lucas_kanade"]

MODES = ("increment", "reference")


@dataclass(frozen=True)
class Channel:
    """One motion signal: a band inside one region of the ROI.

    ``rect`` is ``(x, y, w, h)`` in full-resolution ROI pixels.
    """

    band: Band
    region: tuple[int, int]
    rect: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        return f"{self.band.name}_r{self.region[0]}c{self.region[1]}"


def region_edges(n: int, parts: int) -> np.ndarray:
    """Integer edges splitting ``n`` samples into ``parts`` near-equal tiles."""
    return np.round(np.linspace(0, n, parts + 1)).astype(np.int64)


class MotionEstimator:
    """Streams frames through a pyramid and returns per-channel motion signals.

    Parameters
    ----------
    pyramid : ComplexSteerablePyramid
        Built for the ROI's shape.
    mode : {"increment", "reference"}
        Phase reference (see module docs).
    grid : tuple of int
        ``(rows, cols)`` of the region grid; ``(1, 1)`` gives one global signal per band.

    Notes
    -----
    Call :meth:`process` on consecutive batches; it keeps the previous frame's (or the first
    frame's) coefficients between calls, so memory does not grow with the clip length.
    """

    def __init__(self, pyramid: ComplexSteerablePyramid, *, mode: str = "increment", grid=(1, 1)) -> None:
        if mode not in MODES:
            raise ParameterError(f"mode={mode!r} is not one of {MODES}")
        gy, gx = int(grid[0]), int(grid[1])
        if gy < 1 or gx < 1:
            raise ParameterError(f"grid={grid} must have at least one region per axis")
        self.pyramid = pyramid
        self.mode = mode
        self.grid = (gy, gx)
        rows, cols = pyramid.shape
        r_full = region_edges(rows, gy)
        c_full = region_edges(cols, gx)
        channels: list[Channel] = []
        self._edges: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(len(pyramid.levels)):
            bands = pyramid.bands_of_level(i)
            br, bc = bands[0].shape
            er, ec = region_edges(br, gy), region_edges(bc, gx)
            if np.any(np.diff(er) == 0) or np.any(np.diff(ec) == 0):
                raise ParameterError(
                    f"grid={gy}x{gx} is too fine for the coarsest band ({bc}x{br} coefficients); "
                    "use fewer regions or fewer scales"
                )
            self._edges.append((er, ec))
            for b in bands:
                for ry in range(gy):
                    for rx in range(gx):
                        rect = (int(c_full[rx]), int(r_full[ry]), int(c_full[rx + 1] - c_full[rx]),
                                int(r_full[ry + 1] - r_full[ry]))
                        channels.append(Channel(b, (ry, rx), rect))
        self.channels: tuple[Channel, ...] = tuple(channels)
        self._anchor: list[np.ndarray] | None = None
        self.frames_seen = 0
        self.mean_weight = np.zeros(len(channels))

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Motion of a batch of consecutive frames.

        Parameters
        ----------
        frames : ndarray, shape (n, rows, cols)
            The next ``n`` frames of the clip.

        Returns
        -------
        ndarray, shape (n, n_channels), float32
            ``"increment"``: phase velocity (radians per frame, 0 for the clip's first frame);
            ``"reference"``: phase change against the first frame (radians).
            NaN where a region carries no weight (no texture).
        """
        spec = self.pyramid.spectrum(frames)
        n = spec.shape[0]
        out = []
        first = self._anchor is None
        if first:
            self._anchor = []
        weights = []
        for i in range(len(self.pyramid.levels)):
            coeffs = self.pyramid.level_from_spectrum(spec, i)  # (n, K, r, c)
            if first:
                self._anchor.append(coeffs[0].copy())
            anchor = self._anchor[i]
            if self.mode == "reference":
                prod = coeffs * np.conj(anchor)[None]
            else:
                prod = np.empty_like(coeffs)
                np.multiply(coeffs[1:], np.conj(coeffs[:-1]), out=prod[1:])
                np.multiply(coeffs[0], np.conj(anchor), out=prod[0])
                self._anchor[i] = coeffs[-1].copy()
            w = np.abs(prod)
            wphi = w * np.angle(prod)
            er, ec = self._edges[i]
            num = np.add.reduceat(np.add.reduceat(wphi, er[:-1], axis=2), ec[:-1], axis=3)
            den = np.add.reduceat(np.add.reduceat(w, er[:-1], axis=2), ec[:-1], axis=3)
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.where(den > 0, num / den, np.nan)
            out.append(v.reshape(n, -1))
            weights.append(den.reshape(n, -1).sum(axis=0))
        self.frames_seen += n
        self.mean_weight += np.concatenate(weights)
        return np.concatenate(out, axis=1).astype(np.float32)


def integrate(velocity: np.ndarray) -> np.ndarray:
    """Integrate increment-mode velocities into displacements (float64, along axis 0)."""
    return np.cumsum(np.asarray(velocity, dtype=np.float64), axis=0)


def global_lucas_kanade(frames: np.ndarray, *, reference: np.ndarray | None = None,
                        direction_deg: float = 0.0) -> np.ndarray:
    """Plain global Lucas-Kanade displacement along one direction (a baseline, in pixels).

    ``d_t = sum(g * (I_0 - I_t)) / sum(g^2)`` with ``g`` the directional derivative of the
    reference frame (central differences).  This is the textbook estimator the phase method is
    compared against; it is unbiased only for motions much smaller than a pixel.

    Parameters
    ----------
    frames : ndarray, shape (n, rows, cols)
    reference : ndarray, shape (rows, cols), optional
        Defaults to ``frames[0]``.
    direction_deg : float
        Motion direction (0 = +x).

    Returns
    -------
    ndarray, shape (n,), float64
    """
    frames = np.asarray(frames, dtype=np.float64)
    ref = frames[0] if reference is None else np.asarray(reference, dtype=np.float64)
    gy, gx = np.gradient(ref)
    th = np.radians(direction_deg)
    g = np.cos(th) * gx + np.sin(th) * gy
    g = g[1:-1, 1:-1]
    den = float(np.sum(g * g))
    if den <= 0:
        raise ParameterError("the reference frame has no gradient along the motion direction")
    diff = ref[None, 1:-1, 1:-1] - frames[:, 1:-1, 1:-1]
    return np.einsum("nij,ij->n", diff, g) / den
