"""The progress figure of each export: ``sync_training_progress_step_N.png`` (2 x 3 panels).

Drawn with matplotlib's object API on an Agg canvas (no pyplot global state, no display),
from the tracker's bounded histories, and written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hmasd.io import atomic_path
from hmasd.palette import COMPONENT_COLOR, CYCLE, OKABE_ITO

BLUE, VERMILLION = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
RUNNING_MEAN = 10
"""Points in the running mean drawn over the episode rewards."""


def running_mean(y: np.ndarray, window: int = RUNNING_MEAN) -> np.ndarray:
    """Trailing mean over up to ``window`` points (shorter at the start); same length as y."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, y.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} yet", ha="center", va="center", transform=ax.transAxes,
            color="grey")


def render_progress(path: Path, hist: Mapping[str, np.ndarray], title: str = "") -> None:
    """Draw the six progress panels into a PNG at ``path``.

    ``hist`` arrays (rows are points, column 0 the env step):
    ``episode`` (P, 2) mean episode return; ``components`` (P, 5) env / team / ind / total
    reward per transition; ``sync`` (P, 6) efficiency, collection time, update time, stale
    fraction, mean lag; ``team`` (P, 1 + n_Z) fraction of decisions per team skill.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins, not layout="constrained": the constrained solver is about half of a
    # figure's render time, paid at every export of every training run.
    fig = Figure(figsize=(15, 8.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.05, right=0.95, bottom=0.07, top=0.9, wspace=0.28, hspace=0.3)
    if title:
        fig.suptitle(title, fontsize=14)

    ep, comp, sync, team = hist["episode"], hist["components"], hist["sync"], hist["team"]

    ax = axes[0, 0]
    ax.set_title("Episode reward")
    if len(ep):
        ax.plot(ep[:, 0], ep[:, 1], color=OKABE_ITO["sky_blue"], alpha=0.5, lw=1,
                label="episode return")
        ax.plot(ep[:, 0], running_mean(ep[:, 1]), color=BLUE, lw=2,
                label=f"running mean ({RUNNING_MEAN})")
        ax.legend(loc="best", fontsize=9)
    else:
        _empty(ax, "episodes")
    ax.set_ylabel("return")

    ax = axes[0, 1]
    ax.set_title("Reward components (per transition)")
    if len(comp):
        colours = (*COMPONENT_COLOR.values(), VERMILLION)  # env, team, ind, then the total
        for j, (name, colour) in enumerate(
            zip(("env", "team disc", "ind disc", "total"), colours, strict=True), start=1
        ):
            ax.plot(comp[:, 0], comp[:, j], color=colour, lw=1.5, label=name)
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.legend(loc="best", fontsize=9)
    else:
        _empty(ax, "updates")
    ax.set_ylabel("mean reward")

    ax = axes[0, 2]
    ax.set_title("Sync efficiency per update")
    if len(sync):
        ax.plot(sync[:, 0], sync[:, 1], color=OKABE_ITO["green"], lw=1.5,
                marker="." if len(sync) < 50 else None)
    else:
        _empty(ax, "updates")
    ax.set_ylabel("samples / s")

    ax = axes[1, 0]
    ax.set_title("Collection vs update time")
    if len(sync):
        ax.plot(sync[:, 0], sync[:, 2], color=BLUE, lw=1.5, label="collection")
        ax.plot(sync[:, 0], sync[:, 3], color=VERMILLION, lw=1.5, label="update")
        ax.legend(loc="best", fontsize=9)
    else:
        _empty(ax, "updates")
    ax.set_ylabel("seconds per update")

    ax = axes[1, 1]
    ax.set_title("Team skill usage")
    if len(team):
        n_z = team.shape[1] - 1
        # As in the paper's skill-usage figure: team skill i has colour CYCLE[i] in both.
        colours = [CYCLE[i % len(CYCLE)] for i in range(n_z)]
        ax.stackplot(team[:, 0], team[:, 1:].T, labels=[f"Z={i}" for i in range(n_z)],
                     colors=colours, alpha=0.85)
        # Headroom above the stack keeps the legend off the data.
        ax.set_ylim(0, 1.18)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.legend(loc="upper center", fontsize=9, ncol=min(n_z, 6), frameon=False)
    else:
        _empty(ax, "skill decisions")
    ax.set_ylabel("fraction of decisions")

    ax = axes[1, 2]
    ax.set_title("Stale samples and policy lag")
    if len(sync):
        ax.plot(sync[:, 0], sync[:, 4], color=VERMILLION, lw=1.5, label="stale fraction")
        ax.set_ylim(-0.02, 1.02)
        ax2 = ax.twinx()
        ax2.plot(sync[:, 0], sync[:, 5], color=BLUE, lw=1.5, ls="--", label="mean lag")
        ax2.set_ylabel("policy versions")
        ax2.set_ylim(bottom=0)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], loc="best", fontsize=9)
    else:
        _empty(ax, "updates")
    ax.set_ylabel("stale fraction")

    for a in axes.flat:
        a.set_xlabel("env steps")
        a.grid(alpha=0.3)

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
