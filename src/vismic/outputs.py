"""Where outputs go: every output path is checked against the inputs and against each other before
any work starts (one rule for every command: recover, map, spectrum, mux, simulate, the web UI).
"""

from __future__ import annotations

import glob
import os

from .errors import ParameterError

__all__ = ["check_output_paths", "json_default"]


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
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
