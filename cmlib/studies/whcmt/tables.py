"""WHCMT tables, figures and claims from measured run rows (Tables 2-4); no training here."""

from __future__ import annotations

import numpy as np

from cmlib.studies.whcmt.config import Config


def pivot_map(rows: list[dict], index: str = "method", columns: str = "bits"):
    """Mean MAP over seeds as a table (``index`` rows x ``columns``)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    return df.pivot_table(index=index, columns=columns, values="map", aggfunc="mean", sort=False).reset_index()


def _by(rows: list[dict], **match) -> dict[tuple, float]:
    """{(bits, seed): map} for the rows matching every key=value."""
    return {(r["bits"], r["seed"]): r["map"] for r in rows if all(r.get(k) == v for k, v in match.items())}


def table2_claims(unsup: list[dict], deep: list[dict]) -> list:
    """Claims of Table 2, one value per (bits, seed)."""
    from cmlib.reporting import Claim

    keys = sorted(_by(deep, method="WHCMT"))
    best_unsup = {k: max(r["map"] for r in unsup if (r["bits"], r["seed"]) == k) for k in keys}
    deep_methods = sorted({r["method"] for r in deep})
    worst_deep = {k: min(_by(deep, method=m)[k] for m in deep_methods) for k in keys}
    whcmt, wdht = _by(deep, method="WHCMT"), _by(deep, method="WDHT-CNN")
    return [
        Claim("weakly-supervised deep methods beat unsupervised ones", [worst_deep[k] - best_unsup[k] for k in keys],
              ">", 0.0, "min deep MAP - max unsupervised MAP (per bits, seed)"),
        Claim("WHCMT beats WDHT", [whcmt[k] - wdht[k] for k in keys], ">", 0.0,
              "MAP(WHCMT) - MAP(WDHT-CNN) (per bits, seed)"),
    ]


def table3_claims(rows: list[dict], cfg: Config) -> list:
    """Claims of Table 3, one value per seed."""
    from cmlib.reporting import Claim

    m = {(r["setting"], r["seed"]): r["map"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    return [
        Claim(f"lambda3 = 0.1 drops MAP sharply (> {cfg.drop_threshold:g})", [m[1, s] - m[4, s] for s in seeds],
              ">", cfg.drop_threshold, "MAP(setting 1) - MAP(setting 4)"),
        Claim(f"lambda2 changes matter little (< {cfg.little_threshold:g})",
              [max(abs(m[2, s] - m[1, s]), abs(m[3, s] - m[1, s])) for s in seeds], "<", cfg.little_threshold,
              "max |MAP(setting 2 or 3) - MAP(setting 1)|"),
    ]


def table4_claims(rows: list[dict]) -> list:
    """Claims of Table 4 (8 bits), one value per seed; the cross-modal claim also for ``WHCMT-paper`` when present."""
    from cmlib.reporting import Claim

    m = {(r["method"], r["seed"]): r["map"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    out = [
        Claim("ViT backbone improves WDHT", [m["WDHT-ViT", s] - m["WDHT-CNN", s] for s in seeds], ">", 0.0,
              "MAP(WDHT-ViT) - MAP(WDHT-CNN)"),
        Claim("CrossViT backbone improves WDHT", [m["WDHT-CrossViT", s] - m["WDHT-CNN", s] for s in seeds], ">", 0.0,
              "MAP(WDHT-CrossViT) - MAP(WDHT-CNN)"),
        Claim("cross-modal attention adds over the CrossViT backbone alone",
              [m["WHCMT", s] - m["WDHT-CrossViT", s] for s in seeds], ">", 0.0, "MAP(WHCMT) - MAP(WDHT-CrossViT)"),
    ]
    if all(("WHCMT-paper", s) in m for s in seeds):  # the same claim for WHCMT trained as the paper states
        out.append(Claim("cross-modal attention adds over the CrossViT backbone alone (paper training, no tag dropout)",
                         [m["WHCMT-paper", s] - m["WDHT-CrossViT", s] for s in seeds], ">", 0.0,
                         "MAP(WHCMT-paper) - MAP(WDHT-CrossViT)"))
    return out


def flat_map(rows: list[dict]) -> dict[str, float]:
    """{"<method>_<bits>bits": mean MAP over seeds} for metrics.json."""
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(f"{r['method']}_{r['bits']}bits", []).append(r["map"])
    return {k: float(np.mean(v)) for k, v in out.items()}


def plot_map_vs_bits(rows: list[dict]):
    """MAP@K against code length, one line per method (mean over seeds)."""
    import matplotlib.pyplot as plt

    table = pivot_map(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bits = [c for c in table.columns if c != "method"]
    for _, r in table.iterrows():
        ax.plot(bits, [r[b] for b in bits], marker="o", label=r["method"])
    ax.set_xlabel("bits")
    ax.set_ylabel("MAP@K")
    ax.set_xticks(bits)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def table3_summary(rows: list[dict], literal: dict | None = None) -> list[dict]:
    """Mean MAP per Table 3 setting (+ the literal-sums run), with the difference to setting 1."""
    import pandas as pd

    df = pd.DataFrame(rows).groupby(["setting", "weights"], sort=True)["map"].mean().reset_index()
    base = float(df.loc[df["setting"] == 1, "map"].iloc[0])
    out = [{"setting": str(r.setting), "weights": r.weights, "map": float(r.map), "diff_vs_1": float(r.map) - base}
           for r in df.itertuples()]
    if literal is not None:
        out.append({"setting": literal["setting"], "weights": literal["weights"], "map": literal["map"],
                    "diff_vs_1": literal["map"] - base})
    return out


def table4_summary(rows: list[dict]) -> list[dict]:
    """Mean MAP per framework at 8 bits and the improvement (%) over WDHT's CNN, as in Table 4."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    df = frame.groupby("method", sort=False)["map"].mean()
    balance = frame.groupby("method", sort=False)["bit_balance"].mean() if "bit_balance" in frame else None
    base = float(df["WDHT-CNN"])
    return [{"method": m, "map": float(v), "improvement_pct": 100.0 * (float(v) - base) / base,
             **({"bit_balance": float(balance[m])} if balance is not None else {})} for m, v in df.items()]
