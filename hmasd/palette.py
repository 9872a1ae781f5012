"""The Okabe-Ito colours, defined once for every figure the project draws.

Okabe & Ito (2008), "Color Universal Design": eight colours that stay distinct under the
common colour-vision deficiencies. The training progress figure (:mod:`hmasd.tracking.plots`)
and the paper figures (``analysis/style.py``) both take their colours from here, so the
same series has the same colour in both; the analysis imports the package, never the
reverse.
"""

from __future__ import annotations

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
CYCLE = tuple(OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple",
                                     "sky_blue", "yellow", "black"))
"""The order colours are handed to categorical series (e.g. team skill 0, 1, ...)."""
COMPONENT_COLOR = {
    "env_component": OKABE_ITO["blue"],
    "team_disc_component": OKABE_ITO["orange"],
    "ind_disc_component": OKABE_ITO["green"],
}
"""The weighted low-level reward terms, by their export column name."""
