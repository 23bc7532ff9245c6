"""Vibration map and automatic ROI on rendered scenes: a vibrating object on a static textured
background (simulate's piecewise-constant mode array: 1 on the object, 0 elsewhere), with truth."""

import json
import os

import numpy as np
import pytest
from conftest import pink_texture, shifted_frames

from vismic import simulate as sim
from vismic.analysis.cells import CellMotion
from vismic.analysis.vibmap import MIN_CONTRAST, select_roi, vibration_map
from vismic.cli import main
from vismic.denoise import highpass
from vismic.errors import InputError, NoTextureError, ParameterError, VideoReadError
from vismic.metrics import snr
from vismic.pipeline import RecoveryParams, recover

RATE = 2200.0
OBJECT = (44, 36, 52, 56)  # x, y, w, h of the vibrating object in the 128x128 frame
FLAT = (slice(0, 32), slice(0, 32))  # a texture-less patch of the static background
DIRECTION = 30.0
RMS = 0.01


def _object_scene(shape=(128, 128), obj=OBJECT, rms=RMS, duration=0.6, seed=3):
    rows, cols = shape
    mode = np.zeros(shape)
    x, y, w, h = obj
    mode[y : y + h, x : x + w] = 1.0
    sound = sim.builtin_sound("noise", rate=RATE, duration=duration, seed=seed)
    tex = sim.make_texture("pink", (rows + 32, cols + 32), seed=seed)
    return sim.Scene(texture=tex, sound=sound, rate=RATE, rms_px=rms, shape=shape, noise_sigma=2.0, mode=mode,
                     direction_deg=DIRECTION, seed=seed)


@pytest.fixture(scope="module")
def object_clip(tmp_path_factory):
    sc = _object_scene()
    frames = np.concatenate(list(sc.frames(batch=512)))
    frames[(slice(None), *FLAT)] = 128  # a flat patch of wall: no texture at all
    path = tmp_path_factory.mktemp("vibmap") / "object.npy"
    np.save(path, frames)
    return path, sc


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def test_roi_auto_finds_the_object_and_recovers_as_well_as_a_hand_picked_roi(object_clip):
    path, sc = object_clip
    truth = highpass(sc.truth(), rate=RATE, cutoff=RATE / 40)
    auto = recover(path, RecoveryParams(fps=RATE, roi="auto"))
    hand = recover(path, RecoveryParams(fps=RATE, roi=OBJECT))
    roi = auto.input["roi"]
    # the issue asks IoU > 0.5; measured 0.88-1.0 on five object sizes/positions (docs/analysis.md)
    assert _iou(roi, OBJECT) > 0.7, (roi, OBJECT)
    s_auto, s_hand = snr(truth, auto.audio, max_lag=3), snr(truth, hand.audio, max_lag=3)
    assert s_auto >= s_hand - 1.0, (s_auto, s_hand)
    why = auto.diagnostics["roi_auto"]
    assert why["fallback"] is None and why["roi"] == roi and why["refined"]
    assert why["tiles"] and all(t["snr_db"] >= why["threshold_db"] for t in why["tiles"])
    side = json.loads(json.dumps(auto.sidecar()))  # the sidecar says which region and why
    assert side["params"]["roi"] == "auto" and side["diagnostics"]["roi_auto"]["roi"] == roi


def test_map_shows_the_object_not_the_static_background_and_flags_flat_tiles(object_clip):
    path, _ = object_clip
    vm = vibration_map(path, fps=RATE, max_frames=1100)
    assert vm.frames_used == 1100 and vm.grid == (5, 5) and vm.frame.shape == (128, 128)
    x, y, w, h = OBJECT
    inside, outside, flat = [], [], []
    for i in range(vm.grid[0]):
        for j in range(vm.grid[1]):
            tx, ty, tw, th = vm.tile_rect(i, j)
            if tx >= x and ty >= y and tx + tw <= x + w and ty + th <= y + h:
                inside.append((i, j))
            elif tx + tw <= x or ty + th <= y or tx >= x + w or ty >= y + h:
                fy, fx = FLAT
                (flat if tx + tw <= fx.stop and ty + th <= fy.stop else outside).append((i, j))
    assert inside and outside and flat
    s_in = np.array([vm.snr_db[t] for t in inside])
    s_out = np.array([vm.snr_db[t] for t in outside])
    assert s_in.min() > 3.0 and s_out.max() < 0.0, (s_in, s_out)  # measured: >= 7 dB and <= -3 dB
    for t in flat:
        assert np.isnan(vm.snr_db[t]) and np.isnan(vm.energy[t]) and vm.texture[t] < MIN_CONTRAST
    # the energy is the in-band mean-square displacement of the signal, in (approximate) pixels
    rms_in = np.sqrt([vm.energy[t] for t in inside])
    assert np.all(np.abs(rms_in / RMS - 1) < 0.25), rms_in / RMS
    # and the motion's direction is the scene's
    d = np.array([vm.direction_deg[t] for t in inside])
    assert np.all(np.abs((d - DIRECTION + 90) % 180 - 90) < 10), d
    summary = json.loads(json.dumps(vm.to_dict()))
    assert summary["snr_db"][0][0] is None and summary["grid"] == [5, 5] and "frame" not in summary


def test_nothing_vibrates_falls_back_to_the_whole_frame_with_a_warning(tmp_path):
    sc = _object_scene(shape=(64, 64), obj=(16, 16, 32, 32), rms=0.0, duration=0.1)
    path = tmp_path / "still.npy"
    np.save(path, np.concatenate(list(sc.frames(batch=256))))
    vm = vibration_map(path, fps=RATE)
    with pytest.warns(UserWarning, match="no tile stands out"):
        roi, why = select_roi(vm)
    assert roi.as_list() == [0, 0, 64, 64] and why["fallback"] and why["tiles"] == []


def test_cell_motion_measures_shifts_in_pixels():
    tex = pink_texture((64, 64), seed=4)
    for dx, dy in ((0.05, 0.0), (0.0, -0.04), (0.03, 0.04)):
        frames = shifted_frames(tex, [0.0, dx, 0.0], [0.0, dy, 0.0])
        motion = CellMotion((64, 64), (2, 2), 3)
        held = motion.process(frames)  # fewer frames than the noise measurement needs: held
        assert held.shape[0] == 0
        d = np.cumsum(motion.flush(), axis=0)[1].mean(axis=(1, 2))
        # nominal band frequencies give pixels to ~5 % on a 1/f texture
        assert np.allclose(d, (dx, dy), rtol=0.1, atol=0.003), (d, dx, dy)


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    sc = _object_scene(shape=(64, 64), obj=(16, 12, 36, 40), rms=0.02, duration=0.2, seed=5)
    path = d / "small.npy"
    np.save(path, np.concatenate(list(sc.frames(batch=512))))
    flat = d / "flat.npy"
    np.save(flat, np.full((40, 48, 48), 0.5, dtype=np.float32))
    short = d / "short.npy"
    np.save(short, np.load(path)[:10])
    return path, flat, short


@pytest.mark.parametrize(
    "kwargs, err, needle",
    [
        ({"roi": (40, 40, 40, 40)}, ParameterError, "outside"),
        ({"roi": (0, 0, 0, 20)}, ParameterError, "zero"),
        ({"tile": 4}, ParameterError, "tile"),
        ({"tile": 65}, ParameterError, "tile"),
        ({"band": (0, RATE)}, ParameterError, "band"),
        ({"band": (300, 100)}, ParameterError, "band"),
        ({"max_frames": 3}, ParameterError, "max_frames"),
        ({"fps": None}, ParameterError, "frame rate"),
        ({"fps": -1.0}, ParameterError, "fps"),
    ],
)
def test_bad_parameters_raise_parameter_errors(small_clip, kwargs, err, needle):
    path, _, _ = small_clip
    args = {"fps": RATE, **kwargs}
    with pytest.raises(err, match=needle):
        vibration_map(path, **args)


def test_bad_inputs_raise_specific_errors(small_clip, tmp_path):
    _, flat, short = small_clip
    with pytest.raises(NoTextureError, match="flat"):
        vibration_map(flat, fps=RATE)
    with pytest.raises(InputError, match="at least 16"):
        vibration_map(short, fps=RATE)
    with pytest.raises(VideoReadError, match="no such file"):
        vibration_map(tmp_path / "missing.npy", fps=RATE)


def test_recovery_params_accept_auto_and_round_trip():
    p = RecoveryParams(roi="auto")
    assert RecoveryParams.from_json(p.to_json()) == p and p.to_dict()["roi"] == "auto"
    with pytest.raises(ParameterError, match="auto"):
        RecoveryParams(roi="everything")


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_map_command_writes_png_and_json(small_clip, tmp_path, capsys):
    path, _, _ = small_clip
    png = tmp_path / "m.png"
    code, out, err = _run(["map", path, "--fps", RATE, "-o", png, "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert os.path.getsize(png) > 1000 and res["outputs"]["png"] == str(png)
    assert res["map"]["grid"] == [2, 2] and len(res["map"]["snr_db"]) == 2
    assert len(res["roi_auto"]["roi"]) == 4 and res["roi_auto"]["fallback"] is None
    code, out, err = _run(["map", path, "--fps", RATE, "-o", png, "--band", "100,800", "--tile", "32"], capsys)
    assert code == 2 and "--force" in err  # an existing output is not overwritten
    code, out, err = _run(["map", path, "--fps", RATE, "-o", png, "--band", "100,800", "--tile", "32", "--force",
                           "--quiet"], capsys)
    assert code == 0 and out == "", err


@pytest.mark.parametrize("command", ["map", "spectrum"])
def test_analysis_commands_write_only_what_was_asked_and_run_twice(small_clip, tmp_path, capsys, monkeypatch,
                                                                   command):
    # issue 15 item 11: --json alone used to write a PNG into the working folder, and a second run failed on it
    path, _, _ = small_clip
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, out, err = _run([command, path, "--fps", RATE, "--json"], capsys)
        assert code == 0, err
        assert json.loads(out)["outputs"] == {} and os.listdir(tmp_path) == []
    for _ in range(2):  # the default-named PNG is this analysis' own output: a second run replaces it
        code, out, err = _run([command, path, "--fps", RATE, "--quiet"], capsys)
        assert code == 0, err
    assert [f.endswith(f".{command}.png") for f in os.listdir(tmp_path)] == [True]


@pytest.mark.parametrize(
    "which, args, needle",
    [
        ("clip", ["--roi", "40,40,40,40"], "outside"),
        ("clip", ["--roi", "0,0,0,10"], "zero"),
        ("clip", ["--roi", "1,2,3"], "X,Y,W,H"),
        ("flat", [], "flat"),
        ("clip", ["--band", "100"], "LO,HI"),
        ("clip", ["--tile", "2"], "tile"),
    ],
)
def test_map_command_bad_input_is_one_line_exit_2(small_clip, tmp_path, capsys, which, args, needle):
    path, flat, _ = small_clip
    png = tmp_path / "m.png"
    code, out, err = _run(["map", path if which == "clip" else flat, "--fps", RATE, "-o", png, "--quiet", *args],
                          capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("vismic: error")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and not png.exists()


def test_map_command_needs_a_rate(small_clip, tmp_path, capsys):
    path, _, _ = small_clip
    code, _, err = _run(["map", path, "-o", tmp_path / "m.png"], capsys)
    assert code == 2 and "--fps" in err


def test_recover_command_roi_auto(small_clip, tmp_path, capsys):
    path, _, _ = small_clip
    code, out, err = _run(["recover", path, "--fps", RATE, "--roi", "auto", "-o", tmp_path / "r.wav", "--json",
                           "--quiet"], capsys)
    assert code == 0, err
    side = json.loads(out)
    why = side["diagnostics"]["roi_auto"]
    assert side["params"]["roi"] == "auto" and why["roi"] == side["input"]["roi"]
    with open(tmp_path / "r.json") as fh:
        assert json.load(fh)["diagnostics"]["roi_auto"]["roi"] == why["roi"]
    code, out, err = _run(["recover", path, "--fps", RATE, "--roi", "auto", "-o", tmp_path / "r2.wav"], capsys)
    assert code == 0 and "auto ROI" in out, err


def test_a_blank_last_frame_costs_that_frame_not_the_map(small_clip, tmp_path, capsys):
    # issue 15 item 8: the real Phantom sample ends with a blank frame; map and spectrum said "no tile has
    # texture" while recover gave 28.7 dB on it
    path, _, _ = small_clip
    frames = np.load(path)
    frames[-1] = frames.max()  # an unfinished last frame: flat, saturated
    blank = tmp_path / "blank_end.npy"
    np.save(blank, frames)
    ref = vibration_map(str(path), fps=RATE)
    got = vibration_map(str(blank), fps=RATE)
    assert np.array_equal(np.isfinite(got.snr_db), np.isfinite(ref.snr_db)), "the same tiles have texture"
    code, out, err = _run(["spectrum", blank, "--fps", RATE, "--json"], capsys)
    assert code == 0, err


def test_auto_roi_within_half_a_db_of_the_hand_box_over_a_still_background(tmp_path):
    """Issue 15 item 3: a rigid object over a still textured background (the same lens-blurred
    texture: nothing but motion tells them apart), a harmonic sound at 0.01 px.  The map must see
    the object (each 32-px tile is weak: its bands weighted by their noise) and its box must give
    the hand-picked box's SNR within 0.5 dB."""
    import warnings

    from vismic.denoise import highpass
    from vismic.metrics import snr
    from vismic.pipeline import RecoveryParams, recover

    shape, box = (160, 160), (36, 44, 80, 72)
    x, y, w, h = box
    mode = np.zeros(shape)
    mode[y : y + h, x : x + w] = 1.0
    tex = sim.blur_texture(sim.make_texture("pink", (200, 200), seed=8), 1.0)
    sound = sim.builtin_sound("melody", rate=RATE, duration=1.5)
    sc = sim.Scene(texture=tex, sound=sound, rate=RATE, rms_px=0.01, shape=shape, noise_sigma=3.0, mode=mode, seed=8)
    path = tmp_path / "obj.npy"
    np.save(path, np.concatenate(list(sc.frames(batch=512))))
    got = {}
    for name, roi in (("hand", box), ("auto", "auto")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "no tile stands out" would be a failure here
            rec = recover(path, RecoveryParams(fps=RATE, roi=roi))
        got[name] = snr(highpass(sc.truth(), rate=RATE, cutoff=rec.params.highpass), rec.audio, max_lag=3)
    assert got["auto"] >= got["hand"] - 0.5, got
