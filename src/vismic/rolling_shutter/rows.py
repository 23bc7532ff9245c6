"""From per-row, per-band displacements to one estimate per row, with each row's gain and noise.

Bands are weighted by their measured noise (the two halves of a row share no pixel, so their
disagreement is noise); each row gets its own gain and noise from the covariance of its halves, so
rows of a still background are gaps (gain 0), not measured zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, NoTextureError, ParameterError

#: Per-row gains: covariances between the row halves are averaged over +-ROW_SMOOTH rows.
ROW_SMOOTH = 8
#: The gain each row's motion is divided by is averaged over +-GAIN_SMOOTH rows that see motion.
GAIN_SMOOTH = 64
#: Rows whose running SNR is this many dB below the well-seen rows' do not "see the motion".
MOVING_DROP_DB = 10.0


def _row_noise(d_l: np.ndarray, d_r: np.ndarray, info_l: np.ndarray, info_r: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Noise variance of each row's left and right estimates from their disagreement.

    ``var(L - R) = c/I_L + c/I_R`` with ``I`` the Fisher-like information of each half, so
    ``var(L) = var(L - R) I_R / (I_L + I_R)``.
    """
    v = np.var(d_l.astype(np.float64) - d_r, axis=0)
    tot = info_l + info_r
    with np.errstate(invalid="ignore", divide="ignore"):
        vl = np.where(tot > 0, v * info_r / tot, np.inf)
        vr = np.where(tot > 0, v * info_l / tot, np.inf)
    return vl, vr


def _fuse_weights(cov: np.ndarray, channels: tuple[str, ...]) -> dict[str, Any]:
    """Gains and combining weights of the channels from their covariance.

    The left and right halves of the rows share no pixel, so their noise is independent, while
    the directions measured within one half (x and y) share pixels and hence noise. The model is
    ``X_L = g_L f + n_L``, ``X_R = g_R f + n_R`` (vectors over directions, ``f`` the unit-variance
    motion): the cross-half covariance ``K = g_L g_R^T`` gives the gains (its leading singular
    pair: halves moving in opposite phase get opposite signs), each half's noise covariance is
    ``Psi = C - g g^T``, and the maximum-SNR weights are ``Psi^-1 g`` (maximum-ratio combining
    with correlated noise). Noise alone gives gains near zero, not a spurious signal.

    Returns
    -------
    dict
        ``gains`` and ``weights`` per channel, ``noise`` (diagonal of Psi), ``snr`` (of the
        combination, a ratio), ``direction_deg``.
    """
    fams = [f for f in "xy" if f + "L" in channels]
    li = [channels.index(f + "L") for f in fams]
    ri = [channels.index(f + "R") for f in fams]
    k = cov[np.ix_(li, ri)]
    u, sv, vt = np.linalg.svd(k)
    g_l, g_r = np.sqrt(sv[0]) * u[:, 0], np.sqrt(sv[0]) * vt[0]
    flip = -1.0 if g_l.sum() + g_r.sum() < 0 else 1.0
    g_l, g_r = g_l * flip, g_r * flip
    gains = np.zeros(len(channels))
    weights = np.zeros(len(channels))
    noise = np.zeros(len(channels))
    snr = 0.0
    for idx, g in ((li, g_l), (ri, g_r)):
        c = cov[np.ix_(idx, idx)]
        psi = c - np.outer(g, g)
        floor = 1e-3 * np.diag(c)
        evals, evecs = np.linalg.eigh(psi)
        psi = (evecs * np.maximum(evals, floor.min() if floor.size else 0.0)) @ evecs.T
        w = np.linalg.solve(psi + np.diag(floor * 1e-3), g)
        gains[idx], weights[idx], noise[idx] = g, w, np.diag(psi)
        snr += float(g @ w)
    # motion direction from the gains of one half (the other sign-aligned)
    s_lr = 1.0 if g_l @ g_r >= 0 else -1.0
    g_mean = (g_l + s_lr * g_r) / 2
    gx = float(g_mean[fams.index("x")]) if "x" in fams else 0.0
    gy = float(g_mean[fams.index("y")]) if "y" in fams else 0.0
    return {"gains": gains, "weights": weights, "noise": noise, "snr": snr, "gx": gx, "gy": gy}


@dataclass
class RowSignals:
    """Per-row displacement of every channel, with each row's measured noise.

    Attributes
    ----------
    displacement : ndarray, shape (n_frames, n_channels, rows), float32
        Displacement of each row half in pixels, bands combined by their measured noise, with
        its mean over every reference segment removed: a row's offset is its unknown texture
        phase (plus the reference frame's noise), and cannot be told from a sound component at
        an exact multiple of the frame rate.
    channels : tuple of str
        ``xL, xR, yL, yR`` (or the subset measured).
    noise : ndarray, shape (n_channels, rows)
        Noise variance of each row half in px^2 (inf where it has no texture), measured from
        the disagreement of the two halves of the same row (the same instant).
    band_noise : ndarray, shape (n_channels, bands, rows) or None
        The same per band, before the bands were combined (inf: band unusable).
    segments : list of int or None
        First frame of every reference segment (their means were removed); None: one.
    """

    displacement: np.ndarray
    channels: tuple[str, ...]
    noise: np.ndarray
    band_noise: np.ndarray | None = None
    segments: list[int] | None = None
    _models: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def weight(self) -> np.ndarray:
        """Inverse noise variance, 0 for unusable rows, floored at 1e-3 of the median noise."""
        finite = self.noise[np.isfinite(self.noise) & (self.noise > 0)]
        floor = 1e-3 * float(np.median(finite)) if finite.size else 1.0
        return np.where(np.isfinite(self.noise), 1.0 / np.maximum(self.noise, floor), 0.0)

    def model(self, *, smooth: int = ROW_SMOOTH) -> RowModel:
        """Per-row gain and noise of the motion, from the data (see :class:`RowModel`).

        Computed once per ``smooth`` (the stitch and the line-delay check both use it)."""
        if smooth not in self._models:
            self._models[smooth] = _row_model(self, smooth=smooth)
        return self._models[smooth]

    def combined(self) -> tuple[np.ndarray, dict]:
        """One displacement per row and frame, in pixels along the motion.

        Returns
        -------
        rows : ndarray, shape (n_frames, rows), float64
            Pixels along the measured motion; 0 for rows that show no motion (a still
            background, no texture).
        info : dict
            Gains, noise variances and weights of the channels, the motion direction, and
            the per-row gains and noise (:class:`RowModel`).
        """
        m = self.model()
        rows = m.values * m.gain[None, :]  # back to pixels: the row's own amplitude
        rows[:, m.information <= 0] = 0.0
        return rows, m.fuse | {"row_gain_px": m.gain, "row_noise_px2": m.noise}


@dataclass
class RowModel:
    """The motion seen by each row: ``y_r(n) = a_r s(t_r(n)) + noise`` with ``var(noise) = sigma_r^2``.

    Attributes
    ----------
    values : ndarray, shape (n_frames, rows), float64
        Each row's estimate of the unit-variance motion ``s``: ``y_r`` over ``a_r`` averaged along
        ``+-GAIN_SMOOTH`` rows that see motion (0 where ``a_r = 0``).
    gain : ndarray, shape (rows,)
        ``a_r``: RMS motion of the row in pixels along the motion direction (0: the row shows
        nothing that moves, e.g. a still background; it is a gap, not a zero).
    noise : ndarray, shape (rows,)
        ``sigma_r^2`` in px^2.
    information : ndarray, shape (rows,)
        ``a_r^2 / sigma_r^2``: the row's SNR, the weight of ``values`` (0: unusable).
    scale_px : float
        The object's RMS motion in pixels (``a_r`` where the rows see the motion best).
    fuse : dict
        The channels' gains and weights (:func:`_fuse_weights`), computed over the rows that
        see motion.
    raw : ndarray, shape (n_frames, rows), float64, or None
        ``y_r``: each textured row's motion in pixels (its halves combined by their noise).
    """

    values: np.ndarray
    gain: np.ndarray
    noise: np.ndarray
    information: np.ndarray
    scale_px: float
    fuse: dict
    raw: np.ndarray | None = None

    def moving_rows(self, *, drop_db: float = MOVING_DROP_DB, span: int = 16) -> np.ndarray:
        """Rows that see the motion: their ``span``-row running SNR is within ``drop_db`` of the
        well-seen rows' (90th percentile). A still background's rows get, by chance, a small SNR
        (some 20 dB below an object's); they do not count. Returns a boolean mask."""
        return moving_rows(self.information, drop_db=drop_db, span=span)


def moving_rows(information: np.ndarray, *, drop_db: float = MOVING_DROP_DB, span: int = 16) -> np.ndarray:
    """Rows whose ``span``-row running SNR (``information``, per row) is within ``drop_db`` of the
    well-seen rows' (90th percentile); see :meth:`RowModel.moving_rows`."""
    info = np.asarray(information, dtype=np.float64)
    if not np.any(info > 0):
        return np.zeros(info.shape, bool)
    run = np.convolve(info, np.ones(span), mode="same")
    return run >= np.percentile(run[run > 0], 90) * 10 ** (-drop_db / 10)


def _axis_deg(gx: float, gy: float) -> float:
    """Motion axis in degrees in (-90, 90]: 0 = horizontal, 90 = vertical (down)."""
    a = float(np.degrees(np.arctan2(gy, gx))) if (gx or gy) else 0.0
    a = (a + 90.0) % 180.0 - 90.0
    return 90.0 if a == -90.0 else a


def _box_rows(x: np.ndarray, half: int, count: np.ndarray) -> np.ndarray:
    """Mean over ``+-half`` rows (last axis) of ``x`` where ``count`` is 1 (rows outside do not count)."""
    if half <= 0:
        return x
    h = x.shape[-1]
    lo = np.clip(np.arange(h) - half, 0, h)
    hi = np.clip(np.arange(h) + half + 1, 0, h)

    def window_sum(v: np.ndarray) -> np.ndarray:
        c = np.concatenate([np.zeros(v.shape[:-1] + (1,)), np.cumsum(v, axis=-1)], axis=-1)
        return c[..., hi] - c[..., lo]

    num = window_sum(x * count)
    den = window_sum(count.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


def _row_model(rows: RowSignals, *, smooth: int = ROW_SMOOTH) -> RowModel:
    """Per-row gain and noise: which rows see the motion, and how well (see :meth:`RowSignals.model`).

    A row that shows a still background measures zero motion with confidence; counted as a
    measurement it would gate the sound on and off once per frame. So every row gets its own
    gain ``a_r`` and noise ``sigma_r^2`` from the data: the two halves of a row share no pixel,
    so the covariance of their motion estimates over the clip is ``a_r^2`` (signal only) and
    the rest of each half's variance is its noise. Covariances are averaged over ``+-smooth``
    neighbouring rows (objects span many rows) and shrunk by one standard error, so a row with
    no signal gets ``a_r = 0``. The channels (halves, directions) are first combined by
    maximum-ratio weights fitted on the rows in proportion to how well the halves agree, so a
    still background does not set the motion direction.
    """
    d = rows.displacement
    n, c, h = d.shape
    w = rows.weight
    use = np.all(w > 0, axis=0)
    if not np.any(use):
        raise NoTextureError("no row of the ROI has texture to measure motion from; choose a textured ROI")
    ch = rows.channels
    fams = [f for f in "xy" if f + "L" in ch]
    li = [ch.index(f + "L") for f in fams]
    ri = [ch.index(f + "R") for f in fams]
    cov = np.zeros((h, c, c))
    ys = d[:, :, use].astype(np.float64)
    cov[use] = np.einsum("nch,ndh->hcd", ys, ys) / n
    del ys
    cnt = use.astype(np.float64)
    # agreement of the halves, per row: the top singular value of the cross-half block over the halves' power
    k_lr = _box_rows(cov[:, li][:, :, ri].reshape(h, -1).T, smooth, cnt).T.reshape(h, len(li), len(ri))
    p_l = _box_rows(np.trace(cov[:, li][:, :, li], axis1=1, axis2=2)[None], smooth, cnt)[0]
    p_r = _box_rows(np.trace(cov[:, ri][:, :, ri], axis1=1, axis2=2)[None], smooth, cnt)[0]
    sv = np.linalg.svd(k_lr, compute_uv=False)[:, 0]
    n_eff = n * (2 * smooth + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(use, sv / np.sqrt(p_l * p_r), 0.0)
    omega = np.clip(np.nan_to_num(rho) - 2.0 / math.sqrt(n_eff), 0.0, None) * use
    if not np.any(omega > 0):
        omega = cnt  # no row agrees: fit on all (the SNR will say it is noise)
    c_glob = np.tensordot(omega, cov, axes=(0, 0)) / omega.sum()
    fw = _fuse_weights(c_glob, ch)
    beta, gains = fw["weights"], fw["gains"]
    sgn = _sign(fw)
    amp = math.hypot(fw["gx"], fw["gy"])
    kappa = []  # per-half combining vectors giving pixels along the motion
    for idx in (li, ri):
        bg = float(beta[idx] @ gains[idx])
        vec = np.zeros(c)
        if bg > 0:
            vec[idx] = beta[idx] * sgn * amp / bg
        else:  # no common signal in this half: plain average of its channels
            vec[idx] = 1.0 / len(idx)
        kappa.append(vec)
    kl, kr = kappa
    c_lr = np.einsum("c,hcd,d->h", kl, cov, kr)
    v_l = np.einsum("c,hcd,d->h", kl, cov, kl)
    v_r = np.einsum("c,hcd,d->h", kr, cov, kr)
    c_s = _box_rows(c_lr[None], smooth, cnt)[0]
    se = np.sqrt(_box_rows((v_l * v_r)[None], smooth, cnt)[0] / n_eff)
    a2 = np.clip(c_s - se, 0.0, None) * use
    # each half's noise from the halves' disagreement in this row alone (the same instant, no shared pixel)
    tot = np.maximum(v_l + v_r, 1e-300)
    dis = np.maximum(v_l + v_r - 2 * c_lr, 1e-3 * tot)
    s_l = dis * np.maximum(v_l, 1e-3 * tot) / tot
    s_r = dis * np.maximum(v_r, 1e-3 * tot) / tot
    noise = np.where(use, 1.0 / (1.0 / s_l + 1.0 / s_r), np.inf)
    gain = np.sqrt(a2)
    # each row: the two halves by inverse noise (pixels), then divided by the row's gain
    with np.errstate(invalid="ignore", divide="ignore"):
        wl = np.where(use, (1.0 / s_l) / (1.0 / s_l + 1.0 / s_r), 0.0)
    coef = kl[:, None] * wl[None, :] + kr[:, None] * (use.astype(np.float64) - wl)[None, :]
    raw = np.einsum("nch,ch->nh", d, coef, dtype=np.float64)
    return _with_gains(raw, gain, noise, fw, fallback_scale=amp)


def _with_gains(raw: np.ndarray, gain: np.ndarray, noise: np.ndarray, fw: dict, *, fallback_scale: float
                ) -> RowModel:
    """A :class:`RowModel` from each row's motion ``raw`` (px), gain ``a_r`` (px) and noise (px^2)."""
    info = np.where(np.isfinite(noise) & (gain != 0), gain**2 / np.where(np.isfinite(noise), noise, 1.0), 0.0)
    ok = info > 0
    # Divide by the gain averaged over +-GAIN_SMOOTH rows that see motion: the fine gains weight the rows
    # (and make a still background a gap), but they ripple along the rows for sound near a multiple of the
    # frame rate (a short clip holds part of one beat cycle, whose power depends on the row's phase), and
    # dividing by the ripple would modulate the sound (measured: a 300 Hz tone at 59.94 fps over 2 s got a
    # sideband at 300 + 10 fps Hz 17.5 dB below it). Mode shapes vary over far more rows than this.
    div = _box_rows(gain[None], GAIN_SMOOTH, ok.astype(np.float64))[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(ok[None, :] & (div != 0)[None, :], raw / np.where(div != 0, div, 1.0)[None, :], 0.0)
    if np.any(ok):
        order = np.argsort(-info[ok])
        top = order[: max(1, int(np.ceil(0.5 * order.size)))]
        scale = float(np.median(gain[ok][top]))
    else:
        scale = float(fallback_scale)
    return RowModel(values, gain, noise, info, scale, fw, raw)


def _sign(fw: dict[str, Any]) -> float:
    """+1 or -1 so that positive motion is along +x (+y when the motion is vertical)."""
    return -1.0 if (fw["gx"] < 0 or (fw["gx"] == 0 and fw["gy"] < 0)) else 1.0


def _combine(fw: dict[str, Any], x: np.ndarray, *, axis: int) -> np.ndarray:
    """Combine channels (along ``axis``) with :func:`_fuse_weights`' weights, in pixels along the motion.

    Positive output is motion along +x (+y when only vertical motion is measured).
    """
    beta, gains = fw["weights"], fw["gains"]
    sgn = _sign(fw)
    bg = float(beta @ gains)
    if not bg > 0:  # no common signal: plain average of the channels, flagged by an SNR of ~0
        beta, bg = np.ones_like(beta) / beta.size, 1.0
        return np.tensordot(beta, x, axes=([0], [axis]))
    scale = sgn * math.hypot(fw["gx"], fw["gy"]) / bg  # the factor has unit variance; its loading is in px
    return np.tensordot(beta * scale, x, axes=([0], [axis]))


def _segment_demean(x: np.ndarray, starts: list[int]) -> None:
    """Subtract, in place, the mean over every segment of frames (axis 0; ``starts``: first frames)."""
    n = x.shape[0]
    flat = x.reshape(n, -1)
    edges = sorted({0, *[int(s) for s in starts if 0 < int(s) < n], n})
    for s0, s1 in zip(edges[:-1], edges[1:], strict=True):
        blk = flat[s0:s1]
        blk -= blk.mean(axis=0, dtype=np.float64).astype(blk.dtype)


def row_signals(displacement: np.ndarray, channels: tuple[str, ...], information: np.ndarray, *,
                segments: Sequence[int] | None = None, overwrite: bool = False) -> RowSignals:
    """Remove each row's offsets, measure each row's and band's noise, combine the bands by it.

    Parameters
    ----------
    displacement : ndarray, shape (n_frames, n_channels, bands, rows)
        From :meth:`RowMotionEstimator.process` (pixels against each segment's reference, NaN
        where a band has no texture). A 3-D array (one band) is accepted.
    channels : tuple of str
        :attr:`RowMotionEstimator.channels`.
    information : ndarray, shape (n_channels, bands, rows)
        :attr:`RowMotionEstimator.information`.
    segments : sequence of int, optional
        :attr:`RowMotionEstimator.segments`: the first frame of every reference segment
        (None: one segment).
    overwrite : bool
        Work in place on ``displacement`` (float32): no second array of the clip's size.

    Returns
    -------
    RowSignals
        Bands are weighted by their measured SNR (inverse noise from the halves'
        disagreement), not by their energy: a finest octave that the lens blurred into noise
        has much energy and little signal.

    Raises
    ------
    InputError
        Fewer than 3 frames.
    """
    d = np.asarray(displacement)
    info = np.asarray(information, dtype=np.float64)
    if d.ndim == 3:
        d, info = d[:, :, None, :], info[:, None, :]
    n, c, nb, h = d.shape
    if n < 3:
        raise InputError(f"only {n} frames; rolling-shutter recovery needs at least 3")
    if len(channels) != c or info.shape != (c, nb, h):
        raise ParameterError(f"{len(channels)} channel names and information {info.shape} do not match "
                             f"displacement {d.shape}")
    disp = d if overwrite and d.dtype == np.float32 else d.astype(np.float32)
    frac, band_noise = band_weights(disp, channels, info, segments=segments, in_place=True)
    out = np.einsum("ncbh,cbh->nch", disp, frac)
    wsum = np.where(np.isfinite(band_noise), 1.0 / band_noise, 0.0).sum(axis=1)
    noise = np.where(wsum > 0, 1.0 / np.maximum(wsum, 1e-300), np.inf)
    return RowSignals(out, tuple(channels), noise, band_noise, None if segments is None else list(segments))


def band_weights(displacement: np.ndarray, channels: tuple[str, ...], information: np.ndarray, *,
                 segments: Sequence[int] | None = None, in_place: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each band's noise per channel and row, from the halves' disagreement, and the bands' weights.

    Parameters
    ----------
    displacement : ndarray, shape (n_frames, n_channels, bands, rows)
        Per-band motion (:meth:`RowMotionEstimator.process`), NaN where a band has no texture.
    channels, information, segments
        As in :func:`row_signals`.
    in_place : bool
        NaNs become 0 and the segments' means are removed in ``displacement`` itself (float32).

    Returns
    -------
    weights : ndarray, shape (n_channels, bands, rows), float32
        Inverse-noise weights summing to 1 over the bands (0 for an unusable band).
    band_noise : ndarray, shape (n_channels, bands, rows)
        Noise variance in px^2 (inf: unusable).
    """
    info = np.asarray(information, dtype=np.float64)
    n, c, nb, h = displacement.shape
    disp = displacement if in_place else displacement.astype(np.float32)
    valid = np.all(np.isfinite(disp), axis=0) & (info > 0)  # (c, nb, h)
    np.nan_to_num(disp, copy=False, nan=0.0)
    _segment_demean(disp, [0] if segments is None else list(segments))
    band_noise = np.full((c, nb, h), np.inf)
    for f in sorted({ch[0] for ch in channels}):
        il, ir = channels.index(f + "L"), channels.index(f + "R")
        for b in range(nb):
            band_noise[il, b], band_noise[ir, b] = _row_noise(disp[:, il, b], disp[:, ir, b], info[il, b], info[ir, b])
    band_noise[~valid] = np.inf
    band_noise = np.maximum(band_noise, 1e-30)  # identical halves (a noiseless still scene): valid, not unusable
    wb = np.where(np.isfinite(band_noise), 1.0 / band_noise, 0.0)
    wsum = wb.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(wsum[:, None, :] > 0, wb / wsum[:, None, :], 0.0).astype(np.float32)
    return frac, band_noise


class BandCombiner:
    """Combines the bands of a streamed :class:`RowMotionEstimator` as the frames come.

    The bands' weights are measured on the first ``window`` frames (their noise, from the halves'
    disagreement) and then fixed, so only the combined motion (one value per row, channel and
    frame) is kept for the rest of the clip, not one per band: memory grows with the clip 3 to 4
    times slower. A band that loses its texture later makes its rows unusable (NaN).

    Parameters
    ----------
    estimator : RowMotionEstimator
    window : int
        Frames the weights are measured on (the whole clip if shorter).
    """

    def __init__(self, estimator: Any, window: int) -> None:
        self.est = estimator
        self.window = max(8, int(window))
        self._buffer: list[np.ndarray] = []
        self._held = 0
        self.weights: np.ndarray | None = None
        self.band_noise: np.ndarray | None = None

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Motion of a batch of frames, bands combined: shape (n, n_channels, rows), float32 (maybe n = 0
        while the weights are being measured)."""
        out = self.est.process(frames)
        if self.weights is not None:
            return self._combine(out)
        self._buffer.append(out)
        self._held += len(out)
        if self._held >= self.window:
            return self.finish()
        return np.zeros((0, out.shape[1], out.shape[3]), np.float32)

    def finish(self) -> np.ndarray:
        """Measure the weights on what is held (if not done yet) and return it combined."""
        if self.weights is not None or not self._buffer:
            return np.zeros((0, self.est.n_channels, self.est.shape[0]), np.float32)
        held = np.concatenate(self._buffer)
        self._buffer = []
        segs = [s for s in self.est.segments if s < len(held)]
        self.weights, self.band_noise = band_weights(held.copy(), self.est.channels, self.est.information,
                                                     segments=segs, in_place=True)
        return self._combine(held)

    def _combine(self, x: np.ndarray) -> np.ndarray:
        # NaN where a band with weight is missing; a band of weight 0 never contributes
        used = self.weights > 0
        bad = np.any(~np.isfinite(x) & used[None], axis=2)
        y = np.einsum("ncbh,cbh->nch", np.nan_to_num(x, nan=0.0), self.weights)
        y[bad] = np.nan
        return y

    def information(self) -> np.ndarray:
        """Per channel and row: the bands' information, summed (the halves' noise split uses its ratio)."""
        return self.est.information.sum(axis=1)
