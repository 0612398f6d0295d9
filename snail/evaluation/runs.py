"""Loading a trained run for evaluation: its config, its checkpoint's weights, and one-line errors for what
the user can fix (a missing folder, an unreadable or foreign checkpoint, a config that no longer fits the code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import torch
from omegaconf import DictConfig

from snail.agent import Agent, build_agent
from snail.checkpoint import CheckpointError, check_state_dict, load_checkpoint
from snail.config import ConfigError
from snail.config.evaluate import CHECKPOINTS, EvaluationError
from snail.config.saved import load_saved_config, plain_config
from snail.envs import env_id_of, env_options, make_vector_env

REQUIRED_PAYLOAD_KEYS = ("model", "obs_dim", "num_actions", "max_len")


def one_line(err: BaseException | str) -> str:
    text = str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(err).__name__


def check_env(env_cfg: Mapping, where: str) -> tuple[str, dict, gym.vector.VectorEnv]:
    """Gymnasium id, options and a one-row vector env of an env config; errors name `where` it came from."""
    if not isinstance(env_cfg, Mapping) or "id" not in env_cfg:
        raise EvaluationError(f"{where}: the env config has no 'id' (got {env_cfg!r})")
    try:
        env_id = env_id_of(env_cfg["id"])
    except ValueError as err:
        raise EvaluationError(f"{where}: {err}") from err
    kwargs = env_options(env_cfg)
    try:
        probe = make_vector_env(env_id, 1, kwargs)
    except (TypeError, ValueError, gym.error.Error) as err:
        raise EvaluationError(f"{where}: the env options {kwargs} no longer fit the code: {one_line(err)}"
                              ) from err
    return env_id, kwargs, probe




@dataclass
class LoadedRun:
    run_dir: Path
    checkpoint: Path
    config: DictConfig  # the run's whole (resolved) training config
    agent: Agent
    env_id: str
    env_options: dict
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
    """The run's config.yaml (else the checkpoint's copy), read as plain values: interpolations are refused,
    never resolved (snail.config.saved)."""
    config_file = run_dir / "config.yaml"
    try:
        if config_file.is_file():
            cfg, where = load_saved_config(config_file), str(config_file)
        elif isinstance(payload.get("config"), Mapping):
            where = f"the config saved in {ckpt_path}"
            cfg = plain_config(payload["config"], where)
        else:
            raise EvaluationError(f"{run_dir} has no config.yaml and {ckpt_path} holds no config")
    except ConfigError as err:
        raise EvaluationError(str(err)) from None
    for key in ("env", "model"):
        if not isinstance(cfg.get(key), Mapping):
            raise EvaluationError(f"{where} has no '{key}' section")
    return cfg, where


def load_run(path: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild a run's agent from its saved config and a checkpoint's weights (eval mode, on `device`)."""
    run_dir, ckpt_path = resolve_run_path(path, checkpoint)
    payload = load_checkpoint(ckpt_path, map_location=device)
    missing = [k for k in REQUIRED_PAYLOAD_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{str(ckpt_path)!r} is not a complete snail checkpoint (missing {missing})")
    cfg, where = _load_config(run_dir, payload, ckpt_path)
    env_id, kwargs, probe = check_env(cfg.env, where)
    try:
        dims = {"obs_dim": probe.single_observation_space.shape[0],
                "num_actions": int(probe.single_action_space.n),
                "max_len": int(probe.unwrapped.max_trial_steps)}
    finally:
        probe.close()
    for key, value in dims.items():
        if payload[key] != value:
            raise EvaluationError(f"the env of {where} gives {key}={value}, but {ckpt_path} was trained with "
                                  f"{key}={payload[key]}: the config and the checkpoint are from different runs")
    try:
        agent = build_agent(cfg.model, **dims)
    except (ValueError, TypeError) as err:
        raise EvaluationError(f"the model config in {where} no longer fits the code: {one_line(err)}") from err
    check_state_dict(agent, payload["model"], ckpt_path, where)
    agent.load_state_dict(payload["model"])
    agent.to(device).eval()
    counters = dict(payload.get("counters") or {})
    return LoadedRun(run_dir, ckpt_path, cfg, agent, env_id, kwargs, counters)
