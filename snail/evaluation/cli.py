"""`python evaluate.py`: evaluate a trained run and the classical baselines on the same held-out trials.

    python evaluate.py run=runs/bandit/snail/<date-time>          # the run's best.pt, its env, + baselines
    python evaluate.py run=runs/.../last.pt baseline=none        # a checkpoint file; the agent alone
    python evaluate.py env=bandit baseline=ucb1                  # one baseline alone (no run)
    python evaluate.py run=runs/maze/... render=true attention=true video=true

The agent is rebuilt from the run's `config.yaml` (the checkpoint's copy of the config when the folder has
none) and the checkpoint's weights, and plays `trials` trials (default 1000) whose tasks come from env seeds
`EVAL_SEED_OFFSET + seed + j`, j < trials: disjoint from the training seeds (below EVAL_SEED_OFFSET) and from
the baselines' tuning seeds (from TUNE_SEED_OFFSET). Every baseline plays exactly the same trials. With a
run, the run's own env config is used (an `env=` choice on the command line is ignored).

Tunable baselines (epsilon_greedy, ucb1, gittins: `snail.evaluation.baselines.DEFAULT_GRIDS`) use the best value of a
small grid, picked by mean trial return on `tune_trials` tuning trials (other seeds), as RL² and SNAIL did;
the chosen value is reported with each row.

Gittins index policy: a Bernoulli arm with a Beta(1,1) prior, the index computed for a discount factor gamma
by the calibration (retirement) method of Gittins (1979): the index of posterior Beta(a, b) is the retirement
reward lam per step at which retiring forever and pulling once more then acting optimally are worth the same;
the optimal-stopping values are computed by backward induction over the posterior lattice for a grid of lam
values at once, and the crossing interpolated (`snail.evaluation.baselines.gittins_index_table`; index(1, 1) = 0.7029 at
gamma = 0.9 and 0.8699 at gamma = 0.99, as in Gittins' tables). The bandit task is undiscounted with a fixed
horizon, for which no discount is exactly right, so gamma is tuned over {0.5, 0.7, 0.8, 0.9, 0.95, 0.98,
0.99} like the other tunable baselines; the chosen gamma is printed and written with the results.

Outputs (into the run folder, or `runs/evaluate/<env>/<date-time>/` without a run; `out_dir` overrides):
`evaluation.json` (config, seeds, per-row metrics with 95% confidence intervals), `evaluation.md` (the
table in Markdown); with `render=true` on a maze `maze_paths.png` (the path of inner episodes 1 and 2) and
`maze_paths.gif`; with `video=true` on a maze `trial_<render_trial>.mp4` (with moviepy, else `.gif`), the
trial as the env's rgb_array render draws it; with `attention=true` `attention.png` (attention probabilities,
one T x T map per attention head, for SNAIL / attention-only / Transformer agents).

Errors the user can fix (missing run folder, unreadable or foreign checkpoint, a config that no longer fits
the code) raise `EvaluationError` (a ValueError) or `CheckpointError` with a one-line message; `cli` turns
them into an exit with status 1.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from snail.checkpoint import CheckpointError
from snail.device import resolve_device
from snail.envs import env_name_of, make_vector_env
from snail.evaluation.baselines import BASELINES, make_baseline
from snail.evaluation.report import _params_text, format_table, make_row, write_report
from snail.evaluation.runs import CHECKPOINTS, EvaluationError, check_env, load_run, one_line
from snail.evaluation.score import evaluate_agent, evaluate_baseline
from snail.trials import EVAL_SEED_OFFSET, AgentPolicy


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


@dataclass
class EvaluateConfig:
    """The keys of conf/evaluate.yaml besides `env`."""

    run: str | None = None
    checkpoint: str = "best"
    baseline: object = "all"
    trials: int = 1000
    seed: int = 0
    device: str = "auto"
    greedy: bool = False
    memory_ablation: bool = False
    num_envs: int = 250
    tune_trials: int = 500
    render: bool = False
    attention: bool = False
    video: bool = False
    render_trial: int = 0
    out_dir: str | None = None
    torch_threads: int | None = None

    def __post_init__(self):
        def is_int(x, low):
            return isinstance(x, int) and not isinstance(x, bool) and x >= low

        checks = {
            "checkpoint": (self.checkpoint in CHECKPOINTS, f"one of {list(CHECKPOINTS)}"),
            "trials": (is_int(self.trials, 1), "an integer >= 1"),
            "seed": (is_int(self.seed, 0), "an integer >= 0"),
            "num_envs": (is_int(self.num_envs, 1), "an integer >= 1"),
            "tune_trials": (is_int(self.tune_trials, 1), "an integer >= 1"),
            "render_trial": (is_int(self.render_trial, 0), "an integer >= 0"),
            "torch_threads": (self.torch_threads is None or is_int(self.torch_threads, 1), "null or an int >= 1"),
        }
        for key in ("greedy", "memory_ablation", "render", "attention", "video"):
            checks[key] = (isinstance(getattr(self, key), bool), "true or false")
        for key, (ok, allowed) in checks.items():
            if not ok:
                raise EvaluationError(f"{key}={getattr(self, key)!r} is invalid: expected {allowed}")


def evaluate(cfg: DictConfig | Mapping, log=print) -> tuple[dict, Path]:
    """Everything `python evaluate.py` does, from its config (conf/evaluate.yaml's keys and an `env` group):
    evaluate the run's agent (if `run`) and the baselines, write evaluation.json / .md (and pictures), print
    the table through `log`. Returns (report, output folder)."""
    cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
    keys = {k: v for k, v in cfg.items() if k not in ("env", "hydra")}
    allowed = list(EvaluateConfig.__dataclass_fields__)
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        raise EvaluationError(f"unknown evaluate option(s) {unknown}; allowed: {allowed}")
    ecfg = EvaluateConfig(**keys)
    if isinstance(ecfg.baseline, Sequence) and not isinstance(ecfg.baseline, str):
        ecfg.baseline = list(ecfg.baseline)
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
    video_maze = ecfg.video and env_name == "maze"
    if ecfg.video and not video_maze:
        log(f"note: video=true films maze trials; env {env_name!r} has no pictures")
    if (render_maze or video_maze) and run is None and len(names) != 1:
        raise EvaluationError("render=true or video=true without a run draws one baseline's paths: pick it with "
                              f"baseline=<name> (one of {BASELINES[env_name]})")
    if ecfg.attention:
        if run is None:
            raise EvaluationError("attention=true needs a run (run=<run folder>) of a model with attention")
        from snail.evaluation.render import has_attention

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

    if render_maze or video_maze or ecfg.attention:
        from snail.evaluation import render

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
        if video_maze:
            log(f"wrote {render.write_video(render.trial_frames(trial), out_dir / f'trial_{ecfg.render_trial}')}")
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
        raise SystemExit(f"evaluate: error: {one_line(err)}") from None
    return report
