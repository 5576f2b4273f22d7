"""CLAREL tables, claims and figures: the rows of notebooks 01-04, their claims and Figures 2-4."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from cmlib.studies.clarel.config import Config
from cmlib.studies.clarel.data import ClarelData
from cmlib.studies.clarel.runs import evaluate_setting, h_curve, trained_scores


def gzsl_rows(cfg: Config, data: ClarelData) -> list[dict[str, Any]]:
    """01: the main model (cfg.lam, cfg.kappa) under the full protocol for every seed."""
    return [evaluate_setting(cfg, data, s, cfg.lam, cfg.kappa) for s in cfg.seeds]


def alpha_sweep_matrix(cfg: Config, data: ClarelData) -> np.ndarray:
    """02 / Figure 2: H (%) on the validation stage, (len(seeds), len(alphas))."""
    return np.array([h_curve(trained_scores(cfg, data, "val", s, cfg.lam, cfg.kappa), cfg.alphas)
                     for s in cfg.seeds])


def sweep_rows(cfg: Config, data: ClarelData, which: Literal["lambda", "kappa"]) -> list[dict[str, Any]]:
    """03 / Figures 3-4: the protocol over ``cfg.lambdas`` (kappa = cfg.kappa) or ``cfg.kappas`` (lambda = cfg.lam)."""
    grid = cfg.lambdas if which == "lambda" else cfg.kappas
    rows = []
    for v in grid:
        lam, kappa = (v, cfg.kappa) if which == "lambda" else (cfg.lam, v)
        rows += [evaluate_setting(cfg, data, s, lam, kappa) for s in cfg.seeds]
    return rows


ABLATION = [(False, 0.5, 0.5), (False, 0.5, 0.0), (True, 0.5, 0.0), (True, 0.0, 0.5), (True, 1.0, 0.5),
            (True, 0.5, 0.5)]


def ablation_rows(cfg: Config, data: ClarelData) -> list[dict[str, Any]]:
    """04 / Table 3: the six (alpha on/off, lambda, kappa) rows, one row per seed and line."""
    rows = []
    for line, (use_alpha, lam, kappa) in enumerate(ABLATION, start=1):
        for s in cfg.seeds:
            r = evaluate_setting(cfg, data, s, lam, kappa)
            k = "" if use_alpha else "0"
            rows.append({"line": line, "alpha": "validated" if use_alpha else "0", "lambda": lam, "kappa": kappa,
                         "seed": s, "u": r["u" + k], "s": r["s" + k], "H": r["H" + k]})
    return rows


def mean_table(rows: list[dict[str, Any]], by: list[str], cols: list[str]):
    """Mean over seeds of ``cols`` grouped by ``by`` (a DataFrame, rounded to 1 decimal like the paper)."""
    import pandas as pd

    df = pd.DataFrame(rows).groupby(by, sort=False)[cols].mean().reset_index()
    return df.round(1)


# ------------------------------------------------------------------------------------------ claims
def _pick(rows: list[dict[str, Any]], **where: float) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def gzsl_claims(rows: list[dict[str, Any]]) -> list:
    """01: H(alpha*) beats H(0), and the u/s gap shrinks, per seed."""
    from cmlib.reporting import Claim

    return [Claim("H at validated alpha beats H at alpha=0", [r["H"] - r["H0"] for r in rows], ">", 0.0,
                  "H(alpha*) - H(0) [points]"),
            Claim("metric rescaling shrinks the u/s gap", [abs(r["u0"] - r["s0"]) - abs(r["u"] - r["s"]) for r in rows],
                  ">", 0.0, "|u0 - s0| - |u - s| [points]"),
            Claim("at alpha=0 seen accuracy exceeds unseen (the imbalance of Eq. (2))",
                  [r["s0"] - r["u0"] for r in rows], ">", 0.0, "s(0) - u(0) [points]")]


def alpha_claims(alphas: list[float], h: np.ndarray) -> list:
    """02: H against alpha is an inverted U: the best interior alpha beats both ends of the grid, per repeat."""
    from cmlib.reporting import Claim

    if len(alphas) < 3:
        raise ValueError(f"an inverted U needs at least 3 alphas, got {alphas}")
    inner = h[:, 1:-1].max(axis=1)
    return [Claim("H against alpha is an inverted U", list(np.minimum(inner - h[:, 0], inner - h[:, -1])), ">", 0.0,
                  "min(H(best interior) - H(alpha_min), H(best interior) - H(alpha_max))")]


def sweep_claims(lam_rows: list[dict[str, Any]], kappa_rows: list[dict[str, Any]], seeds: list[int],
                 lam: float, kappa: float) -> list:
    """03: lambda=0 gives the lowest H of the lambda grid; kappa=1 collapses (H below half of H at kappa=cfg)."""
    from cmlib.reporting import Claim

    out = []
    lams = sorted({r["lambda"] for r in lam_rows})
    if 0.0 in lams and len(lams) > 1:
        gap = [min(_pick(lam_rows, seed=s, **{"lambda": v})[0]["H"] for v in lams if v != 0.0)
               - _pick(lam_rows, seed=s, **{"lambda": 0.0})[0]["H"] for s in seeds]
        out.append(Claim("lambda=0 gives the lowest H among lambda values", gap, ">", 0.0,
                         "min_{lambda>0} H - H(lambda=0) [points]"))
    kappas = {r["kappa"] for r in kappa_rows}
    if 1.0 in kappas and kappa in kappas:
        ratio = [_pick(kappa_rows, seed=s, kappa=1.0)[0]["H"] / max(_pick(kappa_rows, seed=s, kappa=kappa)[0]["H"], 1e-9)
                 for s in seeds]
        out.append(Claim("kappa=1 collapses", ratio, "<", 0.5, f"H(kappa=1) / H(kappa={kappa:g})"))
    return out


def ablation_claims(rows: list[dict[str, Any]], seeds: list[int]) -> list:
    """04: retrieval-only (kappa=0) with alpha is competitive (H >= 0.9 x full); the full loss with alpha is best;
    the classifier loss raises s at alpha=0."""
    from cmlib.reporting import Claim

    def h(line: int, s: int, key: str = "H") -> float:
        return _pick(rows, line=line, seed=s)[0][key]

    return [Claim("retrieval-only training (kappa=0) with alpha is competitive with the full loss",
                  [h(3, s) / max(h(6, s), 1e-9) for s in seeds], ">", 0.9, "H(line 3) / H(line 6)"),
            Claim("the full loss with validated alpha gives the best H (line 6)",
                  [h(6, s) - max(h(i, s) for i in range(1, 6)) for s in seeds], ">", 0.0,
                  "H(line 6) - max H(lines 1-5) [points]"),
            Claim("the classifier loss raises seen accuracy at alpha=0 (line 1 vs 2)",
                  [h(1, s, "s") - h(2, s, "s") for s in seeds], ">", 0.0, "s(line 1) - s(line 2) [points]")]


# ----------------------------------------------------------------------------------------- figures
def _ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% t half-width over axis 0 (half-width 0 with one repeat)."""
    from scipy import stats

    mean = values.mean(axis=0)
    if len(values) < 2:
        return mean, np.zeros_like(mean)
    return mean, stats.t.ppf(0.975, len(values) - 1) * values.std(axis=0, ddof=1) / np.sqrt(len(values))


def plot_alpha_sweep(alphas: list[float], h: np.ndarray):
    """Figure 2: H against alpha on the validation split, mean and 95% interval over repeats."""
    import matplotlib.pyplot as plt

    mean, half = _ci(h)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(alphas, mean, marker="o")
    ax.fill_between(alphas, mean - half, mean + half, alpha=0.25)
    ax.set(xlabel="alpha", ylabel="H on validation [%]", title=f"H against alpha ({len(h)} repeats, 95% CI)")
    return fig


def plot_sweep(rows: list[dict[str, Any]], which: Literal["lambda", "kappa"]):
    """Figures 3/4: H, u, s (validated alpha, test split) against lambda or kappa, mean over seeds."""
    import matplotlib.pyplot as plt

    table = mean_table(rows, [which], ["u", "s", "H"])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for col in ("H", "u", "s"):
        ax.plot(table[which], table[col], marker="o", label=col)
    ax.set(xlabel=which, ylabel="top-1 [%]", title=f"H, u, s against {which}")
    ax.legend()
    return fig


def gzsl_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tables 1-2 shape: mean u, s, H over seeds at alpha = 0 and at the validated alpha, with ZSL top-1."""
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("u0", "s0", "H0", "u", "s", "H", "zsl")}
    return [{"alpha": "0", "u": mean["u0"], "s": mean["s0"], "H": mean["H0"], "ZSL top-1": mean["zsl"]},
            {"alpha": "validated", "u": mean["u"], "s": mean["s"], "H": mean["H"], "ZSL top-1": mean["zsl"]}]
