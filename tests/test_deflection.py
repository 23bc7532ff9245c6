"""Displacement export (px and mm), operating deflection shapes, and their CLI options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vismic import simulate as sim
from vismic.analysis.deflection import (
    deflection_shapes,
    displacement_table,
    scale_from_points,
    write_displacement,
)
from vismic.analysis.spectra import modal_peaks, motion_spectrum
from vismic.errors import ParameterError

RATE = 1000.0


def _scene(tmp_path, mode="halves", rms=0.05, hz=90.0, name="s.npy"):
    snd = sim.builtin_sound("tone", rate=RATE, duration=0.5, freq=hz)
    sc = sim.Scene(texture=sim.make_texture("pink", (112, 144), seed=5), sound=snd, rate=RATE, rms_px=rms,
                   shape=(80, 112), noise_sigma=1.0, seed=5, mode=mode)
    path = tmp_path / name
    np.save(path, np.concatenate(list(sc.frames(batch=128))))
    return path, sc


def test_two_halves_in_opposite_phase_show_opposite_phase(tmp_path):
    path, _ = _scene(tmp_path, mode="halves")
    spec = motion_spectrum(path, fps=RATE, grid=(1, 2))
    (shape,) = deflection_shapes(spec, [90.0])
    assert abs(abs(shape.phase[0, 1 - shape.reference[1]]) - np.pi) < 0.2, shape.phase
    assert abs(shape.phase[shape.reference]) < 1e-12
    assert 0.5 < shape.amplitude[0, 0] / shape.amplitude[0, 1] < 2.0
    path2, _ = _scene(tmp_path, mode="halves-in-phase", name="p.npy")
    (same,) = deflection_shapes(motion_spectrum(path2, fps=RATE, grid=(1, 2)), [90.0])
    assert np.all(np.abs(same.phase) < 0.2), same.phase


def test_displacement_in_mm_follows_the_scale_and_the_true_motion(tmp_path):
    path, sc = _scene(tmp_path, mode="rigid", rms=0.1)
    spec = motion_spectrum(path, fps=RATE, grid=(1, 1))
    px = displacement_table(spec)
    mm = displacement_table(spec, mm_per_px=0.25)
    assert px.unit == "px" and mm.unit == "mm" and px.names == ["r0c0"]
    np.testing.assert_allclose(mm.values, px.values * np.float32(0.25), rtol=1e-6)
    # the scene moves along x (direction 0): the measured x displacement follows the truth, in mm
    truth = sc.truth()[: len(mm.time_s)] * 0.25
    est = mm.values[:, 0, 0].astype(float)
    cut = slice(50, -50)
    gain = np.dot(est[cut] - est[cut].mean(), truth[cut] - truth[cut].mean()) / np.dot(
        truth[cut] - truth[cut].mean(), truth[cut] - truth[cut].mean())
    assert 0.6 < gain < 1.1, gain  # pixel units are approximate (module docstring): 0.75-0.8 on pink
    assert np.corrcoef(est[cut], truth[cut])[0, 1] > 0.95
    assert scale_from_points(0, 0, 30, 40, 10.0) == pytest.approx(0.2)
    with pytest.raises(ParameterError):
        scale_from_points(3, 3, 3, 3, 10.0)


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz"])
def test_written_displacement_reads_back(tmp_path, suffix):
    path, _ = _scene(tmp_path, mode="rigid")
    table = displacement_table(motion_spectrum(path, fps=RATE, grid=(2, 2)), mm_per_px=0.5)
    out = write_displacement(table, tmp_path / f"d{suffix}")
    if suffix == ".csv":
        data = np.genfromtxt(out, delimiter=",", names=True)
        assert data.dtype.names[:3] == ("time_s", "r0c0_dx_mm", "r0c0_dy_mm") and len(data) == len(table.time_s)
        np.testing.assert_allclose(data["r1c1_dx_mm"], table.values[:, 3, 0], rtol=1e-5, atol=1e-9)
    elif suffix == ".npy":
        np.testing.assert_array_equal(np.load(out), table.values)
    else:
        z = np.load(out)
        assert list(z["names"]) == table.names and str(z["unit"]) == "mm" and float(z["mm_per_px"]) == 0.5
    with pytest.raises(ParameterError, match="must end in one of"):
        write_displacement(table, tmp_path / "d.txt")


def test_cli_exports_displacement_whose_spectrum_matches_the_peaks(tmp_path, capsys):
    from vismic.cli import main

    path, _ = _scene(tmp_path, mode="halves")
    args = ["spectrum", str(path), "--fps", "1000", "--grid", "1x2", "--displacement", str(tmp_path / "d.csv"),
            "--points", "20,40;90,40", "--scale", "0.1", "--shapes", str(tmp_path / "s.png"),
            "--shapes-gif", str(tmp_path / "s.gif"), "-o", str(tmp_path / "sp.png"), "--json"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    hz = res["peaks"][0]["hz"]
    data = np.genfromtxt(tmp_path / "d.csv", delimiter=",", names=True)
    assert data.dtype.names[-4:] == ("p1_dx_mm", "p1_dy_mm", "p2_dx_mm", "p2_dy_mm")
    for col in ("r0c0_dx_mm", "p1_dx_mm", "p2_dx_mm"):  # each series' strongest frequency is the peak's
        x = data[col] - data[col].mean()
        f = np.fft.rfftfreq(len(x) * 8, 1 / RATE)[np.argmax(np.abs(np.fft.rfft(x * np.hanning(len(x)), len(x) * 8)))]
        assert abs(f - hz) < 2.0, (col, f, hz)
    shapes = res["deflection_shapes"]
    assert abs(abs(shapes[0]["phase_rad"][0][0] - shapes[0]["phase_rad"][0][1]) - np.pi) < 0.2
    for name in ("s.png", "s.gif", "sp.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert main(["spectrum", str(path), "--fps", "1000", "--points", "500,10", "--json"]) == 2
    assert "outside" in capsys.readouterr().err
    assert main(["spectrum", str(path), "--fps", "1000", "--scale", "0.1", "--scale-ref", "0,0,1,1,1",
                 "--json"]) == 2
    assert main(["spectrum", str(path), "--fps", "1000", "--displacement", str(tmp_path / "d.txt"), "--json"]) == 2


def test_modal_peaks_feed_the_shapes(tmp_path):
    path, _ = _scene(tmp_path)
    spec = motion_spectrum(path, fps=RATE, grid=(1, 2))
    peaks = modal_peaks(spec)
    shapes = deflection_shapes(spec, peaks)
    assert shapes and abs(shapes[0].hz - 90.0) < 2.0
    with pytest.raises(ParameterError, match="outside"):
        deflection_shapes(spec, [700.0])
