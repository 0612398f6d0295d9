"""Bernoulli multi-armed bandits (SNAIL §5.1 / RL² §3.1): `snail/Bandit-v0`.

A trial draws K arm probabilities p_i ~ Uniform[0, 1] and lasts `pulls` (N) steps; pulling arm a gives
reward 1 with probability p_a, else 0. The trial is a single inner episode.

Observation: float32 [1], only the inner-episode flag, which is always 0 here (a bandit trial is one inner
episode). As in the paper, the agent sees nothing but its previous action and reward, and those are the
agent's inputs to build (see docs/interfaces.md), not the environment's.

info (reset and trial end): `arm_probs` float64 [K], `optimal_return` = N * max(p) (float).
At trial end also `trial_return`, `episode_returns` [1], `episode_lengths` [1].
"""

from __future__ import annotations

import numpy as np

from snail.envs._common import MetaEnv, MetaVectorEnv, check_int

OBS_DIM = 1  # the observation is the inner-episode flag alone (always 0)


class BanditVectorEnv(MetaVectorEnv):
    """`num_envs` bandit trials in lockstep. Options: `arms` K >= 2 (default 5), `pulls` N >= 1 (default 100).

    Exposes `arm_probs` (float64 [num_envs, K], the current trials' p).
    """

    reward_bounds = (0.0, 1.0)

    def __init__(self, num_envs: int = 1, arms: int = 5, pulls: int = 100):
        num_envs = check_int("num_envs", num_envs, 1)
        self.arms = check_int("arms", arms, 2)
        self.pulls = check_int("pulls", pulls, 1)
        self._setup(num_envs, obs_dim=OBS_DIM, num_actions=self.arms, episodes=1, max_trial_steps=self.pulls)
        k, n_pulls = self.arms, self.pulls
        # One row per env holds the whole trial's randomness: [p (K) | uniforms (N) | 1 spare].
        # Pull t of arm a pays 1 iff uniforms[t] < p[a]. The spare column is what a row whose trial has
        # ended reads when it is stepped once more before its autoreset.
        self._width = k + n_pulls + 1
        self._draws = np.ones((num_envs, self._width))
        self._flat = self._draws.reshape(-1)
        self._row_base = np.arange(num_envs, dtype=np.int64) * self._width
        self._u_index = self._row_base + k  # flat index of the next pull's uniform
        self._t = np.zeros(num_envs, np.int64)

    @property
    def arm_probs(self) -> np.ndarray:
        return self._draws[:, : self.arms].copy()

    def _new_trials(self, rows: np.ndarray) -> None:
        size = self._width - 1
        for i in rows:
            self._rngs[i].random(out=self._draws[i, :size])
        self._u_index[rows] = self._row_base[rows] + self.arms
        self._t[rows] = 0

    def _task_step(self, actions: np.ndarray):
        p = self._flat.take(self._row_base + actions)
        u = self._flat.take(self._u_index)
        reward = (u < p).astype(np.float64)
        self._u_index += 1
        self._t += 1
        return reward, self._t >= self.pulls

    def _end_inner_episodes(self, rows: np.ndarray, continuing: np.ndarray) -> None:
        pass  # one inner episode per trial: nothing continues

    def _task_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        probs = self._draws[rows, : self.arms]
        return {"arm_probs": probs, "optimal_return": self.pulls * probs.max(axis=1)}


class BanditEnv(MetaEnv):
    """One bandit trial per episode; see the module docstring. Options: `arms` (K >= 2), `pulls` (N >= 1),
    `render_mode` None or "ansi" (each arm's p, pulls and rewards so far)."""

    vector_class = BanditVectorEnv

    def __init__(self, arms: int = 5, pulls: int = 100, render_mode: str | None = None):
        super().__init__(render_mode=render_mode, arms=arms, pulls=pulls)

    def _render_text(self) -> str:
        probs = self._core.arm_probs[0]
        actions, rewards = np.asarray(self._actions, np.int64), np.asarray(self._rewards)
        pulls = np.bincount(actions, minlength=len(probs))
        paid = np.bincount(actions, weights=rewards, minlength=len(probs)).astype(np.int64)
        last = self._actions[-1] if self._actions else None
        return "\n".join(f"{'*' if a == last else ' '} arm {a}: p={p:.2f}, {pulls[a]} pulls, {paid[a]} paid"
                         for a, p in enumerate(probs))
