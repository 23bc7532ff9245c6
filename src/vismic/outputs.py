"""Where outputs go and how a recovery is written.

Every output path is checked against the inputs and against each other before any work starts (one
rule for every command: recover, map, spectrum, mux, simulate, the web UI); :func:`save` writes a
recovery's WAV at the true capture rate, a listenable copy at a standard rate, the JSON sidecar and
optionally a spectrogram, all or nothing (:class:`vismic.io.atomic.AtomicFiles`, the one atomic
writer).
"""

from __future__ import annotations

import glob
import json
import os
from typing import TYPE_CHECKING

import numpy as np

from .denoise import normalize_to
from .errors import ParameterError
from .io.atomic import AtomicFiles
from .io.audio import check_writable, encode_audio, resample

if TYPE_CHECKING:  # params imports the estimators: too heavy for commands that only check paths
    from .params import Recovery

__all__ = ["check_output_paths", "json_default", "output_paths", "save"]


def _same(a: str, b: str) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _input_files(path: str) -> list[str]:
    """The files an input consists of: the file, a camera file's companion, an image folder's or glob's files."""
    if os.path.isdir(path):
        return [os.path.join(path, f) for f in os.listdir(path)]
    if any(ch in path for ch in "*?["):
        return glob.glob(path)
    stem, ext = os.path.splitext(path)
    files = [path]
    if ext.lower() in (".cih", ".cihx"):
        files.append(stem + ".mraw")
    elif ext.lower() == ".mraw":
        files += [stem + ".cih", stem + ".cihx"]
    return files


def check_output_paths(inputs: str | list[str], outputs: dict[str, str | None]) -> None:
    """Refuse outputs that would overwrite an input or each other.

    Parameters
    ----------
    inputs : path or list of paths
        What the command reads (a video, a camera file, an image folder or glob, a WAV...).
    outputs : dict
        ``{name: path}`` of every file the command will write (None entries are skipped); the
        names appear in the message (e.g. ``"spectrogram"``, ``"--mux"``).

    Raises
    ------
    ParameterError
        An output is an input (``--spectrogram input.mp4``), inside an input image folder, or
        two outputs are the same file (``-o s.wav --spectrogram s.wav``).
    """
    ins = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    named = [(k, os.fspath(v)) for k, v in outputs.items() if v is not None]
    for name, out in named:
        for inp in ins:
            inp = os.fspath(inp)
            if any(_same(out, f) for f in _input_files(inp)):
                raise ParameterError(f"the {name} output {out} is the input {inp}: it would be overwritten; "
                                     "choose another output path")
            if os.path.isdir(inp) and os.path.realpath(os.path.dirname(os.path.abspath(out))) == \
                    os.path.realpath(inp):
                raise ParameterError(f"the {name} output {out} would be written into the input folder {inp}; "
                                     "write it elsewhere")
    for i, (name, out) in enumerate(named):
        for other, out2 in named[i + 1 :]:
            if _same(out, out2):
                raise ParameterError(f"the {name} and {other} outputs are the same file ({out}); give them "
                                     "different paths")


def json_default(o: object) -> object:
    """``default=`` of :func:`json.dump` for every sidecar and JSON vismic writes or prints: numpy
    scalars and arrays as numbers and lists, paths as text; anything else is an error (a sidecar
    must not silently hold the ``str()`` of an object)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def output_paths(out_wav: str, *, spectrogram: str | bool | None = None) -> dict[str, str]:
    """Where :func:`save` writes, given the main WAV (or FLAC) path.

    ``spectrogram``: a PNG path, True for ``<stem>.png``, or None/False for no spectrogram.
    """
    stem, ext = os.path.splitext(out_wav)
    ext = ".flac" if ext.lower() == ".flac" else ".wav"  # the listen copy in the same format
    paths = {"wav": out_wav, "listen": stem + ".listen" + ext, "json": stem + ".json"}
    if isinstance(spectrogram, str):
        paths["spectrogram"] = spectrogram
    elif spectrogram:
        paths["spectrogram"] = stem + ".png"
    return paths


def save(
    recovery: Recovery,
    out_wav: str,
    *,
    force: bool = False,
    listen_rate: int = 44100,
    spectrogram: str | bool | None = None,
    float_wav: bool = False,
) -> dict[str, str]:
    """Write the WAV at the capture rate, a listenable copy, the JSON sidecar and a spectrogram.

    All or nothing: every file is staged by :class:`~vismic.io.atomic.AtomicFiles` and renamed only
    once all are complete, so a crash never leaves a partial set. Existing outputs are refused
    unless ``force``.

    Returns
    -------
    dict
        The paths written (``wav``, ``listen``, ``json`` and ``spectrogram`` if drawn).
    """
    paths = output_paths(out_wav, spectrogram=spectrogram)
    if recovery.input.get("path"):
        check_output_paths(recovery.input["path"], dict(paths))
    for p in paths.values():
        check_writable(p, force=force)
    if listen_rate <= 0:
        raise ParameterError(f"listen_rate={listen_rate} must be > 0 Hz")
    fmt = "FLAC" if paths["wav"].lower().endswith(".flac") else "WAV"
    if fmt == "FLAC" and float_wav:
        raise ParameterError("FLAC holds integer samples: drop --float (float_wav) or write a .wav")
    suffix = "." + fmt.lower()
    with AtomicFiles() as out:
        tmp = out.stage(paths["wav"], suffix)  # staged first: a failure below names this output
        data, stored = encode_audio(recovery.audio, rate=recovery.rate,
                                    subtype="PCM_24" if fmt == "FLAC" else "FLOAT" if float_wav else "PCM_16",
                                    container=fmt)
        with open(tmp, "wb") as fh:
            fh.write(data)
        listen = resample(recovery.audio, rate_in=recovery.rate, rate_out=listen_rate)
        # the recovery's level again (resampling moves the peak); the default is the former rule exactly
        listen, _ = normalize_to(listen, recovery.params.normalize, recovery.params.level_db)
        tmp = out.stage(paths["listen"], suffix)
        data, _ = encode_audio(listen, rate=listen_rate, subtype="PCM_16", container=fmt)
        with open(tmp, "wb") as fh:
            fh.write(data)
        if "spectrogram" in paths:
            from .plot import save_spectrogram  # lazily: plot imports scipy.signal (about a second)

            save_spectrogram(recovery, out.stage(paths["spectrogram"], ".png"))
        side = recovery.sidecar()
        side["outputs"] = dict(paths)
        side["wav_header_rate"] = stored
        if stored != recovery.rate:
            side["warnings"] = side["warnings"] + [
                f"WAV headers hold integer rates: {paths['wav']} says {stored} Hz, the true rate is "
                f"{recovery.rate:g} Hz"
            ]
        side["listen_rate"] = listen_rate
        with open(out.stage(paths["json"], ".json"), "w") as fh:
            json.dump(side, fh, indent=2, default=json_default)
    return paths
