"""One training run: seeding, the rollout/update loop, TensorBoard, progress bar, checkpoints and resume.

`train(cfg, run_dir)` is what `python train.py` calls; tests and notebooks call it directly with a config
composed by Hydra's compose API (or any mapping of the same shape).
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from tqdm import tqdm

from snail.agent import build_agent
from snail.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from snail.config import ConfigError
from snail.evaluation import EVAL_SEED_OFFSET, AgentPolicy, run_trials
from snail.ppo import ppo_update
from snail.rollout import collect_trials, make_vector_env
from snail.train_config import TrainConfig

# Spreads the training seeds of runs with different `seed` values far apart.
_SEED_STRIDE = 10_000_019


def resolve_device(name: str) -> torch.device:
    allowed = ("auto", "cpu", "cuda")
    if name not in allowed and not str(name).startswith("cuda:"):
        raise ConfigError(f"device={name!r} is invalid: expected one of {allowed} (or 'cuda:N')")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} was asked for, but torch sees no CUDA device (use cpu or auto)")
    return torch.device(name)


def env_kwargs(env_cfg: Mapping) -> dict:
    """The env group's options minus its bookkeeping keys: what `gymnasium.make` takes."""
    return {k: v for k, v in env_cfg.items() if k not in ("name", "id")}


def trial_metrics(info: dict[str, np.ndarray]) -> dict[str, float]:
    """Scalar summaries of a batch of finished trials (arrays [n, ...] from `collect_trials`)."""
    out = {"trial_return": float(np.mean(info["trial_return"]))}
    episode_returns, episode_lengths = info["episode_returns"], info["episode_lengths"]
    if episode_returns.shape[1] > 1:
        for k in range(episode_returns.shape[1]):
            out[f"episode_{k + 1}/return"] = float(np.mean(episode_returns[:, k]))
            out[f"episode_{k + 1}/length"] = float(np.mean(episode_lengths[:, k]))
    if "success" in info:
        out["success_rate"] = float(np.mean(info["success"]))
        for k in range(info["success"].shape[1]):
            out[f"episode_{k + 1}/success"] = float(np.mean(info["success"][:, k]))
    if "optimal_return" in info:
        out["regret"] = float(np.mean(info["optimal_return"] - info["trial_return"]))
        out["normalized_score"] = float(np.mean(info["trial_return"]) / np.mean(info["optimal_return"]))
    return out


@contextmanager
def stop_on_signals():
    """Turns the first Ctrl-C or SIGTERM into a request to stop after the current update (and checkpoint);
    a second Ctrl-C interrupts at once."""
    requested = {"stop": False}

    def handler(signum, frame):
        if requested["stop"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested["stop"] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def train(cfg: DictConfig | Mapping, run_dir: str | Path, resume: bool = False) -> dict:
    """Train the agent described by `cfg` (env/model/algo/run groups, seed, device), writing TensorBoard
    curves, `metrics.jsonl`, `config.yaml` and checkpoints `last.pt`/`best.pt` into `run_dir`.

    With `resume=True`, continues from `run_dir/last.pt` (same curve, same RNG streams). Returns a summary:
    env_steps, updates, wall_clock_s, last train metrics, best eval return.
    """
    cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
    # Validate everything before any work starts.
    settings = TrainConfig.from_mapping(cfg)
    run_cfg, ppo_cfg = settings.run, settings.algo
    device = resolve_device(settings.device)
    if run_cfg.torch_threads:
        torch.set_num_threads(run_cfg.torch_threads)
    envs = make_vector_env(cfg.env.id, ppo_cfg.num_envs, env_kwargs(cfg.env))
    obs_dim = envs.single_observation_space.shape[0]
    num_actions = int(envs.single_action_space.n)
    max_len = envs.unwrapped.max_trial_steps
    torch.manual_seed(cfg.seed)
    agent = build_agent(cfg.model, obs_dim=obs_dim, num_actions=num_actions, max_len=max_len).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=ppo_cfg.lr, eps=1e-5)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    counters = {"update": 0, "env_steps": 0, "wall_clock_s": 0.0, "best_eval_return": -math.inf}
    if resume:
        ckpt = load_checkpoint(run_dir / "last.pt", map_location=device)
        try:
            agent.load_state_dict(ckpt["model"])
        except RuntimeError as err:
            raise CheckpointError(f"{run_dir / 'last.pt'} does not match the model of its config: {err}") from err
        optimizer.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        counters.update(ckpt["counters"])
        _truncate_metrics(run_dir / "metrics.jsonl", counters["env_steps"])
    else:
        OmegaConf.save(cfg, run_dir / "config.yaml")

    def checkpoint(name: str) -> None:
        save_checkpoint(run_dir / name, {
            "config": OmegaConf.to_container(cfg), "model": agent.state_dict(),
            "optimizer": optimizer.state_dict(), "generator": generator.get_state(), "counters": dict(counters),
            "obs_dim": obs_dim, "num_actions": num_actions, "max_len": max_len,
        })

    writer = SummaryWriter(run_dir / "tb", purge_step=counters["env_steps"] if resume else None)
    if not resume:
        writer.add_text("config", f"```\n{OmegaConf.to_yaml(cfg)}\n```", 0)
        _write_hparams(writer, cfg)
    metrics_file = open(run_dir / "metrics.jsonl", "a")
    start_time = time.perf_counter()
    wall_at_start = counters["wall_clock_s"]
    progress = tqdm(total=run_cfg.total_env_steps, initial=counters["env_steps"], unit="step", unit_scale=True,
                    disable=not run_cfg.progress, dynamic_ncols=True)
    last_train: dict[str, float] = {}
    with stop_on_signals() as stop:
        while counters["env_steps"] < run_cfg.total_env_steps:
            elapsed_min = (time.perf_counter() - start_time) / 60
            if stop["stop"] or (run_cfg.max_minutes is not None and elapsed_min >= run_cfg.max_minutes):
                break
            if ppo_cfg.lr_schedule == "linear":
                lr = ppo_cfg.lr * (1.0 - counters["env_steps"] / run_cfg.total_env_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr

            t0 = time.perf_counter()
            seed = (cfg.seed * _SEED_STRIDE + counters["update"] * ppo_cfg.num_envs) % EVAL_SEED_OFFSET
            agent.eval()
            batch, info = collect_trials(agent, envs, seed=seed, generator=generator)
            t1 = time.perf_counter()
            agent.train()
            losses = ppo_update(agent, optimizer, batch, ppo_cfg, generator=generator)
            t2 = time.perf_counter()

            steps = int(batch.mask.sum())
            counters["update"] += 1
            counters["env_steps"] += steps
            counters["wall_clock_s"] = wall_at_start + time.perf_counter() - start_time
            last_train = trial_metrics(info)
            scalars = {f"train/{k}": v for k, v in last_train.items()}
            scalars.update({f"losses/{k}": v for k, v in losses.items()})
            scalars.update({
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "charts/env_steps_per_s": steps / (t2 - t0),
                "charts/rollout_s": t1 - t0,
                "charts/update_s": t2 - t1,
                "charts/wall_clock_s": counters["wall_clock_s"],
            })

            is_last = counters["env_steps"] >= run_cfg.total_env_steps
            if run_cfg.eval_every and (counters["update"] % run_cfg.eval_every == 0 or is_last):
                # The same held-out tasks every time (seeds from EVAL_SEED_OFFSET), so the curve compares.
                agent.eval()
                eval_policy = AgentPolicy(agent, num_envs=run_cfg.eval_trials, seed=cfg.seed)
                eval_metrics = trial_metrics(run_trials(eval_policy, cfg.env.id, env_kwargs(cfg.env),
                                                        num_trials=run_cfg.eval_trials))
                scalars.update({f"eval/{k}": v for k, v in eval_metrics.items()})
                if eval_metrics["trial_return"] > counters["best_eval_return"]:
                    counters["best_eval_return"] = eval_metrics["trial_return"]
                    checkpoint("best.pt")

            for key, value in scalars.items():
                writer.add_scalar(key, value, counters["env_steps"])
            metrics_file.write(json.dumps({"env_steps": counters["env_steps"], "update": counters["update"],
                                           **scalars}) + "\n")
            metrics_file.flush()
            progress.update(steps)
            progress.set_postfix(ret=f"{last_train['trial_return']:.2f}",
                                 sps=f"{scalars['charts/env_steps_per_s']:.0f}")
            if counters["update"] % run_cfg.checkpoint_every == 0:
                checkpoint("last.pt")
        # Whatever stopped the loop (end, time limit, Ctrl-C, SIGTERM), the run can be resumed from here.
        checkpoint("last.pt")
    progress.close()
    metrics_file.close()
    writer.close()
    return {"env_steps": counters["env_steps"], "updates": counters["update"],
            "wall_clock_s": counters["wall_clock_s"], "best_eval_return": counters["best_eval_return"],
            "train": last_train, "stopped_by_signal": stop["stop"]}


def _truncate_metrics(path: Path, env_steps: int) -> None:
    """Drop lines logged after the checkpoint we resume from, so the curve continues without a fork."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["env_steps"] <= env_steps]
    path.write_text("".join(line + "\n" for line in lines))


def _write_hparams(writer: SummaryWriter, cfg: DictConfig) -> None:
    """The flattened config in TensorBoard's HParams tab, linked to the eval and train return curves."""
    flat = flatten(OmegaConf.to_container(cfg))
    hparam_dict = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in flat.items()}
    metrics = {"eval/trial_return": 0.0, "train/trial_return": 0.0}
    for summary in hparams(hparam_dict, metrics):
        writer.file_writer.add_summary(summary)


def flatten(tree: Mapping, prefix: str = "") -> dict:
    """{"algo": {"lr": 1}} -> {"algo.lr": 1}"""
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
