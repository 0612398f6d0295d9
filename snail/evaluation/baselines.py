"""Classical baselines for the meta-RL tasks: batched numpy policies with the learned agents' interface.

Every policy handles `num_envs` parallel env rows and has

    act(obs [n, D] float32, prev_action [n] int64, prev_reward [n] float, reset [n] bool) -> actions [n] int64

It sees what a learned agent sees: the observation and the previous action and reward (-1 and 0 at a trial's
first step); `reset` marks rows whose trial starts at this step, whose statistics are cleared first. It learns
its per-row statistics from `prev_action` / `prev_reward` alone. Oracles additionally get the task through
`set_task(info, rows, env)`, called when the rows `rows` (int indices) start a trial: `info` is the vector
env's reset `info` (arrays over rows, Gymnasium's vector convention) and `env` the unwrapped vector env, whose
task accessors (`arm_probs`, `reward_means` / `transition_probs`, `grids` / `start_cells` / ...) then hold
the new trials' tasks; every other policy ignores it.
`snail.trials.run_trials` drives any such policy.

Build one with `make_baseline(name, env_name, num_envs, seed, env_kwargs=..., **params)`; `BASELINES` lists
the names per env. Tunable baselines (epsilon_greedy, ucb1, gittins) take the best value of a small grid
(`DEFAULT_GRIDS`), found by `snail.evaluation.score.tune_baseline` on tuning seeds disjoint from the
evaluation seeds, as RL² did.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

from snail.envs import env_id_of, env_name_of, inner_episode_starts, make_vector_env
from snail.envs.maze import (
    DC,
    DR,
    GOAL,
    OPEN,
    TURN_LEFT,
    TURNS_TO_FACE,
    WALL,
    MazeObsLayout,
    cell_square,
    grid_path,
    path_actions,
    reached_goal,
    turn_towards,
)
from snail.envs.tabular_mdp import TabularMDPObsLayout, solve_finite_horizon

BASELINES: dict[str, list[str]] = {
    "bandit": ["random", "greedy", "epsilon_greedy", "ucb1", "thompson", "optimistic_thompson", "gittins",
               "oracle"],
    "tabular_mdp": ["random", "psrl", "oracle"],
    "maze": ["random", "explorer", "oracle"],
}

# Grids searched by `tune_baseline` (one hyperparameter each).
DEFAULT_GRIDS: dict[str, dict[str, list[float]]] = {
    "epsilon_greedy": {"epsilon": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3]},
    "ucb1": {"c": [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0], "prior": [False, True]},
    "gittins": {"gamma": [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]},
}


def _random_argmax(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------------- bandits


class _BanditPolicy(BatchedPolicy):
    """Keeps per-row, per-arm success and failure counts (rewards are 0/1)."""

    def __init__(self, num_envs, num_actions, seed=0):
        super().__init__(num_envs, num_actions, seed)
        self.successes = np.zeros((self.num_envs, self.num_actions))
        self.failures = np.zeros((self.num_envs, self.num_actions))

    def _reset_rows(self, rows):
        self.successes[rows] = 0
        self.failures[rows] = 0

    def _update(self, rows, obs, prev_action, prev_reward):
        self.successes[rows, prev_action] += prev_reward
        self.failures[rows, prev_action] += 1 - prev_reward

    @property
    def pulls(self) -> np.ndarray:
        return self.successes + self.failures

    @property
    def posterior_mean(self) -> np.ndarray:
        """Mean of the Beta(1 + s, 1 + f) posterior of every arm."""
        return (1 + self.successes) / (2 + self.pulls)


class GreedyPolicy(_BanditPolicy):
    """Pulls the arm with the highest posterior mean (Beta(1,1) prior: untried arms count as 0.5)."""

    def _choose(self, obs, reset):
        return _random_argmax(self.posterior_mean, self.rng)


class EpsilonGreedyPolicy(GreedyPolicy):
    """Greedy (posterior mean), but a uniformly random arm with probability `epsilon`."""

    def __init__(self, num_envs, num_actions, seed=0, epsilon: float = 0.1):
        super().__init__(num_envs, num_actions, seed)
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)

    def _choose(self, obs, reset):
        greedy = super()._choose(obs, reset)
        explore = self.rng.random(self.num_envs) < self.epsilon
        return np.where(explore, self.rng.integers(self.num_actions, size=self.num_envs), greedy)


class UCB1Policy(_BanditPolicy):
    """UCB1 (Auer et al. 2002): every arm once, then argmax of mean_i + c * sqrt(2 ln t / n_i) (c=1: UCB1).

    With `prior=True` the estimate is smoothed by the Beta(1,1) prior: argmax of (s_i + 1) / (n_i + 2)
    + c * sqrt(2 ln(t + 1) / (n_i + 1)), which does not spend the first K pulls on a round of every arm
    (that round alone costs most of a short trial, e.g. N=10, K=5) and tends to greedy as c -> 0.
    """

    def __init__(self, num_envs, num_actions, seed=0, c: float = 1.0, prior: bool = False):
        super().__init__(num_envs, num_actions, seed)
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        self.c = float(c)
        self.prior = bool(prior)

    def _choose(self, obs, reset):
        n = self.pulls
        t = n.sum(-1, keepdims=True)
        if self.prior:
            score = self.posterior_mean + self.c * np.sqrt(2 * np.log(t + 1) / (n + 1))
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                score = self.successes / n + self.c * np.sqrt(2 * np.log(np.maximum(t, 1)) / n)
            score = np.where(n == 0, np.inf, score)
        return _random_argmax(score, self.rng)


class ThompsonPolicy(_BanditPolicy):
    """Thompson sampling with a Beta(1,1) prior: pulls the argmax of one posterior sample per arm."""

    def _sample(self):
        return self.rng.beta(1 + self.successes, 1 + self.failures)

    def _choose(self, obs, reset):
        return _random_argmax(self._sample(), self.rng)


class OptimisticThompsonPolicy(ThompsonPolicy):
    """Optimistic Thompson sampling (May et al. 2012): argmax of max(posterior sample, posterior mean)."""

    def _sample(self):
        return np.maximum(super()._sample(), self.posterior_mean)


@functools.lru_cache(maxsize=16)
def gittins_index_table(gamma: float, max_sum: int, grid: int = 1000) -> np.ndarray:
    """Gittins indices of a Bernoulli arm with a Beta(a, b) posterior, discount `gamma`.

    Returns `table` [max_sum + 1, max_sum + 1] with `table[a, b]` the index (in reward per step, in [0, 1])
    for integer a, b >= 1 with a + b <= max_sum (NaN elsewhere). With a Beta(1,1) prior, an arm with s
    successes and f failures is in state (1 + s, 1 + f).

    Method (calibration / retirement, Gittins 1979): with a retirement reward lam per step, the value of the
    optimal stopping problem is V(a, b) = max(lam / (1 - gamma), p + gamma (p V(a+1, b) + (1-p) V(a, b+1))),
    p = a / (a + b), and the index of (a, b) is the lam at which retiring and continuing are equal. V is
    computed for all `grid` values of lam in [0, 1] at once by backward induction over the levels a + b = n of
    the posterior lattice (vectorized over lam and the states of a level), starting at a level `depth` beyond
    `max_sum` where V is approximated by max(lam, p) / (1 - gamma) (the posterior hardly moves there;
    depth = max(50, log(0.05) / log(gamma)) gives indices stable to ~1e-5). The root of
    continue(lam) - retire(lam), monotone in lam, is then linearly interpolated between grid points
    (error ~1e-6 against bisection on a single tree). gamma = 0.9 gives index(1, 1) = 0.7029 and
    gamma = 0.99 gives 0.8699, the values of Gittins' tables. The cost grows as (max_sum + depth)^2: about
    0.3 s for gamma = 0.99 and max_sum = 102, 1.5 s for max_sum = 502, 0.7 s for gamma = 0.995 (0.999: ~20 s).
    """
    if not 0 < gamma < 1:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    if max_sum < 2:
        raise ValueError(f"max_sum must be >= 2, got {max_sum}")
    depth = max(50, math.ceil(math.log(0.05) / math.log(gamma)))
    lam = np.linspace(0.0, 1.0, grid)
    retire = lam[:, None] / (1 - gamma)  # [grid, 1]
    top = max_sum + depth
    p = np.arange(1, top) / top
    value = np.maximum(lam[:, None], p[None]) / (1 - gamma)  # level a + b = top, a = 1 .. top - 1
    table = np.full((max_sum + 1, max_sum + 1), np.nan)
    cols_all = np.arange(max_sum)
    for n in range(top - 1, 1, -1):
        p = np.arange(1, n) / n  # level n: a = 1 .. n-1, b = n - a
        cont = p + gamma * (p * value[:, 1:] + (1 - p) * value[:, :-1])  # [grid, n - 1]
        value = np.maximum(cont, retire)
        if n <= max_sum:
            gap = cont - retire  # decreasing in lam, > 0 at lam = 0, <= 0 at lam = 1
            below = gap <= 0
            hi = np.where(below.any(0), below.argmax(0), grid - 1)
            lo = np.maximum(hi - 1, 0)
            cols = cols_all[: n - 1]
            g_lo, g_hi = gap[lo, cols], gap[hi, cols]
            safe = np.where(g_lo > g_hi, g_lo - g_hi, 1.0)
            index = np.where(g_lo > g_hi, lam[lo] + (lam[hi] - lam[lo]) * g_lo / safe, lam[lo])
            a = np.arange(1, n)
            table[a, n - a] = index
    table.setflags(write=False)
    return table


class GittinsPolicy(_BanditPolicy):
    """Pulls the arm with the highest Gittins index (Beta(1,1) prior, discount `gamma`; see
    `gittins_index_table`). The discount is a tuning parameter for the undiscounted N-pull task."""

    def __init__(self, num_envs, num_actions, seed=0, gamma: float = 0.9, max_pulls: int = 1000):
        super().__init__(num_envs, num_actions, seed)
        self.gamma = float(gamma)
        self.table = gittins_index_table(self.gamma, int(max_pulls) + 2)

    def _choose(self, obs, reset):
        a = 1 + self.successes.astype(np.int64)
        b = 1 + self.failures.astype(np.int64)
        return _random_argmax(self.table[a, b], self.rng)


class BanditOraclePolicy(BatchedPolicy):
    """Knows the arm probabilities (from the reset info's `arm_probs`) and always pulls the best arm."""

    def __init__(self, num_envs, num_actions, seed=0):
        super().__init__(num_envs, num_actions, seed)
        self.best = np.zeros(self.num_envs, dtype=np.int64)

    def set_task(self, info, rows, env=None):
        self.best[rows] = np.asarray(info["arm_probs"])[rows].argmax(-1)

    def _choose(self, obs, reset):
        return self.best.copy()


# ------------------------------------------------------------------------------------------ tabular MDPs


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


# ---------------------------------------------------------------------------------------------------- mazes

# The explorer's map marks squares it has not seen with this; the others hold the env's OPEN, WALL or GOAL.
_UNKNOWN = -1


class _MazePolicy(BatchedPolicy):
    """Reads the maze env's sizes (`size`, `view_size`, `egocentric`, `observe_position`) and parses its
    observation through the env's `MazeObsLayout`."""

    def __init__(self, num_envs, num_actions, seed=0, size: int = 5, view_size: int = 3,
                 egocentric: bool = True, observe_position: bool = False):
        super().__init__(num_envs, num_actions, seed)
        self.size, self.view_size, self.egocentric = int(size), int(view_size), bool(egocentric)
        self.obs_layout = MazeObsLayout(self.view_size, self.size, bool(observe_position), self.egocentric)


class MazeOraclePolicy(_MazePolicy):
    """Knows the maze (the env's `grids`, `start_cells`, `goal_cells`, `headings`) and follows the shortest
    path from the start to the goal in every inner episode: `shortest_path` actions each."""

    def __init__(self, num_envs, num_actions, seed=0, **maze):
        super().__init__(num_envs, num_actions, seed, **maze)
        self.plans: list[list[int]] = [[] for _ in range(self.num_envs)]
        self.step = np.zeros(self.num_envs, dtype=np.int64)

    def set_task(self, info, rows, env=None):
        if env is None:
            raise ValueError("the maze oracle needs the env (set_task(info, rows, env)) to read the maze")
        grids, starts, goals, headings = env.grids, env.start_cells, env.goal_cells, env.headings
        for i in rows:
            directions = grid_path(grids[i], cell_square(starts[i]), cell_square(goals[i]))
            plan = path_actions(directions, int(headings[i]), self.egocentric)
            # After the goal (a step whose action the env ignores): turn left / step back the way it came.
            plan.append(TURN_LEFT if self.egocentric else (directions[-1] + 2) % 4)
            self.plans[i] = plan

    def _choose(self, obs, reset):
        self.step[reset | inner_episode_starts(obs)] = 0
        plans, step = self.plans, self.step
        action = np.array([plans[i][min(step[i], len(plans[i]) - 1)] for i in range(self.num_envs)])
        self.step += 1
        return action


class MazeExplorerPolicy(_MazePolicy):
    """Explores a maze it does not know by depth-first search, then goes straight to the goal.

    It keeps a map of the squares it has seen (walls, open squares, goal) in a frame fixed to its start cell:
    the heading is in the observation, the position comes from dead reckoning (a forward move succeeds unless
    the map shows a wall ahead; the view always includes the adjacent walls, so it never bumps). The map and
    its memory are kept across the trial's inner episodes (every inner episode restarts at the start cell).
    At every cell: if the goal square has been seen, it takes the fewest moves to it through known passages
    (in a perfect maze this is the shortest path, so once the goal is known every later inner episode takes
    exactly `shortest_path` actions); otherwise depth-first search over cells: move into a neighbouring branch
    (not back towards its parent) that still holds an unseen square, preferring the fewest turns; with none
    left, backtrack to the parent cell.
    """

    def __init__(self, num_envs, num_actions, seed=0, **maze):
        super().__init__(num_envs, num_actions, seed, **maze)
        self.half = 2 * self.size + self.view_size + 1
        width = 2 * self.half + 1
        self.map = np.full((self.num_envs, width, width), _UNKNOWN, dtype=np.int8)
        self.pos = np.full((self.num_envs, 2), self.half, dtype=np.int64)
        self.stack: list[list[tuple[int, int]]] = [[] for _ in range(self.num_envs)]
        self.direction = np.full(self.num_envs, -1, dtype=np.int64)  # planned move from the current cell
        self.heading = np.zeros(self.num_envs, dtype=np.int64)  # heading in the last observation
        self.arrived = np.ones(self.num_envs, dtype=bool)  # at a cell it has not planned from yet
        # Map offsets [4, area] of the view's squares for each heading.
        self.view_r, self.view_c = self.obs_layout.window_offsets

    def _restart(self, rows):
        self.pos[rows] = self.half
        for i in rows:
            self.stack[i] = [(self.half, self.half)]
        self.arrived[rows] = True

    def _reset_rows(self, rows):
        self.map[rows] = _UNKNOWN
        self._restart(rows)

    def _update(self, rows, obs, prev_action, prev_reward):
        # Direction of the last action's move: a forward move keeps the heading seen before it (the obs now
        # may be a new inner episode's, with the start heading); a cardinal move goes where it says.
        if self.egocentric:
            moving, heading = prev_action == 0, self.heading[rows]
        else:
            moving, heading = np.ones(len(rows), dtype=bool), prev_action
        dr, dc = np.take(DR, heading), np.take(DC, heading)
        r, c = self.pos[rows, 0], self.pos[rows, 1]
        moved = moving & (self.map[rows, r + dr, c + dc] != WALL)
        self.pos[rows, 0] += np.where(moved, 2 * dr, 0)
        self.pos[rows, 1] += np.where(moved, 2 * dc, 0)
        # The goal reward (+1) means that move reached the goal (with a small view it may never have been
        # seen: the episode ends on arrival).
        at_goal = rows[moved & reached_goal(prev_reward)]
        self.map[at_goal, self.pos[at_goal, 0], self.pos[at_goal, 1]] = GOAL
        self.arrived[rows[moved]] = True
        for i in rows[moved]:
            cell = (int(self.pos[i, 0]), int(self.pos[i, 1]))
            stack = self.stack[i]
            if len(stack) >= 2 and stack[-2] == cell:
                stack.pop()
            else:
                stack.append(cell)

    def _choose(self, obs, reset):
        flag = ~reset & inner_episode_starts(obs)
        if flag.any():  # a new inner episode: back at the start cell, facing the start heading
            self._restart(np.flatnonzero(flag))
        self.heading = heading = self.obs_layout.headings_of(obs)
        walls, goal = obs[:, self.obs_layout.walls] > 0.5, obs[:, self.obs_layout.goal] > 0.5
        rows = np.arange(self.num_envs)[:, None]
        seen_r = self.pos[:, :1] + self.view_r[heading]
        seen_c = self.pos[:, 1:] + self.view_c[heading]
        self.map[rows, seen_r, seen_c] = np.where(walls, WALL, np.where(goal, GOAL, OPEN))
        for i in np.flatnonzero(self.arrived | (self.direction < 0)):
            self.direction[i] = self._plan(i, int(heading[i]))
        self.arrived[:] = False
        if self.egocentric:
            return np.array([turn_towards(d, h) for d, h in zip(self.direction, heading, strict=True)])
        return self.direction.copy()

    def _plan(self, i: int, heading: int) -> int:
        """Direction of the next move of row i from its current cell."""
        grid, cell = self.map[i], (int(self.pos[i, 0]), int(self.pos[i, 1]))
        goals = np.argwhere(grid == GOAL)
        if len(goals):
            path = grid_path(grid, cell, tuple(int(x) for x in goals[0]))
            if path:
                return path[0]
        stack = self.stack[i]
        parent = stack[-2] if len(stack) >= 2 else None
        r, c = cell
        options = []
        for d in range(4):
            nxt = (r + 2 * DR[d], c + 2 * DC[d])
            if grid[r + DR[d], c + DC[d]] == OPEN and nxt != parent and self._unexplored(grid, nxt, cell):
                options.append((TURNS_TO_FACE[(d - heading) % 4], d))
        if options:
            return min(options)[1]
        if parent is not None:
            return next(d for d in range(4) if (r + 2 * DR[d], c + 2 * DC[d]) == parent)
        open_dirs = [d for d in range(4) if grid[r + DR[d], c + DC[d]] == OPEN]  # nothing left to explore
        return int(self.rng.choice(open_dirs)) if open_dirs else int(self.rng.integers(4))

    @staticmethod
    def _unexplored(grid: np.ndarray, start: tuple[int, int], came_from: tuple[int, int]) -> bool:
        """Whether the branch of cells reached from `start` through known passages, without going back
        through `came_from`, has a cell with an unseen square (itself or one of its four walls)."""
        seen, todo = {start, came_from}, [start]
        while todo:
            r, c = todo.pop()
            if grid[r, c] == _UNKNOWN:
                return True
            for d in range(4):
                wall = grid[r + DR[d], c + DC[d]]
                if wall == _UNKNOWN:
                    return True
                nxt = (r + 2 * DR[d], c + 2 * DC[d])
                if wall == OPEN and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False


# ------------------------------------------------------------------------------------------------ registry


def _bandit(cls):
    return lambda env, num_envs, seed, **params: cls(num_envs, env.num_actions, seed, **params)


def _mdp(cls):
    return lambda env, num_envs, seed, **params: cls(num_envs, env.num_actions, seed, num_states=env.states,
                                                     episode_length=env.episode_length, **params)


def _maze(cls):
    return lambda env, num_envs, seed, **params: cls(num_envs, env.num_actions, seed, size=env.size,
                                                     view_size=env.view_size, egocentric=env.egocentric,
                                                     observe_position=env.observe_position, **params)


_BUILDERS = {
    ("bandit", "random"): _bandit(RandomPolicy),
    ("bandit", "greedy"): _bandit(GreedyPolicy),
    ("bandit", "epsilon_greedy"): _bandit(EpsilonGreedyPolicy),
    ("bandit", "ucb1"): _bandit(UCB1Policy),
    ("bandit", "thompson"): _bandit(ThompsonPolicy),
    ("bandit", "optimistic_thompson"): _bandit(OptimisticThompsonPolicy),
    ("bandit", "gittins"): lambda env, num_envs, seed, **params: GittinsPolicy(
        num_envs, env.num_actions, seed, max_pulls=env.max_trial_steps, **params),
    ("bandit", "oracle"): _bandit(BanditOraclePolicy),
    ("tabular_mdp", "random"): _bandit(RandomPolicy),
    ("tabular_mdp", "psrl"): _mdp(PSRLPolicy),
    ("tabular_mdp", "oracle"): _mdp(MDPOraclePolicy),
    ("maze", "random"): _bandit(RandomPolicy),
    ("maze", "explorer"): _maze(MazeExplorerPolicy),
    ("maze", "oracle"): _maze(MazeOraclePolicy),
}


def make_baseline(name: str, env_name: str, num_envs: int, seed: int = 0, env_kwargs: Mapping | None = None,
                  **params) -> BatchedPolicy:
    """Baseline `name` for env `env_name` ("bandit", "maze", "tabular_mdp" or its Gymnasium id) with
    `num_envs` rows. `env_kwargs` are the env's options (the policy reads its sizes from the env); `params`
    the baseline's hyperparameters (e.g. epsilon=0.1, c=0.2, gamma=0.95). Unknown names raise ValueError."""
    env = env_name_of(env_name)
    if name not in BASELINES[env]:
        raise ValueError(f"unknown baseline {name!r} for env {env!r}; allowed: {BASELINES[env]}")
    builder = _BUILDERS.get((env, name))
    if builder is None:
        raise NotImplementedError(f"baseline {name!r} for {env!r} is not implemented yet")
    # The policy reads the task's sizes from a one-row instance of the env.
    probe = make_vector_env(env_id_of(env), 1, env_kwargs or {})
    try:
        return builder(probe.unwrapped, num_envs, seed, **params)
    finally:
        probe.close()
