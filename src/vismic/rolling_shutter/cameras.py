"""The camera table: measured line delays of real camera modes, with their sources
(package data ``vismic/data/cameras.csv``; ``vismic calibrate --list-cameras``).
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

from ..errors import ParameterError
from .timing import parse_seconds


@dataclass(frozen=True)
class Camera:
    """One row of the camera table (``vismic/data/cameras.csv``)."""

    id: str
    camera: str
    mode: str
    width: int
    height: int
    fps: float
    frame_readout_s: float
    line_delay: float
    gap_s: float
    exposure: float | None
    source: str
    notes: str

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _slug(text: str) -> str:
    text = re.sub(r"\(.*?\)", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@lru_cache(maxsize=1)
def camera_table() -> tuple[Camera, ...]:
    """The measured cameras shipped with vismic, with their sources.

    Returns
    -------
    tuple of Camera
        Line delay in seconds, frame readout and gap in seconds, exposure in seconds where the
        source states one (only the Pentax K-01 of the paper).
    """
    text = files("vismic").joinpath("data/cameras.csv").read_text(encoding="utf-8")
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        exp = r["exposure"].strip()
        out.append(Camera(
            id=r["id"], camera=r["camera"], mode=r["mode"], width=int(r["width"]), height=int(r["height"]),
            fps=float(r["fps"]), frame_readout_s=float(r["frame_readout_ms"]) * 1e-3,
            line_delay=float(r["line_delay_us"]) * 1e-6, gap_s=float(r["interframe_gap_ms"]) * 1e-3,
            exposure=parse_seconds(exp) if exp else None, source=r["source"], notes=r["notes"],
        ))
    return tuple(out)


def find_camera(name: str, *, fps: float | None = None, rows: int | None = None) -> Camera:
    """Look a camera up by id (``pentax-k-01-720p60``), ``"camera mode"`` or camera name.

    Matching ignores case, punctuation and parenthesised remarks. A camera name with several
    modes is narrowed down by ``fps`` (within 1 %) and ``rows`` (the video's height).

    Raises
    ------
    ParameterError
        Unknown name (the message lists close matches) or several modes that remain ambiguous.
    """
    table = camera_table()
    q = _slug(str(name))
    if not q:
        raise ParameterError(f"camera={name!r} is empty; give a camera id such as pentax-k-01-720p60")
    by_id = {c.id: c for c in table}
    if q in by_id:
        return by_id[q]
    hits = [c for c in table if _slug(c.camera) == q or _slug(f"{c.camera} {c.mode}") == q
            or c.id.startswith(q + "-")]
    if not hits:
        names = sorted(by_id) + sorted({_slug(c.camera) for c in table})
        close = difflib.get_close_matches(q, names, n=5, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else "no close match"
        raise ParameterError(
            f"unknown camera {name!r} ({hint}); `vismic calibrate --list-cameras` lists the {len(table)} known "
            "cameras, or give --line-delay SECONDS"
        )
    if len(hits) > 1 and fps is not None:
        narrowed = [c for c in hits if abs(c.fps - fps) <= 0.01 * c.fps]
        hits = narrowed or hits
    if len(hits) > 1 and rows is not None:
        narrowed = [c for c in hits if c.height == rows]
        hits = narrowed or hits
    if len(hits) > 1:
        raise ParameterError(
            f"camera {name!r} has {len(hits)} modes: {', '.join(c.id for c in hits)}; give one of these ids"
        )
    return hits[0]
