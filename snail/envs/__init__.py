"""TEMPORARY shim until the envs move lands (refactor-envs branch replaces this file)."""
from collections.abc import Mapping

import gymnasium as gym
import numpy as np

import envs  # noqa: F401

ENV_IDS = {"bandit": "snail/Bandit-v0", "maze": "snail/Maze-v0", "tabular_mdp": "snail/TabularMDP-v0"}


def env_id_of(env_name: str) -> str:
    if env_name in ENV_IDS:
        return ENV_IDS[env_name]
    if env_name in ENV_IDS.values():
        return env_name
    raise ValueError(f"unknown env {env_name!r}; allowed: {sorted(ENV_IDS)} or {sorted(ENV_IDS.values())}")


def env_name_of(env_id: str) -> str:
    env_id = env_id_of(env_id)
    return next(name for name, id_ in ENV_IDS.items() if id_ == env_id)


def make_vector_env(env_id, num_envs, options):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **dict(options))


def env_options(env_cfg: Mapping) -> dict:
    return {k: v for k, v in env_cfg.items() if k not in ("name", "id")}


def inner_episode_starts(obs):
    return np.asarray(obs)[:, -1] > 0.5
