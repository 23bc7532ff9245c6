"""Per-row motion, streamed: every row is another instant, so no filter mixes rows.

Horizontal motion: 1-D analytic octave bands along each half row. Vertical motion: short
vertical complex Gabor filters (at most 17 rows). Phase against a reference frame renewed every
second, never integrated increments (which slip by 2 pi in noisy pixels).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import correlate1d

from ..errors import ParameterError

DIRECTIONS = ("auto", "x", "y")


#: Reference segments: each frame's phase is measured against a reference frame, renewed when the
#: rows have drifted DRIFT_PX pixels from it (the finest band wraps at ~1.4 px), and at least every
#: MAX_ANCHOR_S seconds (MIN_ANCHOR frames at least). Each renewal costs the aliased sound within
#: ~1/segment Hz of the multiples of the frame rate (removed with the reference's offsets).
DRIFT_PX = 0.5
MAX_ANCHOR_S = 10.0
MIN_ANCHOR = 16


def _x_bank(width: int, n_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """One-sided (rfft-bin) responses of ``n_bands`` octave analytic bands along a row.

    Raised-cosine bumps in log2 frequency, one octave apart (squares sum to one between the
    centres), the finest flat up to Nyquist; DC and the Nyquist bin are zero. Returns
    ``(H, k)`` with ``H`` of shape (n_bands, width//2+1) and ``k`` the bin frequencies in rad/px.
    """
    k = 2 * np.pi * np.arange(width // 2 + 1) / width
    with np.errstate(divide="ignore"):
        lg = np.log2(k / np.pi)
    bank = np.zeros((n_bands, k.size))
    for j in range(n_bands):
        u = lg + 0.5 + j
        h = np.cos(np.pi / 2 * np.clip(u, -1, 1))
        if j == 0:
            h = np.where(u > 0, 1.0, h)
        bank[j] = h
    bank[:, 0] = 0
    if width % 2 == 0:
        bank[:, -1] = 0
    return bank, k


def _y_bank() -> list[tuple[np.ndarray, np.ndarray]]:
    """Short vertical complex Gabor kernels and their exact derivatives (zero DC).

    Two octaves: centre 0.55 pi rad/row (sigma 1.4 rows, 9 taps) and 0.275 pi (sigma 2.8 rows,
    17 taps). The longest spans 17 rows, i.e. 17 line delays: a temporal smear far shorter than
    any exposure, so rows stay (almost) separate instants.
    """
    out = []
    for w0, sig, half in ((0.55 * np.pi, 1.4, 4), (0.275 * np.pi, 2.8, 8)):
        y = np.arange(-half, half + 1, dtype=np.float64)
        env = np.exp(-(y**2) / (2 * sig**2))
        carrier = env * np.exp(1j * w0 * y)
        c = carrier.sum() / env.sum()
        g = carrier - c * env  # zero response at DC
        dg = (1j * w0 - y / sig**2) * carrier + c * (y / sig**2) * env  # exact derivative of g
        # correlate1d computes sum_j k[j] f[y + j - half]: reversed kernels give the convolution g * f
        out.append((g[::-1].copy(), dg[::-1].copy()))
    return out


class RowMotionEstimator:
    """Streams frames and returns the motion increment of every row, per channel.

    Parameters
    ----------
    shape : (int, int)
        ``(rows, cols)`` of the ROI.
    direction : {"auto", "x", "y"}
        Motion to measure: horizontal (``"x"``, along the rows: pure per-row filters), vertical
        (``"y"``), or both (``"auto"``; the stitcher finds the direction from the data).
    bands : int or None
        Octave bands along the row (default: up to 4, as the width allows).
    workers : int
        Threads for the FFTs.

    Notes
    -----
    For every band, pixel and frame pair, ``dphi = angle(C_n conj(C_{n-1}))``; with ``w`` the
    running mean of ``|C|^2`` and ``g`` the running mean local phase gradient (spectral along x,
    the exact Gabor derivative along y), the displacement of a row half is
    ``-sum(w g dphi) / sum(w g^2)`` pixels per frame. Channels are ``xL, xR`` (horizontal motion,
    left / right half of the row) and ``yL, yR`` (vertical). Memory holds one frame's
    coefficients and the running means, whatever the clip length.
    """

    def __init__(self, shape: tuple[int, int], *, direction: str = "auto", bands: int | None = None,
                 max_anchor: int = 600, drift_px: float = DRIFT_PX, workers: int = 1) -> None:
        rows, cols = int(shape[0]), int(shape[1])
        if rows < 3 or cols < 16:
            raise ParameterError(f"the ROI is {cols}x{rows} pixels; rolling-shutter recovery needs >= 16 columns "
                                 "and >= 3 rows (enlarge --roi)")
        if direction not in DIRECTIONS:
            raise ParameterError(f"direction={direction!r} must be one of {DIRECTIONS}")
        top = max(1, min(4, int(np.log2(cols / 8))))  # bands fit each half-row
        n_bands = top if bands is None else int(bands)
        if not 1 <= n_bands <= max(top, 1):
            raise ParameterError(f"bands={bands} must be in 1..{top} for a {cols}-pixel-wide ROI")
        self.shape = (rows, cols)
        self.direction = direction
        self.workers = int(workers)
        self.families = {"auto": ("x", "y"), "x": ("x",), "y": ("y",)}[direction]
        self.channels = tuple(f"{f}{h}" for f in self.families for h in "LR")
        half = cols // 2
        self._xcols = (slice(0, half), slice(half, cols))
        self._ycols = (slice(0, half), slice(half, cols))
        # each half is filtered on its own, so the two halves share no pixel and their noise is independent
        self._hx = []
        for sl in self._xcols:
            width = sl.stop - sl.start
            bank, kx = _x_bank(width, n_bands)
            self._hx.append((bank.astype(np.float32), (1j * kx).astype(np.complex64)))
        self._ky = _y_bank()
        if isinstance(max_anchor, bool) or int(max_anchor) < 2:
            raise ParameterError(f"max_anchor={max_anchor} must be an integer >= 2 frames")
        if not (isinstance(drift_px, int | float) and drift_px > 0):
            raise ParameterError(f"drift_px={drift_px} must be > 0 pixels")
        self._ref: dict[str, list] = {}
        self._stats: dict[str, list] = {}
        #: Time constant, in frames, of the running averages of weights and phase gradients.
        self.memory = 32
        #: Longest reference segment, in frames.
        self.max_anchor = int(max_anchor)
        #: Drift from the reference, in pixels, that renews it.
        self.drift_px = float(drift_px)
        #: First frame of every reference segment (frames ``segments[k]:segments[k+1]`` share a reference).
        self.segments: list[int] = []
        self._drift = 0.0
        self.frames_seen = 0
        self.bands = max(n_bands, len(self._ky)) if "y" in self.families else n_bands
        self.x_bands = n_bands
        #: Sum over frames of ``sum(w g^2)`` per channel, band and row (the measurement's information).
        self.information = np.zeros((len(self.channels), self.bands, rows))

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def _coeffs(self, frames: np.ndarray) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        n, rows, cols = frames.shape
        if "x" in self.families:
            parts = []
            for sl, (bank, ikx) in zip(self._xcols, self._hx, strict=True):
                seg = frames[..., sl]
                width = seg.shape[-1]
                # remove the linear ramp that joins the row's ends: the FFT sees no jump where it wraps
                jump = seg[..., -1:] - seg[..., :1]
                seg = seg - jump * (np.arange(width, dtype=np.float32) / max(width - 1, 1) - np.float32(0.5))
                spec = sfft.rfft(seg, axis=-1, workers=self.workers)
                nb = spec.shape[-1]
                cgs = []
                for h in bank:
                    z = np.zeros((2, n, rows, width), dtype=np.complex64)
                    z[0, ..., :nb] = spec * h
                    z[1, ..., :nb] = z[0, ..., :nb] * ikx
                    cgs.append(sfft.ifft(z, axis=-1, workers=self.workers, overwrite_x=True))
                parts.append(cgs)
            out["x"] = [(np.concatenate([p[b][0] for p in parts], axis=-1),
                         np.concatenate([p[b][1] for p in parts], axis=-1)) for b in range(len(self._hx[0][0]))]
        if "y" in self.families:
            lst = []
            for g, dg in self._ky:
                c = (correlate1d(frames, g.real.astype(np.float32), axis=1, mode="reflect")
                     + 1j * correlate1d(frames, g.imag.astype(np.float32), axis=1, mode="reflect"))
                d = (correlate1d(frames, dg.real.astype(np.float32), axis=1, mode="reflect")
                     + 1j * correlate1d(frames, dg.imag.astype(np.float32), axis=1, mode="reflect"))
                lst.append((c.astype(np.complex64), d.astype(np.complex64)))
            out["y"] = lst
        return out

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Per-row, per-band displacement of a batch of consecutive frames against their segment's reference.

        Parameters
        ----------
        frames : ndarray, shape (n, rows, cols)
            The next ``n`` frames (any real dtype; computed in float32).

        Returns
        -------
        ndarray, shape (n, n_channels, bands, rows), float32
            Displacement of each row half in each band since the reference frame of its segment
            (the first frame of the segment in :attr:`segments` that holds the frame), in pixels
            (+x right, +y down); NaN where a row half has no texture in the band, or for bands a
            family does not have.

        Notes
        -----
        The phase of every pixel is measured against a reference frame, never accumulated
        from frame-to-frame increments: a wrapped increment slips by ``2 pi`` in a noisy pixel
        (a finest octave that the lens has blurred into noise), and summed slips are a random
        walk that repeats in every frame as lines at multiples of the frame rate. Against a
        reference, a noisy pixel's error stays bounded. The reference is renewed (at the start of
        a batch) when the rows have drifted :attr:`drift_px` from it, and after
        :attr:`max_anchor` frames, so slow drift never wraps the phase either; the constant that
        each reference adds to a row is removed downstream (:func:`row_signals`, per row and
        segment) together with the row's unknown texture phase. Weights (``|C|^2`` and the
        phase gradient, running means over ~:attr:`memory` frames) are frozen at each
        reference, so the reference's own noise is one constant per row and segment.
        """
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ParameterError(f"frames of shape {frames.shape} given to an estimator built for {self.shape}")
        n = frames.shape[0]
        rows = self.shape[0]
        coeffs = self._coeffs(frames)
        out = np.full((n, self.n_channels, self.bands, rows), np.nan, dtype=np.float32)
        alpha = np.float32(1.0 - (1.0 - 1.0 / self.memory) ** n)
        start = self.frames_seen
        renew = (not self.segments or start - self.segments[-1] >= self.max_anchor or self._drift >= self.drift_px)
        if renew:  # a new reference: this batch's first frame
            self.segments.append(start)
        drift = 0.0
        ci = 0
        for fam in self.families:
            cols = self._xcols if fam == "x" else self._ycols
            stats = self._stats.setdefault(fam, [None] * len(coeffs[fam]))
            refs = self._ref.setdefault(fam, [None] * len(coeffs[fam]))
            for b, (c, g) in enumerate(coeffs[fam]):
                energy = (c.real**2 + c.imag**2).mean(axis=0)
                qgrad = (c.real * g.imag - c.imag * g.real).mean(axis=0)
                if stats[b] is None:
                    stats[b] = (energy, qgrad)
                if renew or refs[b] is None:
                    e_avg, q_avg = stats[b]
                    grad = q_avg / np.maximum(e_avg, np.float32(1e-30))
                    wg = e_avg * grad
                    den = [(wg * grad)[:, sl].sum(axis=-1, dtype=np.float64) for sl in cols]
                    refs[b] = (c[0].copy(), wg, den)
                ref, wg, den = refs[b]
                a = np.angle(c * np.conj(ref)) * wg
                for i, sl in enumerate(cols):
                    num = a[..., sl].sum(axis=-1, dtype=np.float64)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        d = np.where(den[i] > 0, -num / den[i], np.nan)
                    out[:, ci + i, b] = d
                    self.information[ci + i, b] += den[i] * n
                    if b == len(coeffs[fam]) - 1 and np.any(np.isfinite(d)):  # the coarsest band: drift
                        drift = max(drift, abs(float(np.nanmean(d))))
                e_avg, q_avg = stats[b]
                stats[b] = (e_avg + alpha * (energy - e_avg), q_avg + alpha * (qgrad - q_avg))
            ci += len(cols)
        self.frames_seen += n
        self._drift = drift
        return out


def anchor_frames(fps: float) -> int:
    """Longest reference segment at ``fps``, in frames: ``MAX_ANCHOR_S`` seconds, at least ``MIN_ANCHOR``."""
    return max(MIN_ANCHOR, int(round(MAX_ANCHOR_S * float(fps))))
