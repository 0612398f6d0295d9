"""Evaluate a trained run and the classical baselines on the same held-out trials: `python evaluate.py`.

    python evaluate.py run=runs/bandit/snail/<date-time>          # the run's best.pt, its env, + baselines
    python evaluate.py run=runs/.../last.pt baseline=none        # a checkpoint file; the agent alone
    python evaluate.py env=bandit baseline=ucb1                  # one baseline alone (no run)
    python evaluate.py run=runs/maze/... render=true attention=true

The agent is rebuilt from the run's `config.yaml` (the checkpoint's copy of the config when the folder has
none) and the checkpoint's weights, and plays `trials` trials (default 1000) whose tasks come from env seeds
`EVAL_SEED_OFFSET + seed + j`, j < trials: disjoint from the training seeds (below EVAL_SEED_OFFSET) and from
the baselines' tuning seeds (from TUNE_SEED_OFFSET). Every baseline plays exactly the same trials. With a
run, the run's own env config is used (an `env=` choice on the command line is ignored).

Tunable baselines (epsilon_greedy, ucb1, gittins: `snail.baselines.DEFAULT_GRIDS`) use the best value of a
small grid, picked by mean trial return on `tune_trials` tuning trials (other seeds), as RL² and SNAIL did;
the chosen value is reported with each row.

Gittins index policy: a Bernoulli arm with a Beta(1,1) prior, the index computed for a discount factor gamma
by the calibration (retirement) method of Gittins (1979): the index of posterior Beta(a, b) is the retirement
reward lam per step at which retiring forever and pulling once more then acting optimally are worth the same;
the optimal-stopping values are computed by backward induction over the posterior lattice for a grid of lam
values at once, and the crossing interpolated (`snail.baselines.gittins_index_table`; index(1, 1) = 0.7029 at
gamma = 0.9 and 0.8699 at gamma = 0.99, as in Gittins' tables). The bandit task is undiscounted with a fixed
horizon, for which no discount is exactly right, so gamma is tuned over {0.5, 0.7, 0.8, 0.9, 0.95, 0.98,
0.99} like the other tunable baselines; the chosen gamma is printed and written with the results.

Outputs (into the run folder, or `runs/evaluate/<env>/<date-time>/` without a run; `out_dir` overrides):
`evaluation.json` (config, seeds, per-row metrics with 95% confidence intervals), `evaluation.md` (the
table in Markdown); with `render=true` on a maze `maze_paths.png` (the path of inner episodes 1 and 2) and
`maze_paths.gif`; with `attention=true` `attention.png` (attention probabilities, one T x T map per
attention head, for SNAIL / attention-only / Transformer agents).

Errors the user can fix (missing run folder, unreadable or foreign checkpoint, a config that no longer fits
the code) raise `EvaluationError` (a ValueError) or `CheckpointError` with a one-line message; `cli` turns
them into an exit with status 1.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from snail.agent import Agent, build_agent
from snail.baselines import BASELINES, DEFAULT_GRIDS, make_baseline, tune_baseline
from snail.checkpoint import CheckpointError, load_checkpoint
from snail.config import check, dataclass_from_mapping
from snail.evaluation import EVAL_SEED_OFFSET, AgentPolicy, env_id_of, env_name_of, run_trials, summarize
from snail.rollout import make_vector_env
from snail.train import resolve_device

CHECKPOINTS = ("best", "last")
REQUIRED_PAYLOAD_KEYS = ("model", "obs_dim", "num_actions", "max_len")


class EvaluationError(ValueError):
    """A problem with what the user asked to evaluate (missing folder, config that no longer fits the code)."""


def _one_line(err: BaseException | str) -> str:
    text = str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(err).__name__


def env_kwargs(env_cfg: Mapping) -> dict:
    """The env group's options minus its bookkeeping keys (`name`, `id`): what `gymnasium.make` takes."""
    return {k: v for k, v in env_cfg.items() if k not in ("name", "id")}


def check_env(env_cfg: Mapping, where: str) -> tuple[str, dict, gym.vector.VectorEnv]:
    """Gymnasium id, options and a one-row vector env of an env config; errors name `where` it came from."""
    if not isinstance(env_cfg, Mapping) or "id" not in env_cfg:
        raise EvaluationError(f"{where}: the env config has no 'id' (got {env_cfg!r})")
    try:
        env_id = env_id_of(env_cfg["id"])
    except ValueError as err:
        raise EvaluationError(f"{where}: {err}") from err
    kwargs = env_kwargs(env_cfg)
    try:
        envs = make_vector_env(env_id, 1, kwargs)
    except (TypeError, ValueError, gym.error.Error) as err:
        raise EvaluationError(f"{where}: the env options {kwargs} no longer fit the code: {_one_line(err)}"
                              ) from err
    return env_id, kwargs, envs


# ------------------------------------------------------------------------------------------ loading a run


@dataclass
class LoadedRun:
    run_dir: Path
    checkpoint: Path
    config: DictConfig  # the run's whole (resolved) training config
    agent: Agent
    env_id: str
    env_kwargs: dict
    counters: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return str(self.config.model.name)


def resolve_run_path(path: str | Path, checkpoint: str = "best") -> tuple[Path, Path]:
    """(run folder, checkpoint file) of `path`, a run folder or a checkpoint file in one.

    For a folder, `checkpoint` picks best.pt or last.pt; best.pt falls back to last.pt when the run never
    evaluated (run.eval_every=0)."""
    if checkpoint not in CHECKPOINTS:
        raise EvaluationError(f"checkpoint={checkpoint!r} is invalid: expected one of {list(CHECKPOINTS)}")
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"run={str(path)!r} does not exist (expected a run folder such as "
                              "runs/bandit/snail/<date-time>, or a checkpoint file in one)")
    if path.is_file():
        return path.parent, path
    candidates = [path / f"{checkpoint}.pt"] + ([path / "last.pt"] if checkpoint == "best" else [])
    for candidate in candidates:
        if candidate.is_file():
            return path, candidate
    raise EvaluationError(f"run={str(path)!r} has no checkpoint (expected {checkpoint}.pt"
                          f"{' or last.pt' if checkpoint == 'best' else ''}): is it a run folder?")


def _load_config(run_dir: Path, payload: dict, ckpt_path: Path) -> tuple[DictConfig, str]:
    config_file = run_dir / "config.yaml"
    if config_file.is_file():
        try:
            cfg = OmegaConf.load(config_file)
        except Exception as err:  # yaml's errors, OmegaConf's
            raise EvaluationError(f"{config_file} is not a readable config: {_one_line(err)}") from err
        where = str(config_file)
    elif isinstance(payload.get("config"), Mapping):
        cfg, where = OmegaConf.create(payload["config"]), f"the config saved in {ckpt_path}"
    else:
        raise EvaluationError(f"{run_dir} has no config.yaml and {ckpt_path} holds no config")
    if not isinstance(cfg, DictConfig):
        raise EvaluationError(f"{where} is not a mapping")
    for key in ("env", "model"):
        if not isinstance(cfg.get(key), Mapping):
            raise EvaluationError(f"{where} has no '{key}' section")
    try:
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    except Exception as err:
        raise EvaluationError(f"{where} does not resolve: {_one_line(err)}") from err
    return cfg, where


def _check_state_dict(agent: Agent, weights, ckpt_path: Path, where: str) -> None:
    """Compare names and shapes before loading, for a one-line message instead of torch's long one."""
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{str(ckpt_path)!r} holds no model weights")
    expected = agent.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in weights and weights[k].shape != v.shape]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape (checkpoint vs config)", wrong)):
        if items:
            problems.append(f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}")
    if problems:
        raise EvaluationError(f"the weights in {ckpt_path} do not fit the model built from {where} "
                              f"({'; '.join(problems)}): was the config edited, or the model code changed?")


def load_run(path: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild a run's agent from its saved config and a checkpoint's weights (eval mode, on `device`)."""
    run_dir, ckpt_path = resolve_run_path(path, checkpoint)
    payload = load_checkpoint(ckpt_path, map_location=device)
    missing = [k for k in REQUIRED_PAYLOAD_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{str(ckpt_path)!r} is not a complete snail checkpoint (missing {missing})")
    cfg, where = _load_config(run_dir, payload, ckpt_path)
    env_id, kwargs, envs = check_env(cfg.env, where)
    try:
        dims = {"obs_dim": envs.single_observation_space.shape[0],
                "num_actions": int(envs.single_action_space.n),
                "max_len": int(envs.unwrapped.max_trial_steps)}
    finally:
        envs.close()
    for key, value in dims.items():
        if payload[key] != value:
            raise EvaluationError(f"the env of {where} gives {key}={value}, but {ckpt_path} was trained with "
                                  f"{key}={payload[key]}: the config and the checkpoint are from different runs")
    try:
        agent = build_agent(cfg.model, **dims)
    except (ValueError, TypeError) as err:
        raise EvaluationError(f"the model config in {where} no longer fits the code: {_one_line(err)}") from err
    _check_state_dict(agent, payload["model"], ckpt_path, where)
    agent.load_state_dict(payload["model"])
    agent.to(device).eval()
    counters = dict(payload.get("counters") or {})
    return LoadedRun(run_dir, ckpt_path, cfg, agent, env_id, kwargs, counters)


# ---------------------------------------------------------------------------------------------- policies


def baseline_names(env_name: str, spec) -> list[str]:
    """`spec`: "all", "none" (or null / false), a name, or a list of names -> the baselines to run."""
    env = env_name_of(env_name)
    allowed = BASELINES[env]
    if spec is None or spec is False or spec == "none":
        return []
    if spec == "all":
        return list(allowed)
    names = [spec] if isinstance(spec, str) else list(spec)
    for name in names:
        if name not in allowed:
            raise EvaluationError(f"baseline={name!r} is invalid for env {env!r}: expected all, none or one of "
                                  f"{allowed}")
    return names


def evaluate_agent(agent: Agent, env_id: str, kwargs: Mapping, trials: int, seed: int = 0,
                   num_envs: int = 250, greedy: bool = False, forget_between_episodes: bool = False
                   ) -> dict[str, np.ndarray]:
    """run_trials of a learned agent (sampling from its policy with a generator seeded by `seed`)."""
    num_envs = max(1, min(int(num_envs), int(trials)))
    policy = AgentPolicy(agent, num_envs=num_envs, greedy=greedy, seed=seed,
                         forget_between_episodes=forget_between_episodes)
    return run_trials(policy, env_id, kwargs, num_trials=trials, seed=seed, num_envs=num_envs)


def evaluate_baseline(name: str, env_id: str, kwargs: Mapping, trials: int, seed: int = 0, num_envs: int = 250,
                      tune_trials: int = 500, params: Mapping | None = None
                      ) -> tuple[dict, dict[str, np.ndarray]]:
    """(params, run_trials results) of baseline `name`; tunable ones are tuned first unless `params` given."""
    num_envs = max(1, min(int(num_envs), int(trials)))
    if params is None:
        params = {}
        if name in DEFAULT_GRIDS:
            params, _ = tune_baseline(name, kwargs, num_trials=tune_trials, seed=seed, env_name=env_id,
                                      num_envs=max(1, min(100, tune_trials)))
    params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    policy = make_baseline(name, env_id, num_envs, seed, env_kwargs=kwargs, **params)
    return params, run_trials(policy, env_id, kwargs, num_trials=trials, seed=seed, num_envs=num_envs)


# -------------------------------------------------------------------------------------------------- report


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
                     (f"path_ratio_ep{k}", f"steps/shortest ep{k}", 2)]
        cols += [(f"steps_ep{k}_minus_ep1", f"ep{k} - ep1 steps", 1) for k in range(2, episodes + 1)]
    return cols


def _cell(metrics: Mapping, key: str, decimals: int) -> str:
    value, ci = metrics.get(key), metrics.get(f"{key}_ci95")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    scale = 100.0 if key == "best_arm_fraction" else 1.0
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
    json_path.write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    md_path.write_text(to_markdown(report))
    return json_path, md_path


# ------------------------------------------------------------------------------------------------- command


@dataclass
class EvaluateConfig:
    """The options of conf/evaluate.yaml besides `env`, and their defaults."""

    run: str | None = None  # a run folder, or a checkpoint file in one (runs/.../best.pt)
    checkpoint: str = "best"  # best | last (best falls back to last when the run never evaluated)
    # all | none | one name or a list (bandit: random greedy epsilon_greedy ucb1 thompson optimistic_thompson
    # gittins oracle; tabular_mdp: random psrl oracle; maze: random explorer oracle)
    baseline: Any = "all"
    trials: int = 1000  # held-out trials (env seeds from snail.evaluation.EVAL_SEED_OFFSET + seed)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    greedy: bool = False  # false: sample from the agent's policy (as training does); true: argmax
    memory_ablation: bool = False  # true: also play the agent with its memory wiped at every inner episode's start
    num_envs: int = 250  # trials played in parallel (does not change the results' tasks)
    tune_trials: int = 500  # tuning trials per grid value of the tunable baselines (other seeds)
    render: bool = False  # maze: maze_paths.png / .gif of inner episodes 1 and 2 of trial `render_trial`
    attention: bool = False  # attention.png: attention maps of that trial (snail, attn_only, transformer)
    render_trial: int = 0
    out_dir: str | None = None  # null: the run folder, or runs/evaluate/<env>/<date-time> without a run
    torch_threads: int | None = None

    def __post_init__(self):
        check("", self, lambda: {
            "checkpoint": (self.checkpoint in CHECKPOINTS, f"one of {list(CHECKPOINTS)}"),
            "trials": (self.trials >= 1, "an integer >= 1"),
            "seed": (self.seed >= 0, "an integer >= 0"),
            "num_envs": (self.num_envs >= 1, "an integer >= 1"),
            "tune_trials": (self.tune_trials >= 1, "an integer >= 1"),
            "render_trial": (self.render_trial >= 0, "an integer >= 0"),
            "torch_threads": (self.torch_threads is None or self.torch_threads >= 1, "null or an int >= 1"),
        }, error=EvaluationError)


def evaluate(cfg: DictConfig | Mapping, log=print) -> tuple[dict, Path]:
    """Everything `python evaluate.py` does, from its config (conf/evaluate.yaml's keys and an `env` group):
    evaluate the run's agent (if `run`) and the baselines, write evaluation.json / .md (and pictures), print
    the table through `log`. Returns (report, output folder)."""
    cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
    keys = {k: v for k, v in cfg.items() if k not in ("env", "hydra")}
    ecfg = dataclass_from_mapping(EvaluateConfig, keys, "", where="evaluate", error=EvaluationError)
    device = resolve_device(ecfg.device)
    if ecfg.torch_threads:
        torch.set_num_threads(ecfg.torch_threads)

    run = None
    if ecfg.run:
        run = load_run(ecfg.run, ecfg.checkpoint, device)
        env_cfg = OmegaConf.to_container(run.config.env)
        env_id, kwargs = run.env_id, run.env_kwargs
    else:
        if "env" not in cfg:
            raise EvaluationError("no run and no env: pass run=<run folder> or env=<bandit|maze|tabular_mdp>")
        env_cfg = OmegaConf.to_container(cfg.env)
        env_id, kwargs, envs = check_env(env_cfg, "env")
        envs.close()
    env_name = env_name_of(env_id)
    names = baseline_names(env_name, ecfg.baseline)
    if ecfg.memory_ablation and run is None:
        raise EvaluationError("memory_ablation=true needs a run (run=<run folder>): it replays the agent with "
                              "its memory wiped at every inner episode")
    if run is None and not names:
        raise EvaluationError("nothing to evaluate: no run given and baseline=none")
    render_maze = ecfg.render and env_name == "maze"
    if ecfg.render and not render_maze:
        log(f"note: render=true draws maze paths; env {env_name!r} has none (attention=true works on any env)")
    if render_maze and run is None and len(names) != 1:
        raise EvaluationError("render=true without a run draws one baseline's paths: pick it with "
                              f"baseline=<name> (one of {BASELINES[env_name]})")
    if ecfg.attention:
        if run is None:
            raise EvaluationError("attention=true needs a run (run=<run folder>) of a model with attention")
        from snail.render import has_attention

        if not has_attention(run.agent):
            raise EvaluationError(f"attention=true: model {run.model_name!r} has no attention blocks (snail, "
                                  "attn_only and transformer have)")

    if ecfg.out_dir:
        out_dir = Path(ecfg.out_dir)
    elif run is not None:
        out_dir = run.run_dir
    else:
        out_dir = base = Path("runs") / "evaluate" / env_name / time.strftime("%Y-%m-%d_%H-%M-%S")
        for i in range(1, 1000):  # several evaluations in one second (a -m sweep): one folder each
            if not out_dir.exists():
                break
            out_dir = base.with_name(f"{base.name}_{i}")

    rows, seeds = [], None
    if run is not None:
        t0 = time.perf_counter()
        results = evaluate_agent(run.agent, env_id, kwargs, ecfg.trials, ecfg.seed, ecfg.num_envs, ecfg.greedy)
        seeds = results["seed"]
        params = {"checkpoint": run.checkpoint.name}
        if ecfg.greedy:
            params["greedy"] = True
        rows.append(make_row(run.model_name, "agent", params, results, env_name))
        log(f"{run.model_name}: {ecfg.trials} trials in {time.perf_counter() - t0:.1f} s")
        if ecfg.memory_ablation:
            t0 = time.perf_counter()
            results = evaluate_agent(run.agent, env_id, kwargs, ecfg.trials, ecfg.seed, ecfg.num_envs,
                                     ecfg.greedy, forget_between_episodes=True)
            rows.append(make_row(f"{run.model_name} (memory wiped each episode)", "agent",
                                 {**params, "memory_ablation": True}, results, env_name))
            log(f"{run.model_name}, memory wiped: {ecfg.trials} trials in {time.perf_counter() - t0:.1f} s")
    for name in names:
        t0 = time.perf_counter()
        params, results = evaluate_baseline(name, env_id, kwargs, ecfg.trials, ecfg.seed, ecfg.num_envs,
                                            ecfg.tune_trials)
        if seeds is None:
            seeds = results["seed"]
        elif not np.array_equal(seeds, results["seed"]):  # run_trials guarantees it; cheap to check
            raise RuntimeError(f"baseline {name!r} ran on other seeds than the agent")
        rows.append(make_row(name, "baseline", params, results, env_name))
        log(f"{name}{' (' + _params_text(params) + ')' if params else ''}: {ecfg.trials} trials in "
            f"{time.perf_counter() - t0:.1f} s")

    envs = make_vector_env(env_id, 1, kwargs)
    episodes = int(getattr(envs.unwrapped, "episodes", 1))
    envs.close()
    report = {
        "env": env_cfg,
        "run": str(run.run_dir) if run else None,
        "checkpoint": str(run.checkpoint) if run else None,
        "model": run.model_name if run else None,
        "env_steps": run.counters.get("env_steps") if run else None,
        "trials": ecfg.trials,
        "seed": ecfg.seed,
        "seeds": {"first": int(seeds[0]), "last": int(seeds[-1]), "offset": EVAL_SEED_OFFSET},
        "greedy": ecfg.greedy,
        "tune_trials": ecfg.tune_trials,
        "episodes": episodes,
        "rows": rows,
    }
    json_path, md_path = write_report(report, out_dir)
    log("")
    log(format_table(report))
    log(f"\nwrote {json_path} and {md_path}")

    if render_maze or ecfg.attention:
        from snail import render

        if run is not None:
            policy = AgentPolicy(run.agent, num_envs=1, greedy=ecfg.greedy, seed=ecfg.seed)
            label = run.model_name
        else:
            params = next(r["params"] for r in rows if r["policy"] == names[0])
            policy = make_baseline(names[0], env_id, 1, ecfg.seed, env_kwargs=kwargs, **params)
            label = names[0]
        trial = render.record_trial(policy, env_id, kwargs, seed=ecfg.seed, trial=ecfg.render_trial)
        title = f"{label}, trial {ecfg.render_trial} (env seed {trial['seed']})"
        if render_maze:
            png = render.draw_maze_paths(trial, out_dir / "maze_paths.png", title=title)
            gif = render.animate_maze(trial, out_dir / "maze_paths.gif", title=title)
            log(f"wrote {png}" + (f" and {gif}" if gif else " (no GIF: pillow is not installed)"))
        if ecfg.attention:
            maps = render.attention_maps(run.agent, trial)
            png = render.draw_attention(maps, out_dir / "attention.png", trial=trial, title=title)
            log(f"wrote {png}")
    return report, out_dir


def cli(cfg: DictConfig | Mapping, env_overridden: bool = False) -> dict:
    """`evaluate` for the command line: errors the user can fix end the program with a one-line message
    (status 1) instead of a traceback."""
    try:
        if env_overridden and cfg.get("run"):
            print("note: run= was given, so the run's own env config is used (env= is ignored)")
        report, _ = evaluate(cfg)
    except (CheckpointError, ValueError) as err:
        raise SystemExit(f"evaluate: error: {_one_line(err)}") from None
    return report
