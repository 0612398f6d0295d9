"""`python -m snail.report`: SNAIL vs Transformer vs LSTM on the papers' tasks, over seeds, in one table per task
cell, next to the papers' numbers and the classical baselines.

    python -m snail.report runs/multirun/<date-time>                       # every run below the folder
    python -m snail.report runs/multirun/A runs/multirun/B --out results/bandit_table
    python -m snail.report runs/multirun/A --trials 1000 --checkpoint last --reuse
    python -m snail.report runs/multirun/C --include results/earlier/report.json --out results/together

1. Finds the runs (`snail.plot.find_runs`: folders with a config.yaml and TensorBoard logs or metrics.jsonl).
2. Evaluates each run's checkpoint (`--checkpoint best|last`; best falls back to last) on `--trials` held-out
   trials through `snail.evaluation.evaluate` (baseline=none), which writes the run's `evaluation.json` and
   `evaluation.md` as `python evaluate.py run=<run> baseline=none` would. With `--reuse` an up-to-date
   evaluation.json is read instead: the same checkpoint file (name, size, modification time, env steps) and the
   same trials, seed and batching.
3. Groups the runs by env cell (the env's name and options: bandit arms and pulls, ...) and model (`model.name`
   and its options that differ from what `python train.py env=<env> model=<name>` composes). A group's runs
   must differ in seed only: other differences (an algo setting, the budget) and two runs with one seed are
   one-line errors.
4. Plays the classical baselines once per env cell on the same held-out trials (bandit: random, UCB1,
   Thompson, Gittins, and oracle_bayes where the horizon allows; tabular MDP: random, PSRL, oracle; maze:
   random, explorer, wall_follower, oracle), tuning the tunable ones first on `--tune-trials` tuning trials.
5. With `--include REPORT.json` (repeatable), adds the model groups of an earlier report to their env cells,
   as they stand there (their runs are not read again, so they have no curves here): for runs deleted since, or
   one table over sweeps made at different times. The earlier report must have the same checkpoint, trials,
   seed and batching; a model group of a cell may come from one source only. Its baselines serve a cell that
   has no runs; with `--reuse` they also serve the runs' cells when `--out` holds none (the same trials).
6. Writes into `--out` (default: `report/` in the folder given, or in the given folders' common parent)
   `report.md`, `report.json` and per env cell `curves_<cell>.png` (eval return against env steps and against
   wall-clock minutes, mean and std over seeds per model, baselines as horizontal lines).

Per group and metric (return; bandit regret; tabular MDP return / value iteration; maze steps in inner
episodes 1 and 2 and their difference): the mean over seeds of each run's mean over the trials with a Student-t
95% CI, every seed's value, and the interquartile mean over seeds with a stratified-bootstrap 95% CI (rliable's
robust statistic, `snail.metrics.seed_stats`; with fewer than 4 seeds the IQM is the mean). Baselines: one
evaluation each, mean ± 95% CI over trials. The papers' SNAIL and RL² results for the cell come from
`snail.paper`. The same runs and options give the same files.

Errors the user can fix (no runs, a run without checkpoints, a group mixing settings, an included report made
with other settings or repeating a group, a bad option) end the
program with one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from snail import paper, plot
from snail.checkpoint import CheckpointError, load_checkpoint
from snail.config.env import ENV_CONFIGS
from snail.config.evaluate import CHECKPOINTS, EvaluateConfig
from snail.envs import env_id_of, env_name_of, env_options
from snail.evaluation import EvaluationError
from snail.evaluation import evaluate as evaluate_run
from snail.evaluation.baselines import unavailable
from snail.evaluation.cli import checkpoint_file
from snail.evaluation.report import _jsonable
from snail.evaluation.runs import one_line, resolve_run_path
from snail.evaluation.score import evaluate_baseline
from snail.metrics import seed_stats, summarize
from snail.trials import EVAL_SEED_OFFSET

# The baselines played once per env cell, in table order.
CELL_BASELINES = {"bandit": ["random", "ucb1", "thompson", "gittins", "oracle_bayes"],
                  "tabular_mdp": ["random", "psrl", "oracle"],
                  "maze": ["random", "explorer", "wall_follower", "oracle"]}
# (metric, header, decimals) of each env's table; its primary metric (per seed, IQM) first among them.
TABLE_METRICS = {
    "bandit": [("return", "return", 2), ("regret", "regret", 2)],
    "tabular_mdp": [("return", "return", 1), ("normalized", "return / VI", 3)],
    "maze": [("steps_ep1", "steps ep1", 1), ("steps_ep2", "steps ep2", 1), ("steps_ep2_minus_ep1", "ep2 − ep1", 1)],
}
PRIMARY = {"bandit": "return", "tabular_mdp": "normalized", "maze": "steps_ep2_minus_ep1"}
# Config keys that do not change what a run learns: runs of one group may differ in them (and in seed).
BOOKKEEPING = ("seed", "device", "resume", "run.progress", "run.torch_threads", "run.checkpoint_every",
               "run.eval_every", "run.eval_trials", "logger")
BOOTSTRAP_REPS = 10_000


class ReportError(ValueError):
    """Something the user can fix: printed as one line by `python -m snail.report`."""


@dataclass
class Run:
    path: Path
    config: dict  # config.yaml, resolved
    checkpoint: Path
    env: str  # env name
    options: dict  # env options (the env config minus name and id)
    model: str  # the group's model label: model.name (non-default options)
    evaluation: dict = field(default_factory=dict)  # the agent row's metrics
    env_steps: int | None = None  # of the evaluated checkpoint
    finished: bool | None = None  # last.pt reached the run's budget (None: no last.pt)

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def cell(self) -> tuple:
        return (self.env, tuple(sorted(self.options.items())))


# ------------------------------------------------------------------------------------------- runs, groups


def _flat(mapping: Mapping, prefix: str = "") -> dict:
    out = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


_DEFAULT_MODELS: dict[tuple[str, str], dict] = {}


def default_model(env: str, name: str) -> dict:
    """The model config `python train.py env=<env> model=<name>` composes ({} for a model the code lacks)."""
    if (env, name) not in _DEFAULT_MODELS:
        from snail.config.schemas import compose_config

        try:
            cfg = compose_config("config", [f"env={env}", f"model={name}"])
            _DEFAULT_MODELS[env, name] = OmegaConf.to_container(cfg.model, resolve=True)
        except Exception:  # Hydra's composition errors: an old run of a model since renamed
            _DEFAULT_MODELS[env, name] = {}
    return _DEFAULT_MODELS[env, name]


def model_label(env: str, model_cfg: Mapping) -> str:
    """model.name, with the options that differ from the composed default in brackets: `lstm (cell=gru)`."""
    name = str(model_cfg.get("name"))
    default = default_model(env, name)
    changed = [f"{k}={v}" for k, v in model_cfg.items() if k != "name" and (k not in default or default[k] != v)]
    return f"{name} ({', '.join(changed)})" if changed else name


def cell_label(env: str, options: Mapping) -> str:
    """`bandit: arms=5, pulls=100`: the cell's size options and every option that differs from the env default."""
    shown = {"bandit": ["arms", "pulls"], "tabular_mdp": ["episodes"], "maze": ["preset"]}[env]
    defaults = ENV_CONFIGS[env]()
    keys = shown + [k for k, v in options.items() if k not in shown and getattr(defaults, k, None) != v]
    return f"{env}: " + ", ".join(f"{k}={options[k]}" for k in keys if k in options)


def cell_slug(env: str, options: Mapping) -> str:
    text = cell_label(env, options).replace(": ", "_").replace(", ", "_").replace("=", "-")
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def load_runs(paths: Sequence[str | Path], checkpoint: str) -> list[Run]:
    """Every run below `paths`, its config, env cell, model label and checkpoint (checked before any work)."""
    try:
        found = plot.find_runs(paths)
    except plot.PlotError as err:
        raise ReportError(str(err)) from None
    runs = []
    for path in found:
        try:
            cfg = OmegaConf.to_container(OmegaConf.load(path / "config.yaml"), resolve=True)
        except Exception as err:  # yaml's and OmegaConf's errors
            raise ReportError(f"{path / 'config.yaml'} is not a readable config: {one_line(err)}") from None
        if not isinstance(cfg, dict) or not all(isinstance(cfg.get(k), dict) for k in ("env", "model")):
            raise ReportError(f"{path / 'config.yaml'} has no env or model section: is {str(path)!r} a run folder?")
        _, ckpt = resolve_run_path(path, checkpoint)
        env = env_name_of(cfg["env"].get("id", cfg["env"].get("name")))
        runs.append(Run(path, cfg, ckpt, env, env_options(cfg["env"]), model_label(env, cfg["model"])))
    return runs


def group_runs(runs: Sequence[Run]) -> dict[tuple, dict[str, list[Run]]]:
    """{env cell: {model label: [runs, by seed]}}; a group's runs must differ only in seed (and BOOKKEEPING)."""
    cells: dict[tuple, dict[str, list[Run]]] = {}
    for run in runs:
        cells.setdefault(run.cell, {}).setdefault(run.model, []).append(run)
    for models in cells.values():
        for label, members in models.items():
            members.sort(key=lambda r: (r.seed, str(r.path)))
            _check_group(label, members)
    return dict(sorted(cells.items(), key=lambda item: _natural(item[0])))


def _natural(value):
    """A sort key that orders numbers by value (arms=5 before arms=10) and never compares unlike types."""
    if isinstance(value, (tuple, list)):
        return tuple(_natural(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def _kept(cfg: Mapping) -> dict:
    return {k: v for k, v in _flat(cfg).items()
            if not any(k == b or k.startswith(f"{b}.") for b in BOOKKEEPING)}


def _check_group(label: str, runs: Sequence[Run]) -> None:
    first = runs[0]
    where = f"{cell_label(first.env, first.options)} / {label}"
    reference, seeds = _kept(first.config), {}
    for run in runs:
        if run.seed in seeds:
            raise ReportError(f"runs {str(seeds[run.seed].path)!r} and {str(run.path)!r} of group {where!r} have "
                              f"the same seed {run.seed}: a group holds one run per seed (copies of one run?)")
        seeds[run.seed] = run
        other = _kept(run.config)
        for key in sorted(set(reference) | set(other)):
            if reference.get(key) != other.get(key):
                raise ReportError(
                    f"runs of group {where!r} differ in {key}: {reference.get(key)!r} in {str(first.path)!r}, "
                    f"{other.get(key)!r} in {str(run.path)!r}; a group's runs may differ only in seed: report "
                    "them separately")


# --------------------------------------------------------------------------------------------- evaluation


def _agent_row(report: Mapping) -> dict | None:
    return next((r for r in report.get("rows", []) if r.get("kind") == "agent"
                 and not r.get("params", {}).get("memory_ablation")), None)


def _up_to_date(run: Run, settings: EvaluateConfig, env_steps: int | None) -> dict | None:
    """The run's evaluation.json if it evaluated this very checkpoint file with these settings, else None."""
    path = run.path / "evaluation.json"
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
    except ValueError:
        return None
    same = (report.get("checkpoint_file") == checkpoint_file(run.checkpoint)
            and report.get("env_steps") == env_steps and report.get("trials") == settings.trials
            and report.get("seed") == settings.seed and report.get("num_envs") == settings.num_envs
            and report.get("greedy") is False and report.get("env") == run.config["env"])
    return report if same and _agent_row(report) else None


def _counters(path: Path) -> dict:
    return dict(load_checkpoint(path, map_location="cpu").get("counters") or {})


def _finished(run: Run) -> bool | None:
    last = run.path / "last.pt"
    if not last.is_file():
        return None
    counters, budget = _counters(last), run.config.get("run", {})
    minutes = budget.get("max_minutes")
    return bool(counters.get("env_steps", 0) >= budget.get("total_env_steps", math.inf)
                or (minutes is not None and counters.get("wall_clock_s", 0.0) >= 60 * minutes))


def evaluate_runs(runs: Sequence[Run], settings: EvaluateConfig, reuse: bool, log=print) -> None:
    """Fill each run's `evaluation` (its agent row's metrics), `env_steps` and `finished`."""
    for i, run in enumerate(runs):
        env_steps = _counters(run.checkpoint).get("env_steps")
        report = _up_to_date(run, settings, env_steps) if reuse else None
        if report is not None:
            log(f"[{i + 1}/{len(runs)}] {run.path}: reusing its evaluation.json")
        else:
            log(f"[{i + 1}/{len(runs)}] {run.path}: evaluating {run.checkpoint.name} on {settings.trials} trials")
            cfg = {"run": str(run.checkpoint), "baseline": "none", "trials": settings.trials, "seed": settings.seed,
                   "num_envs": settings.num_envs, "out_dir": str(run.path)}
            report, _ = evaluate_run(cfg, log=lambda *a: None)
        run.evaluation = _agent_row(report)["metrics"]
        run.env_steps = report.get("env_steps")
        run.finished = _finished(run)


def evaluate_baselines(env: str, options: Mapping, settings: EvaluateConfig, previous: Mapping | None,
                       log=print) -> list[dict]:
    """The cell's baselines on the same held-out trials (rows as in evaluation.json); `previous` (the same
    cell of an earlier report.json with the same settings) is reused when given."""
    if previous is not None:
        log(f"{cell_label(env, options)}: reusing the baselines of an earlier report.json on the same trials")
        return list(previous["baselines"])
    rows = []
    for name in CELL_BASELINES[env]:
        if unavailable(name, env, options):
            continue
        log(f"{cell_label(env, options)}: baseline {name}")
        params, results = evaluate_baseline(name, env_id_of(env), options, settings.trials, settings.seed,
                                            settings.num_envs, settings.tune_trials)
        rows.append({"policy": name, "params": params, "metrics": summarize(results, env)})
    return rows


# ------------------------------------------------------------------------------------------------- tables


def _metric_names(env: str) -> list[str]:
    return [key for key, _, _ in TABLE_METRICS[env]]


def group_summary(label: str, runs: Sequence[Run]) -> dict:
    metrics = {}
    for key in _metric_names(runs[0].env):
        values = [r.evaluation.get(key) for r in runs]
        if all(v is not None and math.isfinite(v) for v in values):
            metrics[key] = {**seed_stats(values, BOOTSTRAP_REPS, seed=0), "per_seed": values}
    return {"model": label, "model_config": runs[0].config["model"], "seeds": [r.seed for r in runs],
            "env_steps": [r.env_steps for r in runs], "metrics": metrics,
            "runs": [{"run": str(r.path), "seed": r.seed, "checkpoint": r.checkpoint.name, "env_steps": r.env_steps,
                      "finished": r.finished, "metrics": {k: r.evaluation.get(k) for k in _metric_names(r.env)},
                      "metrics_ci95": {k: r.evaluation.get(f"{k}_ci95") for k in _metric_names(r.env)}}
                     for r in runs]}


def _num(value: float | None, decimals: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"


def _pm(value, ci, decimals: int) -> str:
    text = _num(value, decimals)
    return text if text == "-" or ci is None or not math.isfinite(ci) else f"{text} ± {ci:.{decimals}f}"


def _steps(values: Sequence[int | None]) -> str:
    """The runs' mean env steps: `10.00 M`, or `1,280` below a million."""
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    mean = float(np.mean(known))
    return f"{mean / 1e6:.2f} M" if mean >= 1e6 else f"{mean:,.0f}"


def cell_markdown(cell: Mapping, settings: Mapping) -> list[str]:
    env = cell["env"]["name"]
    cols = TABLE_METRICS[env]
    primary = PRIMARY[env]
    p_header = next(h for k, h, _ in cols if k == primary)
    p_decimals = next(d for k, _, d in cols if k == primary)
    header = ["policy", "runs", "env steps", *[h for _, h, _ in cols], f"{p_header} per seed",
              f"IQM {p_header} [95% CI]"]
    lines = [f"## {cell['label']}", ""]
    if cell.get("figure"):
        lines += [f"![learning curves]({cell['figure']})", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    unfinished = single = False
    sources = sorted({group["source"] for group in cell["models"] if group.get("source")})
    for group in cell["models"]:
        m, runs = group["metrics"], group["runs"]
        per_seed = []
        for run in runs:
            mark = "*" if run["finished"] is False else ""
            unfinished |= bool(mark)
            per_seed.append(f"s{run['seed']}{mark} {_num(run['metrics'].get(primary), p_decimals)}")
        iqm = m.get(primary)
        iqm_text = (f"{iqm['iqm']:.{p_decimals}f} [{iqm['iqm_ci95'][0]:.{p_decimals}f}, "
                    f"{iqm['iqm_ci95'][1]:.{p_decimals}f}]") if iqm and len(runs) > 1 else "-"
        if len(runs) == 1:  # no spread over seeds: the run's own CI over its trials, marked
            single = True
            values = [_pm(runs[0]["metrics"].get(k), runs[0]["metrics_ci95"].get(k), d) + " †" for k, _, d in cols]
        else:
            values = [_pm(m[k]["mean"], m[k]["ci95"], d) if k in m else "-" for k, _, d in cols]
        name = f"**{group['model']}**" + (" ‡" if group.get("source") else "")
        lines.append("| " + " | ".join([name, str(len(runs)), _steps(group["env_steps"]),
                                         *values, ", ".join(per_seed), iqm_text]) + " |")
    for row in cell["baselines"]:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        name = f"{row['policy']} ({params})" if params else row["policy"]
        m = row["metrics"]
        lines.append("| " + " | ".join([name, "baseline", "-",
                                         *[_pm(m.get(k), m.get(f"{k}_ci95"), d) for k, _, d in cols], "-", "-"])
                     + " |")
    for row in (cell["paper"] or {}).get("rows", []):
        m = row["metrics"]
        lines.append("| " + " | ".join([row["policy"], "paper", "-",
                                         *[_pm(m.get(k), m.get(f"{k}_ci95"), d) for k, _, d in cols], "-", "-"])
                     + " |")
    lines.append("")
    notes = [f"{settings['trials']} held-out trials (env seeds {cell['eval_seeds']['first']}.."
             f"{cell['eval_seeds']['last']}), the same for every row. Models (bold): mean ± 95% CI (Student t) "
             "over seeds of each run's mean over the trials, every seed's value, and the interquartile mean over "
             "seeds with a 95% stratified-bootstrap CI (equal to the mean below 4 seeds). Baselines: one "
             "evaluation, mean ± 95% CI over the trials; tunable ones tuned on "
             f"{settings['tune_trials']} other trials per setting."]
    if single:
        notes.append("†: one seed only: the ± is that run's 95% CI over the trials, not a spread over seeds.")
    if sources:
        notes.append("‡: as evaluated in an earlier report (" + ", ".join(f"`{s}`" for s in sources) + "), "
                     "included with `--include`: the same trials and checkpoint, its runs not read again (no curve "
                     "in the figure).")
    if unfinished:
        notes.append("*: the run had not reached its budget (its last.pt); its checkpoint was evaluated as it is.")
    if cell["paper"]:
        notes.append(f"Paper rows: {cell['paper']['note']} (snail/paper.py).")
    return lines + [line for note in notes for line in (note, "")]


def to_markdown(report: Mapping) -> str:
    s = report["settings"]
    lines = ["# SNAIL vs Transformer vs LSTM", "",
             f"`{report['command']}`", "",
             f"{s['runs']} runs; checkpoint `{s['checkpoint']}` of each, evaluated on {s['trials']} held-out "
             f"trials (seed {s['seed']}).", ""]
    for cell in report["cells"]:
        lines += cell_markdown(cell, s)
    return "\n".join(lines)


def _cell_figure(cell_runs: Mapping[str, list[Run]], baselines: Sequence[Mapping], out: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.5), dpi=100, layout="constrained")
    lines = {row["policy"]: float(row["metrics"]["return"]) for row in baselines}
    for ax, x in zip(axes, ("steps", "wall"), strict=True):
        groups = {label: [plot.read_curve(r.path, plot.DEFAULT_TAG, x) for r in runs]
                  for label, runs in cell_runs.items()}
        plot.draw_groups(ax, groups, x, "eval return (mean over the validation trials)", lines, "std")
    fig.suptitle(f"{title} (mean ± std over seeds)", fontsize=10)
    return plot.save_figure(fig, out, 100)


# ------------------------------------------------------------------------------------------------ command


def default_out(paths: Sequence[str | Path]) -> Path:
    return plot.default_out(paths).parent / "report"


def _cell_key(env_cfg: Mapping) -> str:
    return json.dumps(_jsonable(env_cfg), sort_keys=True)


def _previous_cells(out: Path, settings: Mapping) -> dict:
    """Cells of an earlier report.json in `out` made with the same evaluation settings (for --reuse)."""
    path = out / "report.json"
    try:
        old = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}
    keys = ("trials", "seed", "num_envs", "tune_trials")
    if any(old.get("settings", {}).get(k) != settings[k] for k in keys):
        return {}
    return {_cell_key(c["env"]): c for c in old.get("cells", [])}


# What an included report must share with this one for its numbers to stand in the same table.
INCLUDE_SETTINGS = ("checkpoint", "trials", "seed", "num_envs")


def load_included(path: str | Path, settings: Mapping) -> dict:
    """An earlier report.json for `--include`, checked to have been made with this report's evaluation settings."""
    path = Path(path)
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"--include {str(path)!r} does not exist") from None
    except (OSError, ValueError) as err:
        raise ReportError(f"--include {str(path)!r} is not a readable report.json: {one_line(err)}") from None
    if not isinstance(old, dict) or not isinstance(old.get("cells"), list) or not isinstance(old.get("settings"), dict):
        raise ReportError(f"--include {str(path)!r} is not a report.json of snail.report (no settings or cells)")
    for key in INCLUDE_SETTINGS:
        if old["settings"].get(key) != settings[key]:
            raise ReportError(f"--include {str(path)!r} was made with {key}={old['settings'].get(key)!r}, this "
                              f"report uses {key}={settings[key]!r}: include only reports of the same "
                              f"{', '.join(INCLUDE_SETTINGS)}")
    return old


def check_sources(cells: Mapping[tuple, Mapping[str, list[Run]]], included: Mapping[str, Mapping]) -> None:
    """A model group of an env cell may come from the runs or from one included report, not from two."""
    sources = {(_cell_key(next(iter(models.values()))[0].config["env"]), label): "the runs given"
               for models in cells.values() for label in models}
    for path, old in included.items():
        for old_cell in old["cells"]:
            for group in old_cell["models"]:
                where = (_cell_key(old_cell["env"]), group["model"])
                if where in sources:
                    raise ReportError(f"group {old_cell['label']!r} / {group['model']!r} is both in --include "
                                      f"{path!r} and in {sources[where]}: a group may come from one source only")
                sources[where] = repr(path)


def merge_included(cells: dict[str, dict], path: str, old: Mapping) -> None:
    """Adds the model groups of an included report (`old`, read from `path`) to `cells` ({cell key: cell}),
    marking each with its source; a cell only there comes with its own baselines and no figure."""
    for old_cell in old["cells"]:
        cell = cells.setdefault(_cell_key(old_cell["env"]), {**old_cell, "models": [], "figure": None})
        cell["models"] = sorted([*cell["models"], *({**group, "source": path} for group in old_cell["models"])],
                                key=lambda g: g["model"])


def _cell_order(cell: Mapping):
    env_cfg = cell["env"]
    env = env_name_of(env_cfg.get("id", env_cfg.get("name")))
    return _natural((env, tuple(sorted(env_options(env_cfg).items()))))


def build_report(paths: Sequence[str | Path], out: str | Path | None = None, trials: int = 1000,
                 checkpoint: str = "best", reuse: bool = False, seed: int = 0, tune_trials: int = 500,
                 num_envs: int = 250, figures: bool = True, command: str | None = None,
                 include: Sequence[str | Path] = (), log=print) -> dict:
    """Everything `python -m snail.report` does; returns the report (also written as report.json)."""
    if checkpoint not in CHECKPOINTS:
        raise ReportError(f"--checkpoint={checkpoint!r} is invalid: expected one of {list(CHECKPOINTS)}")
    for name, value in (("trials", trials), ("tune-trials", tune_trials), ("num-envs", num_envs)):
        if value < 1:
            raise ReportError(f"--{name}={value} is invalid: expected an integer >= 1")
    if seed < 0:
        raise ReportError(f"--seed={seed} is invalid: expected an integer >= 0")
    settings = EvaluateConfig(trials=trials, seed=seed, tune_trials=tune_trials, num_envs=num_envs)
    out = Path(out) if out else default_out(paths)
    summary = {"runs": 0, "checkpoint": checkpoint, "trials": trials, "seed": seed, "num_envs": num_envs,
               "tune_trials": tune_trials, "ci": "Student t over seeds", "iqm_bootstrap_reps": BOOTSTRAP_REPS}
    included = {str(path): load_included(path, summary) for path in include}
    runs = load_runs(paths, checkpoint)
    cells = group_runs(runs)
    check_sources(cells, included)  # before any evaluation
    previous = {}
    if reuse:  # the baselines of the report in `out`, else of an included one tuned alike (all on the same trials)
        for old in included.values():
            if old["settings"].get("tune_trials") == tune_trials:
                previous.update({_cell_key(c["env"]): c for c in old["cells"]})
        previous.update(_previous_cells(out, summary))
    evaluate_runs(runs, settings, reuse, log)
    report = {"command": command or "snail.report.build_report", "settings": summary, "cells": []}
    made: dict[str, dict] = {}
    for models in cells.values():
        first = next(iter(models.values()))[0]
        env_cfg = first.config["env"]
        key = _cell_key(env_cfg)
        baselines = evaluate_baselines(first.env, first.options, settings, previous.get(key), log)
        cell = {"env": env_cfg, "label": cell_label(first.env, first.options),
                "eval_seeds": {"first": EVAL_SEED_OFFSET + seed, "last": EVAL_SEED_OFFSET + seed + trials - 1},
                "models": [group_summary(label, members) for label, members in sorted(models.items())],
                "baselines": baselines, "paper": paper.paper_rows(first.env, first.options), "figure": None}
        if figures:
            name = f"curves_{cell_slug(first.env, first.options)}.png"
            try:
                _cell_figure(models, baselines, out / name, cell["label"])
                cell["figure"] = name
            except plot.PlotError as err:  # a run without eval curves (run.eval_every=0): the table still stands
                log(f"note: no learning-curve figure for {cell['label']}: {err}")
        made[key] = cell
    for path, old in included.items():
        merge_included(made, path, old)
    report["cells"] = sorted(made.values(), key=_cell_order)
    summary["runs"] = sum(len(group["runs"]) for cell in report["cells"] for group in cell["models"])
    if included:
        summary["included"] = list(included)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    (out / "report.md").write_text(to_markdown(report))
    log(f"wrote {out / 'report.md'}, {out / 'report.json'}"
        + (f" and {sum(bool(c['figure']) for c in report['cells'])} figure(s)" if figures else ""))
    return report


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and status 1, like the other errors (argparse: usage and status 2)
        self.exit(1, f"snail.report: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m snail.report", description=__doc__.split("\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="run folders, or folders holding run folders (multiruns)")
    parser.add_argument("--out", help="output folder (default: report/ in the folder given or their common parent)")
    parser.add_argument("--trials", type=int, default=1000, help="held-out trials per run and baseline (1000)")
    parser.add_argument("--checkpoint", choices=CHECKPOINTS, default="best", help="best (default) or last")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse up-to-date evaluation.json files and the previous report's baselines")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed (held-out tasks from 1e9 + seed)")
    parser.add_argument("--tune-trials", type=int, default=500, help="tuning trials per baseline setting (500)")
    parser.add_argument("--num-envs", type=int, default=250, help="trials played in parallel (250)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    parser.add_argument("--include", action="append", default=[], metavar="REPORT_JSON",
                        help="add the model groups of an earlier report.json made with the same checkpoint, trials, "
                             "seed and batching (repeatable)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        build_report(args.paths, args.out, args.trials, args.checkpoint, args.reuse, args.seed, args.tune_trials,
                     args.num_envs, figures=not args.no_figures, command=" ".join(["python -m snail.report", *argv]),
                     include=args.include)
    except (ReportError, EvaluationError, CheckpointError, plot.PlotError, OSError) as err:
        print(f"snail.report: error: {one_line(err)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
