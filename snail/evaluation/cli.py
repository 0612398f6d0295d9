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

The Gittins index policy (a Beta(1,1) prior; the index for a discount gamma by Gittins' calibration method,
`snail.evaluation.baselines.bandit.gittins_index_table`) is tuned over gamma like the other tunable baselines,
since the undiscounted fixed-horizon task has no exactly right discount; the chosen gamma is reported.

Outputs (into the run folder, or `runs/evaluate/<env>/<date-time>/` without a run; `out_dir` overrides):
`evaluation.json` (config, seeds, per-row metrics with 95% confidence intervals), `evaluation.md` (the
table in Markdown); with `render=true` on a maze `maze_paths.png` (the path of inner episodes 1 and 2) and
`maze_paths.gif`; with `video=true` on a maze `trial_<render_trial>.mp4` (with moviepy, else `.gif`), the
trial as the env's rgb_array render draws it; with `attention=true` `attention.png` (attention probabilities,
one T x T map per attention head, for SNAIL / attention-only / Transformer agents).

Errors the user can fix (missing run folder, unreadable or foreign checkpoint, a config that no longer fits
the code or holds interpolations, an output folder that cannot be written) raise `EvaluationError` (a
ValueError) or `CheckpointError` with a one-line message, all before any trial is played; `cli` turns them
into an exit with status 1.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from snail.checkpoint import CheckpointError
from snail.config import dataclass_from_mapping
from snail.config.evaluate import EvaluateConfig, EvaluationError
from snail.device import resolve_device
from snail.envs import env_name_of, make_vector_env
from snail.evaluation.baselines import BASELINES, make_baseline, unavailable
from snail.evaluation.report import _params_text, format_table, make_row, write_report
from snail.evaluation.runs import LoadedRun, check_env, load_run, one_line
from snail.evaluation.score import evaluate_agent, evaluate_baseline
from snail.finite import NonFiniteError
from snail.rundir import RunFolderError, check_writable
from snail.trials import EVAL_SEED_OFFSET, AgentPolicy


def baseline_names(env_name: str, spec, env_kwargs: Mapping | None = None, log=print) -> list[str]:
    """`spec`: "all", "none" (or null / false), a name, or a list of names -> the baselines to run. "all" leaves
    out (with a note through `log`) those these env options do not allow (oracle_bayes beyond 15 pulls); naming
    one of them is an error."""
    env = env_name_of(env_name)
    allowed = BASELINES[env]
    if spec is None or spec is False or spec == "none":
        return []
    if spec == "all":
        names = []
        for name in allowed:
            reason = unavailable(name, env, env_kwargs)
            if reason:
                log(f"note: baseline=all leaves out {reason}")
            else:
                names.append(name)
        return names
    names = [spec] if isinstance(spec, str) else list(spec)
    for name in names:
        if name not in allowed:
            raise EvaluationError(f"baseline={name!r} is invalid for env {env!r}: expected all, none or one of "
                                  f"{allowed}")
        reason = unavailable(name, env, env_kwargs)
        if reason:
            raise EvaluationError(reason)
    return names


@dataclass
class Request:
    """What one `evaluate` call evaluates, resolved and checked before any trial is played."""

    settings: EvaluateConfig
    run: LoadedRun | None  # the run's agent, or None for baselines alone
    env_cfg: dict  # the env config group (the run's own when there is a run)
    env_id: str
    env_options: dict
    baselines: list[str]
    render_maze: bool  # maze paths asked for and possible
    video_maze: bool  # a maze video asked for and possible
    out_dir: Path

    @property
    def env_name(self) -> str:
        return env_name_of(self.env_id)


def _settings(cfg: DictConfig) -> EvaluateConfig:
    keys = {k: v for k, v in cfg.items() if k not in ("env", "hydra")}
    return dataclass_from_mapping(EvaluateConfig, keys, "", where="evaluate", error=EvaluationError)


def resolve_request(cfg: DictConfig, log=print) -> Request:
    """Load the run (if any), pick the env and baselines, check that the options fit together, pick the
    output folder: every error the user can fix is raised here, before the work starts."""
    settings = _settings(cfg)
    device = resolve_device(settings.device)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    run = None
    if settings.run:
        run = load_run(settings.run, settings.checkpoint, device)
        env_cfg, env_id, options = OmegaConf.to_container(run.config.env), run.env_id, run.env_options
    else:
        if "env" not in cfg:
            raise EvaluationError("no run and no env: pass run=<run folder> or env=<bandit|maze|tabular_mdp>")
        env_cfg = OmegaConf.to_container(cfg.env)
        env_id, options, probe = check_env(env_cfg, "env")
        probe.close()
    env_name = env_name_of(env_id)
    names = baseline_names(env_name, settings.baseline, options, log)
    if settings.memory_ablation and run is None:
        raise EvaluationError("memory_ablation=true needs a run (run=<run folder>): it replays the agent with "
                              "its memory wiped at every inner episode")
    if run is None and not names:
        raise EvaluationError("nothing to evaluate: no run given and baseline=none")
    render_maze = settings.render and env_name == "maze"
    if settings.render and not render_maze:
        log(f"note: render=true draws maze paths; env {env_name!r} has none (attention=true works on any env)")
    video_maze = settings.video and env_name == "maze"
    if settings.video and not video_maze:
        log(f"note: video=true films maze trials; env {env_name!r} has no pictures")
    if (render_maze or video_maze) and run is None and len(names) != 1:
        raise EvaluationError("render=true or video=true without a run draws one baseline's paths: pick it with "
                              f"baseline=<name> (one of {BASELINES[env_name]})")
    if settings.attention:
        if run is None:
            raise EvaluationError("attention=true needs a run (run=<run folder>) of a model with attention")
        from snail.evaluation.render import has_attention

        if not has_attention(run.agent):
            raise EvaluationError(f"attention=true: model {run.model_name!r} has no attention blocks (snail, "
                                  "attn_only and transformer have)")
    out_dir = _out_dir(settings, run, env_name)
    try:
        check_writable(out_dir, "the evaluation report")
    except RunFolderError as err:
        raise EvaluationError(f"{err}; pass out_dir=<a writable folder>") from None
    return Request(settings, run, env_cfg, env_id, options, names, render_maze, video_maze, out_dir)


def _out_dir(settings: EvaluateConfig, run: LoadedRun | None, env_name: str) -> Path:
    if settings.out_dir:
        return Path(settings.out_dir)
    if run is not None:
        return run.run_dir
    out_dir = base = Path("runs") / "evaluate" / env_name / time.strftime("%Y-%m-%d_%H-%M-%S")
    for i in range(1, 1000):  # several evaluations in one second (a -m sweep): one folder each
        if not out_dir.exists():
            break
        out_dir = base.with_name(f"{base.name}_{i}")
    return out_dir


def score_rows(req: Request, log=print) -> tuple[list[dict], np.ndarray]:
    """The table's rows (the run's agent, its memory ablation, each baseline) on the same held-out trials,
    and those trials' env seeds."""
    s, env_name = req.settings, req.env_name
    rows, seeds = [], None

    def add(name, kind, params, results, t0):
        nonlocal seeds
        if seeds is None:
            seeds = results["seed"]
        elif not np.array_equal(seeds, results["seed"]):  # run_trials guarantees it; cheap to check
            raise RuntimeError(f"{name!r} ran on other seeds than the rows before it")
        rows.append(make_row(name, kind, params, results, env_name))
        shown = {k: v for k, v in params.items() if kind == "baseline"}
        log(f"{name}{' (' + _params_text(shown) + ')' if shown else ''}: {s.trials} trials in "
            f"{time.perf_counter() - t0:.1f} s")

    if req.run is not None:
        params = {"checkpoint": req.run.checkpoint.name, **({"greedy": True} if s.greedy else {})}
        for forget in (False, True) if s.memory_ablation else (False,):
            t0 = time.perf_counter()
            results = evaluate_agent(req.run.agent, req.env_id, req.env_options, s.trials, s.seed, s.num_envs,
                                     s.greedy, forget_between_episodes=forget)
            if forget:
                add(f"{req.run.model_name} (memory wiped each episode)", "agent",
                    {**params, "memory_ablation": True}, results, t0)
            else:
                add(req.run.model_name, "agent", params, results, t0)
    for name in req.baselines:
        t0 = time.perf_counter()
        params, results = evaluate_baseline(name, req.env_id, req.env_options, s.trials, s.seed, s.num_envs,
                                            s.tune_trials)
        add(name, "baseline", params, results, t0)
    return rows, seeds


def draw_pictures(req: Request, rows: list[dict], log=print) -> None:
    """Maze paths (PNG, GIF), the maze video and attention maps of trial `render_trial`, as asked."""
    from snail.evaluation import render

    s = req.settings
    if req.run is not None:
        policy, label = AgentPolicy(req.run.agent, num_envs=1, greedy=s.greedy, seed=s.seed), req.run.model_name
    else:
        params = next(r["params"] for r in rows if r["policy"] == req.baselines[0])
        policy = make_baseline(req.baselines[0], req.env_id, 1, s.seed, env_kwargs=req.env_options, **params)
        label = req.baselines[0]
    trial = render.record_trial(policy, req.env_id, req.env_options, seed=s.seed, trial=s.render_trial)
    title = f"{label}, trial {s.render_trial} (env seed {trial['seed']})"
    if req.render_maze:
        png = render.draw_maze_paths(trial, req.out_dir / "maze_paths.png", title=title)
        gif = render.animate_maze(trial, req.out_dir / "maze_paths.gif", title=title)
        log(f"wrote {png}" + (f" and {gif}" if gif else " (no GIF: pillow is not installed)"))
    if req.video_maze:
        log(f"wrote {render.write_video(render.trial_frames(trial), req.out_dir / f'trial_{s.render_trial}')}")
    if s.attention:
        maps = render.attention_maps(req.run.agent, trial)
        png = render.draw_attention(maps, req.out_dir / "attention.png", trial=trial, title=title)
        log(f"wrote {png}")


def checkpoint_file(path: str | Path) -> dict:
    """Size and modification time of a checkpoint file: whether an evaluation of it is still current."""
    stat = Path(path).stat()
    return {"name": Path(path).name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def evaluate(cfg: DictConfig | Mapping, log=print) -> tuple[dict, Path]:
    """Everything `python evaluate.py` does, from its config (conf/evaluate.yaml's keys and an `env` group):
    evaluate the run's agent (if `run`) and the baselines, write evaluation.json / .md (and pictures), print
    the table through `log`. Returns (report, output folder)."""
    cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
    req = resolve_request(cfg, log)
    rows, seeds = score_rows(req, log)
    run, s = req.run, req.settings
    probe = make_vector_env(req.env_id, 1, req.env_options)
    episodes = int(getattr(probe.unwrapped, "episodes", 1))
    probe.close()
    report = {
        "env": req.env_cfg,
        "run": str(run.run_dir) if run else None,
        "checkpoint": str(run.checkpoint) if run else None,
        # What `python -m snail.report --reuse` checks before reusing this file: the same checkpoint file ...
        "checkpoint_file": checkpoint_file(run.checkpoint) if run else None,
        "model": run.model_name if run else None,
        "env_steps": run.counters.get("env_steps") if run else None,
        "trials": s.trials,  # ... and the same trials, seed, sampling and batching
        "seed": s.seed,
        "num_envs": s.num_envs,
        "seeds": {"first": int(seeds[0]), "last": int(seeds[-1]), "offset": EVAL_SEED_OFFSET},
        "greedy": s.greedy,
        "tune_trials": s.tune_trials,
        "episodes": episodes,
        "rows": rows,
    }
    json_path, md_path = write_report(report, req.out_dir)
    log("")
    log(format_table(report))
    log(f"\nwrote {json_path} and {md_path}")
    if req.render_maze or req.video_maze or s.attention:
        draw_pictures(req, rows, log)
    return report, req.out_dir


def cli(cfg: DictConfig | Mapping, env_overridden: bool = False) -> dict:
    """`evaluate` for the command line: errors the user can fix end the program with a one-line message
    (status 1) instead of a traceback."""
    try:
        if env_overridden and cfg.get("run"):
            print("note: run= was given, so the run's own env config is used (env= is ignored)")
        report, _ = evaluate(cfg)
    except (CheckpointError, NonFiniteError, ValueError) as err:
        raise SystemExit(f"evaluate: error: {one_line(err)}") from None
    return report
