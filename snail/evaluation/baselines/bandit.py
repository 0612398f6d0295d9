"""Bernoulli-bandit baselines: greedy, epsilon-greedy, UCB1, Thompson sampling (plain and optimistic), the
Gittins index policy, the Bayes-optimal policy for short horizons (oracle_bayes), and an oracle that knows the
arms."""

from __future__ import annotations

import functools
import math

import numpy as np

from snail.evaluation.baselines.common import BatchedPolicy, RandomPolicy, action_sized, random_argmax


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
        return random_argmax(self.posterior_mean, self.rng)


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
        return random_argmax(score, self.rng)


class ThompsonPolicy(_BanditPolicy):
    """Thompson sampling with a Beta(1,1) prior: pulls the argmax of one posterior sample per arm."""

    def _sample(self):
        return self.rng.beta(1 + self.successes, 1 + self.failures)

    def _choose(self, obs, reset):
        return random_argmax(self._sample(), self.rng)


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
        return random_argmax(self.table[a, b], self.rng)


# The largest horizon N the exact Bayes-optimal DP is computed for: its posterior states grow exponentially
# (N=10: 4,435 states, instant; N=15: ~50,000 and ~0.5 s at K=5, a few seconds at K >= 15; N=20: 0.35 M and
# 5 s at K=5, 1.4 M and 25 s at K >= 20).
ORACLE_BAYES_MAX_PULLS = 15

def check_oracle_bayes_pulls(pulls: int) -> None:
    if not 1 <= pulls <= ORACLE_BAYES_MAX_PULLS:
        raise ValueError(f"oracle_bayes: pulls={pulls} is out of range: the exact Bayes-optimal policy is computed "
                         f"for pulls 1..{ORACLE_BAYES_MAX_PULLS} (its states grow exponentially with pulls)")


State = tuple  # sorted tuple of (successes, failures) of the arms pulled so far: the posterior up to symmetry


class BayesOptimalBandit:
    """The Bayes-optimal policy of a K-armed Bernoulli bandit with independent uniform priors (Beta(1,1) per
    arm) and a known horizon of N pulls, undiscounted: exact dynamic programming over posterior counts.

    The posterior is the arms' (successes, failures) counts. Arms are exchangeable under the prior, so a state
    is the multiset of the pulled arms' counts (a sorted tuple of pairs), the K - len(state) unpulled arms being
    interchangeable; the values V(state) (expected reward of the remaining pulls, Bellman's recursion with the
    Beta posterior mean (1 + s) / (2 + s + f) as an arm's success probability) are memoized. `value()` is the
    expected trial return under the prior: 6.660 for N=10, K=5 and 6.714 for N=10, K >= 10 (with K >= N an
    unpulled arm is always left, so K no longer matters). Feasible for N <= ORACLE_BAYES_MAX_PULLS.
    """

    def __init__(self, arms: int, pulls: int):
        check_oracle_bayes_pulls(pulls)
        if arms < 1:
            raise ValueError(f"oracle_bayes: arms={arms} is invalid: expected an integer >= 1")
        self.arms, self.pulls = int(arms), int(pulls)
        self._values: dict[State, float] = {}
        self._best: dict[State, list[tuple[int, int]]] = {}

    @staticmethod
    def _moved(state: State, counts: tuple[int, int], success: bool) -> State:
        """The state after pulling an arm with `counts` ((0, 0): an unpulled arm) and seeing `success`."""
        pairs = list(state)
        if counts != (0, 0):
            pairs.remove(counts)
        s, f = counts
        pairs.append((s + 1, f) if success else (s, f + 1))
        return tuple(sorted(pairs))

    def choices(self, state: State) -> list[tuple[int, int]]:
        """The distinct counts of the arms one may pull in `state` ((0, 0) for an unpulled arm)."""
        options = sorted(set(state))
        return options + [(0, 0)] if len(state) < self.arms else options

    def q_value(self, state: State, counts: tuple[int, int]) -> float:
        """Expected reward of the remaining pulls: pull an arm with `counts` now, then play optimally."""
        s, f = counts
        p = (1 + s) / (2 + s + f)
        return (p * (1.0 + self.value(self._moved(state, counts, True)))
                + (1 - p) * self.value(self._moved(state, counts, False)))

    def value(self, state: State = ()) -> float:
        """Expected reward of the remaining pulls of `state` under the optimal policy (() = a trial's start)."""
        if state not in self._values:
            if sum(s + f for s, f in state) >= self.pulls:
                self._values[state] = 0.0
            else:
                self._values[state] = max(self.q_value(state, c) for c in self.choices(state))
        return self._values[state]

    def best_counts(self, state: State) -> list[tuple[int, int]]:
        """The counts of every optimal arm to pull in `state` (ties within 1e-9)."""
        if state not in self._best:
            q = {c: self.q_value(state, c) for c in self.choices(state)}
            top = max(q.values())
            self._best[state] = [c for c, v in q.items() if v >= top - 1e-9]
        return self._best[state]


class BayesOptimalPolicy(_BanditPolicy):
    """oracle_bayes: the Bayes-optimal policy for the env's prior (uniform arm probabilities) and horizon
    (`BayesOptimalBandit`; pulls <= ORACLE_BAYES_MAX_PULLS). Knows no task, only the prior: the best any
    learner can do on average. Ties between optimal arms are broken uniformly at random."""

    def __init__(self, num_envs, num_actions, seed=0, pulls: int = 10):
        super().__init__(num_envs, num_actions, seed)
        self.dp = BayesOptimalBandit(num_actions, pulls)

    def _choose(self, obs, reset):
        successes, failures = self.successes.astype(np.int64), self.failures.astype(np.int64)
        actions = np.empty(self.num_envs, dtype=np.int64)
        for i in range(self.num_envs):
            counts = list(zip(successes[i].tolist(), failures[i].tolist(), strict=True))
            state = tuple(sorted(c for c in counts if c != (0, 0)))
            if sum(s + f for s, f in state) >= self.dp.pulls:  # the row's trial is over (masked steps)
                actions[i] = 0
                continue
            best = set(self.dp.best_counts(state))
            arms = [a for a, c in enumerate(counts) if c in best]
            actions[i] = arms[self.rng.integers(len(arms))]
        return actions


def check_oracle_bayes(env) -> None:
    """Raise ValueError (one line, naming the allowed range) when oracle_bayes cannot be computed for `env`."""
    check_oracle_bayes_pulls(env.max_trial_steps)


class BanditOraclePolicy(BatchedPolicy):
    """Knows the arm probabilities (from the reset info's `arm_probs`) and always pulls the best arm."""

    def __init__(self, num_envs, num_actions, seed=0):
        super().__init__(num_envs, num_actions, seed)
        self.best = np.zeros(self.num_envs, dtype=np.int64)

    def set_task(self, info, rows, env=None):
        self.best[rows] = np.asarray(info["arm_probs"])[rows].argmax(-1)

    def _choose(self, obs, reset):
        return self.best.copy()


BUILDERS = {
    "random": action_sized(RandomPolicy),
    "greedy": action_sized(GreedyPolicy),
    "epsilon_greedy": action_sized(EpsilonGreedyPolicy),
    "ucb1": action_sized(UCB1Policy),
    "thompson": action_sized(ThompsonPolicy),
    "optimistic_thompson": action_sized(OptimisticThompsonPolicy),
    "gittins": lambda env, num_envs, seed, **params: GittinsPolicy(num_envs, env.num_actions, seed,
                                                                   max_pulls=env.max_trial_steps, **params),
    "oracle_bayes": lambda env, num_envs, seed, **params: BayesOptimalPolicy(num_envs, env.num_actions, seed,
                                                                             pulls=env.max_trial_steps, **params),
    "oracle": action_sized(BanditOraclePolicy),
}

# Baselines that only some env options allow: name -> check(env) raising ValueError (a one-line reason).
LIMITS = {"oracle_bayes": check_oracle_bayes}

# Grids searched by `snail.evaluation.score.tune_baseline` (one hyperparameter each, ucb1 two).
GRIDS: dict[str, dict[str, list]] = {
    "epsilon_greedy": {"epsilon": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3]},
    "ucb1": {"c": [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0], "prior": [False, True]},
    "gittins": {"gamma": [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]},
}
