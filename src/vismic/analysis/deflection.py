"""Displacement you can take elsewhere, and the operating deflection shapes at each peak.

From a :class:`~vismic.analysis.spectra.MotionSpectrum` (the displacement of every region of a grid,
``dx`` and ``dy`` in pixels, for every frame):

* :func:`displacement_table` gives the time series of every region (and of user points, measured
  as small regions of their own), in pixels or, with a scale, in millimetres; :func:`write_displacement`
  writes it as CSV, ``.npy`` or ``.npz``. The scale is ``mm_per_px`` or comes from two points a
  known distance apart (:func:`scale_from_points`).
* :func:`deflection_shapes` gives, at each spectral peak, every region's amplitude and phase: the
  operating deflection shape (ODS) the structure vibrates in at that frequency. The phase is that
  of each region's motion along the direction the strongest region moves in, relative to that
  region: regions moving together are at 0, regions moving against it at +-pi.

Pixel units are approximate as in the vibration map (a texture's local frequency is not exactly a
band's centre frequency): in measurements on rendered scenes the displacement reads 0.75-0.8 of
the true one on pink textures, less on blurred ones. Ratios between regions and phases are not
affected; for absolute millimetres, check against a known motion.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass

import numpy as np

from .._validation import check_number
from ..errors import ParameterError
from ..io.atomic import atomic_path
from ..io.audio import check_writable

__all__ = ["DisplacementTable", "OperatingShape", "deflection_shapes", "displacement_table", "scale_from_points",
           "write_displacement", "DISPLACEMENT_SUFFIXES"]

#: what :func:`write_displacement` writes, by suffix
DISPLACEMENT_SUFFIXES = (".csv", ".npy", ".npz")


def scale_from_points(x1: float, y1: float, x2: float, y2: float, distance_mm: float) -> float:
    """Millimetres per pixel from two points (pixels) a known distance apart (mm)."""
    d = math.hypot(float(x2) - float(x1), float(y2) - float(y1))
    if not d > 0:
        raise ParameterError("the two scale points are the same pixel; give two points a known distance apart")
    return check_number("distance_mm", distance_mm, lo=0.0, lo_open=True, unit="mm",
                        fix="give the distance between the two points in millimetres") / d


@dataclass
class DisplacementTable:
    """Displacement time series of named places.

    Attributes
    ----------
    time_s : ndarray, shape (n,)
        Seconds from the first frame used.
    values : ndarray, shape (n, m, 2), float32
        ``dx``, ``dy`` of each place (x to the right, y down), in :attr:`unit`.
    names : list of str
        One per place: ``r{row}c{col}`` for grid regions, ``p{i}`` for user points.
    boxes : list of tuple
        ``(x, y, w, h)`` in frame pixels of each place.
    unit : str
        ``"px"`` or ``"mm"``.
    mm_per_px : float or None
        The scale applied.
    rate : float
        Capture rate in Hz.
    """

    time_s: np.ndarray
    values: np.ndarray
    names: list[str]
    boxes: list[tuple[int, int, int, int]]
    unit: str
    mm_per_px: float | None
    rate: float

    def csv(self) -> str:
        """CSV text: ``time_s`` then ``{name}_dx_{unit}``, ``{name}_dy_{unit}`` per place."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["time_s"] + [f"{n}_{c}_{self.unit}" for n in self.names for c in ("dx", "dy")])
        flat = self.values.reshape(len(self.time_s), -1)
        for t, row in zip(self.time_s, flat, strict=True):
            w.writerow([f"{t:.9g}"] + [f"{v:.6g}" for v in row])
        return buf.getvalue()


def displacement_table(spectra, *, names: list[str] | None = None, mm_per_px: float | None = None
                       ) -> DisplacementTable:
    """The displacement of every region of one or more motion spectra, side by side.

    Parameters
    ----------
    spectra : MotionSpectrum or list of MotionSpectrum
        From :func:`vismic.analysis.spectra.motion_spectrum` over the same frames (e.g. the grid,
        then one small ROI per user point).
    names : list of str, optional
        One name per spectrum; a spectrum with several regions names them ``{name}r{row}c{col}``.
        Default: ``r{row}c{col}`` for the first, ``p1``, ``p2``... for the others.
    mm_per_px : float, optional
        Scale to millimetres (see :func:`scale_from_points`); default: pixels.
    """
    spectra = list(spectra) if isinstance(spectra, list | tuple) else [spectra]
    if not spectra:
        raise ParameterError("no motion spectrum to tabulate")
    if mm_per_px is not None:
        mm_per_px = check_number("mm_per_px", mm_per_px, lo=0.0, lo_open=True, unit="mm/px",
                                 fix="give the size of a pixel on the object, e.g. 0.1")
    n = min(s.signals.shape[0] for s in spectra)
    rate = spectra[0].rate
    cols, labels, boxes = [], [], []
    for i, s in enumerate(spectra):
        if abs(s.rate - rate) > 1e-9 * rate:
            raise ParameterError("the motion spectra were measured at different rates")
        base = (names[i] if names else ("" if i == 0 else f"p{i}"))
        rows, ncols = s.grid
        for r in range(rows):
            for c in range(ncols):
                cols.append(s.signals[:n, :, r, c])
                labels.append(base if rows * ncols == 1 and base else f"{base}r{r}c{c}")
                boxes.append(tuple(int(v) for v in s.regions[r * ncols + c]))
    values = np.stack(cols, axis=1).astype(np.float32)  # (n, m, 2)
    if mm_per_px is not None:
        values = values * np.float32(mm_per_px)
    return DisplacementTable(np.arange(n) / rate, values, labels, boxes, "mm" if mm_per_px else "px", mm_per_px,
                             rate)


def write_displacement(table: DisplacementTable, path: str | os.PathLike, *, force: bool = False) -> str:
    """Write a displacement table atomically: ``.csv`` (text), ``.npy`` (the ``(n, m, 2)`` values) or
    ``.npz`` (``time_s``, ``values``, ``names``, ``boxes``, ``unit``, ``mm_per_px``, ``rate``)."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in DISPLACEMENT_SUFFIXES:
        raise ParameterError(f"{path}: the displacement file must end in one of {', '.join(DISPLACEMENT_SUFFIXES)}")
    check_writable(path, force=force)
    with atomic_path(path) as tmp:
        if ext == ".csv":
            with open(tmp, "w") as fh:
                fh.write(table.csv())
        elif ext == ".npy":
            np.save(tmp, table.values)
        else:
            with open(tmp, "wb") as fh:
                np.savez(fh, time_s=table.time_s, values=table.values, names=np.array(table.names),
                         boxes=np.array(table.boxes), unit=table.unit,
                         mm_per_px=np.nan if table.mm_per_px is None else table.mm_per_px, rate=table.rate)
    return path


@dataclass
class OperatingShape:
    """The operating deflection shape at one frequency.

    Attributes
    ----------
    hz : float
        The frequency (a spectral peak).
    amplitude : ndarray, shape (rows, cols)
        Each region's displacement amplitude at ``hz`` (px, peak), NaN where it has no texture.
    phase : ndarray, shape (rows, cols)
        Each region's phase (rad, in ``(-pi, pi]``) along :attr:`direction`, relative to the
        reference region.
    vectors : ndarray, shape (rows, cols, 2), complex
        Each region's complex ``(dx, dy)`` amplitude at ``hz`` (the motion is ``Re(v e^{i 2 pi hz t})``).
    direction : (float, float)
        Unit vector (x, y) the reference region moves along.
    reference : (int, int)
        ``(row, col)`` of the region with the largest amplitude.
    regions : list of tuple
        ``(x, y, w, h)`` of each region, row by row.
    """

    hz: float
    amplitude: np.ndarray
    phase: np.ndarray
    vectors: np.ndarray
    direction: tuple[float, float]
    reference: tuple[int, int]
    regions: list[tuple[int, int, int, int]]

    def to_dict(self) -> dict:
        """JSON-serialisable (NaN as None)."""
        def clean(a):
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]

        return {"hz": self.hz, "amplitude_px": clean(self.amplitude), "phase_rad": clean(self.phase),
                "direction": list(self.direction), "reference": list(self.reference)}


def deflection_shapes(spec, frequencies) -> list[OperatingShape]:
    """The operating deflection shape at each frequency (e.g. the :func:`modal_peaks`' ``hz``).

    Each region's ``dx`` and ``dy`` are projected on ``e^{-i 2 pi f t}`` over the whole record under
    a Hann window (amplitude-corrected), which gives their complex amplitude at ``f``.
    """
    sig = np.asarray(spec.signals, dtype=np.float64)  # (n, 2, rows, cols)
    n = sig.shape[0]
    t = np.arange(n) / spec.rate
    win = np.hanning(n)
    win /= win.sum() / 2.0  # a sinusoid of amplitude A reads A
    centred = sig - np.nanmean(sig, axis=0, keepdims=True)
    shapes = []
    for f in frequencies:
        f = float(getattr(f, "hz", f))
        if not 0 < f < spec.rate / 2:
            raise ParameterError(f"frequency {f:g} Hz is outside (0, {spec.rate / 2:g}) Hz")
        kern = win * np.exp(-2j * np.pi * f * t)
        v = np.einsum("t,tkrc->rck", kern, np.nan_to_num(centred))  # (rows, cols, 2)
        amp = np.sqrt(np.sum(np.abs(v) ** 2, axis=-1))
        dead = ~np.all(np.isfinite(sig), axis=(0, 1))
        amp[dead] = np.nan
        ref = np.unravel_index(int(np.nanargmax(amp)), amp.shape)
        # the reference region's main direction: the real 2-D direction that holds most of its motion
        m = np.real(np.outer(v[ref], np.conj(v[ref])))
        _, vecs = np.linalg.eigh(m)
        u = vecs[:, -1]
        along = v @ u  # (rows, cols) complex
        if np.real(along[ref]) < 0 and abs(np.imag(along[ref])) < 1e-12:
            u = -u
            along = -along
        phase = np.angle(along * np.conj(along[ref]))
        phase[dead] = np.nan
        shapes.append(OperatingShape(f, amp, phase, v, (float(u[0]), float(u[1])), (int(ref[0]), int(ref[1])),
                                     [tuple(int(x) for x in r) for r in spec.regions]))
    return shapes
