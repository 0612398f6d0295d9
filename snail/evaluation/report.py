"""The evaluation report: rows of metrics per policy, as a console table, Markdown and JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from snail.envs import env_name_of
from snail.metrics import summarize
from snail.rundir import atomic_write


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def make_row(name: str, kind: str, params: Mapping, results: Mapping[str, np.ndarray], env_name: str) -> dict:
    return {"policy": name, "kind": kind, "params": dict(params), "metrics": summarize(results, env_name)}


def columns(env_name: str, episodes: int = 2) -> list[tuple[str, str, int]]:
    """(metric key, header, decimals) of the table's columns for an env."""
    env = env_name_of(env_name)
    cols = [("return", "return", 2)]
    if env == "bandit":
        cols += [("regret", "regret", 2), ("best_arm_fraction", "best arm %", 1)]
    elif env == "tabular_mdp":
        cols += [("normalized", "score / VI", 3)]
    else:
        for k in range(1, episodes + 1):
            cols += [(f"steps_ep{k}", f"steps ep{k}", 1), (f"success_ep{k}", f"success ep{k}", 2),
                     (f"path_ratio_ep{k}", f"steps/shortest ep{k}", 2),
                     (f"on_shortest_ep{k}", f"shortest % ep{k}", 1)]
        for k in range(2, episodes + 1):
            cols += [(f"steps_ep{k}_minus_ep1", f"ep{k} - ep1 steps", 1),
                     (f"repeats_detour_ep{k}", f"ep{k} repeats ep1's detour %", 1)]
    return cols


def _cell(metrics: Mapping, key: str, decimals: int) -> str:
    value, ci = metrics.get(key), metrics.get(f"{key}_ci95")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    scale = 100.0 if key == "best_arm_fraction" or key.startswith(("on_shortest_ep", "repeats_detour_ep")) else 1.0
    text = f"{value * scale:.{decimals}f}"
    if ci is not None and isinstance(ci, float) and math.isfinite(ci):
        text += f" ± {ci * scale:.{decimals}f}"
    return text


def _params_text(params: Mapping) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def table_rows(report: Mapping) -> tuple[list[str], list[list[str]]]:
    cols = columns(report["env"]["name"], report.get("episodes", 2))
    header = ["policy", "settings"] + [h for _, h, _ in cols]
    body = [[row["policy"], _params_text(row["params"]) or "-"] + [_cell(row["metrics"], k, d) for k, _, d in cols]
            for row in report["rows"]]
    return header, body


def format_table(report: Mapping) -> str:
    """The table as aligned plain text (for the console)."""
    header, body = table_rows(report)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_markdown(report: Mapping) -> str:
    header, body = table_rows(report)
    seeds = report["seeds"]
    source = f"run `{report['run']}` (`{Path(report['checkpoint']).name}`" + (
        f", {report['env_steps']:,} env steps)" if report.get("env_steps") is not None else ")"
    ) if report.get("run") else "baselines only"
    options = ", ".join(f"{k}={v}" for k, v in report["env"].items() if k not in ("name", "id"))
    lines = [
        f"# Evaluation: {report['env']['name']}",
        "",
        f"{source}; env `{report['env']['id']}` ({options}); {report['trials']} held-out trials, env seeds "
        f"{seeds['first']}..{seeds['last']} (the same for every row); mean ± 95% confidence interval.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    if any(r["params"] for r in report["rows"] if r["kind"] == "baseline"):
        lines += ["", f"Tunable baselines: best of a grid on {report['tune_trials']} tuning trials "
                      "(other seeds)."]
    return "\n".join(lines) + "\n"


def write_report(report: Mapping, out_dir: str | Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    atomic_write(json_path, json.dumps(_jsonable(report), indent=2) + "\n")
    atomic_write(md_path, to_markdown(report))
    return json_path, md_path
