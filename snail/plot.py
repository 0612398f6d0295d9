"""Learning curves of several runs, grouped by model: `python -m snail.plot runs/multirun/<date-time>`.

    python -m snail.plot runs/multirun/2026-01-01_12-00-00               # every run folder below it
    python -m snail.plot runs/bandit/snail/A runs/bandit/lstm/B --x wall  # given runs, wall-clock x axis
    python -m snail.plot runs/multirun/X --baseline thompson=74.7 --baseline gittins=78.3
    python -m snail.plot runs/multirun/X --baseline runs/bandit/snail/A/evaluation.json

A run folder is one with a `config.yaml` and TensorBoard logs (`tb/`) or `metrics.jsonl`. Curves are read
from the TensorBoard logs (tensorboard's EventAccumulator), or from `metrics.jsonl` when a run has no logs
of the tag. Runs are grouped by a config key (`--group-by`, default `model.name`): each group is drawn as the
mean over its runs (seeds) with a shaded spread (`--spread`: std, sem or minmax), its runs interpolated onto
a common x grid over the range all of them reached. Baselines are horizontal lines: `name=value`, or an
`evaluation.json` written by `evaluate.py` (its baseline rows' mean returns).

Writes one PNG (`--out`, default `learning_curves.png` in the folder given, or in the given folders' common
parent): `--size W H` inches at `--dpi`, i.e. W*dpi x H*dpi pixels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from snail.config import ConfigError  # noqa: E402
from snail.config.saved import load_saved_config  # noqa: E402
from snail.rundir import RunFolderError, read_metrics  # noqa: E402

DEFAULT_TAG = "eval/return"
WALL_TAG = "charts/wall_clock_s"


class PlotError(ValueError):
    """Nothing to plot, or inputs that cannot be read."""


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() and ((path / "tb").is_dir() or (path / "metrics.jsonl").is_file())


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders given, or found below the given folders (Hydra's .hydra folders skipped), sorted."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise PlotError(f"{str(p)!r} does not exist")
        if is_run_dir(p):
            runs.append(p)
            continue
        found = sorted(c.parent for c in p.rglob("config.yaml") if ".hydra" not in c.parts and is_run_dir(c.parent))
        if not found:
            raise PlotError(f"no run folders (config.yaml with tb/ or metrics.jsonl) in {str(p)!r}")
        runs.extend(found)
    return sorted(dict.fromkeys(runs))


def _from_tensorboard(tb_dir: Path, tags: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    available = set(acc.Tags().get("scalars", []))
    out = {}
    for tag in tags:
        if tag in available:
            events = acc.Scalars(tag)
            steps = np.array([e.step for e in events], dtype=np.float64)
            values = np.array([e.value for e in events], dtype=np.float64)
            order = np.argsort(steps, kind="stable")  # a resumed run may append out of order
            steps, values = steps[order], values[order]
            keep = np.r_[steps[1:] != steps[:-1], True]  # last value of a step wins
            out[tag] = (steps[keep], values[keep])
    return out


def _from_jsonl(path: Path, tags: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        rows = read_metrics(path, warn=lambda message: print(message, file=sys.stderr))
    except RunFolderError as err:
        raise PlotError(str(err)) from None
    out = {}
    for tag in tags:
        pts = [(r["env_steps"], r[tag]) for r in rows if tag in r and r.get(tag) is not None]
        if pts:
            steps, values = map(np.asarray, zip(*pts, strict=True))
            out[tag] = (steps.astype(np.float64), values.astype(np.float64))
    return out


def read_curve(run_dir: str | Path, tag: str = DEFAULT_TAG, x: str = "steps") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of scalar `tag` of a run: x in env steps (`x="steps"`) or wall-clock minutes (`x="wall"`, from
    the run's own `charts/wall_clock_s`, which carries over a resume). TensorBoard logs first, then
    metrics.jsonl."""
    run_dir = Path(run_dir)
    tags = [tag] + ([WALL_TAG] if x == "wall" else [])
    curves: dict = {}
    if (run_dir / "tb").is_dir():
        curves = _from_tensorboard(run_dir / "tb", tags)
    if any(t not in curves for t in tags) and (run_dir / "metrics.jsonl").is_file():
        curves = {**_from_jsonl(run_dir / "metrics.jsonl", tags), **curves}
    if tag not in curves:
        raise PlotError(f"run {str(run_dir)!r} has no {tag!r} scalars")
    steps, values = curves[tag]
    if x == "steps":
        return steps, values
    if WALL_TAG not in curves:
        raise PlotError(f"run {str(run_dir)!r} has no {WALL_TAG!r} scalars for --x wall")
    wall_steps, wall = curves[WALL_TAG]
    return np.interp(steps, wall_steps, wall) / 60.0, values


def run_group(run_dir: Path, key: str) -> str:
    try:  # read as plain values: a received run's interpolations are refused, never resolved
        cfg = load_saved_config(run_dir / "config.yaml")
    except ConfigError as err:
        raise PlotError(str(err)) from None
    value = OmegaConf.select(cfg, key, default=None)
    if value is None:
        raise PlotError(f"{run_dir / 'config.yaml'} has no {key!r}")
    return str(value)


def aggregate(curves: Sequence[tuple[np.ndarray, np.ndarray]], spread: str = "std", points: int = 200
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean, low, high) of several runs' curves on a common grid over the x range every run reached
    (one run: its own points, no spread)."""
    if len(curves) == 1:
        x, y = curves[0]
        return x, y, y, y
    lo, hi = max(c[0][0] for c in curves), min(c[0][-1] for c in curves)
    if hi <= lo:
        lo, hi = min(c[0][0] for c in curves), max(c[0][-1] for c in curves)
    grid = np.linspace(lo, hi, points)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    mean = ys.mean(0)
    if spread == "minmax":
        return grid, mean, ys.min(0), ys.max(0)
    dev = ys.std(0, ddof=1)
    if spread == "sem":
        dev = dev / math.sqrt(len(curves))
    return grid, mean, mean - dev, mean + dev


def parse_baselines(specs: Sequence[str]) -> dict[str, float]:
    """`name=value` or an evaluation.json (its baseline rows' mean return) -> {name: value}."""
    out: dict[str, float] = {}
    for spec in specs:
        if "=" in spec and not Path(spec).is_file():
            name, value = spec.split("=", 1)
            try:
                out[name] = float(value)
            except ValueError:
                raise PlotError(f"--baseline {spec!r}: {value!r} is not a number") from None
            continue
        path = Path(spec)
        if not path.is_file():
            raise PlotError(f"--baseline {spec!r} is neither name=value nor an evaluation.json file")
        try:
            report = json.loads(path.read_text())
            rows = [r for r in report["rows"] if r["kind"] == "baseline"]
            out.update({r["policy"]: float(r["metrics"]["return"]) for r in rows})
        except (ValueError, KeyError, TypeError) as err:
            raise PlotError(f"--baseline {spec!r} is not an evaluation.json of evaluate.py ({err})") from None
    return out


def draw_groups(ax, groups: dict[str, list[tuple[np.ndarray, np.ndarray]]], x: str = "steps",
                ylabel: str = DEFAULT_TAG, baselines: dict[str, float] | None = None, spread: str = "std") -> None:
    """Draw curves on `ax`: one line per group (the mean over its runs, shaded spread), in name order, and each
    baseline as a horizontal line. `groups`: {name: [(x, y) of each run]} (`read_curve`)."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, curves) in enumerate(sorted(groups.items())):
        gx, mean, low, high = aggregate(curves, spread)
        color = colors[i % len(colors)]
        label = f"{name} ({len(curves)} run{'s' if len(curves) > 1 else ''})"
        ax.plot(gx, mean, color=color, lw=1.8, label=label)
        if len(curves) > 1:
            ax.fill_between(gx, low, high, color=color, alpha=0.2, lw=0)
    styles = ["--", ":", "-."]
    for j, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, color=colors[(len(groups) + j) % len(colors)], lw=1.1, ls=styles[j % len(styles)],
                   label=f"{name} ({value:g})")
    ax.set_xlabel("env steps" if x == "steps" else "wall-clock minutes")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


SPREAD_TEXT = {"std": "mean ± std", "sem": "mean ± s.e.m.", "minmax": "mean, min-max"}


def check_options(x: str = "steps", spread: str = "std") -> None:
    if x not in ("steps", "wall"):
        raise PlotError(f"x={x!r} is invalid: expected steps or wall")
    if spread not in SPREAD_TEXT:
        raise PlotError(f"spread={spread!r} is invalid: expected std, sem or minmax")


def save_figure(fig, out: str | Path, dpi: int) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def plot_curves(runs: Sequence[str | Path], out: str | Path, tag: str = DEFAULT_TAG, x: str = "steps",
                group_by: str = "model.name", baselines: dict[str, float] | None = None, spread: str = "std",
                size: tuple[float, float] = (8.0, 5.0), dpi: int = 100, title: str | None = None) -> Path:
    """Draw the runs' `tag` curves, one line per group (mean, shaded spread), baselines as horizontal lines;
    save a PNG of size[0]*dpi x size[1]*dpi pixels at `out`."""
    check_options(x, spread)
    groups: dict[str, list] = {}
    for run in map(Path, runs):
        groups.setdefault(run_group(run, group_by), []).append(read_curve(run, tag, x))
    if not groups:
        raise PlotError("no runs to plot")
    fig, ax = plt.subplots(figsize=size, dpi=dpi, layout="constrained")
    draw_groups(ax, groups, x, tag, baselines, spread)
    ax.set_title(title or f"{tag} by {group_by} ({SPREAD_TEXT[spread]} over runs)", fontsize=10)
    return save_figure(fig, out, dpi)


def default_out(paths: Sequence[str | Path]) -> Path:
    if len(paths) == 1:
        return Path(paths[0]) / "learning_curves.png"
    return Path(os.path.commonpath([str(Path(p).resolve()) for p in paths])) / "learning_curves.png"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snail.plot", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="run folders, or folders holding run folders (multirun)")
    parser.add_argument("--out", help="PNG path (default: learning_curves.png in the folder given)")
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"scalar to plot (default {DEFAULT_TAG})")
    parser.add_argument("--x", choices=["steps", "wall"], default="steps", help="x axis: env steps or minutes")
    parser.add_argument("--group-by", default="model.name", help="config key grouping runs (default model.name)")
    parser.add_argument("--spread", choices=["std", "sem", "minmax"], default="std")
    parser.add_argument("--baseline", action="append", default=[], metavar="NAME=VALUE|evaluation.json",
                        help="a horizontal line (repeatable)")
    parser.add_argument("--size", nargs=2, type=float, default=(8.0, 5.0), metavar=("W", "H"),
                        help="figure size in inches (default 8 5)")
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--title")
    args = parser.parse_args(argv)
    try:
        runs = find_runs(args.paths)
        out = plot_curves(runs, args.out or default_out(args.paths), tag=args.tag, x=args.x,
                          group_by=args.group_by, baselines=parse_baselines(args.baseline), spread=args.spread,
                          size=tuple(args.size), dpi=args.dpi, title=args.title)
    except (PlotError, OSError) as err:
        print(f"snail.plot: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
