"""Random tabular MDPs (SNAIL §5.1 / RL² §3.2): `snail/TabularMDP-v0`.

A trial draws an MDP with S states and A actions: mean rewards mu(s, a) ~ Normal(1, 1) and transition rows
P(. | s, a) ~ Dirichlet(1, ..., 1) (flat; drawn as normalized Exp(1) variables). The trial is `episodes`
inner episodes of `episode_length` (H) steps, each starting in state 0. The reward of a step is
mu(s, a) + Normal(0, 1) noise.

Observation: float32 [S + 1] = one-hot of the current state, then the inner-episode flag (1 on the first
step of every inner episode after the first).

info (reset and trial end): `optimal_return` (float) = episodes * V*_0(0), the expected trial return of the
finite-horizon (H-step) value-iteration policy on the true MDP (with mu as the expected reward).
At trial end also `trial_return`, `episode_returns` [episodes], `episode_lengths` [episodes].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snail.envs._common import FLAG_INDEX, MetaEnv, MetaVectorEnv, check_int


@dataclass(frozen=True)
class TabularMDPObsLayout:
    """Where each part of a tabular-MDP observation lies: float32 [obs_dim] = one-hot state [states] | flag."""

    states: int

    @property
    def state(self) -> slice:
        """The one-hot of the current state."""
        return slice(0, self.states)

    @property
    def obs_dim(self) -> int:
        return self.states + 1

    @property
    def flag(self) -> int:
        """Index of the inner-episode flag: the last entry (`FLAG_INDEX` counted from the front)."""
        return self.obs_dim + FLAG_INDEX

    def states_of(self, obs: np.ndarray) -> np.ndarray:
        """int64 [n]: the state shown in each row of observations `obs` [n, obs_dim]."""
        return np.asarray(obs)[:, self.state].argmax(-1)


def solve_finite_horizon(mu: np.ndarray, probs: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite-horizon value iteration (backward induction) on m MDPs at once.

    mu [m, S, A] mean rewards, probs [m, S, A, S] transitions -> (policy int64 [m, horizon + 1, S], values
    float64 [m, horizon + 1, S]), indexed by the number of steps *remaining* h = 0 .. horizon: policy[:, h, s]
    is an optimal action in state s with h steps to go (first of the best on ties; h = 0 is unused, 0) and
    values[:, h, s] its expected return (0 at h = 0). V*_0 of a `horizon`-step episode is values[:, horizon].
    """
    m, states, actions = mu.shape
    rows = probs.reshape(m, states * actions, states)  # one batched matrix-vector product per step
    # Filled horizon-major, so that every step reads and writes contiguous [m, S] blocks; returned as views.
    policy = np.zeros((horizon + 1, m, states), np.int64)
    values = np.zeros((horizon + 1, m, states))
    for h in range(1, horizon + 1):
        q = mu + (rows @ values[h - 1, :, :, None]).reshape(m, states, actions)
        policy[h] = best = q.argmax(axis=-1)
        # The best action's q is the max (ties are equal), read off without a second reduction over actions.
        values[h] = np.take_along_axis(q, best[..., None], axis=-1)[..., 0]
    return policy.transpose(1, 0, 2), values.transpose(1, 0, 2)


class TabularMDPVectorEnv(MetaVectorEnv):
    """`num_envs` random-MDP trials. Options: `states` (>= 1, default 10), `actions` (>= 1, default 5),
    `episode_length` (H >= 1, default 10), `episodes` (>= 1, default 10).

    Exposes the current trials' MDPs: `reward_means` [num_envs, S, A], `transition_probs` [num_envs, S, A, S];
    and `obs_layout` (a `TabularMDPObsLayout`).
    """

    def __init__(self, num_envs: int = 1, states: int = 10, actions: int = 5, episode_length: int = 10,
                 episodes: int = 10):
        num_envs = check_int("num_envs", num_envs, 1)
        self.states = check_int("states", states, 1)
        self.actions = check_int("actions", actions, 1)
        self.episode_length = check_int("episode_length", episode_length, 1)
        episodes = check_int("episodes", episodes, 1)
        trial_steps = episodes * self.episode_length
        self.obs_layout = layout = TabularMDPObsLayout(self.states)
        self._setup(num_envs, obs_dim=layout.obs_dim, num_actions=self.actions, episodes=episodes,
                    max_trial_steps=trial_steps)
        n, s, a = num_envs, self.states, self.actions
        self._mu = np.zeros((n, s, a))
        self._probs = np.zeros((n, s, a, s))
        # Cumulative transition rows, one per (env, s, a): the next state is the number of entries <= u.
        self._cum = np.ones((n * s * a, s))
        # Per-step randomness of the whole trial: reward noise and the transitions' uniforms. The spare
        # column is what a row whose trial has ended reads when it is stepped once more before its autoreset.
        self._noise = np.zeros((n, trial_steps + 1))
        self._uniforms = np.zeros((n, trial_steps + 1))
        self._optimal = np.zeros(n)
        self._state = np.zeros(n, np.int64)
        self._t = np.zeros(n, np.int64)  # steps taken in the trial
        self._row_sa = np.arange(n, dtype=np.int64) * (s * a)
        self._row_t = np.arange(n, dtype=np.int64) * (trial_steps + 1)
        # Flat index of each row's state one-hot: the state's entry is that + the state.
        self._row_obs = np.arange(n, dtype=np.int64) * layout.obs_dim + layout.state.start
        self._mu_flat = self._mu.reshape(-1)
        self._noise_flat = self._noise.reshape(-1)
        self._uniforms_flat = self._uniforms.reshape(-1)
        self._obs_flat = self._obs.reshape(-1)

    @property
    def reward_means(self) -> np.ndarray:
        return self._mu.copy()

    @property
    def transition_probs(self) -> np.ndarray:
        return self._probs.copy()

    def _new_trials(self, rows: np.ndarray) -> None:
        steps = self.max_trial_steps
        for i in rows:
            rng = self._rngs[i]
            rng.standard_normal(out=self._mu[i])
            rng.standard_exponential(out=self._probs[i])
            rng.standard_normal(out=self._noise[i, :steps])
            rng.random(out=self._uniforms[i, :steps])
        mu = self._mu[rows] + 1.0
        probs = self._probs[rows]
        probs /= probs.sum(axis=-1, keepdims=True)
        self._mu[rows] = mu
        self._probs[rows] = probs
        cum = np.cumsum(probs, axis=-1)
        cum[..., -1] = 1.0  # so that a uniform in [0, 1) never runs past the last state through rounding
        sa = (self._row_sa[rows, None] + np.arange(self.states * self.actions)).reshape(-1)
        self._cum[sa] = cum.reshape(-1, self.states)
        values = solve_finite_horizon(mu, probs, self.episode_length)[1]
        self._optimal[rows] = self.episodes * values[:, self.episode_length, 0]
        self._t[rows] = 0
        self._set_state(rows, 0)

    def _set_state(self, rows: np.ndarray, state) -> None:
        self._obs_flat[self._row_obs[rows] + self._state[rows]] = 0.0
        self._state[rows] = state
        self._obs_flat[self._row_obs[rows] + state] = 1.0

    def _task_step(self, actions: np.ndarray):
        sa = self._row_sa + self._state * self.actions + actions
        t = self._row_t + self._t
        reward = self._mu_flat.take(sa) + self._noise_flat.take(t)
        u = self._uniforms_flat.take(t)
        next_state = (self._cum.take(sa, axis=0) <= u[:, None]).sum(axis=1)
        self._obs_flat[self._row_obs + self._state] = 0.0
        self._obs_flat[self._row_obs + next_state] = 1.0
        self._state = next_state
        self._t += 1
        return reward, self._t % self.episode_length == 0

    def _end_inner_episodes(self, rows: np.ndarray, continuing: np.ndarray) -> None:
        self._set_state(rows[continuing], 0)

    def _task_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"optimal_return": self._optimal[rows]}


class TabularMDPEnv(MetaEnv):
    """One random-MDP trial per episode; see the module docstring. `render_mode` None or "ansi" (the state
    and the step of the inner episode)."""

    vector_class = TabularMDPVectorEnv

    def __init__(self, states: int = 10, actions: int = 5, episode_length: int = 10, episodes: int = 10,
                 render_mode: str | None = None):
        super().__init__(render_mode=render_mode, states=states, actions=actions, episode_length=episode_length,
                         episodes=episodes)

    def _render_text(self) -> str:
        core = self._core
        step = int(core._t[0]) - core.episode_length * min(int(core._ep_idx[0]), core.episodes - 1)
        return f"state {int(core._state[0])} of {core.states}, step {step}/{core.episode_length} of the inner episode"
