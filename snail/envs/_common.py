"""What the three meta-RL tasks share: the batched trial core, the one-row single env, input checks.

The batched env (`MetaVectorEnv`) is the only implementation of a task; the single env (`MetaEnv`) drives
a one-row instance of it, so the two cannot drift apart. A subclass describes one task through four hooks:

- `_new_trials(rows)`: draw a fresh task for each row in `rows` from `self._rngs[i]` (ALL of the trial's
  randomness: the task and any per-step noise, so `step` needs no random calls), put the agent at the start
  and write the first observation into `self._obs[rows, :-1]`.
- `_task_step(actions) -> (reward float64 [n], inner_done bool [n])`: advance every row by one step (pure
  array code, no loop over rows) and write `self._obs[:, :-1]`. Rows whose trial already ended get stepped
  too (their output is discarded and the row is restarted), so the task state must stay indexable there.
- `_end_inner_episodes(rows, continuing)`: rows whose inner episode just ended (`self._ep_idx[rows]` is still
  its index); rows where `continuing` is True go on with the next inner episode: put the agent back at the
  start and rewrite their observation.
- `_task_info(rows) -> {key: array [len(rows), ...]}`: the task-level info (in `reset` and at trial end);
  `_final_info(rows)` may add trial-end keys, and `_episode_end_info(rows)` keys for every step where an
  inner episode ends (read before `_end_inner_episodes`, so the agent is still where the episode ended).

Hooks may read `self._ep_len` (steps taken in the current inner episode, not counting the step being
taken) and `self._ep_idx` (the current inner episode's index). The base class keeps the trial bookkeeping
(returns, inner-episode lengths and index, the flag, autoreset) and builds `info` in Gymnasium's vector
convention: the same arrays and masks `SyncVectorEnv` would build from the single envs' dicts.
"""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv

# Every task's observation ends with the inner-episode flag: 1.0 on the first step of every inner episode after
# the first (the step after one ended), else 0.0. Agents and baselines read episode boundaries from it.
FLAG_INDEX = -1


def inner_episode_starts(obs):
    """bool [...]: the observations of `obs` [..., obs_dim] (a numpy array, a torch tensor, which stays one, or
    a nested list) whose flag is set (an inner episode after the first starts at this step). A trial's first
    step is not flagged: that is the policy's `reset`."""
    if not hasattr(obs, "ndim"):
        obs = np.asarray(obs)
    return obs[..., FLAG_INDEX] > 0.5


def check_int(name: str, value: Any, minimum: int, hint: str = "") -> int:
    """`value` as an int >= `minimum`, or a ValueError that names it (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r} is invalid: expected an integer >= {minimum}{hint}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} is invalid: expected an integer >= {minimum}{hint}")
    return int(value)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is invalid: expected one of {allowed}")
    return value


class MetaVectorEnv(VectorEnv):
    """Batched trials of one meta-RL task (numpy, no subprocesses); see the module docstring.

    Observations: float32 [num_envs, obs_dim] in [0, 1], last column the inner-episode flag. Rewards: float64
    [num_envs]. Autoreset mode NEXT_STEP: the step after a row's trial ended returns the first observation of
    a new trial (drawn from the row's generator, which carries on), reward 0, not terminated, and the new
    trial's task info. Trials end with `terminated`, never `truncated`.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    # (lowest, highest) reward a step can give (a row's autoreset step gives 0); the task sets it when known.
    reward_bounds: tuple[float, float] = (-np.inf, np.inf)

    def _setup(self, num_envs: int, obs_dim: int, num_actions: int, episodes: int, max_trial_steps: int):
        """Spaces and trial bookkeeping; called by the subclass's __init__ once its options are checked."""
        n = self.num_envs = num_envs
        self.num_actions = num_actions
        self.episodes = episodes
        self.max_trial_steps = int(max_trial_steps)
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, (obs_dim,), np.float32)
        self.single_action_space = gym.spaces.Discrete(num_actions)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n, obs_dim), np.float32)
        self.action_space = gym.spaces.MultiDiscrete(np.full(n, num_actions))

        self._rngs: list[np.random.Generator | None] = [None] * n
        self._obs = np.zeros((n, obs_dim), np.float32)
        self._trial_return = np.zeros(n)
        self._ep_return = np.zeros(n)  # return of the current inner episode
        self._ep_len = np.zeros(n, np.int64)  # steps taken in the current inner episode
        self._ep_idx = np.zeros(n, np.int64)  # index of the current inner episode
        self._ep_returns = np.zeros((n, episodes))
        self._ep_lengths = np.zeros((n, episodes), np.int64)
        self._needs_reset = np.zeros(n, bool)  # rows whose trial ended at the last step
        self._any_needs_reset = False
        self._flag_set = False  # some row's flag is 1 in self._obs
        self._started = False

    # ---- public API -------------------------------------------------------------------------------------

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        """Start a new trial in every row (or in the rows of `options["reset_mask"]`, bool [num_envs]).

        `seed=s` seeds row i with s + i (a list gives one seed per row); `seed=None` carries on with each
        row's generator (seeded from fresh entropy on first use). Returns (obs [n, obs_dim], info) where info
        holds the task-level keys of the new trials.
        """
        n = self.num_envs
        mask = np.ones(n, bool)
        if options:
            unknown = set(options) - {"reset_mask"}
            if unknown:
                raise ValueError(f"reset options {sorted(unknown)} are not supported: only 'reset_mask'")
            mask = np.asarray(options["reset_mask"])
            if mask.dtype != bool or mask.shape != (n,):
                raise ValueError(f"reset_mask must be a bool array of shape ({n},), got "
                                 f"dtype {mask.dtype} shape {mask.shape}")
        if seed is None:
            seeds = [None] * n
        elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(n)]
        elif isinstance(seed, (list, tuple)) and len(seed) == n:
            seeds = list(seed)
        else:
            raise ValueError(f"seed={seed!r} is invalid: expected None, an int, or a list of {n} ints/None")
        rows = np.flatnonzero(mask)
        for i in rows:
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
        self._start_trials(rows)
        self._needs_reset[rows] = False
        self._any_needs_reset = bool(self._needs_reset.any())
        self._started = True
        info: dict[str, Any] = {}
        self._put_info(info, rows, self._task_info(rows))
        return self._obs.copy(), info

    def step(self, actions):
        """actions: int array [num_envs] with values in [0, num_actions).
        Returns obs [n, obs_dim] float32, reward [n] float64, terminated [n], truncated [n] (bool), info."""
        if not self._started:
            raise gym.error.ResetNeeded("step() was called before reset()")
        return self._step(self._check_actions(actions))

    # ---- internals --------------------------------------------------------------------------------------

    def _check_actions(self, actions) -> np.ndarray:
        a = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({self.num_envs},), got dtype "
                             f"{a.dtype} and shape {a.shape}")
        lo, hi = a.min(), a.max()
        if lo < 0 or hi >= self.num_actions:
            bad = a[(a < 0) | (a >= self.num_actions)][0]
            raise ValueError(f"action {bad} is out of range: actions must be in [0, {self.num_actions})")
        return a.astype(np.int64, copy=False)

    def _start_trials(self, rows: np.ndarray) -> None:
        self._trial_return[rows] = 0.0
        self._ep_return[rows] = 0.0
        self._ep_len[rows] = 0
        self._ep_idx[rows] = 0
        self._ep_returns[rows] = 0.0
        self._ep_lengths[rows] = 0
        self._obs[rows, FLAG_INDEX] = 0.0
        self._new_trials(rows)

    def _step(self, a: np.ndarray):
        n = self.num_envs
        reward, inner_done = self._task_step(a)
        self._trial_return += reward
        self._ep_return += reward
        self._ep_len += 1
        if self._flag_set:  # the flag lasts one step
            self._obs[:, FLAG_INDEX] = 0.0
            self._flag_set = False
        pending = self._any_needs_reset
        if pending:  # these rows start a new trial instead (below); their step above is discarded
            inner_done &= ~self._needs_reset
        terminated = np.zeros(n, bool)
        info: dict[str, Any] = {}
        if inner_done.any():
            rows = np.flatnonzero(inner_done)
            ep = self._ep_idx[rows]
            self._ep_returns[rows, ep] = self._ep_return[rows]
            self._ep_lengths[rows, ep] = self._ep_len[rows]
            self._ep_return[rows] = 0.0
            self._ep_len[rows] = 0
            continuing = ep + 1 < self.episodes
            self._put_info(info, rows, self._episode_end_info(rows))
            self._end_inner_episodes(rows, continuing)
            self._ep_idx[rows] = ep + 1
            flagged = rows[continuing]
            if flagged.size:
                self._obs[flagged, FLAG_INDEX] = 1.0
                self._flag_set = True
            ended = rows[~continuing]
            if ended.size:
                terminated[ended] = True
                values = {"trial_return": self._trial_return[ended],
                          "episode_returns": self._ep_returns[ended],
                          "episode_lengths": self._ep_lengths[ended]}
                values.update(self._task_info(ended))
                values.update(self._final_info(ended))
                self._put_info(info, ended, values)
        if pending:
            rows = np.flatnonzero(self._needs_reset)
            self._start_trials(rows)
            reward[rows] = 0.0
            self._put_info(info, rows, self._task_info(rows))
        self._any_needs_reset = bool(terminated.any())
        if self._any_needs_reset or pending:
            self._needs_reset = terminated.copy()
        return self._obs.copy(), reward, terminated, np.zeros(n, bool), info

    def _put_info(self, info: dict, rows: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Scatter per-row values into `info` as [num_envs, ...] arrays plus `_key` masks."""
        for key, value in values.items():
            if key not in info:
                info[key] = np.zeros((self.num_envs, *value.shape[1:]), value.dtype)
                info["_" + key] = np.zeros(self.num_envs, bool)
            info[key][rows] = value
            info["_" + key][rows] = True

    def _final_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _episode_end_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _new_trials(self, rows: np.ndarray) -> None:
        raise NotImplementedError

    def _task_step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _end_inner_episodes(self, rows: np.ndarray, continuing: np.ndarray) -> None:
        raise NotImplementedError

    def _task_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError


class MetaEnv(gym.Env):
    """One trial per Gymnasium episode, run by a one-row `vector_class` (so both share every line of logic).

    `reset(seed=s)` seeds the env's `np_random`, which is the row's generator: the same seed gives what row i
    of the vector env gives after `reset(seed=s - i)`. Stepping after the trial ended needs a `reset()`.

    `render_mode` (None or one of `metadata["render_modes"]`): "ansi" gives a text view of the trial so far
    (a status line, then the task's `_render_text()`); a task that draws pictures adds "rgb_array" and
    implements `_render_rgb()`.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    vector_class: type[MetaVectorEnv]

    def __init__(self, render_mode: str | None = None, **kwargs):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is invalid: expected None or one of "
                             f"{self.metadata['render_modes']}")
        self.render_mode = render_mode
        self._core = self.vector_class(num_envs=1, **kwargs)
        self.observation_space = self._core.single_observation_space
        self.action_space = self._core.single_action_space
        self.max_trial_steps = self._core.max_trial_steps
        self.reward_bounds = self._core.reward_bounds
        if hasattr(self._core, "obs_layout"):  # the tasks whose observation has parts besides the flag
            self.obs_layout = self._core.obs_layout
        self._rows = np.zeros(1, np.int64)
        self._action = np.zeros(1, np.int64)
        self._actions: list[int] = []  # the trial's actions and rewards so far (what render shows)
        self._rewards: list[float] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options:
            raise ValueError(f"reset options {sorted(options)} are not supported: these envs take none")
        core = self._core
        core._rngs[0] = self.np_random
        core._start_trials(self._rows)
        core._needs_reset[0] = core._any_needs_reset = False
        core._started = True
        self._actions, self._rewards = [], []
        return core._obs[0].copy(), self._unbatch(core._task_info(self._rows))

    def step(self, action):
        core = self._core
        if not core._started:
            raise gym.error.ResetNeeded("step() was called before reset()")
        if core._any_needs_reset:
            raise gym.error.ResetNeeded("the trial has ended: call reset() before step()")
        if isinstance(action, np.ndarray) and action.ndim == 0:
            action = action[()]
        if isinstance(action, bool) or not isinstance(action, numbers.Integral):
            raise ValueError(f"action={action!r} is invalid: expected an integer in [0, {core.num_actions})")
        if not 0 <= action < core.num_actions:
            raise ValueError(f"action {action} is out of range: actions must be in [0, {core.num_actions})")
        self._action[0] = action
        obs, reward, terminated, _, info = core._step(self._action)
        info = self._unbatch({k: v for k, v in info.items() if not k.startswith("_")})
        self._actions.append(int(action))
        self._rewards.append(float(reward[0]))
        return obs[0], float(reward[0]), bool(terminated[0]), False, info

    def render(self):
        """The current trial as text ("ansi") or an RGB image uint8 [H, W, 3] ("rgb_array"), as `render_mode`
        says; None (with Gymnasium's warning) without a render mode."""
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render_mode: pass render_mode= to gymnasium.make "
                            f"(one of {self.metadata['render_modes']})")
            return None
        if not self._core._started:
            raise gym.error.ResetNeeded("render() was called before reset()")
        if self.render_mode == "rgb_array":
            return self._render_rgb()
        return f"{self._status_line()}\n{self._render_text()}"

    def _status_line(self) -> str:
        """Step, inner episode, the last action and reward, and the return so far."""
        core, t = self._core, len(self._actions)
        parts = [f"step {t}/{core.max_trial_steps}"]
        if core.episodes > 1:
            parts.append(f"inner episode {min(int(core._ep_idx[0]) + 1, core.episodes)}/{core.episodes}")
        if t:
            parts.append(f"last action {self._actions[-1]}, reward {self._rewards[-1]:+.3g}")
        parts.append(f"return {sum(self._rewards):.3g}" + (" (trial over)" if core._any_needs_reset else ""))
        return ", ".join(parts)

    def _render_text(self) -> str:
        raise NotImplementedError

    def _render_rgb(self) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _unbatch(values: dict[str, np.ndarray]) -> dict[str, Any]:
        """Row 0 of each [1, ...] value: arrays stay arrays, scalars become Python floats/ints/bools."""
        return {key: value[0].item() if value.ndim == 1 else value[0].copy() for key, value in values.items()}
