"""Tabular-MDP baselines: posterior sampling (PSRL) and an oracle that plans on the true MDP."""

from __future__ import annotations

import numpy as np

from snail.envs import inner_episode_starts
from snail.envs.tabular_mdp import TabularMDPObsLayout, solve_finite_horizon
from snail.evaluation.baselines.common import BatchedPolicy, RandomPolicy, action_sized


class _MDPPolicy(BatchedPolicy):
    """Tracks the state (the one-hot part of obs) and the step within the inner episode (restarts at a trial's
    first step and where the inner-episode flag is set). Subclasses plan a table `plan` [n, H + 1, S]
    (action by steps remaining and state) at every inner episode's start, in `_plan(rows)`."""

    def __init__(self, num_envs, num_actions, seed=0, num_states: int = 10, episode_length: int = 10):
        super().__init__(num_envs, num_actions, seed)
        self.num_states = int(num_states)
        self.obs_layout = TabularMDPObsLayout(self.num_states)
        self.episode_length = int(episode_length)
        self.step = np.zeros(self.num_envs, dtype=np.int64)
        self.state = np.zeros(self.num_envs, dtype=np.int64)
        self.plan = np.zeros((self.num_envs, self.episode_length + 1, self.num_states), dtype=np.int64)

    def _plan(self, rows: np.ndarray) -> None:
        raise NotImplementedError

    def _choose(self, obs, reset):
        new_episode = reset | inner_episode_starts(obs)
        if new_episode.any():
            self.step[new_episode] = 0
            self._plan(np.flatnonzero(new_episode))
        self.state = self.obs_layout.states_of(obs)
        remaining = np.clip(self.episode_length - self.step, 1, self.episode_length)
        action = self.plan[np.arange(self.num_envs), remaining, self.state]
        self.step += 1
        return action


class PSRLPolicy(_MDPPolicy):
    """Posterior sampling RL (Osband et al. 2013). Dirichlet(1) posterior over every (s, a)'s next state,
    Normal posterior over its mean reward (prior Normal(1, 1), known reward variance 1). At the start of
    every inner episode it samples one MDP per row and follows its finite-horizon optimal policy."""

    def __init__(self, num_envs, num_actions, seed=0, num_states=10, episode_length=10):
        super().__init__(num_envs, num_actions, seed, num_states, episode_length)
        shape = (self.num_envs, self.num_states, self.num_actions)
        self.counts = np.zeros((*shape, self.num_states))  # transition counts
        self.visits = np.zeros(shape)  # reward observations
        self.reward_sum = np.zeros(shape)

    def _reset_rows(self, rows):
        self.counts[rows] = 0
        self.visits[rows] = 0
        self.reward_sum[rows] = 0

    def _update(self, rows, obs, prev_action, prev_reward):
        prev_state = self.state[rows]
        self.visits[rows, prev_state, prev_action] += 1
        self.reward_sum[rows, prev_state, prev_action] += prev_reward
        # The first step of a new inner episode shows the start state, not the last step's next state.
        same_episode = ~inner_episode_starts(obs)
        r, s, a = rows[same_episode], prev_state[same_episode], prev_action[same_episode]
        self.counts[r, s, a, self.obs_layout.states_of(obs[same_episode])] += 1

    def _plan(self, rows):
        alpha = 1.0 + self.counts[rows]
        gammas = self.rng.standard_gamma(alpha)
        transitions = gammas / gammas.sum(-1, keepdims=True)
        precision = 1.0 + self.visits[rows]
        mean = (1.0 + self.reward_sum[rows]) / precision
        rewards = mean + self.rng.standard_normal(mean.shape) / np.sqrt(precision)
        self.plan[rows] = solve_finite_horizon(rewards, transitions, self.episode_length)[0]


class MDPOraclePolicy(_MDPPolicy):
    """Value iteration on the true MDP (the env's `transition_probs` [n, S, A, S] and `reward_means`
    [n, S, A]): the optimal H-step policy of every inner episode (its expected return: optimal_return)."""

    def __init__(self, num_envs, num_actions, seed=0, num_states=10, episode_length=10):
        super().__init__(num_envs, num_actions, seed, num_states, episode_length)
        self.true_plan = np.zeros_like(self.plan)

    def set_task(self, info, rows, env=None):
        if env is None:
            raise ValueError("the MDP oracle needs the env (set_task(info, rows, env)) to read the true MDP")
        transitions = np.asarray(env.transition_probs)[rows]
        rewards = np.asarray(env.reward_means)[rows]
        self.true_plan[rows] = solve_finite_horizon(rewards, transitions, self.episode_length)[0]

    def _plan(self, rows):
        self.plan[rows] = self.true_plan[rows]


def _mdp(cls):
    return lambda env, num_envs, seed, **params: cls(num_envs, env.num_actions, seed, num_states=env.states,
                                                     episode_length=env.episode_length, **params)


BUILDERS = {
    "random": action_sized(RandomPolicy),
    "psrl": _mdp(PSRLPolicy),
    "oracle": _mdp(MDPOraclePolicy),
}
