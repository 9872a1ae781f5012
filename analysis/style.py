"""Figure style: Okabe-Ito colours (colour-blind safe), fonts readable at column width.

Panels are sized for a ~3.5 in column; every font is at least 8 pt. Sync and async also
differ in line style, so figures survive greyscale printing.
"""

from __future__ import annotations

from typing import Any

# The colours are the package's (the training progress figure uses them too); re-exported
# here so that figures.py takes every style choice from this module.
from hmasd.palette import COMPONENT_COLOR as COMPONENT_COLOR
from hmasd.palette import CYCLE as CYCLE
from hmasd.palette import OKABE_ITO as OKABE_ITO

MODE_COLOR = {"sync": OKABE_ITO["blue"], "async": OKABE_ITO["vermillion"]}
MODE_LINESTYLE = {"sync": "-", "async": "--"}
MODE_MARKER = {"sync": "o", "async": "s"}
BASELINE_COLOR = {"random": "#7F7F7F", "hover": OKABE_ITO["green"],
                  "kmeans": OKABE_ITO["purple"]}
BASELINE_LINESTYLE = {"random": ":", "hover": "-.", "kmeans": (0, (5, 1.5, 1, 1.5))}
COMPONENT_LABEL = {"env_component": r"env ($\lambda_e r$)",
                   "team_disc_component": r"team disc. ($\lambda_D \log q_D$)",
                   "ind_disc_component": r"ind. disc. ($\lambda_d \log q_d$)"}

PANEL_W, PANEL_H = 3.5, 2.4  # inches: one panel per journal column
DPI = 300
FONT_PT = 8

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT + 1,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT,
    "legend.fontsize": FONT_PT,
    "figure.titlesize": FONT_PT + 1,
    "axes.prop_cycle": None,  # set in rc() (needs cycler)
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "legend.frameon": False,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text, accepted by publishers
    "ps.fonttype": 42,
}


def rc() -> dict[str, Any]:
    """The rcParams of every figure (use with ``matplotlib.rc_context``)."""
    from cycler import cycler

    return {**RC, "axes.prop_cycle": cycler(color=CYCLE)}


def mode_style(mode: str) -> dict[str, Any]:
    return {"color": MODE_COLOR.get(mode, OKABE_ITO["black"]),
            "linestyle": MODE_LINESTYLE.get(mode, "-")}


MODE_DASHES = {"sync": "-", "async": "--"}
METHOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
METHOD_CYCLE = tuple(c for c in CYCLE if c not in BASELINE_COLOR.values())
"""Method colours: :data:`CYCLE` without the baselines' colours, so that no method shares a
colour with a baseline line drawn in the same panel."""


def method_style(method: str, methods: list[str]) -> dict[str, Any]:
    """Colour, line style and marker of ``method`` among the ``methods`` of one panel, in
    table order: the i-th method takes the i-th colour of :data:`METHOD_CYCLE`; async
    methods are dashed (greyscale-safe)."""
    i = methods.index(method) if method in methods else len(methods)
    dashed = " async" in method
    return {"color": METHOD_CYCLE[i % len(METHOD_CYCLE)],
            "linestyle": MODE_DASHES["async" if dashed else "sync"],
            "marker": METHOD_MARKERS[i % len(METHOD_MARKERS)]}
