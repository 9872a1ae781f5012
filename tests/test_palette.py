"""The Okabe-Ito palette is defined once, in ``hmasd/palette.py``; every figure imports it."""

from __future__ import annotations

from pathlib import Path

from hmasd.palette import CYCLE, OKABE_ITO

REPO = Path(__file__).parents[1]
HOME = REPO / "hmasd" / "palette.py"


def test_the_palette_has_eight_distinct_colours_and_cycles_through_all() -> None:
    assert len(set(OKABE_ITO.values())) == 8
    assert sorted(CYCLE) == sorted(OKABE_ITO.values())


def test_no_other_module_spells_out_a_palette_colour() -> None:
    hexes = {h.lower() for h in OKABE_ITO.values()}
    sources = [*(REPO / "hmasd").rglob("*.py"), *(REPO / "analysis").rglob("*.py"),
               *(REPO / "workflow").rglob("*.py")]
    assert HOME in sources
    for path in sources:
        if path != HOME:
            text = path.read_text().lower()
            assert not [h for h in hexes if h in text], path


def test_no_method_shares_a_colour_with_a_baseline() -> None:
    from analysis.style import BASELINE_COLOR, method_style

    methods = [f"method {i}" for i in range(12)]
    colours = {method_style(m, methods)["color"] for m in methods}
    assert len(colours) >= 5
    assert not colours & set(BASELINE_COLOR.values())
