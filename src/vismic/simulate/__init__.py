"""Scenes with known truth: textures moved sub-pixel by a sound, rendered as a camera would.

Everything the tests and quality measurements of vismic compare against comes from here,
so this module is deliberately independent of the estimator: it imports nothing from
vismic but :mod:`vismic.errors` and :mod:`vismic.io.writers`.

The model
---------
A :class:`Scene` is a periodic, band-limited texture seen by a global-shutter camera.
Frame ``t`` shows the texture displaced by

    u(x, y, t) = (m(x, y) * rms_px * s[t] + drift(t)) * (cos theta, sin theta)

where ``s`` is the sound (unit RMS, one sample per frame), ``m`` the mode shape (1 for a
rigid object), ``theta = direction_deg`` and ``drift`` a slow linear creep. Pixel
coordinates are array coordinates: ``x`` is the column index, ``y`` the row index, so
``direction_deg=0`` moves the content towards increasing column and ``direction_deg=90``
towards increasing row (down on screen). "Displaced by u" means
``I_t(x) = I_0(x - u(x, t))``: the content moves by ``+u``.

Rendering is exact (to float64 rounding) for the band-limited texture:

* Piecewise-constant modes (``"rigid"``, ``"halves"``, ``"halves-in-phase"``, any mode
  array with at most 8 distinct values) are rendered with one Fourier-domain shift of the
  whole periodic texture per distinct value, composited per pixel.
* Smooth modes (``"membrane"``, other arrays) are rendered by an exact Fourier shift for
  the drift plus the Taylor series of the per-pixel displacement,
  ``I(x - s u) = sum_n (-s)^n / n! * d^n I / du^n``, the derivatives computed spectrally.
  The number of terms is chosen from a rigorous bound on the remainder (below 1e-9 of
  full scale, far under one 16-bit level), so it is not a first-order approximation.

Then lighting flicker multiplies the frame, photon (shot) and read noise are added, and
the result is quantised to ``bits`` bits and clipped; see :class:`Scene`.

Modules: :mod:`~vismic.simulate.textures`, :mod:`~vismic.simulate.sounds`,
:mod:`~vismic.simulate.scene` (:class:`Scene`), :mod:`~vismic.simulate.rolling`
(:class:`RollingShutterScene`) and :mod:`~vismic.simulate.render` (files); everything public is
re-exported here.
"""

from __future__ import annotations

from ._common import MODES
from .render import render
from .rolling import RollingShutterScene
from .scene import Scene
from .sounds import SOUND_NAMES, builtin_sound, load_sound
from .textures import TEXTURE_KINDS, blur_texture, load_texture, make_texture, object_rows_mask

__all__ = [
    "TEXTURE_KINDS",
    "SOUND_NAMES",
    "MODES",
    "make_texture",
    "load_texture",
    "blur_texture",
    "object_rows_mask",
    "builtin_sound",
    "load_sound",
    "Scene",
    "RollingShutterScene",
    "render",
]
