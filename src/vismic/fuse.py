"""Fuse many noisy motion channels (bands x regions) into one signal.

Model: every channel is a scaled, possibly sign-flipped and slightly delayed copy of one sound
plus its own noise, ``x_b(t) = g_b s(t - l_b) + n_b(t)``.  This is a one-factor model; its
maximum-likelihood fit gives each channel's gain ``g_b`` (sign included) and noise variance
``psi_b``, and the optimal linear combination weights channels by ``g_b / psi_b``
(maximum-ratio combining), i.e. by their SNR, not equally.  Regions that move in opposite phase
get opposite signs instead of cancelling.

Lags are searched only within a bound (a few ms): an unbounded search locks onto lags as long as
the clip (a known trap of earlier ports).  A lag other than 0 is accepted only when its
correlation beats lag 0 by more than the statistical noise of a correlation estimate.

**Weak signals.**  The blind fit learns one gain per channel from the channels' covariance.  When
each channel is far below its noise (weak texture, 0.005 px, read noise: -10 to -20 dB a channel)
that covariance holds too little of the sound to learn ~100 gains, and bands of one region that
overlap in frequency share pixel noise: the fit then locks onto that shared noise (a "sound" of
+3.7 dB that correlates 0.04 with the truth).  Given the channels' ``geometry`` (region and phase
per pixel of displacement), :func:`fuse` also forms the **geometric** estimate: in each region the
bands are combined by the physics of phase (``phase = -omega u . d``, weighted by each channel's
variance) into a 2-D displacement, and only those few region displacements are fitted by the
one-factor model (with a free 2x2 noise block per region: only covariances between regions, which
share no pixels, inform it).  The blind fit is kept (it learns each band's true gain and lag: the
better estimate at high SNR) when the two signals agree (correlation >= :data:`AGREEMENT`) or when
the blind factor is physical (one displacement per region explains at least :data:`PHYSICAL` of
its loadings: a sound that only one region sees is invisible to the geometric fit but physical);
otherwise the geometric one is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from .errors import InputError, NoTextureError, ParameterError

__all__ = ["Fusion", "fuse", "factor_analysis", "bounded_lag"]

#: the blind fit is kept when its signal and the geometric one correlate at least this much
#: (measured: 0.92-1.00 wherever the blind fit was right; 0.08-0.39 where it had locked onto noise)
AGREEMENT = 0.9
#: ... or when one displacement per region explains at least this share of its loadings through the
#: bands' phase physics.  Measured: a sound seen by one region only (which the geometric fit cannot
#: identify) 0.86-0.98; factors of noise shared by overlapping bands 0.02-0.19 on weak pink texture,
#: 0.65-0.75 on blurred crinkled paper.  The margin is narrow (docs/quality.md).
PHYSICAL = 0.8

_BLOCK = 16  # channels per block in per-column passes (at most)
_ROWS = 4096  # samples per block in products over time (80 channels: 2.6 MB of float64)
_BLOCK_VALUES = 1 << 18  # float64 values per block of columns: 2 MB, whatever the clip length


def column_block(n: int) -> int:
    """Columns per block for per-column passes over ``n`` samples in float64.

    A block of ``column_block(n)`` columns holds at most about 2 MB (and at least one column),
    so that the temporaries of such a pass stay small on long clips.
    """
    return int(min(_BLOCK, max(1, _BLOCK_VALUES // max(int(n), 1))))


def _project(z: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``z @ beta`` in float64, a block of rows at a time (no float64 copy of ``z``)."""
    out = np.empty(z.shape[0])
    for i in range(0, z.shape[0], _ROWS):
        out[i : i + _ROWS] = z[i : i + _ROWS].astype(np.float64) @ beta
    return out


@dataclass
class Fusion:
    """Result of :func:`fuse`.

    Attributes
    ----------
    signal : ndarray, shape (n,)
        Fused signal (float64, arbitrary units, zero mean).
    lags : ndarray of int, shape (c,)
        Lag applied to each channel, in samples (``x_b`` was advanced by ``lags[b]``).
    signs : ndarray of int, shape (c,)
        +1 or -1 (0 for unused channels).
    weights : ndarray, shape (c,)
        Combination weights, normalised so that ``sum |w| = 1``.
    snr_db : ndarray, shape (c,)
        Estimated SNR of each channel (signal-to-noise variance ratio in the fused band).
    fused_snr_db : float
        Estimated SNR of the fused signal (the sum of channel SNRs, in dB).
    used : ndarray of bool, shape (c,)
        Channels that entered the fit (finite and non-constant).
    notes : list of str
        What the fusion did that a reader should know.
    method : {"blind", "geometric"}
        Which estimate was returned (see the module docs).
    agreement : float or None
        Correlation of the blind and geometric signals (None without ``geometry``).
    """

    signal: np.ndarray
    lags: np.ndarray
    signs: np.ndarray
    weights: np.ndarray
    snr_db: np.ndarray
    fused_snr_db: float
    used: np.ndarray
    notes: list[str] = field(default_factory=list)
    method: str = "blind"
    agreement: float | None = None


def factor_analysis(cov: np.ndarray, *, iters: int = 300, tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """One-factor analysis of a covariance matrix by EM.

    Parameters
    ----------
    cov : ndarray, shape (c, c)
        Sample covariance of the channels.

    Returns
    -------
    loadings : ndarray, shape (c,)
        ``g`` with ``cov ~ g g^T + diag(psi)``.
    psi : ndarray, shape (c,)
        Unique (noise) variances, floored at ``1e-6 * diag(cov)``.
    """
    s = np.asarray(cov, dtype=np.float64)
    d = np.diag(s).copy()
    floor = np.maximum(d * 1e-6, 1e-300)
    evals, evecs = np.linalg.eigh(s)
    g = evecs[:, -1] * np.sqrt(max(evals[-1], 0.0))
    psi = np.maximum(d - g**2, np.maximum(d * 0.05, floor))
    for _ in range(iters):
        gp = g / psi
        beta = gp / (1.0 + g @ gp)
        sb = s @ beta
        ezz = 1.0 - beta @ g + beta @ sb
        g_new = sb / ezz
        psi_new = np.maximum(d - g_new * sb, floor)
        done = np.max(np.abs(g_new - g)) <= tol * np.sqrt(d.max()) and np.max(np.abs(psi_new - psi)) <= tol * d.max()
        g, psi = g_new, psi_new
        if done:
            break
    return g, psi


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised cross-correlation ``c[l] = corr(a[t + l], b[t])`` for ``|l| <= max_lag``."""
    n = len(a)
    nfft = sfft.next_fast_len(2 * n)
    fa = sfft.rfft(a, nfft)
    fb = sfft.rfft(b, nfft)
    full = sfft.irfft(fa * np.conj(fb), nfft)
    c = np.concatenate([full[-max_lag:], full[: max_lag + 1]]) if max_lag > 0 else full[:1]
    return c / (np.sqrt(np.sum(a * a) * np.sum(b * b)) + 1e-300)


def bounded_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag of ``a`` relative to ``b`` within ``+-max_lag`` by the absolute correlation peak.

    Returns ``(lag, correlation)``; ``a[t + lag]`` best matches ``b[t]`` and the correlation is
    signed.  A non-zero lag must beat lag 0 by ``2 / sqrt(n)`` to be taken.
    """
    if max_lag <= 0:
        c0 = float(_xcorr(a, b, 0)[0])
        return 0, c0
    c = _xcorr(a, b, max_lag)
    k = int(np.argmax(np.abs(c)))
    lag = k - max_lag
    if lag != 0 and abs(c[k]) - abs(c[max_lag]) <= 2.0 / np.sqrt(len(a)):
        lag, k = 0, max_lag
    return lag, float(c[k])


def _advance(x: np.ndarray, lag: int) -> np.ndarray:
    """``y[t] = x[t + lag]`` with zeros where ``t + lag`` is outside the signal."""
    if lag == 0:
        return x
    y = np.zeros_like(x)
    if lag > 0:
        y[:-lag] = x[lag:]
    else:
        y[-lag:] = x[:lag]
    return y


def fuse(
    channels: np.ndarray, *, max_lag: int = 0, reference: int | None = None, groups: np.ndarray | None = None,
    geometry: np.ndarray | None = None, overwrite_x: bool = False,
) -> Fusion:
    """Fuse channel signals by bounded-lag alignment and one-factor maximum-ratio combining.

    Parameters
    ----------
    channels : ndarray, shape (n, c)
        Band/region signals, already filtered to the band of interest (zero mean).
    max_lag : int
        Largest lag searched, in samples (0: no alignment).
    reference : int, optional
        Channel whose sign defines the output's polarity (the channel of highest estimated SNR by
        default).  The output has the opposite sign of that channel's phase, which makes positive
        output a displacement along that band's orientation.
    groups : array of int, shape (c,), optional
        Channels sharing a sign convention (e.g. the band orientation).  The default reference is
        then taken inside the group of highest total SNR, so that ties between equally good
        channels of different orientations cannot flip the output's polarity between clips.
    overwrite_x : bool
        Allow ``channels`` to be used as the working copy (as in :mod:`scipy.fft`): when it is a
        writeable, C-contiguous float32 array its contents are destroyed and no second
        ``(n, c)`` array is allocated.  Otherwise it is left untouched.

    Returns
    -------
    Fusion

    Raises
    ------
    NoTextureError
        If no channel carries a usable signal.
    """
    x = np.asarray(channels)
    if x.ndim != 2:
        raise ParameterError(f"channels must be 2-D (n, c), got shape {x.shape}")
    n, c = x.shape
    if n < 8:
        raise InputError(f"only {n} samples to fuse; at least 8 frames are needed")
    if max_lag < 0:
        raise ParameterError(f"max_lag={max_lag} must be >= 0 samples")
    if geometry is not None:
        geometry = np.asarray(geometry, dtype=np.float64)
        if geometry.shape != (c, 3) or not np.all(np.isfinite(geometry)):
            raise ParameterError(f"geometry must be a finite (channels, 3) array, got shape {geometry.shape}")
    max_lag = int(min(max_lag, n // 4))
    # per-column statistics a block of columns at a time: no full-size temporaries
    finite = np.zeros(c, dtype=bool)
    mean = np.zeros(c)
    std = np.zeros(c)
    cb = column_block(n)
    for j in range(0, c, cb):
        col = np.asarray(x[:, j : j + cb], dtype=np.float64)
        ok = np.all(np.isfinite(col), axis=0)
        finite[j : j + cb] = ok
        mean[j : j + cb] = np.where(ok, np.mean(col, axis=0), 0.0)
        std[j : j + cb] = np.where(ok, np.std(col, axis=0), 0.0)
        del col
    used = finite & (std > 0)
    if not np.any(used):
        raise NoTextureError(
            "no region of the ROI has texture to measure motion from (all band weights are zero); "
            "choose an ROI on a textured, well-lit part of the object"
        )
    idx = np.flatnonzero(used)
    # The one working copy, float32 (unit-variance channels: float32 keeps ~7 digits, far below the
    # noise); centred and scaled a block of rows at a time.  Products that sum over time accumulate
    # in float64.  With overwrite_x the used columns are packed to the left of ``x`` itself (each
    # block of rows is read, as a copy, before the same rows are written).
    m = len(idx)
    if overwrite_x and x.dtype == np.float32 and x.flags.writeable and x.flags.c_contiguous:
        z = x[:, :m]
    else:
        z = np.empty((n, m), dtype=np.float32)
    centre, scale = mean[idx], std[idx]
    rows = max(1, _BLOCK_VALUES // (8 * m))  # ~0.25 MB of float64 a block
    for i in range(0, n, rows):
        z[i : i + rows] = (x[i : i + rows, idx].astype(np.float64) - centre) / scale
    notes: list[str] = []

    def fit(zz: np.ndarray):
        cov = np.zeros((zz.shape[1], zz.shape[1]))
        for i in range(0, n, _ROWS):
            blk = zz[i : i + _ROWS].astype(np.float64)
            cov += blk.T @ blk
        cov /= n
        g, psi = factor_analysis(cov)
        return g, psi, cov

    g, psi, cov = fit(z)
    lags = np.zeros(c, dtype=np.int64)
    agreement = None
    if geometry is not None and m > 1:
        u_block, to_d = _region_maps(geometry[idx], scale)
        geo = _geometric(cov, to_d)
        if geo is not None:
            blind = g / psi
            sb, sg = cov @ blind, cov @ geo[0]
            agreement = float(abs(blind @ sg) / (np.sqrt((blind @ sb) * (geo[0] @ sg)) + 1e-300))
            physical = _physical_share(g, u_block, to_d)
            if agreement < AGREEMENT and physical < PHYSICAL:
                return _geometric_result(z, geo, sg, idx, c, used, notes, agreement, scale)
    if max_lag > 0 and len(idx) > 1:
        beta = g / psi
        seed = _project(z, beta)
        moved = 0
        for j in range(len(idx)):
            loo = seed - beta[j] * z[:, j]  # leave-one-out reference: own noise not in it
            if not np.any(loo):
                continue
            lag, _ = bounded_lag(z[:, j], loo, max_lag)
            if lag:
                z[:, j] = _advance(z[:, j], lag)
                lags[idx[j]] = lag
                moved += 1
        if moved:
            g, psi, _ = fit(z)
            notes.append(f"{moved} channel(s) shifted by a non-zero lag (bound {max_lag} samples)")

    snr = g**2 / psi
    beta = g / psi / (1.0 + np.sum(snr))
    polarity = _axis_polarity(g, snr, geometry[idx], scale) if reference is None and geometry is not None else None
    if polarity is None:  # the sign of one reference channel's phase
        if reference is not None:
            ref_local = int(np.searchsorted(idx, reference))
        elif groups is not None:
            gl = np.asarray(groups)[idx]
            labels = np.unique(gl)
            best = labels[int(np.argmax([snr[gl == lab].sum() for lab in labels]))]
            in_best = np.flatnonzero(gl == best)
            ref_local = int(in_best[np.argmax(snr[in_best])])
        else:
            ref_local = int(np.argmax(snr))
        polarity = -np.sign(g[ref_local]) or 1.0
    signal = polarity * _project(z, beta)
    signal = signal / (np.std(signal) + 1e-300)

    weights = np.zeros(c)
    w_raw = polarity * beta / std[idx]  # weight on the un-standardised channel
    weights[idx] = w_raw / np.sum(np.abs(w_raw))
    signs = np.zeros(c, dtype=np.int64)
    signs[idx] = np.where(polarity * g >= 0, 1, -1)
    snr_db = np.full(c, -np.inf)
    with np.errstate(divide="ignore"):
        snr_db[idx] = 10 * np.log10(snr)
        fused = 10 * np.log10(np.sum(snr))
    return Fusion(signal, lags, signs, weights, snr_db, float(fused), used, notes, "blind", agreement)


def _axis_polarity(g: np.ndarray, snr: np.ndarray, geometry: np.ndarray, scale: np.ndarray) -> float | None:
    """The sign that makes the output positive along +x (or +y, whichever is larger) of the
    displacement of the region that carries most signal (the rule of the geometric estimate), from
    the blind loadings ``g`` through the bands' phase physics; None where it is not determined.

    One rule for every estimator: a polarity taken from a single reference band flips between
    estimators and clips when the two diagonal orientations (whose phases move in opposite senses
    for a motion along x) are about equally strong."""
    _, to_d = _region_maps(geometry, scale)
    d = (to_d.T @ g).reshape(-1, 2)  # loading of each region's (x, y) displacement
    labels = np.unique(geometry[:, 0])
    best = int(np.argmax([snr[geometry[:, 0] == lab].sum() for lab in labels]))
    k = int(np.argmax(np.abs(d[best])))
    if not np.isfinite(d[best, k]) or d[best, k] == 0:
        return None
    return float(np.sign(d[best, k]))


def _region_maps(geometry: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The band physics of each region, for standardised channels (channel = ``scale * z``).

    Returns ``u_block`` and ``to_d``, both ``(channels, 2 * regions)``: ``u_block`` holds each
    channel's phase per pixel (per unit of its own noise) in its region's two columns, so that
    ``u_block @ d`` are the channels a displacement ``d`` (x, y of every region) gives; ``to_d``
    is the least-squares inverse region by region, ``d = to_d.T @ z`` minimising
    ``sum_i (x_i - u_i . d_r)^2 / var_i``.
    """
    u = geometry[:, 1:] / scale[:, None]
    labels = np.unique(geometry[:, 0])
    u_block = np.zeros((len(u), 2 * len(labels)))
    to_d = np.zeros_like(u_block)
    for k, lab in enumerate(labels):
        sel = geometry[:, 0] == lab
        a = u[sel]
        u_block[sel, 2 * k : 2 * k + 2] = a
        to_d[sel, 2 * k : 2 * k + 2] = a @ np.linalg.pinv(a.T @ a)
    return u_block, to_d


def _geometric(cov: np.ndarray, to_d: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Weights of the geometric estimate on standardised channels, and its estimated SNR.

    ``cov`` is the covariance of the standardised channels, ``to_d`` their map to the regions'
    displacements (:func:`_region_maps`); the region displacements are combined by the one-factor
    fit.  Returns None with fewer than two regions (a one-factor fit of two signals is not
    identified) or when no region displacement varies.
    """
    n_regions = to_d.shape[1] // 2
    if n_regions < 2:  # one region: two displacement components do not identify a one-factor fit
        return None
    cd = to_d.T @ cov @ to_d  # covariance of the region displacements
    var = np.diag(cd)
    good = var > 1e-12 * max(var.max(), 1e-300)
    if good.sum() < 1:
        return None
    sd = np.sqrt(var[good])
    # x and y of one region share their bands' noise (overlapping bands share pixels): their noise
    # covariance is a free 2x2 block; only the covariances between regions (no shared pixels)
    # inform the loadings
    blocks = np.repeat(np.arange(n_regions), 2)[good]
    gd, psid = _block_factor_analysis(cd[np.ix_(good, good)] / np.outer(sd, sd), blocks)
    w = np.linalg.solve(psid, gd)  # maximum-ratio weights under correlated noise
    snr = float(gd @ w)
    v = np.zeros(len(var))
    v[good] = w / sd
    k = int(np.argmax(gd**2 / np.diag(psid)))
    if gd[k] < 0:  # positive along +x (or +y) of the region displacement that carries most signal
        v = -v
    return to_d @ v, snr


def _block_factor_analysis(cov: np.ndarray, blocks: np.ndarray, *, iters: int = 500,
                           tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """One-factor analysis ``cov ~ g g^T + Psi`` by EM, ``Psi`` block-diagonal over ``blocks``.

    Returns ``g`` and the full ``Psi`` (zero between blocks; each block's eigenvalues floored at
    1e-6 of the largest variance so that it stays invertible).
    """
    s = np.asarray(cov, dtype=np.float64)
    same = blocks[:, None] == blocks[None, :]
    floor = 1e-6 * float(np.max(np.diag(s)))

    def clean(psi: np.ndarray) -> np.ndarray:
        psi = np.where(same, (psi + psi.T) / 2, 0.0)
        out = np.zeros_like(psi)
        for b in np.unique(blocks):
            i = np.flatnonzero(blocks == b)
            ev, vec = np.linalg.eigh(psi[np.ix_(i, i)])
            out[np.ix_(i, i)] = (vec * np.maximum(ev, floor)) @ vec.T
        return out

    evals, evecs = np.linalg.eigh(np.where(same, 0.0, s))  # the between-block part: signal only
    g = evecs[:, -1] * np.sqrt(max(evals[-1], floor))
    psi = clean(s - np.outer(g, g))
    for _ in range(iters):
        gp = np.linalg.solve(psi, g)
        beta = gp / (1.0 + g @ gp)
        sb = s @ beta
        ezz = 1.0 - beta @ g + beta @ sb
        g_new = sb / ezz
        psi_new = clean(s - np.outer(g_new, sb))
        done = np.max(np.abs(g_new - g)) <= tol and np.max(np.abs(psi_new - psi)) <= tol
        g, psi = g_new, psi_new
        if done:
            break
    return g, psi


def _physical_share(g: np.ndarray, u_block: np.ndarray, to_d: np.ndarray) -> float:
    """Share of the blind factor's loadings (standardised channels) that one displacement per region
    explains through the bands' phase physics (least squares per region, :func:`_region_maps`)."""
    fit = u_block @ (to_d.T @ g)
    return float(np.sum(fit**2) / max(float(np.sum(g**2)), 1e-300))


def _geometric_result(z: np.ndarray, geo: tuple[np.ndarray, float], sg: np.ndarray, idx: np.ndarray, c: int,
                      used: np.ndarray, notes: list[str], agreement: float, scale: np.ndarray) -> Fusion:
    """The :class:`Fusion` of the geometric estimate (no lags: the regions' signals are too weak
    to time).  Per-channel gains are read off the covariance with the output, for the record."""
    beta, snr_total = geo
    signal = _project(z, beta)
    var_out = float(beta @ sg)
    a = np.sqrt(max(var_out, 1e-300) * snr_total / (1.0 + snr_total))  # output's signal amplitude
    g = sg / max(a, 1e-300)
    psi = np.maximum(1.0 - g**2, 1e-6)
    snr_db = np.full(c, -np.inf)
    with np.errstate(divide="ignore"):
        snr_db[idx] = 10 * np.log10(g**2 / psi)
    weights = np.zeros(c)
    w_raw = beta / scale
    weights[idx] = w_raw / (np.sum(np.abs(w_raw)) or 1.0)
    signs = np.zeros(c, dtype=np.int64)
    signs[idx] = np.where(g >= 0, 1, -1)
    notes = [*notes, f"weak signal: channels combined by their bands' geometry (the blind fit agreed only "
                     f"{agreement:.2f} with it; docs/quality.md)"]
    with np.errstate(divide="ignore"):
        fused = float(10 * np.log10(snr_total))
    return Fusion(signal / (np.std(signal) + 1e-300), np.zeros(c, dtype=np.int64), signs, weights, snr_db,
                  fused, used, notes, "geometric", agreement)
