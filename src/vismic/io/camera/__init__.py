"""Readers for high-speed camera files: Photron ``.cih``/``.cihx`` + ``.mraw`` and Phantom ``.cine``.

Both readers memory-map the raw data and decode one batch at a time, so a recording larger
than RAM streams in constant memory.  Packed 10- and 12-bit samples are unpacked per batch with
vectorised numpy, never for the whole file.

Intensities are scaled so that the full scale of the stored samples maps to 1.0:

* Photron: ``2**Color Bit - 1``, except when the header says the significant bits are the
  *lower* ``EffectiveBit Depth`` bits of a wider sample (e.g. 12 significant bits in a 16-bit
  word), where it is ``2**EffectiveBit Depth - 1``.  An 8-bit file from a 12-bit sensor (Color
  Bit 8, EffectiveBit Depth 12) holds full-range 8-bit samples and is scaled by 255.
* Phantom: ``2**RealBPP - 1`` for unpacked 8/16-bit frames, ``1023`` for packed 10-bit (P10)
  and ``4095`` for packed 12-bit (P12L) frames.

The frame rate stored by the camera is the true capture rate, so both readers set
``rate_is_trusted = True``.  A Photron file saved with a frame step (``Save Step`` > 1, every
n-th recorded frame kept) has ``header_rate = Record Rate / Save Step``: the rate of the frames
in the file, which is what the audio must be sampled at.
"""


from __future__ import annotations

import os

from ..base import FrameSource
from ._common import CINE_EXTENSIONS, PHOTRON_EXTENSIONS
from .cine import CineSource
from .photron import PhotronSource

__all__ = ["PhotronSource", "CineSource", "open_camera_file", "PHOTRON_EXTENSIONS", "CINE_EXTENSIONS"]


def open_camera_file(path: str | os.PathLike) -> FrameSource | None:
    """Open a camera file by its extension.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.cih``, ``.cihx``, ``.mraw`` (Photron) or ``.cine`` (Phantom) file.

    Returns
    -------
    FrameSource or None
        The reader, or None when the extension is not a camera format.

    Raises
    ------
    VideoReadError, InputError
        As raised by :class:`PhotronSource` or :class:`CineSource`.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in PHOTRON_EXTENSIONS:
        return PhotronSource(path)
    if ext in CINE_EXTENSIONS:
        return CineSource(path)
    return None
