"""Optional GPU backend: the exact motion step in PyTorch (extra ``vismic[gpu]``).

:class:`TorchMotionEstimator` computes what :class:`vismic.motion.MotionEstimator` computes (the
same pyramid masks, the same amplitude-weighted phase change per band and region, the same
channel order) with ``torch.fft`` on a batch of frames at once: on a GPU the batch is what makes
it fast, where on a CPU one frame at a time measured faster.  It runs on any device torch offers,
the CPU included, which is how the tests check it where no GPU is present.  Results equal the
numpy path to float32 rounding (the FFT libraries differ), not bit for bit, so a run mixing the
two backends across chunks is not exactly the one-backend run.
"""

from __future__ import annotations

import numpy as np

from .errors import MissingDependencyError, ParameterError
from .motion import TORCH_MODES, as_batch, level_geometry, region_layout
from .pyramid import ComplexSteerablePyramid

__all__ = ["TorchMotionEstimator", "torch_available"]


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            'the torch backend needs PyTorch; install it with: pip install "vismic[gpu]"'
        ) from exc
    return torch


def torch_available() -> bool:
    """True when PyTorch can be imported."""
    try:
        _torch()
    except MissingDependencyError:
        return False
    return True


class TorchMotionEstimator:
    """The exact motion step on PyTorch, batched over frames.

    Parameters
    ----------
    pyramid : ComplexSteerablePyramid
        Its precomputed masks are copied to the device once.
    mode : {"increment", "reference"}
    grid : tuple of int
    device : str or None
        ``"cuda"``, ``"cpu"``, ...; ``None`` picks ``"cuda"`` when available, else the CPU.

    Raises
    ------
    MissingDependencyError
        PyTorch is not installed.
    ParameterError
        Invalid mode, grid or device.
    """

    def __init__(self, pyramid: ComplexSteerablePyramid, *, mode: str = "increment", grid=(1, 1),
                 device: str | None = None) -> None:
        torch = _torch()
        if mode not in TORCH_MODES:
            raise ParameterError(f"mode={mode!r} is not one of {TORCH_MODES} on the torch backend")
        gy, gx = int(grid[0]), int(grid[1])
        if gy < 1 or gx < 1:
            raise ParameterError(f"grid={grid} must have at least one region per axis")
        edges, channels = region_layout(pyramid, (gy, gx))
        try:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        except (RuntimeError, TypeError) as exc:
            raise ParameterError(f"device={device!r} is not a torch device ({exc})") from exc
        self.pyramid = pyramid
        self.mode = mode
        self.grid = (gy, gx)
        self.channels = channels
        self._levels = []
        for i, level_edges in enumerate(edges):
            flat, rows_ind, cols_ind = level_geometry(pyramid, i, level_edges)
            filt = pyramid.level_plan(i).filters
            self._levels.append({
                "filt": torch.from_numpy(filt).to(self.device),
                "flat": None if flat is None else torch.from_numpy(flat).to(self.device),
                "shape": filt.shape[1:],
                "rows": torch.from_numpy(rows_ind).to(self.device),
                "cols": torch.from_numpy(cols_ind).to(self.device),
            })
        self._anchor_conj: list | None = None
        self.frames_seen = 0
        self.mean_weight = np.zeros(len(self.channels))

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def reset(self, position: int = 0) -> None:
        """Forget the previous (or first) frame, as for a new clip (``position``: as for
        :meth:`MotionEstimator.reset`; the frame-to-frame and reference modes do not need it)."""
        self._anchor_conj = None
        self.frames_seen = 0
        self.mean_weight = np.zeros(len(self.channels))

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Motion of a batch of consecutive frames (same contract as :meth:`MotionEstimator.process`)."""
        torch = _torch()
        frames = as_batch(frames, self.pyramid.shape)
        n = frames.shape[0]
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
            spec = torch.fft.fft2(x)
            first = self._anchor_conj is None
            if first:
                self._anchor_conj = [None] * len(self._levels)
            outs, weights = [], []
            for i, lv in enumerate(self._levels):
                r, c = lv["shape"]
                sub = spec if lv["flat"] is None else spec.reshape(n, -1)[:, lv["flat"]].reshape(n, r, c)
                coeffs = torch.fft.ifft2(sub[:, None] * lv["filt"][None])
                if first:
                    self._anchor_conj[i] = coeffs[0].conj()
                anchor = self._anchor_conj[i]
                if self.mode == "reference":
                    z = coeffs * anchor[None]
                else:
                    prev = torch.cat([anchor[None], coeffs[:-1].conj()], dim=0)
                    z = coeffs * prev
                    self._anchor_conj[i] = coeffs[-1].conj()
                w = z.abs()
                wphi = w * torch.atan2(z.imag, z.real)
                num = lv["rows"] @ wphi @ lv["cols"]  # (n, K, gy, gx)
                den = lv["rows"] @ w @ lv["cols"]
                outs.append(torch.where(den > 0, num / den, torch.full_like(num, float("nan"))).reshape(n, -1))
                weights.append(den.reshape(n, -1).sum(dim=0).double())
            out = torch.cat(outs, dim=1).cpu().numpy().astype(np.float32, copy=False)
            self.mean_weight += torch.cat(weights).cpu().numpy()
        self.frames_seen += n
        return out
