"""What every baseline shares: the batched policy base class and the random policy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def random_argmax(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """argmax over the last axis, ties broken uniformly at random."""
    best = values == values.max(axis=-1, keepdims=True)
    return np.argmax(best * rng.random(values.shape), axis=-1)


class BatchedPolicy:
    """Base class: `num_envs` rows, per-row state cleared on `reset`, updated from the previous step."""

    def __init__(self, num_envs: int, num_actions: int, seed: int = 0):
        self.num_envs = int(num_envs)
        self.num_actions = int(num_actions)
        self.rng = np.random.default_rng(seed)

    def set_task(self, info: Mapping, rows: np.ndarray, env=None) -> None:
        """Oracles read the task of `rows` from the reset `info` or the env's accessors; others ignore it."""

    def act(self, obs, prev_action, prev_reward, reset) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        prev_action = np.asarray(prev_action, dtype=np.int64)
        prev_reward = np.asarray(prev_reward, dtype=np.float64)
        reset = np.asarray(reset, dtype=bool)
        if obs.shape[0] != self.num_envs:
            raise ValueError(f"obs has {obs.shape[0]} rows, the policy was built for {self.num_envs}")
        if reset.any():
            self._reset_rows(np.flatnonzero(reset))
        seen = np.flatnonzero(~reset & (prev_action >= 0))
        if seen.size:
            self._update(seen, obs[seen], prev_action[seen], prev_reward[seen])
        return np.asarray(self._choose(obs, reset), dtype=np.int64)

    # Subclasses override these.
    def _reset_rows(self, rows: np.ndarray) -> None:
        pass

    def _update(self, rows, obs, prev_action, prev_reward) -> None:
        pass

    def _choose(self, obs: np.ndarray, reset: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class RandomPolicy(BatchedPolicy):
    """Uniformly random actions (any env)."""

    def _choose(self, obs, reset):
        return self.rng.integers(self.num_actions, size=self.num_envs)


def action_sized(cls):
    """A registry builder `(env, num_envs, seed, **params) -> policy` for a class that needs only the number
    of actions from the env."""
    return lambda env, num_envs, seed, **params: cls(num_envs, env.num_actions, seed, **params)
