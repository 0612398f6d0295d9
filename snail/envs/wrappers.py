"""RL²-style observations, for agents from other libraries that see only the observation.

A meta-RL agent has to see what it did and what it got: our agents build that input themselves (the
observation, a one-hot of the previous action and the previous reward, docs/interfaces.md), but an outside
recurrent agent (sb3-contrib's RecurrentPPO, ...) sees only the env's observation, which on the bandit is the
inner-episode flag alone. These wrappers put the same input into the observation:

    [env observation (D) | one-hot previous action (A) | previous reward (1)]        float32 [D + A + 1]

with the action and reward parts zero at a trial's first step (a trial is one Gymnasium episode). Inside a
trial they carry across inner-episode boundaries, as our agents' inputs do.

    env = MetaRLObservation(gymnasium.make("snail/Bandit-v0"))                        # one env
    envs = MetaRLVectorObservation(make_vector_env("snail/Bandit-v0", 64, {}))      # the native vector env

The vector wrapper follows the wrapped env's autoreset mode (NEXT_STEP, our envs' mode, or SAME_STEP): the
first observation of a row's new trial has zeros in the action and reward parts. `meta_rl_features` is the
one function that builds the observation; `snail.trials.PredictorPolicy` uses it to play a wrapped-env agent
in the trial loop.

Observation space: the env's Box bounds for its part, [0, 1] for the one-hot, and the env's reward bounds
(`reward_bounds` of our envs: bandit [0, 1], maze [-0.011, 0.99], tabular MDP unbounded; other envs:
unbounded), widened to hold the 0 of a trial's first step.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

__all__ = ["MetaRLObservation", "MetaRLVectorObservation", "meta_rl_features", "meta_rl_space"]


def _reward_bounds(env) -> tuple[float, float]:
    low, high = getattr(env.unwrapped, "reward_bounds", (-np.inf, np.inf))
    return min(float(low), 0.0), max(float(high), 0.0)


def meta_rl_space(observation_space: gym.Space, action_space: gym.Space,
                  reward_bounds: tuple[float, float] = (-np.inf, np.inf)) -> gym.spaces.Box:
    """The Box of [observation | one-hot previous action | previous reward] for a flat Box observation and a
    Discrete action space."""
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"observation space {observation_space} is not supported: expected a 1-D Box")
    if not isinstance(action_space, gym.spaces.Discrete) or action_space.start != 0:
        raise ValueError(f"action space {action_space} is not supported: expected Discrete(n) starting at 0")
    n = int(action_space.n)
    low, high = reward_bounds
    return gym.spaces.Box(np.concatenate([observation_space.low, np.zeros(n), [low]]).astype(np.float32),
                          np.concatenate([observation_space.high, np.ones(n), [high]]).astype(np.float32),
                          dtype=np.float32)


def meta_rl_features(obs, prev_action, prev_reward, num_actions: int) -> np.ndarray:
    """obs [n, D], prev_action [n] int (-1: none, a trial's first step), prev_reward [n] -> float32
    [n, D + num_actions + 1]: the observation, the one-hot previous action (zeros for -1), the previous reward
    (zeroed where prev_action is -1)."""
    obs = np.asarray(obs, dtype=np.float32)
    prev_action = np.asarray(prev_action, dtype=np.int64)
    n, d = obs.shape
    out = np.zeros((n, d + num_actions + 1), np.float32)
    out[:, :d] = obs
    known = prev_action >= 0
    rows = np.flatnonzero(known)
    out[rows, d + prev_action[rows]] = 1.0
    out[:, -1] = np.where(known, prev_reward, 0.0)
    return out


class MetaRLObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """One env (any with a 1-D Box observation and Discrete actions) whose observation also holds the previous
    action (one-hot) and reward, zeros after `reset`; see the module docstring."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)  # so that gymnasium can rebuild it from env.spec
        gym.Wrapper.__init__(self, env)
        self.observation_space = meta_rl_space(env.observation_space, env.action_space, _reward_bounds(env))
        self.num_actions = int(env.action_space.n)

    def _observe(self, obs, action: int, reward: float) -> np.ndarray:
        return meta_rl_features(np.asarray(obs)[None], [action], [reward], self.num_actions)[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observe(obs, -1, 0.0), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observe(obs, int(action), float(reward)), reward, terminated, truncated, info


class MetaRLVectorObservation(VectorWrapper):
    """A vector env (autoreset NEXT_STEP or SAME_STEP) whose observations also hold each row's previous action
    (one-hot) and reward, zeros at every trial's first step; see the module docstring."""

    def __init__(self, env: VectorEnv):
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode={mode} is not supported: expected NEXT_STEP or SAME_STEP (a row's "
                             "new trial must be recognisable from the dones)")
        self._same_step = mode == AutoresetMode.SAME_STEP
        self.single_observation_space = meta_rl_space(env.single_observation_space, env.single_action_space,
                                                      _reward_bounds(env))
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self.num_actions = int(env.single_action_space.n)
        n = env.num_envs
        self._done = np.zeros(n, bool)  # rows whose trial ended at the last step (for NEXT_STEP)
        self._prev_action = np.full(n, -1, np.int64)  # what each row's last observation showed
        self._prev_reward = np.zeros(n)

    def _observe(self, obs) -> np.ndarray:
        return meta_rl_features(obs, self._prev_action, self._prev_reward, self.num_actions)

    def reset(self, *, seed=None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        rows = np.ones(self.num_envs, bool)
        if options and "reset_mask" in options:  # the other rows go on: they keep their previous action/reward
            rows = np.asarray(options["reset_mask"], dtype=bool)
        self._done[rows] = False
        self._prev_action[rows] = -1
        self._prev_reward[rows] = 0.0
        return self._observe(obs), info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        done = np.asarray(terminated) | np.asarray(truncated)
        new_trial = done if self._same_step else self._done
        self._done = done
        self._prev_action = np.where(new_trial, -1, np.asarray(actions, dtype=np.int64))
        self._prev_reward = np.where(new_trial, 0.0, reward)
        return self._observe(obs), reward, terminated, truncated, info
