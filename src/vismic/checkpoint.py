"""Checkpoints of long recoveries: per-chunk motion signals saved as they finish.

A recovery cuts the clip into chunks of frames (``RecoveryParams.chunk``).  With a checkpoint
folder, every finished chunk's per-channel signals are written there at once (temp file, then
rename), next to a manifest naming the input and every parameter that shapes the signals.  A run
that is killed and started again with the same command finds the folder, checks that the manifest
matches (same input file, size and modification time; same motion parameters; same vismic
version), loads the finished chunks and computes only the missing ones.  Chunks are computed the
same way whether fresh or resumed, so the resumed WAV equals an uninterrupted run's.

The folder is removed once the outputs are written, unless the caller keeps it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np

from .errors import OutputError, ParameterError
from .io.atomic import atomic_path

__all__ = ["Checkpoint"]

_MANIFEST = "manifest.json"


class Checkpoint:
    """A folder of finished chunks for one input and one set of motion parameters.

    Parameters
    ----------
    folder : path-like
        Created if missing.  A folder holding a checkpoint of another input or other parameters
        is refused (a :class:`~vismic.errors.ParameterError` naming the difference), so results
        are never mixed.
    identity : dict
        JSON-serialisable description of the input and of everything that shapes the chunk
        signals.  Its hash is the checkpoint's key.
    n_channels : int
        Columns of every chunk's signal matrix.

    Raises
    ------
    ParameterError
        The folder holds a checkpoint of a different run.
    OutputError
        The folder cannot be created or written.
    """

    def __init__(self, folder: str | os.PathLike, identity: dict, *, n_channels: int) -> None:
        self.folder = os.fspath(folder)
        self.identity = identity
        self.n_channels = int(n_channels)
        text = json.dumps(identity, sort_keys=True, default=str)
        self.key = hashlib.sha256(text.encode()).hexdigest()[:16]
        manifest = os.path.join(self.folder, _MANIFEST)
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the checkpoint folder {self.folder}: {exc.strerror or exc}") from exc
        if os.path.exists(manifest):
            try:
                with open(manifest) as fh:
                    old = json.load(fh)
            except (OSError, ValueError):
                old = None
            if not isinstance(old, dict) or old.get("key") != self.key:
                what = _difference(old.get("identity") if isinstance(old, dict) else None, identity)
                raise ParameterError(
                    f"the checkpoint folder {self.folder} belongs to another run ({what}); "
                    "delete it, or pass another --checkpoint folder"
                )
        else:
            self._write_json(manifest, {"key": self.key, "identity": identity})

    def _path(self, start: int, stop: int) -> str:
        return os.path.join(self.folder, f"chunk-{start:010d}-{stop:010d}.npz")

    def load(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The saved ``(signals, weight)`` of chunk ``[start, stop)``, or None if absent or unreadable."""
        path = self._path(start, stop)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path) as z:
                sig, weight = z["signals"], z["weight"]
        except (OSError, ValueError, KeyError):
            return None  # a damaged file: the chunk is computed again
        if sig.ndim != 2 or sig.shape[1] != self.n_channels or sig.shape[0] > stop - start:
            return None
        return sig.astype(np.float32, copy=False), weight.astype(np.float64, copy=False)

    def save(self, start: int, stop: int, signals: np.ndarray, weight: np.ndarray) -> None:
        """Write chunk ``[start, stop)`` atomically."""
        with atomic_path(self._path(start, stop), suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, signals=np.asarray(signals, np.float32), weight=np.asarray(weight, np.float64))

    def load_blob(self, name: str) -> bytes | None:
        """The bytes saved under ``name`` by :meth:`save_blob`, or None."""
        try:
            with open(os.path.join(self.folder, name), "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def save_blob(self, name: str, data: bytes) -> None:
        """Keep ``data`` beside the chunks under the file name ``name`` (atomic)."""
        with atomic_path(os.path.join(self.folder, name), suffix=".bin") as tmp, open(tmp, "wb") as fh:
            fh.write(data)

    def remove(self) -> None:
        """Delete the folder (after the outputs are safely written)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write_json(self, path: str, obj: dict) -> None:
        with atomic_path(path, suffix=".json") as tmp, open(tmp, "w") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True, default=str)


def _difference(old: dict | None, new: dict) -> str:
    if not isinstance(old, dict):
        return "its manifest is unreadable"
    diffs = [k for k in sorted(set(old) | set(new)) if json.dumps(old.get(k), sort_keys=True, default=str)
             != json.dumps(new.get(k), sort_keys=True, default=str)]
    return "different " + ", ".join(diffs[:4]) if diffs else "a different key"
