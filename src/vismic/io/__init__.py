"""Reading frames and writing audio.

:func:`open_source` picks the reader from the path: a folder or glob of images, a ``.npy``
stack, a Photron (``.cih``/``.cihx``/``.mraw``) or Phantom (``.cine``) camera file, or any video
FFmpeg decodes.
"""

from __future__ import annotations

import glob
import os

from ..errors import VideoReadError
from .base import ROI, FrameSource, parse_roi

__all__ = ["open_source", "FrameSource", "ROI", "parse_roi"]

CAMERA_EXTENSIONS = (".cih", ".cihx", ".mraw", ".cine")


def open_source(path: str) -> FrameSource:
    """Open frames from ``path`` with the reader its form calls for.

    Raises
    ------
    VideoReadError
        If nothing is found at ``path`` or it cannot be read.
    """
    path = os.fspath(path)
    # each reader is imported when its kind of input is opened (PyAV, Pillow, the camera parsers)
    if glob.has_magic(path) and not os.path.exists(path):
        from .images import ImageSequenceSource

        return ImageSequenceSource(path)
    if os.path.isdir(path):
        from .images import ImageSequenceSource

        return ImageSequenceSource(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in CAMERA_EXTENSIONS:
        from .camera import open_camera_file

        src = open_camera_file(path)
        if src is not None:
            return src
    if not os.path.exists(path):
        raise VideoReadError(f"{path}: no such file or folder; check the path")
    if not os.path.isfile(path):
        raise VideoReadError(f"{path}: not a regular file")
    if ext == ".npy":
        from .images import NpySource

        return NpySource(path)
    from .images import IMAGE_EXTENSIONS

    if ext in IMAGE_EXTENSIONS:
        raise VideoReadError(
            f"{path} is a single image; give the folder or a glob such as 'frames/*{ext}' for a sequence"
        )
    from .video import VideoSource

    return VideoSource(path)
