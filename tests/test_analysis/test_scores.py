"""analysis.scores: the order of methods in the tables and figures."""

from __future__ import annotations

import pandas as pd

from analysis.scores import method_order


def test_method_order() -> None:
    rows = [  # config, label, mode, groups, correction, method
        ("fam_flat", "flat MAPPO", "sync", 1, "none", "flat MAPPO sync"),
        ("fam_dec", "HMASD", "async", 4, "decoupled", "HMASD async G=4 + decoupled"),
        ("fam8", "HMASD", "async", 8, "none", "HMASD async G=8"),
        ("fam", "HMASD", "async", 4, "none", "HMASD async G=4"),
        ("fam", "HMASD", "sync", 1, "none", "HMASD sync"),
    ]
    df = pd.DataFrame(rows, columns=["config", "label", "mode", "async_groups",
                                     "async_correction", "method"]).assign(family="fam")
    assert method_order(df) == ["HMASD sync", "HMASD async G=4", "HMASD async G=4 + decoupled",
                                "HMASD async G=8", "flat MAPPO sync"]
