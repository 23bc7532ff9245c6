"""Property-based tests (hypothesis) of the numeric core: random shapes, rates, ROIs and parameters
never crash, and the recovered signal behaves as physics says it must.

* Robustness: any frames, rate, ROI and parameters end in a result of the right length with finite
  samples, or in a :class:`vismic.errors.VismicError` (never another exception, never a warning
  other than vismic's own ``UserWarning``).
* Invariants: a shift of the input in time shifts the output; scaling (and offsetting) the image
  intensity does not change the recovered signal; reversing the motion flips the output's sign.
  Fusion is also checked alone: negated channels give the negated signal, permuted channels the
  same signal.

``max_examples`` stays small and ``deadline=None`` so the default suite stays fast; the CI profile
can raise the counts with ``VISMIC_PROPERTY_EXAMPLES=N`` (the long run in docs/reliability.md).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from conftest import pink_texture, shifted_frames
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from vismic.errors import VismicError
from vismic.fuse import fuse
from vismic.io.base import FrameSource
from vismic.motion import MotionEstimator
from vismic.pipeline import RecoveryParams, recover
from vismic.pyramid import ComplexSteerablePyramid

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _n(default: int) -> int:
    """``max_examples``: small by default; ``VISMIC_PROPERTY_EXAMPLES=N`` runs N of each (long runs)."""
    return int(os.environ.get("VISMIC_PROPERTY_EXAMPLES", default))


class ArraySource(FrameSource):
    """Frames held in memory (the tests' own reader; no files)."""

    kind = "array"

    def __init__(self, frames: np.ndarray, rate: float | None = None) -> None:
        self.frames = np.asarray(frames, dtype=np.float32)
        self.path = "<array>"
        self.shape = (int(self.frames.shape[1]), int(self.frames.shape[2]))
        self.n_frames = int(self.frames.shape[0])
        self.header_rate = rate

    def iter_batches(self, *, batch=32, roi=None, start=0, stop=None):
        sl = roi.check(*self.shape).slices() if roi is not None else (slice(None), slice(None))
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        for i in range(start, stop, batch):
            yield self.frames[i : min(i + batch, stop)][(slice(None), *sl)]


def _recover(frames, **kw):
    """recover() with report/notch detection off, so that only the motion and fusion are compared."""
    kw.setdefault("fps", 1000.0)
    kw.setdefault("notch", "off")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. a low estimated SNR
        return recover(ArraySource(frames), RecoveryParams(**kw))


def _moving(n, shape, seed, *, amp=0.3, direction=0.0, noise=0.0, freq=0.09):
    """Frames of a pink texture moved by a random-phase sum of sines (pixels), plus optional noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    d = amp * (np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3)) + 0.5 * np.sin(2 * np.pi * 0.23 * t))
    tex = pink_texture(shape, seed=seed)
    th = np.radians(direction)
    frames = shifted_frames(tex, d * np.cos(th), d * np.sin(th))
    if noise:
        frames = frames + rng.normal(0, noise, frames.shape).astype(np.float32)
    return frames, d


def _corr(a, b):
    a = np.asarray(a, float) - np.mean(a)
    b = np.asarray(b, float) - np.mean(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


# ------------------------------------------------------------------------------ never crash


@st.composite
def _inputs(draw):
    n = draw(st.integers(8, 64) | st.integers(8, 64) | st.integers(0, 9))
    rows, cols = (draw(st.integers(8, 56) | st.integers(16, 56) | st.integers(1, 9)) for _ in range(2))
    kind = draw(st.sampled_from(["texture"] * 6 + ["flat", "noise", "nan", "tiny"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "flat":
        frames = np.full((n, rows, cols), 0.5, np.float32)
    elif kind == "noise":
        frames = rng.random((n, rows, cols), dtype=np.float32)
    else:
        tex = rng.random((rows + 4, cols + 4))
        frames = np.empty((n, rows, cols), np.float32)
        for i in range(n):
            frames[i] = tex[2 : 2 + rows, (i % 3) : (i % 3) + cols]
        if kind == "nan" and n:
            frames[rng.integers(n), rng.integers(rows), rng.integers(cols)] = np.nan
        if kind == "tiny":
            frames *= 1e-6
    return frames


_VALID = {
    "fps": st.floats(1e-3, 1e6) | st.floats(100, 5000) | st.floats(100, 5000) | st.none(),
    "scales": st.none() | st.none() | st.integers(1, 5),
    "orientations": st.integers(1, 8),
    "high_band": st.booleans(),
    "mode": st.sampled_from(["increment", "reference"]),
    "grid": st.one_of(st.none(), st.tuples(st.integers(1, 5), st.integers(1, 5))),
    "max_lag_ms": st.one_of(st.floats(0, 20), st.floats(0, 1e7)),
    "highpass": st.one_of(st.none(), st.floats(0, 600)),
    "notch": st.one_of(st.sampled_from(["report", "auto", "off"]), st.lists(st.floats(1, 1e4), max_size=3).map(tuple)),
    "denoise": st.sampled_from(["none", "specsub"]),
    "batch": st.integers(1, 70),
}
_ABSURD = {
    "fps": st.sampled_from([0.0, -1.0, np.nan, np.inf, 1e-12, 1e9, 1e12, 1e300]),
    "scales": st.integers(-2, 0) | st.integers(6, 40),
    "orientations": st.sampled_from([0, 17, -1]),
    "grid": st.tuples(st.integers(-1, 0), st.integers(0, 99)) | st.tuples(st.integers(20, 99), st.integers(20, 99)),
    "max_lag_ms": st.sampled_from([-1.0, np.nan, np.inf]),
    "highpass": st.sampled_from([-1.0, np.nan, 1e9, 1e-9, 1e-300]),
    "notch": st.sampled_from([(0.0,), (-5.0,), (np.nan,), (1e12,)]),
    "batch": st.sampled_from([0, -3]),
}


@st.composite
def _params(draw):
    """Valid parameters, with one made absurd a fifth of the time."""
    params = {k: draw(v) for k, v in _VALID.items()}
    if draw(st.integers(0, 4)) == 0:
        k = draw(st.sampled_from(sorted(_ABSURD)))
        params[k] = draw(_ABSURD[k])
    return params


@settings(max_examples=_n(60), **SETTINGS)
@given(frames=_inputs(), params=_params(),
       roi=st.none() | st.none() | st.none() | st.tuples(*[st.integers(-8, 64)] * 4),
       header_rate=st.floats(1.0, 1e5) | st.floats(1.0, 1e5) | st.none())
def test_recover_never_crashes(frames, params, roi, header_rate):
    try:
        p = RecoveryParams(roi=roi, **params)
    except VismicError:
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rec = recover(ArraySource(frames, header_rate), p)
            event("recovered")
        except VismicError as exc:
            event(f"refused: {type(exc).__name__}")
            rec = None
    odd = [w for w in caught if w.category is not UserWarning]
    assert not odd, [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in odd]
    if rec is not None:
        assert len(rec.audio) == len(frames) and np.all(np.isfinite(rec.audio))
        assert np.max(np.abs(rec.audio)) <= 1.0 and rec.rate > 0


@settings(max_examples=_n(40), **SETTINGS)
@given(rows=st.integers(8, 48), cols=st.integers(8, 48), n=st.integers(1, 9), k=st.integers(1, 4),
       high=st.booleans(), data=st.data())
def test_pyramid_and_motion_shapes(rows, cols, n, k, high, data):
    from vismic.pyramid import max_scales

    scales = data.draw(st.integers(1, max_scales((rows, cols))))
    pyr = ComplexSteerablePyramid((rows, cols), scales=scales, orientations=k, high_band=high)
    frames = np.random.default_rng(0).random((n, rows, cols), dtype=np.float32)
    levels = pyr.decompose(frames)
    assert len(levels) == scales + high and all(lv.shape[:2] == (n, k) for lv in levels)
    est = MotionEstimator(pyr, grid=(1, 1))
    v = est.process(frames)
    assert v.shape == (n, est.n_channels) and np.all(np.isfinite(v))
    assert np.all(np.abs(v[0]) < 1e-6)  # the first frame is the reference of its own increment


# ------------------------------------------------------------------------------ invariants


@settings(max_examples=_n(12), **SETTINGS)
@given(seed=st.integers(0, 1000), k=st.integers(1, 40), size=st.sampled_from([32, 40, 48]),
       scales=st.integers(1, 3))
def test_time_shift_of_input_shifts_output(seed, k, size, scales):
    frames, _ = _moving(160 + k, (size, size), seed, noise=0.002)
    common = dict(scales=scales, highpass=0.0, max_lag_ms=0.0)
    a = _recover(frames[:-k], **common).audio
    b = _recover(frames[k:], **common).audio
    # b[t] is a[t + k]: compare on the overlap
    assert _corr(a[k:], b[:-k]) > 0.99


@settings(max_examples=_n(12), **SETTINGS)
@given(seed=st.integers(0, 1000), gain=st.floats(0.05, 50.0), offset=st.floats(-2.0, 2.0),
       mode=st.sampled_from(["increment", "reference"]))
def test_intensity_scale_does_not_change_the_signal(seed, gain, offset, mode):
    frames, _ = _moving(120, (40, 40), seed, noise=0.002)
    a = _recover(frames, mode=mode).audio
    b = _recover(frames * np.float32(gain) + np.float32(offset), mode=mode).audio
    assert _corr(a, b) > 0.999
    np.testing.assert_allclose(a, b, atol=2e-3)


@settings(max_examples=_n(12), **SETTINGS)
@given(seed=st.integers(0, 1000), direction=st.sampled_from([0.0, 90.0]), amp=st.floats(0.05, 0.4))
def test_reversed_motion_flips_the_output(seed, direction, amp):
    pos, d = _moving(150, (40, 40), seed, amp=amp, direction=direction, noise=0.004)
    neg, _ = _moving(150, (40, 40), seed, amp=-amp, direction=direction, noise=0.004)
    a = _recover(pos).audio
    b = _recover(neg).audio
    assert _corr(a, b) < -0.99
    assert abs(_corr(a, d)) > 0.9  # and both follow the motion


def test_reversed_motion_flips_the_output_without_noise():
    pos, _ = _moving(150, (40, 40), 1, amp=0.375, direction=0.0)
    neg, _ = _moving(150, (40, 40), 1, amp=-0.375, direction=0.0)
    assert _corr(_recover(pos).audio, _recover(neg).audio) < -0.99


@settings(max_examples=_n(40), **SETTINGS)
@given(n=st.integers(8, 300), c=st.integers(1, 12), seed=st.integers(0, 2**16), max_lag=st.integers(0, 400),
       data=st.data())
def test_fusion_is_odd_and_ignores_channel_order(n, c, seed, max_lag, data):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal(n)
    x = s[:, None] * rng.uniform(-2, 2, c)[None, :] + rng.standard_normal((n, c)) * rng.uniform(0.1, 3, c)
    try:
        f = fuse(x, max_lag=max_lag)
    except VismicError:
        return
    assert f.signal.shape == (n,) and np.all(np.isfinite(f.signal))
    assert np.all(np.isfinite(f.weights)) and abs(np.sum(np.abs(f.weights)) - 1) < 1e-9
    g = fuse(-x, max_lag=max_lag)
    np.testing.assert_allclose(g.signal, -f.signal, atol=1e-6)
    perm = np.asarray(data.draw(st.permutations(range(c))))
    h = fuse(x[:, perm], max_lag=max_lag)
    assume(np.argmax(f.snr_db) == perm[np.argmax(h.snr_db)])  # same reference channel, same polarity
    np.testing.assert_allclose(h.signal, f.signal, atol=1e-5)


def test_array_source_contract():
    frames = np.zeros((5, 8, 9), np.float32)
    src = ArraySource(frames)
    assert [b.shape for b in src.iter_batches(batch=2)] == [(2, 8, 9), (2, 8, 9), (1, 8, 9)]
    with pytest.raises(VismicError):
        next(src.iter_batches(roi=__import__("vismic.io.base", fromlist=["ROI"]).ROI(0, 0, 10, 10)))
