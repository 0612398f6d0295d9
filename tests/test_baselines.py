"""Classical baselines (snail.evaluation.baselines) and the held-out trial loop (snail.trials.run_trials)."""

from __future__ import annotations

import numpy as np
import pytest

from snail.evaluation.baselines import BASELINES, DEFAULT_GRIDS, make_baseline, unavailable
from snail.evaluation.baselines.bandit import ORACLE_BAYES_MAX_PULLS, BayesOptimalBandit, gittins_index_table
from snail.evaluation.score import tune_baseline
from snail.metrics import summarize
from snail.trials import EVAL_SEED_OFFSET, TUNE_SEED_OFFSET, run_trials


def _single_tree_index(a0: int, b0: int, gamma: float, depth: int) -> float:
    """Gittins index of one Beta(a0, b0) state by plain bisection on the retirement reward (reference)."""

    def advantage(lam):
        n0 = a0 + b0
        p = (a0 + np.arange(depth + 1)) / (n0 + depth)
        value = np.maximum(lam, p) / (1 - gamma)
        for d in range(depth - 1, -1, -1):
            p = (a0 + np.arange(d + 1)) / (n0 + d)
            cont = p + gamma * (p * value[1:] + (1 - p) * value[:-1])
            value = np.maximum(cont, lam / (1 - gamma))
        return cont[0] - lam / (1 - gamma)

    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if advantage(mid) > 0 else (lo, mid)
    return lo


# ----------------------------------------------------------------------------------------- Gittins table


def test_gittins_known_values():
    # Gittins' tables (Gittins, Glazebrook & Weber 2011, Bernoulli arm, Beta(1,1)): 0.7029 for gamma = 0.9,
    # 0.8699 for gamma = 0.99.
    assert gittins_index_table(0.9, 12)[1, 1] == pytest.approx(0.7029, abs=2e-4)
    assert gittins_index_table(0.99, 12)[1, 1] == pytest.approx(0.8699, abs=2e-4)


def test_gittins_matches_single_tree_bisection():
    table = gittins_index_table(0.9, 40)
    for a, b in [(1, 1), (2, 5), (7, 3), (1, 20), (15, 15)]:
        assert table[a, b] == pytest.approx(_single_tree_index(a, b, 0.9, 80), abs=1e-4)


def test_gittins_monotone_and_limits():
    t90, t99 = gittins_index_table(0.9, 30), gittins_index_table(0.99, 30)
    assert 0.5 < t90[1, 1] < t99[1, 1] < 1
    low, high = gittins_index_table(0.5, 30)[1, 1], gittins_index_table(0.7, 30)[1, 1]
    assert 0.5 < low < high < t90[1, 1]
    for t in (t90, t99):
        for a in range(1, 15):
            for b in range(1, 15):
                assert t[a + 1, b] > t[a, b]  # more successes: higher index
                assert t[a, b + 1] < t[a, b]  # more failures: lower index
                assert t[a, b] > a / (a + b)  # exploration bonus over the posterior mean
    # The bonus vanishes as the posterior concentrates.
    assert t90[14, 14] - 0.5 < t90[2, 2] - 0.5
    assert np.isnan(t90[20, 20]) and np.isnan(t90[0, 1])


def test_gittins_table_is_fast_and_cached():
    import time

    start = time.perf_counter()
    gittins_index_table(0.98, 102)
    assert time.perf_counter() - start < 5.0
    assert gittins_index_table(0.98, 102) is gittins_index_table(0.98, 102)


# ------------------------------------------------------------------------------------------------ bandits

BANDIT = {"arms": 5, "pulls": 100}
ORACLE_MEAN = 100 * 5 / 6  # E[N max p] for K=5 uniform arms: N K / (K + 1)


def _bandit_summary(name, num_trials=1000, seed=0, kwargs=BANDIT, **params):
    policy = make_baseline(name, "bandit", 100, seed, env_kwargs=kwargs, **params)
    results = run_trials(policy, "bandit", kwargs, num_trials, seed)
    return results, summarize(results, "bandit")


def test_random_scores_half():
    _, s = _bandit_summary("random")
    assert abs(s["return"] - 50) < 3 * s["return_ci95"]
    assert abs(s["best_arm_fraction"] - 0.2) < 0.02


def test_oracle_scores_n_k_over_k_plus_1():
    results, s = _bandit_summary("oracle")
    assert s["best_arm_fraction"] == 1.0
    assert abs(s["return"] - ORACLE_MEAN) < 3 * s["return_ci95"]
    # Its regret is pure reward noise around N max p.
    assert abs(s["regret"]) < 3 * s["regret_ci95"]
    np.testing.assert_allclose(results["optimal_return"], 100 * results["arm_probs"].max(-1))


@pytest.mark.parametrize("name, params", [("thompson", {}), ("optimistic_thompson", {}), ("ucb1", {}),
                                          ("ucb1", {"c": 0.2}), ("greedy", {}),
                                          ("epsilon_greedy", {"epsilon": 0.1}), ("gittins", {"gamma": 0.9})])
def test_learning_baselines_between_random_and_oracle(name, params):
    _, s = _bandit_summary(name, **params)
    # 1000 trials: CI half-width about 1. Random scores 50, the oracle 83.3.
    assert 62 < s["return"] < ORACLE_MEAN - 3, s
    assert 0.35 < s["best_arm_fraction"] < 0.9


def test_gittins_at_least_as_good_as_ucb1():
    # Both at their tuned settings (tune_baseline on the tuning seeds, N=100, K=5), on the same 2000 tasks.
    gittins, _ = _bandit_summary("gittins", num_trials=2000, gamma=0.98)
    ucb1, _ = _bandit_summary("ucb1", num_trials=2000, c=0.1, prior=True)
    classic, _ = _bandit_summary("ucb1", num_trials=2000, c=0.2)
    diff = gittins["trial_return"] - ucb1["trial_return"]
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert diff.mean() > -se
    assert (gittins["trial_return"] - classic["trial_return"]).mean() > 0.5


def test_short_trials_favour_greedy_exploitation():
    # N=10: classic UCB1 spends half the trial on one pull of each arm; Gittins and greedy do not.
    kwargs = {"arms": 5, "pulls": 10}
    means = {name: _bandit_summary(name, kwargs=kwargs, **p)[1]["return"]
             for name, p in [("random", {}), ("ucb1", {}), ("greedy", {}), ("gittins", {"gamma": 0.8})]}
    assert means["random"] + 0.5 < means["ucb1"] < means["greedy"] - 0.4
    assert means["gittins"] > means["greedy"] - 0.1


# ------------------------------------------------------------------------------------------ oracle_bayes


def _brute_force_bayes_value(arms: int, pulls: int) -> float:
    """The Bayes-optimal value by plain recursion over every arm's own counts (no symmetry, no memo)."""

    def value(counts, left):
        if left == 0:
            return 0.0
        best = 0.0
        for a, (s, f) in enumerate(counts):
            p = (1 + s) / (2 + s + f)
            up, down = list(counts), list(counts)
            up[a], down[a] = (s + 1, f), (s, f + 1)
            best = max(best, p * (1 + value(tuple(up), left - 1)) + (1 - p) * value(tuple(down), left - 1))
        return best

    return value(((0, 0),) * arms, pulls)


def _gittins_exact_value(dp: BayesOptimalBandit, gamma: float) -> float:
    """Expected return of the Gittins index policy (ties uniformly at random) on the DP's states: policy
    evaluation, the reference the Bayes-optimal value must be at least."""
    table = gittins_index_table(gamma, dp.pulls + 2)
    memo = {}

    def value(state):
        if sum(s + f for s, f in state) >= dp.pulls:
            return 0.0
        if state not in memo:
            arms = list(state) + [(0, 0)] * (dp.arms - len(state))  # every arm's counts
            index = [table[1 + s, 1 + f] for s, f in arms]
            tied = [c for c, i in zip(arms, index, strict=True) if i >= max(index) - 1e-12]
            total = 0.0
            for counts in tied:  # each tied arm with probability 1 / len(tied)
                s, f = counts
                p = (1 + s) / (2 + s + f)
                total += (p * (1 + value(dp._moved(state, counts, True)))
                          + (1 - p) * value(dp._moved(state, counts, False))) / len(tied)
            memo[state] = total
        return memo[state]

    return value(())


def test_oracle_bayes_values_at_ten_pulls():
    # The figures: 6.66 for K=5, 6.71 for K=10 and 50 (with K >= N an unpulled arm is always left).
    assert BayesOptimalBandit(5, 10).value() == pytest.approx(6.66, abs=5e-3)
    assert BayesOptimalBandit(10, 10).value() == pytest.approx(6.71, abs=5e-3)
    assert BayesOptimalBandit(50, 10).value() == BayesOptimalBandit(10, 10).value()
    assert BayesOptimalBandit(2, 1).value() == 0.5
    assert BayesOptimalBandit(2, 2).value() == pytest.approx(0.5 + 0.5 * 2 / 3 + 0.5 * 0.5)


@pytest.mark.parametrize("arms, pulls", [(2, 5), (3, 4), (4, 3)])
def test_oracle_bayes_symmetric_dp_matches_brute_force(arms, pulls):
    assert BayesOptimalBandit(arms, pulls).value() == pytest.approx(_brute_force_bayes_value(arms, pulls), abs=1e-12)


@pytest.mark.parametrize("arms", [2, 5, 10])
def test_oracle_bayes_beats_or_ties_gittins_exactly(arms):
    dp = BayesOptimalBandit(arms, 10)
    gittins = {gamma: _gittins_exact_value(dp, gamma) for gamma in [0.01, *DEFAULT_GRIDS["gittins"]["gamma"]]}
    # Gittins' index is optimal for an infinite discounted horizon, not for N=10 pulls: strictly below, by a
    # little (K=5: 6.6575 at best against 6.6600; K=2: 6.02153 with gamma=0.8 against 6.02179).
    assert dp.value() > max(gittins.values()) + 1e-4, (dp.value(), gittins)


@pytest.mark.parametrize("arms", [5, 10])
def test_oracle_bayes_simulated_mean_matches_its_value(arms):
    kwargs = {"arms": arms, "pulls": 10}
    results, s = _bandit_summary("oracle_bayes", num_trials=3000, kwargs=kwargs)
    value = BayesOptimalBandit(arms, 10).value()
    assert abs(s["return"] - value) < s["return_ci95"], (s["return"], value)
    # On the same tasks it is not worse than tuned Gittins (paired difference, trial by trial).
    gittins, _ = _bandit_summary("gittins", num_trials=3000, kwargs=kwargs, gamma=0.9)
    diff = results["trial_return"] - gittins["trial_return"]
    assert diff.mean() > -1.96 * diff.std(ddof=1) / np.sqrt(diff.size)


def test_oracle_bayes_refuses_long_trials_with_the_allowed_range():
    message = f"oracle_bayes: pulls=100 is out of range: .* pulls 1..{ORACLE_BAYES_MAX_PULLS}"
    with pytest.raises(ValueError, match=message):
        make_baseline("oracle_bayes", "bandit", 4, env_kwargs=BANDIT)
    assert unavailable("oracle_bayes", "bandit", BANDIT).startswith("oracle_bayes: pulls=100 is out of range")
    assert unavailable("oracle_bayes", "bandit", {"arms": 50, "pulls": ORACLE_BAYES_MAX_PULLS}) is None
    assert unavailable("gittins", "bandit", BANDIT) is None
    assert "oracle_bayes" in BASELINES["bandit"]


def test_tune_baseline_picks_from_grid_on_tuning_seeds():
    grid = {"epsilon": [0.0, 0.5, 1.0]}
    best, scores = tune_baseline("epsilon_greedy", BANDIT, grid=grid, num_trials=200, seed=0)
    assert set(scores) == {(0.0,), (0.5,), (1.0,)}
    assert best == {"epsilon": 0.0}  # epsilon=1 is the random policy
    assert scores[(1.0,)] < scores[(0.5,)] < scores[(0.0,)]
    assert set(DEFAULT_GRIDS) == {"epsilon_greedy", "ucb1", "gittins"}


def test_seeds_are_disjoint_and_independent_of_batching():
    a = run_trials(make_baseline("oracle", "bandit", 7, env_kwargs=BANDIT), "bandit", BANDIT, 20, seed=3)
    b = run_trials(make_baseline("oracle", "bandit", 10, env_kwargs=BANDIT), "bandit", BANDIT, 20, seed=3)
    np.testing.assert_array_equal(a["seed"], EVAL_SEED_OFFSET + 3 + np.arange(20))
    for key in ("arm_probs", "trial_return", "actions", "rewards"):
        np.testing.assert_array_equal(a[key], b[key])
    assert TUNE_SEED_OFFSET >= EVAL_SEED_OFFSET + 10**9 > 10**9
    assert len(a["trial_return"]) == 20


@pytest.mark.parametrize("env, name, kwargs", [("bandit", "thompson", BANDIT), ("tabular_mdp", "psrl", {}),
                                               ("maze", "explorer", {"size": 4})])
def test_identical_seeds_give_identical_results(env, name, kwargs):
    def run(seed):
        return run_trials(make_baseline(name, env, 16, seed, env_kwargs=kwargs), env, kwargs, 40, seed)

    first, again, other = run(5), run(5), run(6)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["actions"], other["actions"])


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="allowed.*ucb1"):
        make_baseline("ucb2", "bandit", 4)
    with pytest.raises(ValueError, match="allowed.*psrl"):
        make_baseline("gittins", "tabular_mdp", 4)
    with pytest.raises(ValueError, match="unknown env"):
        make_baseline("random", "atari", 4)
    assert set(BASELINES) == {"bandit", "tabular_mdp", "maze"}


# ------------------------------------------------------------------------------------------ tabular MDPs


def _mdp_results(name, num_trials=200, seed=0):
    policy = make_baseline(name, "tabular_mdp", 50, seed)
    return run_trials(policy, "tabular_mdp", {}, num_trials, seed)


def test_psrl_beats_random_and_oracle_is_optimal():
    rand, psrl, oracle = (summarize(_mdp_results(n), "tabular_mdp") for n in ("random", "psrl", "oracle"))
    # 10 episodes of 10 steps: random ~100, PSRL ~135, value iteration on the true MDP ~218.
    assert abs(rand["return"] - 100) < 3 * rand["return_ci95"]
    assert psrl["return"] > rand["return"] + 20
    assert psrl["return"] < oracle["return"] - 40
    # The oracle's expected return is the env's optimal_return: equal up to reward/transition noise.
    assert abs(oracle["normalized"] - 1) < 3 * oracle["normalized_ci95"]
    assert 0.55 < psrl["normalized"] < 0.7 and 0.4 < rand["normalized"] < 0.52


# ---------------------------------------------------------------------------------------- evaluation loop

SHORT_MAZE = {"size": 3, "episode_steps": 12}  # random trials of varying length: autoresets mid-round


class _SpyPolicy:
    """Random maze actions; checks the loop's inputs against its own count of the trial's inner episodes
    (one ends at the goal reward or after `episode_steps` steps): `reset` exactly at trial starts (a round's
    first step, and the step after the terminal observation), -1 / 0 there, and `set_task` just before."""

    def __init__(self, num_envs, episode_steps, episodes=2, seed=0):
        self.num_envs, self.cap, self.episodes = num_envs, episode_steps, episodes
        self.rng = np.random.default_rng(seed)
        self.ep_steps = np.zeros(num_envs, np.int64)
        self.eps_done = np.zeros(num_envs, np.int64)
        self.ended = np.zeros(num_envs, bool)  # the last obs was a trial's terminal observation
        self.tasked = np.zeros(num_envs, bool)
        self.calls = self.resets = 0

    def set_task(self, info, rows, env):
        assert np.all(info["_shortest_path"][rows])
        self.tasked[rows] = True

    def act(self, obs, prev_action, prev_reward, reset):
        assert obs.shape[0] == self.num_envs and reset.dtype == bool
        expected = self.ended.copy()
        if self.calls == 0 or np.all(prev_action == -1):  # a round's first step
            expected[:] = True
        np.testing.assert_array_equal(reset, expected)
        np.testing.assert_array_equal(prev_action[reset], -1)
        np.testing.assert_array_equal(prev_reward[reset], 0)
        assert np.all(prev_action[~reset] >= 0)
        np.testing.assert_array_equal(self.tasked, reset)  # set_task came just before the trial's first act
        self.tasked[:] = False
        self.ep_steps[~reset] += 1
        end = ~reset & ((prev_reward > 0.5) | (self.ep_steps == self.cap))
        self.eps_done[end] += 1
        self.ep_steps[end | reset] = 0
        self.eps_done[reset] = 0
        self.ended = self.eps_done == self.episodes
        self.calls += 1
        self.resets += int(reset.sum())
        return self.rng.integers(3, size=self.num_envs)


def test_run_trials_autoreset_and_replay_match_single_env():
    import gymnasium as gym

    policy = _SpyPolicy(6, SHORT_MAZE["episode_steps"])
    results = run_trials(policy, "maze", SHORT_MAZE, 15, seed=1)
    lengths = results["trial_length"]
    assert lengths.min() < lengths.max()  # trials of different lengths, so some rows autoreset mid-round
    assert policy.resets > 18  # 3 rounds of 6 rows, plus the trials that autoreset started
    np.testing.assert_array_equal(lengths, results["episode_lengths"].sum(-1))
    env = gym.make("snail/Maze-v0", **SHORT_MAZE)
    for j in range(15):  # replaying the recorded actions in a single env reproduces the trial
        _, info = env.reset(seed=int(results["seed"][j]))
        assert info["shortest_path"] == results["shortest_path"][j]
        total, done, t = 0.0, False, 0
        while not done:
            _, reward, done, _, info = env.step(int(results["actions"][j, t]))
            assert reward == pytest.approx(results["rewards"][j, t])
            total += reward
            t += 1
        assert t == lengths[j] and np.all(results["actions"][j, t:] == -1)
        assert total == pytest.approx(results["trial_return"][j])
        np.testing.assert_array_equal(info["success"], results["success"][j])


# -------------------------------------------------------------------------------------------------- mazes


@pytest.mark.parametrize("kwargs", [{"preset": "small"}, {"preset": "small", "actions": "cardinal"},
                                    {"preset": "small", "view_size": 1}])
def test_maze_explorer_finds_goal_then_takes_shortest_path(kwargs):
    explorer = run_trials(make_baseline("explorer", "maze", 50, 0, env_kwargs=kwargs), "maze", kwargs, 100)
    oracle = run_trials(make_baseline("oracle", "maze", 50, 0, env_kwargs=kwargs), "maze", kwargs, 100)
    shortest = explorer["shortest_path"]
    np.testing.assert_array_equal(oracle["shortest_path"], shortest)
    # The oracle takes the shortest path in both inner episodes.
    assert oracle["success"].all()
    np.testing.assert_array_equal(oracle["episode_lengths"], np.stack([shortest, shortest], 1))
    # The explorer always reaches the goal in episode 1, well within the 250-step cap, never walks into a wall
    # (dead reckoning and map agree with the maze), then goes straight back to it in episode 2.
    assert explorer["success"].all()
    ep1 = explorer["episode_lengths"][:, 0]
    assert np.all(ep1 >= shortest) and ep1.max() < 150 and ep1.mean() > shortest.mean() + 2
    assert not np.any(np.isclose(explorer["rewards"], -0.011))
    forward = 0 if kwargs.get("actions", "egocentric") == "egocentric" else None
    if forward is not None:  # depth-first search crosses each of the 24 passages at most twice
        moves = [(explorer["actions"][j, : ep1[j]] == forward).sum() for j in range(100)]
        assert max(moves) <= 2 * 24
    np.testing.assert_array_equal(explorer["episode_lengths"][:, 1], shortest)


@pytest.mark.parametrize("hand", ["left", "right"])
def test_maze_wall_follower_walks_the_same_cells_with_either_action_set_and_repeats_itself(hand):
    egocentric = run_trials(make_baseline("wall_follower", "maze", 50, 0, hand=hand), "maze", {}, 100)
    cardinal = run_trials(make_baseline("wall_follower", "maze", 50, 0, env_kwargs={"actions": "cardinal"}, hand=hand),
                          "maze", {"actions": "cardinal"}, 100)
    for walk in (egocentric, cardinal):
        assert walk["success"].all()  # the hand rule solves every perfect maze, well within the cap
        assert not np.any(np.isclose(walk["rewards"], -0.011))  # it never walks into a wall
        s = summarize(walk, "maze")
        assert s["repeats_detour_ep2"] == 1.0 and s["steps_ep2_minus_ep1"] == 0.0  # no memory: the same walk again
    # The same cells in the same order whatever the action set: each egocentric forward move is one cardinal move.
    moves = (egocentric["actions"] == 0).sum(1)
    np.testing.assert_array_equal(moves, cardinal["trial_length"])
    assert np.all(cardinal["episode_lengths"][:, 0] <= 2 * 24)  # each of the 24 passages at most twice
    assert np.all(egocentric["episode_lengths"][:, 0] >= egocentric["shortest_path"])
    assert summarize(egocentric, "maze")["on_shortest_ep1"] < 0.5  # not a shortcut: it follows the wall


def test_maze_wall_follower_hands_mirror_each_other_and_a_bad_hand_is_refused():
    left = summarize(run_trials(make_baseline("wall_follower", "maze", 50, 0, hand="left"), "maze", {}, 400), "maze")
    right = summarize(run_trials(make_baseline("wall_follower", "maze", 50, 0, hand="right"), "maze", {}, 400), "maze")
    explorer = summarize(run_trials(make_baseline("explorer", "maze", 50, 0), "maze", {}, 400), "maze")
    # Random mazes are as likely as their mirror images, so the two hands walk alike on average ...
    assert abs(left["steps_ep1"] - right["steps_ep1"]) < left["steps_ep1_ci95"] + right["steps_ep1_ci95"]
    # ... and longer than the depth-first explorer, which turns towards unseen branches, not along walls.
    assert left["steps_ep1"] > explorer["steps_ep1"] + 5
    with pytest.raises(ValueError, match=r"hand='middle': allowed: 'left' or 'right'"):
        make_baseline("wall_follower", "maze", 1, 0, hand="middle")


def test_maze_summary_counts_shortest_and_repeated_episodes_trial_by_trial():
    # Four 2-episode trials (shortest path 2). Episode 1 a detour of 3 steps in trials 0-2, the shortest in trial 3;
    # episode 2 repeats it (0) / is the shortest path (1) / fails at the cap of 4 (2) / repeats it (3).
    actions = np.array([[1, 0, 0, 1, 0, 0, -1, -1],
                        [2, 0, 0, 0, 0, -1, -1, -1],
                        [0, 0, 0, 2, 1, 2, 1, -1],
                        [0, 0, 0, 0, -1, -1, -1, -1]])
    results = {"trial_return": np.zeros(4), "episode_returns": np.zeros((4, 2)), "actions": actions,
               "episode_lengths": np.array([[3, 3], [3, 2], [3, 4], [2, 2]]), "shortest_path": np.full(4, 2),
               "success": np.array([[True, True], [True, True], [True, False], [True, True]])}
    s = summarize(results, "maze")
    assert s["on_shortest_ep1"] == 0.25 and s["on_shortest_ep2"] == 0.5
    assert s["repeats_detour_ep2"] == pytest.approx(1 / 3)  # of trials 0-2: trial 0 only (trial 3 took no detour)
    actions[0, 5] = 2  # trial 0's episode 2 now turns where episode 1 moved
    assert summarize(results, "maze")["repeats_detour_ep2"] == 0.0
    results["episode_lengths"][:3, 0] = 2  # no detour in episode 1 at all: nothing to repeat
    assert np.isnan(summarize(results, "maze")["repeats_detour_ep2"])
    del results["actions"]
    assert "repeats_detour_ep2" not in summarize(results, "maze")


def test_maze_random_and_summary():
    random = run_trials(make_baseline("random", "maze", 50, 0), "maze", {}, 100)
    s = summarize(random, "maze")
    # Small mazes, 250-step cap: random walks rarely find the goal quickly (paper's 3-D maze: 188.6 / 187.7).
    assert 150 < s["steps_ep1"] <= 250 and 150 < s["steps_ep2"] <= 250
    assert 0.1 < s["success_ep1"] < 0.6
    assert s["path_ratio_ep1"] > 3
    explorer = summarize(run_trials(make_baseline("explorer", "maze", 50, 0), "maze", {}, 100), "maze")
    assert explorer["success_ep1"] == explorer["success_ep2"] == 1.0
    assert explorer["path_ratio_ep2"] == 1.0 and 1.2 < explorer["path_ratio_ep1"] < 3
    assert explorer["steps_ep2"] == explorer["shortest_path"] < explorer["steps_ep1"] < 40
    # Paired, trial by trial: the explorer's episode 2 is shorter, and the difference's CI excludes 0.
    assert explorer["steps_ep2_minus_ep1"] == pytest.approx(explorer["steps_ep2"] - explorer["steps_ep1"])
    assert explorer["steps_ep2_minus_ep1"] + explorer["steps_ep2_minus_ep1_ci95"] < 0
    assert abs(s["steps_ep2_minus_ep1"]) < 30  # random: no memory, episodes alike up to noise


def test_run_trials_drives_a_learned_agent():
    torch = pytest.importorskip("torch")
    from snail.agent import build_agent
    from snail.trials import AgentPolicy

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: threads only contend on a shared machine
    try:
        _drive_agent(torch, build_agent, AgentPolicy)
    finally:
        torch.set_num_threads(threads)


def _drive_agent(torch, build_agent, AgentPolicy):
    torch.manual_seed(0)
    kwargs = {"arms": 5, "pulls": 10}
    agent = build_agent({"name": "lstm", "hidden_size": 16, "embed_dim": 8}, obs_dim=1, num_actions=5,
                        max_len=10)
    first = run_trials(AgentPolicy(agent, 8, seed=1), "bandit", kwargs, 12, seed=0)
    again = run_trials(AgentPolicy(agent, 8, seed=1), "bandit", kwargs, 12, seed=0)
    greedy = run_trials(AgentPolicy(agent, 8, greedy=True), "bandit", kwargs, 12, seed=0)
    np.testing.assert_array_equal(first["actions"], again["actions"])
    assert first["actions"].shape == (12, 10) and first["actions"].min() >= 0
    assert 0 <= summarize(greedy, "bandit")["return"] <= 10
    maze = run_trials(AgentPolicy(build_agent({"name": "lstm", "hidden_size": 16}, 103, 3, 24), 4), "maze",
                      SHORT_MAZE, 6, seed=0)  # variable-length trials: rows autoreset mid-round
    assert maze["trial_length"].max() <= 24
