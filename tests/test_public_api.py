"""The public API, pinned (as scipy pins its namespaces): a name added to or dropped from a public
module's ``__all__`` fails here until this list is changed on purpose, and every listed name must
exist."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "vismic": [
        "InputError", "MissingDependencyError", "NoTextureError", "OutputError", "OutputExistsError",
        "ParameterError", "VideoReadError", "VismicError", "__version__",
    ],
    "vismic.params": [
        "AUTO_FAST_LOSS_DB", "AUTO_FAST_SNR_DB", "AUTO_PROBE_FRAMES", "BACKENDS", "PIPELINE_MODES", "Recovery",
        "RecoveryParams",
    ],
    "vismic.pipeline": [
        "Recovery", "RecoveryParams", "output_paths", "recover", "save", "stream_motion",
    ],
    "vismic.rolling_shutter": [
        "Calibration", "Camera", "DIRECTIONS", "READOUTS", "RollingShutterParams", "RowModel", "RowMotionEstimator",
        "RowSignals", "RowTiming", "Stitched", "anchor_frames", "ar_fill", "auto_band", "calibrate_blind",
        "calibrate_flicker", "calibrate_tone", "camera_table", "check_line_delay", "equalize_exposure",
        "exposure_report", "exposure_response", "find_camera", "line_delay_consistency", "parse_seconds",
        "recover_rolling_shutter", "row_signals", "row_times", "signal_band", "stitch", "stripe_frequency",
    ],
    "vismic.simulate": [
        "MODES", "RollingShutterScene", "SOUND_NAMES", "Scene", "TEXTURE_KINDS", "blur_texture", "builtin_sound",
        "load_sound", "load_texture", "make_texture", "object_rows_mask", "render",
    ],
    "vismic.denoise": [
        "DEFAULT_HIGHPASS_HZ", "DENOISERS", "default_highpass", "detect_lines", "highpass", "normalize",
        "normalize_to", "notch", "postprocess", "spectral_subtract",
    ],
    "vismic.fuse": [
        "Fusion", "bounded_lag", "factor_analysis", "fuse",
    ],
    "vismic.metrics": [
        "Alignment", "align", "correlation", "llr", "log_spectral_distance", "score", "segmental_snr", "snr",
        "stoi",
    ],
    "vismic.motion": [
        "Channel", "FastMotionEstimator", "MotionEstimator", "global_lucas_kanade", "integrate", "region_edges",
        "region_layout",
    ],
    "vismic.pyramid": [
        "Band", "ComplexSteerablePyramid", "LevelPlan", "max_scales",
    ],
    "vismic.io": [
        "FrameSource", "ROI", "open_source", "parse_roi",
    ],
    "vismic.io.stream": [
        "check_length", "check_texture", "input_facts", "prefetched", "resolve_rate", "run_on_source", "stream_motion",
    ],
    "vismic.outputs": [
        "check_output_paths", "json_default", "output_paths", "save",
    ],
    "vismic.workflow": [
        "EXTRAS_ON_ERROR", "Written", "recover_and_write",
    ],
    "vismic.analysis.vibmap": [
        "DEFAULT_MAX_FRAMES", "VibrationMap", "auto_roi", "select_roi", "vibration_map",
    ],
    "vismic.analysis.deflection": [
        "DISPLACEMENT_SUFFIXES", "DisplacementTable", "OperatingShape", "deflection_shapes", "displacement_table",
        "scale_from_points", "write_displacement",
    ],
    "vismic.magnify": [
        "LINEAR_RANGE_QUANTILE", "MotionMagnifier", "VIEWS", "check_magnification", "magnify",
    ],
    "vismic.analysis.spectra": [
        "ModalPeak", "MotionSpectrum", "modal_peaks", "motion_spectrum", "peaks_csv", "signal_spectrum",
    ],
    "vismic.analysis.voice": [
        "GENDER_MODEL", "PitchTrack", "VoiceReport", "gender_posterior", "pitch_track", "voice_report",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned_and_exist(module):
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == PUBLIC[module], f"{module}.__all__ changed: update PUBLIC on purpose"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{module}.__all__ names what it does not define: {missing}"
    assert len(set(mod.__all__)) == len(mod.__all__), f"{module}.__all__ repeats a name"
