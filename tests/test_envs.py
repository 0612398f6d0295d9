"""Tests of the meta-RL envs: API conformance, single vs native vector equivalence, task statistics, maze
structure and dynamics, seeding and input validation. All seeds are fixed."""

from __future__ import annotations

import warnings
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import snail.envs.maze as maze_module
from snail.envs.bandit import BanditEnv, BanditVectorEnv
from snail.envs.maze import (
    EAST,
    FORWARD,
    NORTH,
    SOUTH,
    TURN_RIGHT,
    WALL,
    WEST,
    MazeEnv,
    MazeVectorEnv,
    cell_square,
    grid_path,
    path_actions,
    shortest_path_length,
)
from snail.envs.tabular_mdp import TabularMDPEnv, TabularMDPVectorEnv

DR, DC = (-1, 0, 1, 0), (0, 1, 0, -1)  # north, east, south, west


def make_vec(env_id, n, **kwargs):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


def assert_same(a, b, where=""):
    """Exact equality of nested dicts / arrays / scalars, including array dtypes and shapes."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key}]")
        return
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{where}: lengths differ"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{k}]")
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
    assert np.array_equal(a, b), f"{where}: {a} != {b}"


# ---- registration and API ------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id, kwargs, single, vector, obs_dim, num_actions, trial_steps", [
    ("snail/Bandit-v0", {}, BanditEnv, BanditVectorEnv, 1, 5, 100),
    ("snail/Bandit-v0", {"arms": 10, "pulls": 7}, BanditEnv, BanditVectorEnv, 1, 10, 7),
    ("snail/TabularMDP-v0", {}, TabularMDPEnv, TabularMDPVectorEnv, 11, 5, 100),
    ("snail/TabularMDP-v0", {"states": 4, "actions": 2, "episode_length": 3, "episodes": 25},
     TabularMDPEnv, TabularMDPVectorEnv, 5, 2, 75),
    ("snail/Maze-v0", {}, MazeEnv, MazeVectorEnv, 2 * 49 + 5, 3, 500),
    ("snail/Maze-v0", {"preset": "large"}, MazeEnv, MazeVectorEnv, 2 * 49 + 5, 3, 2000),
    ("snail/Maze-v0", {"preset": "large", "size": 4, "episode_steps": 30, "episodes": 3,
                       "actions": "cardinal", "view_size": 5}, MazeEnv, MazeVectorEnv, 2 * 121 + 5, 4, 90),
    ("snail/Maze-v0", {"observe_position": True}, MazeEnv, MazeVectorEnv, 2 * 49 + 5 + 10, 3, 500),
])
def test_make_and_make_vec(env_id, kwargs, single, vector, obs_dim, num_actions, trial_steps):
    env = gym.make(env_id, **kwargs)
    assert type(env.unwrapped) is single
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (obs_dim,), np.float32)
    assert env.action_space == gym.spaces.Discrete(num_actions)
    assert env.unwrapped.max_trial_steps == trial_steps
    venv = make_vec(env_id, 3, **kwargs)
    assert type(venv) is vector and venv.num_envs == 3
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert venv.single_observation_space == env.observation_space
    assert venv.single_action_space == env.action_space
    assert venv.unwrapped.max_trial_steps == trial_steps
    assert type(gym.make_vec(env_id, num_envs=2, **kwargs)) is vector  # the default vectorization
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, obs_dim) and obs.dtype == np.float32


@pytest.mark.parametrize("env_id, kwargs", [
    ("snail/Bandit-v0", {}),
    ("snail/Bandit-v0", {"arms": 2, "pulls": 1}),
    ("snail/TabularMDP-v0", {}),
    ("snail/Maze-v0", {}),
    ("snail/Maze-v0", {"actions": "cardinal", "view_size": 1, "size": 2}),
    ("snail/Maze-v0", {"size": 3, "observe_position": True}),
])
def test_check_env(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings count as failures too
        check_env(gym.make(env_id, **kwargs).unwrapped, skip_render_check=True)


# ---- single vs vector ----------------------------------------------------------------------------------

EQUIVALENCE_CASES = [
    ("snail/Bandit-v0", {"arms": 3, "pulls": 6}, 40),
    ("snail/TabularMDP-v0", {"states": 4, "actions": 3, "episode_length": 3, "episodes": 2}, 40),
    ("snail/Maze-v0", {"size": 2, "episode_steps": 8, "episodes": 2}, 80),
    ("snail/Maze-v0", {"size": 3, "episode_steps": 12, "episodes": 3, "actions": "cardinal"}, 120),
    ("snail/Maze-v0", {"size": 3, "episode_steps": 12, "episodes": 2, "observe_position": True}, 80),
]


@pytest.mark.parametrize("env_id, kwargs, steps", EQUIVALENCE_CASES)
def test_vector_env_matches_single_envs(env_id, kwargs, steps):
    """Native vector env == SyncVectorEnv over the single envs (which resets env i with seed + i and calls
    reset() after each trial): observations, rewards, dones and info, over several trials with autoresets."""
    n, seed = 5, 11
    native = make_vec(env_id, n, **kwargs)
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", **kwargs)
    assert_same(native.reset(seed=seed), sync.reset(seed=seed), "reset")
    actions = np.random.default_rng(0).integers(0, native.single_action_space.n, size=(steps, n))
    trials_ended = np.zeros(n, int)
    inner_ends = 0
    for t in range(steps):
        out_native, out_sync = native.step(actions[t]), sync.step(actions[t])
        assert_same(out_native, out_sync, f"step {t}")
        trials_ended += out_native[2]
        inner_ends += int(out_native[0][:, -1].sum())
    assert (trials_ended >= 2).all(), "the test must cover several trials and autoresets in every row"
    if native.unwrapped.episodes > 1:
        assert inner_ends > 0, "the test must cover inner-episode ends"


def test_single_env_rows_match_vector_rows():
    """Row i of a vector env reset with seed s is a single env reset with seed s + i (task and rewards)."""
    kwargs = {"states": 3, "actions": 2, "episode_length": 4, "episodes": 2}
    venv = make_vec("snail/TabularMDP-v0", 3, **kwargs)
    vobs, vinfo = venv.reset(seed=100)
    actions = np.random.default_rng(1).integers(0, 2, size=(8, 3))
    vrewards = np.stack([venv.step(a)[1] for a in actions])
    for i in range(3):
        env = gym.make("snail/TabularMDP-v0", **kwargs)
        obs, info = env.reset(seed=100 + i)
        assert np.array_equal(obs, vobs[i]) and info["optimal_return"] == vinfo["optimal_return"][i]
        assert np.array_equal([env.step(int(a))[1] for a in actions[:, i]], vrewards[:, i])


def test_reset_mask_and_seed_list():
    venv = make_vec("snail/Bandit-v0", 3, arms=4, pulls=5)
    _, info = venv.reset(seed=[7, 8, 9])
    _, info_int = make_vec("snail/Bandit-v0", 3, arms=4, pulls=5).reset(seed=7)
    assert_same(info, info_int)
    probs = venv.unwrapped.arm_probs
    _, info = venv.reset(seed=50, options={"reset_mask": np.array([False, True, False])})
    assert info["_arm_probs"].tolist() == [False, True, False]
    new_probs = venv.unwrapped.arm_probs
    assert np.array_equal(new_probs[[0, 2]], probs[[0, 2]]) and not np.array_equal(new_probs[1], probs[1])
    _, reference = make_vec("snail/Bandit-v0", 3, arms=4, pulls=5).reset(seed=50)
    assert np.array_equal(new_probs[1], reference["arm_probs"][1])  # row 1 gets seed 50 + 1


# ---- seeding -------------------------------------------------------------------------------------------


def rollout(env, seed, steps, action_seed=0):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    out = [obs, info]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        out.append((obs, reward, terminated, info))
        if terminated:
            out.append(env.reset())
    return out


@pytest.mark.parametrize("env_id, kwargs", [
    ("snail/Bandit-v0", {"pulls": 10}),
    ("snail/TabularMDP-v0", {"episode_length": 3, "episodes": 3}),
    ("snail/Maze-v0", {"size": 3, "episode_steps": 10}),
])
def test_same_seed_same_trials_different_seed_different_trials(env_id, kwargs):
    a = rollout(gym.make(env_id, **kwargs), seed=3, steps=25)
    b = rollout(gym.make(env_id, **kwargs), seed=3, steps=25)
    c = rollout(gym.make(env_id, **kwargs), seed=4, steps=25)
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        assert_same(x, y, f"item {k}")
    assert not same(a, c)


def same(a, b) -> bool:
    try:
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    except AssertionError:
        return False
    return True


# ---- bandit --------------------------------------------------------------------------------------------


def test_bandit_arm_probabilities_are_uniform():
    venv = make_vec("snail/Bandit-v0", 2000, arms=5, pulls=1)
    _, info = venv.reset(seed=0)
    p = info["arm_probs"]
    assert p.shape == (2000, 5) and p.min() >= 0.0 and p.max() < 1.0
    assert abs(p.mean() - 0.5) < 0.015  # standard error 0.003
    assert abs(p.var() - 1 / 12) < 0.005
    assert abs(np.corrcoef(p[:, 0], p[:, 1])[0, 1]) < 0.1  # arms are independent
    assert np.allclose(info["optimal_return"], p.max(axis=1))


def test_bandit_rewards_follow_arm_probabilities():
    n, pulls = 400, 200
    venv = make_vec("snail/Bandit-v0", n, arms=3, pulls=pulls)
    _, info = venv.reset(seed=1)
    p = info["arm_probs"]
    arms = np.arange(n) % 3
    total = np.zeros(n)
    for t in range(pulls):
        obs, reward, terminated, truncated, step_info = venv.step(arms)
        assert set(np.unique(reward)) <= {0.0, 1.0}
        assert not obs.any() and not truncated.any()
        assert terminated.all() == (t == pulls - 1) and terminated.any() == (t == pulls - 1)
        total += reward
    assert np.array_equal(step_info["trial_return"], total)
    assert np.array_equal(step_info["episode_returns"], total[:, None])
    assert np.array_equal(step_info["episode_lengths"], np.full((n, 1), pulls))
    assert np.allclose(step_info["optimal_return"], pulls * p.max(axis=1))
    freq, target = total / pulls, p[np.arange(n), arms]
    assert abs(freq.mean() - target.mean()) < 0.01
    assert np.corrcoef(freq, target)[0, 1] > 0.95
    assert np.all(np.abs(freq - target) < 5 * np.sqrt(target * (1 - target) / pulls) + 1e-9)
    obs, reward, terminated, _, info = venv.step(arms)  # autoreset: new trials, reward 0, new task info
    assert not reward.any() and not terminated.any() and not np.array_equal(info["arm_probs"], p)


# ---- tabular MDP ---------------------------------------------------------------------------------------


def test_tabular_mdp_task_statistics():
    venv = make_vec("snail/TabularMDP-v0", 300)
    venv.reset(seed=0)
    mu, probs = venv.unwrapped.reward_means, venv.unwrapped.transition_probs
    assert mu.shape == (300, 10, 5) and probs.shape == (300, 10, 5, 10)
    assert abs(mu.mean() - 1.0) < 0.05 and abs(mu.std() - 1.0) < 0.05  # 15000 draws
    assert probs.min() >= 0.0 and np.allclose(probs.sum(-1), 1.0)
    # Flat Dirichlet over 10 states: each entry has mean 1/10 and variance 9 / (100 * 11).
    assert abs(probs.mean() - 0.1) < 1e-9
    assert abs(probs.var() / (9 / 1100) - 1) < 0.05
    assert abs(np.corrcoef(probs[..., 0].ravel(), probs[..., 1].ravel())[0, 1] + 1 / 9) < 0.03


def test_tabular_mdp_dynamics_and_reward_noise():
    """Rewards are mu(s, a) + N(0, 1); next states follow P; each inner episode starts in state 0 and the
    flag marks the first step of inner episodes 2, 3, ...; info totals add up."""
    n, states, actions, length, episodes = 1000, 3, 2, 2, 3
    venv = make_vec("snail/TabularMDP-v0", n, states=states, actions=actions, episode_length=length,
                    episodes=episodes)
    obs, _ = venv.reset(seed=2)
    mu, probs = venv.unwrapped.reward_means, venv.unwrapped.transition_probs
    rng = np.random.default_rng(3)
    residuals, taken_p = [], []
    rows = np.arange(n)
    returns = np.zeros((n, episodes))
    for t in range(length * episodes):
        state = obs[:, :states].argmax(1)
        assert np.array_equal(obs[:, :states].sum(1), np.ones(n))
        assert (obs[:, -1] == (t % length == 0 and t > 0)).all()
        if t % length == 0:
            assert (state == 0).all()
        a = rng.integers(0, actions, n)
        obs, reward, terminated, _, info = venv.step(a)
        residuals.append(reward - mu[rows, state, a])
        returns[:, t // length] += reward
        if t % length == 0:  # from the fixed start state: which (s, a) is taken does not depend on P
            taken_p.append(probs[rows, state, a, obs[:, :states].argmax(1)])
        assert terminated.all() == (t == length * episodes - 1)
    residuals = np.concatenate(residuals)
    assert abs(residuals.mean()) < 0.05 and abs(residuals.std() - 1.0) < 0.05  # 6000 draws
    # If next states follow P, the mean probability of the transitions taken is E[sum_k P_k^2] = 2 / (S + 1)
    # for a flat Dirichlet (0.5 here; spread over seeds ~0.003); next states drawn uniformly would give 1/3.
    assert abs(np.concatenate(taken_p).mean() - 2 / (states + 1)) < 0.02
    assert np.allclose(info["episode_returns"], returns)
    assert np.allclose(info["trial_return"], returns.sum(1))
    assert np.array_equal(info["episode_lengths"], np.full((n, episodes), length))


def test_tabular_mdp_transition_frequencies():
    """One 2-state MDP, 3000 transitions out of state 0: their frequency matches P(1 | 0, a)."""
    env = TabularMDPEnv(states=2, actions=1, episode_length=2, episodes=3000)
    env.reset(seed=5)
    p1 = env._core.transition_probs[0, 0, 0, 1]
    count = 0
    for _ in range(3000):
        obs, *_ = env.step(0)
        count += obs[1]
        env.step(0)
    assert abs(count / 3000 - p1) < 4 * np.sqrt(p1 * (1 - p1) / 3000) + 1e-9


def reference_optimal_return(mu, probs, horizon, episodes):
    """Textbook backward induction, one state and action at a time."""
    states, actions = mu.shape
    values = [0.0] * states
    for _ in range(horizon):
        values = [max(mu[s, a] + sum(probs[s, a, k] * values[k] for k in range(states))
                      for a in range(actions)) for s in range(states)]
    return episodes * values[0]


def test_tabular_mdp_optimal_return_is_value_iteration():
    venv = make_vec("snail/TabularMDP-v0", 6, states=4, actions=3, episode_length=5, episodes=7)
    _, info = venv.reset(seed=9)
    mu, probs = venv.unwrapped.reward_means, venv.unwrapped.transition_probs
    for i in range(6):
        assert info["optimal_return"][i] == pytest.approx(reference_optimal_return(mu[i], probs[i], 5, 7))
    # Value iteration beats always taking one fixed action, in expectation.
    for i in range(6):
        for a in range(3):
            v = np.zeros(4)
            for _ in range(5):
                v = mu[i, :, a] + probs[i, :, a] @ v
            assert info["optimal_return"][i] >= 7 * v[0] - 1e-9


# ---- maze ----------------------------------------------------------------------------------------------


def passages_of(grid):
    """(cell, neighbour) pairs joined by an open wall square, from a (2n+1)^2 grid."""
    size = grid.shape[0] // 2
    out = []
    for r in range(size):
        for c in range(size):
            if c + 1 < size and grid[2 * r + 1, 2 * c + 2] != 1:
                out.append(((r, c), (r, c + 1)))
            if r + 1 < size and grid[2 * r + 2, 2 * c + 1] != 1:
                out.append(((r, c), (r + 1, c)))
    return out


def bfs_actions(grid, start, goal, heading, egocentric):
    """Independent BFS over (cell, heading) states with the env's action semantics: the fewest actions."""
    def moves(cell, h):
        r, c = cell
        if egocentric:
            yield (cell, (h + 3) % 4)
            yield (cell, (h + 1) % 4)
            dirs = [h]
        else:
            dirs = range(4)
        for d in dirs:
            if grid[2 * r + 1 + DR[d], 2 * c + 1 + DC[d]] != 1:
                yield ((r + DR[d], c + DC[d]), d)

    first = (tuple(start), heading)
    dist = {first: 0}
    queue = deque([first])
    while queue:
        cell, h = queue.popleft()
        if cell == tuple(goal):
            return dist[(cell, h)]
        for nxt in moves(cell, h):
            if nxt not in dist:
                dist[nxt] = dist[(cell, h)] + 1
                queue.append(nxt)
    raise AssertionError("goal unreachable")


def expected_view(grid, cell, heading, view_size):
    """Independent view: square at (a, b) of the window is ahead by (v - a) and right by (b - v)."""
    v = view_size
    full = grid.shape[0]
    center = np.array([2 * cell[0] + 1, 2 * cell[1] + 1])
    fwd = np.array([DR[heading], DC[heading]])
    right = np.array([DR[(heading + 1) % 4], DC[(heading + 1) % 4]])
    out = np.ones((2 * v + 1, 2 * v + 1), np.uint8)
    for a in range(2 * v + 1):
        for b in range(2 * v + 1):
            r, c = center + (v - a) * fwd + (b - v) * right
            if 0 <= r < full and 0 <= c < full:
                out[a, b] = grid[r, c]
    return out


@pytest.mark.parametrize("size", [2, 3, 5, 9])
@pytest.mark.parametrize("actions", ["egocentric", "cardinal"])
def test_mazes_are_perfect_and_shortest_paths_are_right(size, actions):
    n = 60 if size < 9 else 15
    venv = make_vec("snail/Maze-v0", n, size=size, actions=actions)
    _, info = venv.reset(seed=size)
    env = venv.unwrapped
    grids, starts, goals, headings = env.grids, env.start_cells, env.goal_cells, env.headings
    assert grids.shape == (n, 2 * size + 1, 2 * size + 1)
    for i in range(n):
        grid = grids[i]
        # Border and corner squares are walls, cell squares are open (the goal's is 2).
        assert (grid[0] == 1).all() and (grid[-1] == 1).all() and (grid[:, 0] == 1).all()
        assert (grid[:, -1] == 1).all() and (grid[::2, ::2] == 1).all()
        assert (grid[1::2, 1::2] != 1).all() and (grid == 2).sum() == 1
        assert grid[2 * goals[i][0] + 1, 2 * goals[i][1] + 1] == 2
        assert tuple(starts[i]) != tuple(goals[i])
        passages = passages_of(grid)
        assert len(passages) == size * size - 1
        seen, stack = {(0, 0)}, [(0, 0)]  # connected: with cells - 1 passages, a spanning tree
        adjacent = {}
        for a, b in passages:
            adjacent.setdefault(a, []).append(b)
            adjacent.setdefault(b, []).append(a)
        while stack:
            for nxt in adjacent.get(stack.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        assert len(seen) == size * size
        expected = bfs_actions(grid, starts[i], goals[i], headings[i], actions == "egocentric")
        assert info["shortest_path"][i] == expected
    # The draws spread over the maze (a broken draw would repeat cells or mazes); a 2x2 maze has only
    # 4 layouts x 4 goal cells.
    assert len({tuple(s) for s in starts}) > 1 and len({g.tobytes() for g in grids}) >= min(n // 2, 16)


def test_maze_random_walk_views_positions_and_rewards():
    """Random egocentric and cardinal actions on random mazes: each view matches an independent extraction
    from the layout, rewards are -0.01 / -0.011 (wall), and positions change as the actions say (the goal
    step and inner-episode ends are checked on a hand-built maze below)."""
    for actions, view_size, position in [("egocentric", 3, False), ("cardinal", 1, True), ("egocentric", 5, True)]:
        n = 8
        venv = make_vec("snail/Maze-v0", n, size=4, episode_steps=40, episodes=2, actions=actions,
                        view_size=view_size, observe_position=position)
        env = venv.unwrapped
        obs, _ = venv.reset(seed=21)
        area = (2 * view_size + 1) ** 2
        rng = np.random.default_rng(0)
        seen_rewards = set()
        for _ in range(100):
            grids, cells, headings = env.grids, env.agent_cells, env.headings
            for i in range(n):
                view = expected_view(grids[i], cells[i], headings[i] if actions == "egocentric" else 0,
                                     view_size)
                assert np.array_equal(obs[i, :area], (view == 1).ravel())
                assert np.array_equal(obs[i, area: 2 * area], (view == 2).ravel())
                assert np.array_equal(obs[i, 2 * area: 2 * area + 4], np.eye(4)[headings[i]])
                if position:  # row then column one-hot of the agent's cell (size 4)
                    where = np.concatenate([np.eye(4)[cells[i][0]], np.eye(4)[cells[i][1]]])
                    assert np.array_equal(obs[i, 2 * area + 4: -1], where)
                assert obs.shape[1] == 2 * area + 5 + 8 * position
            a = rng.integers(0, venv.single_action_space.n, n)
            obs, reward, terminated, _, info = venv.step(a)
            for i in range(n):
                r, c = cells[i]
                h = (headings[i] + (0, -1, 1)[a[i]]) % 4 if actions == "egocentric" else a[i]
                moving = actions == "cardinal" or a[i] == 0
                wall = moving and grids[i][2 * r + 1 + DR[h], 2 * c + 1 + DC[h]] == 1
                at_goal = moving and not wall and grids[i][2 * (r + DR[h]) + 1, 2 * (c + DC[h]) + 1] == 2
                new_trial = "_shortest_path" in info and info["_shortest_path"][i]
                if obs[i, -1] == 1 or terminated[i] or new_trial:
                    continue  # inner-episode end or trial change: checked elsewhere
                expected = (r + DR[h], c + DC[h]) if moving and not wall else (r, c)
                assert tuple(env.agent_cells[i]) == expected and env.headings[i] == h
                assert reward[i] == pytest.approx(-0.011 if wall else -0.01) and not at_goal
                seen_rewards.add(round(float(reward[i]), 3))
        assert seen_rewards == {-0.01, -0.011}


def test_maze_rejects_options_it_does_not_know():
    with pytest.raises(ValueError, match="episode_steps"):
        make_vec("snail/Maze-v0", 2, max_episode_steps=10)
    with pytest.raises(ValueError, match="episode_steps"):
        MazeEnv(max_episode_steps=10)


# A hand-built 3x3 maze (S start facing north, G goal):
#   #######
#   #S    #      cells (0,0) (0,1) (0,2)
#   ##### #
#   #   # #      cells (1,0) (1,1) (1,2)
#   # ### #
#   #  G  #      cells (2,0) (2,1) (2,2) ; goal (2,1)
#   #######
# The only path to the goal, (0,0) (0,1) (0,2) (1,2) (2,2) (2,1), moves E E S S W.
# (cell r * 3 + c, direction 0 N / 1 E / 2 S / 3 W) pairs, 8 passages for 9 cells:
HAND_PASSAGES = [(0, 1), (1, 1), (2, 2), (5, 2), (8, 3), (6, 1), (3, 2), (3, 1)]
HAND_START, HAND_GOAL, HAND_HEADING = 0, 7, 0


@pytest.fixture
def hand_maze(monkeypatch):
    """Every trial gets the hand-built maze (the generator is replaced; everything else is the env's)."""
    monkeypatch.setattr(maze_module, "random_maze",
                        lambda size, uniforms: (list(HAND_PASSAGES), HAND_START, HAND_GOAL, HAND_HEADING))


def test_hand_built_maze_layout_and_shortest_path(hand_maze):
    env = MazeEnv(size=3, episode_steps=50)
    _, info = env.reset(seed=0)
    expected_grid = np.array([[1, 1, 1, 1, 1, 1, 1],
                              [1, 0, 0, 0, 0, 0, 1],
                              [1, 1, 1, 1, 1, 0, 1],
                              [1, 0, 0, 0, 1, 0, 1],
                              [1, 0, 1, 1, 1, 0, 1],
                              [1, 0, 0, 2, 0, 0, 1],
                              [1, 1, 1, 1, 1, 1, 1]])
    assert np.array_equal(env._core.grids[0], expected_grid)
    # Facing north: turn right, E, E, turn right, S, S, turn right, W = 5 moves + 3 turns.
    assert info["shortest_path"] == 8
    assert bfs_actions(expected_grid, (0, 0), (2, 1), 0, True) == 8
    assert bfs_actions(expected_grid, (0, 0), (2, 1), 0, False) == 5
    _, info = MazeEnv(size=3, actions="cardinal").reset(seed=0)
    assert info["shortest_path"] == 5


def test_grid_path_and_shortest_path_length_on_the_hand_built_maze(hand_maze):
    """snail.envs.maze's BFS (`grid_path`) and `path_actions`, which the env and the baselines share."""
    env = MazeEnv(size=3)
    env.reset(seed=0)
    grid = env._core.grids[0]
    start, goal = cell_square((0, 0)), cell_square((2, 1))
    assert (start, goal) == ((1, 1), (5, 3))
    assert grid_path(grid, start, goal) == [EAST, EAST, SOUTH, SOUTH, WEST]
    assert grid_path(grid, goal, start) == [EAST, NORTH, NORTH, WEST, WEST]
    assert grid_path(grid, start, start) == []
    # Facing north: turn right, E, E, turn right, S, S, turn right, W.
    assert path_actions([EAST, EAST, SOUTH, SOUTH, WEST], NORTH, egocentric=True) == [
        TURN_RIGHT, FORWARD, FORWARD, TURN_RIGHT, FORWARD, FORWARD, TURN_RIGHT, FORWARD]
    assert shortest_path_length(grid, start, goal, NORTH, egocentric=True) == 8
    assert shortest_path_length(grid, start, goal, NORTH, egocentric=False) == 5
    # Anything but OPEN between two cells blocks the move: a wall, or a square a map has not seen (-1).
    for blocker in (WALL, -1):
        blocked = grid.astype(np.int8)
        blocked[2, 5] = blocker  # between cells (0, 2) and (1, 2)
        assert grid_path(blocked, start, goal) is None
        with pytest.raises(ValueError, match="not reachable"):
            shortest_path_length(blocked, start, goal, NORTH, egocentric=True)


def test_hand_built_maze_episodes_rewards_and_flags(hand_maze):
    """Two inner episodes: the first reaches the goal along the shortest path (with one wall bump first),
    the second spins in place until the cap."""
    cap = 12
    env = MazeEnv(size=3, episode_steps=cap, episodes=2)
    obs, _ = env.reset(seed=0)
    start_obs = obs.copy()
    assert obs[-1] == 0 and obs[98:102].tolist() == [1, 0, 0, 0]  # heading north
    assert obs[:49].reshape(7, 7)[2, 3] == 1  # the wall square ahead (north of the start)
    obs, reward, terminated, _, _ = env.step(0)  # forward into the north wall
    assert reward == pytest.approx(-0.011) and tuple(env._core.agent_cells[0]) == (0, 0) and obs[-1] == 0
    rewards = []
    for a in [2, 0, 0, 2, 0, 0, 2]:  # right, E, E, right, S, S, right (now facing west)
        obs, reward, terminated, _, _ = env.step(a)
        rewards.append(reward)
        assert obs[-1] == 0 and not terminated
    assert obs[49:98].reshape(7, 7)[1, 3] == 1 and obs[49:98].sum() == 1  # the goal: the next cell ahead
    obs, reward, terminated, _, info = env.step(0)  # onto the goal
    assert reward == pytest.approx(0.99) and not terminated
    # No trial-end keys; only where the inner episode ended: the goal cell (2, 1), facing west.
    assert info.keys() == {"final_cell", "final_heading"}
    assert info["final_cell"].tolist() == [2, 1] and info["final_heading"] == 3
    assert rewards == pytest.approx([-0.01] * 7)
    assert obs[-1] == 1 and np.array_equal(obs[:-1], start_obs[:-1])  # back at the start, facing north
    assert tuple(env._core.agent_cells[0]) == (0, 0) and env._core.headings[0] == 0
    for k in range(cap):
        obs, reward, terminated, _, info = env.step(1)  # turn left forever
        assert obs[-1] == 0 and reward == pytest.approx(-0.01)
        assert terminated == (k == cap - 1)
    assert info["success"].tolist() == [True, False]
    assert info["episode_lengths"].tolist() == [9, cap]
    assert info["episode_returns"] == pytest.approx([0.99 - 0.07 - 0.011, -0.01 * cap])
    assert info["trial_return"] == pytest.approx(sum(info["episode_returns"]))
    assert info["shortest_path"] == 8
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(0)


def test_maze_caps_flags_and_restart_in_vector_env():
    """Spinning agents never reach the goal: inner episodes end exactly at the cap, the flag is 1 only on the
    first step after each, the agent is back at the start, and the trial ends after `episodes` caps."""
    cap, episodes, n = 7, 3, 4
    venv = make_vec("snail/Maze-v0", n, size=5, episode_steps=cap, episodes=episodes)
    obs, _ = venv.reset(seed=4)
    env = venv.unwrapped
    starts, start_headings, first_obs = env.start_cells, env.headings, obs.copy()
    spin = np.full(n, 2)
    for t in range(1, cap * episodes + 1):
        obs, reward, terminated, truncated, info = venv.step(spin)
        assert np.allclose(reward, -0.01) and not truncated.any()
        end = t % cap == 0
        assert (obs[:, -1] == (end and t < cap * episodes)).all()
        assert terminated.all() == (t == cap * episodes) and terminated.any() == (t == cap * episodes)
        if end and t < cap * episodes:
            assert np.array_equal(obs, first_obs + np.eye(obs.shape[1], dtype=np.float32)[-1])
            assert np.array_equal(env.agent_cells, starts) and np.array_equal(env.headings, start_headings)
    assert not info["success"].any() and info["success"].shape == (n, episodes)
    assert np.array_equal(info["episode_lengths"], np.full((n, episodes), cap))
    assert np.allclose(info["episode_returns"], -0.01 * cap)
    obs, reward, terminated, _, info = venv.step(spin)  # autoreset
    assert not reward.any() and not terminated.any() and (obs[:, -1] == 0).all()
    assert "shortest_path" in info and not np.array_equal(env.start_cells, starts)


def test_maze_presets_and_overrides():
    small, large = MazeVectorEnv(), MazeVectorEnv(preset="large")
    assert (small.size, small.episode_steps, large.size, large.episode_steps) == (5, 250, 9, 1000)
    custom = MazeVectorEnv(preset="large", size=6)
    assert (custom.size, custom.episode_steps) == (6, 1000)
    custom = MazeVectorEnv(episode_steps=33, episodes=4)
    assert (custom.size, custom.episode_steps, custom.max_trial_steps) == (5, 33, 132)


# ---- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id, kwargs, match", [
    ("snail/Bandit-v0", {"arms": 1}, r"arms=1 .*integer >= 2"),
    ("snail/Bandit-v0", {"arms": 2.0}, r"arms=2.0 .*integer"),
    ("snail/Bandit-v0", {"pulls": 0}, r"pulls=0 .*>= 1"),
    ("snail/Bandit-v0", {"pulls": True}, r"pulls=True"),
    ("snail/TabularMDP-v0", {"states": 0}, r"states=0"),
    ("snail/TabularMDP-v0", {"actions": -1}, r"actions=-1"),
    ("snail/TabularMDP-v0", {"episode_length": 0}, r"episode_length=0"),
    ("snail/TabularMDP-v0", {"episodes": "10"}, r"episodes='10'"),
    ("snail/Maze-v0", {"size": 1}, r"size=1 .*>= 2"),
    ("snail/Maze-v0", {"preset": "huge"}, r"preset='huge' .*\('small', 'large'\)"),
    ("snail/Maze-v0", {"actions": "diagonal"}, r"actions='diagonal' .*\('egocentric', 'cardinal'\)"),
    ("snail/Maze-v0", {"view_size": 4}, r"view_size=4 .*odd"),
    ("snail/Maze-v0", {"view_size": 0}, r"view_size=0 .*odd"),
    ("snail/Maze-v0", {"episode_steps": 0}, r"episode_steps=0"),
    ("snail/Maze-v0", {"episodes": 0}, r"episodes=0"),
    ("snail/Maze-v0", {"observe_position": "yes"}, r"observe_position='yes' .*true or false"),
])
def test_bad_options_raise(env_id, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)
    with pytest.raises(ValueError, match=match):
        make_vec(env_id, 2, **kwargs)


def test_bad_num_envs_raises():
    with pytest.raises(ValueError, match=r"num_envs=0"):
        make_vec("snail/Bandit-v0", 0)


@pytest.mark.parametrize("actions, match", [
    (np.array([0, 5, 1]), r"action 5 is out of range.*\[0, 5\)"),
    (np.array([0, -1, 1]), r"action -1 is out of range"),
    (np.array([0.0, 1.0, 1.0]), r"integer array of shape \(3,\).*float64"),
    (np.array([True, False, True]), r"integer array.*bool"),
    (np.array([0, 1]), r"shape \(3,\).*shape \(2,\)"),
    (np.zeros((3, 1), int), r"shape \(3,\).*shape \(3, 1\)"),
])
def test_bad_vector_actions_raise(actions, match):
    venv = make_vec("snail/Bandit-v0", 3)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        venv.step(actions)
    venv.step(np.array([0, 4, 2], np.int32))  # any integer dtype in range is fine


@pytest.mark.parametrize("action, match", [
    (3, r"action 3 is out of range.*\[0, 3\)"),
    (-1, r"action -1 is out of range"),
    (1.0, r"action=1.0 is invalid.*integer"),
    (np.array([1]), r"integer in \[0, 3\)"),
    (True, r"action=True"),
])
def test_bad_single_actions_raise(action, match):
    env = MazeEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)
    env.step(np.int64(2))
    env.step(np.array(1))


def test_step_before_reset_and_bad_reset_arguments():
    with pytest.raises(gym.error.ResetNeeded, match="before reset"):
        make_vec("snail/Bandit-v0", 2).step(np.array([0, 0]))
    with pytest.raises(gym.error.ResetNeeded, match="before reset"):
        BanditEnv().step(0)
    venv = make_vec("snail/Bandit-v0", 2)
    with pytest.raises(ValueError, match=r"seed=\[1\] is invalid"):
        venv.reset(seed=[1])
    with pytest.raises(ValueError, match=r"reset_mask must be a bool array of shape \(2,\)"):
        venv.reset(options={"reset_mask": np.array([1, 0])})
    with pytest.raises(ValueError, match=r"\['foo'\] are not supported"):
        venv.reset(options={"foo": 1})


# ---- rendering -----------------------------------------------------------------------------------------


def test_render_modes_are_declared_and_checked():
    assert BanditEnv.metadata["render_modes"] == TabularMDPEnv.metadata["render_modes"] == ["ansi"]
    assert MazeEnv.metadata["render_modes"] == ["ansi", "rgb_array"]
    for env_id in ("snail/Bandit-v0", "snail/TabularMDP-v0", "snail/Maze-v0"):
        env = gym.make(env_id, render_mode="ansi")
        assert env.render_mode == "ansi" and isinstance(env.metadata["render_fps"], int)
    with pytest.raises(ValueError, match=r"render_mode='rgb_array' is invalid: expected None or one of \['ansi'\]"):
        BanditEnv(render_mode="rgb_array")
    env = gym.make("snail/Maze-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="without a render_mode"):
        assert env.render() is None
    with pytest.raises(gym.error.ResetNeeded, match="before reset"):
        MazeEnv(render_mode="ansi").render()


@pytest.mark.parametrize("env_id, kwargs", [("snail/Bandit-v0", {"render_mode": "ansi"}),
                                            ("snail/TabularMDP-v0", {"render_mode": "ansi"}),
                                            ("snail/Maze-v0", {"render_mode": "ansi", "size": 3}),
                                            ("snail/Maze-v0", {"render_mode": "rgb_array", "size": 3})])
def test_check_env_with_rendering(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, **kwargs).unwrapped)


def test_maze_text_and_image_on_the_hand_built_maze(hand_maze):
    text = MazeEnv(size=3, episode_steps=50, render_mode="ansi")
    image = MazeEnv(size=3, episode_steps=50, render_mode="rgb_array")
    for env in (text, image):
        env.reset(seed=0)
    assert text.render().splitlines()[1:] == ["#######", "#^    #", "##### #", "#   # #", "# ### #", "#  G  #",
                                              "#######"]
    for env in (text, image):
        env.step(TURN_RIGHT)
        env.step(FORWARD)  # east, onto cell (0, 1): square (1, 3)
    lines = text.render().splitlines()
    assert lines[0] == "step 2/100, inner episode 1/2, last action 0, reward -0.01, return -0.02"
    assert lines[2] == "#S >  #"
    picture = image.render()
    scale = 16
    assert picture.shape == (7 * scale, 7 * scale, 3) and picture.dtype == np.uint8

    def colour(square, at=(0.5, 0.5)):
        return tuple(picture[int((square[0] + at[0]) * scale), int((square[1] + at[1]) * scale)])

    colours = maze_module.MAZE_COLOURS
    assert colour((0, 0)) == colours["wall"] and colour((5, 3)) == colours["goal"]
    assert colour((1, 1)) == colours["start"]
    # The arrow points east: its base is on the left (wide), its tip on the right (narrow).
    assert colour((1, 3)) == colours["agent"] and colour((1, 3), at=(0.22, 0.2)) == colours["agent"]
    assert colour((1, 3), at=(0.22, 0.8)) != colours["agent"]
    assert colour((1, 5)) == colours["seen"]  # in the agent's 7 x 7 view window; the open squares beyond are not
    hidden = MazeEnv(size=3, episode_steps=50, view_size=1, render_mode="rgb_array")
    hidden.reset(seed=0)
    assert tuple(hidden.render()[int(1.5 * scale), int(5.5 * scale)]) == colours["open"]


def test_bandit_and_mdp_text_show_the_trial_so_far():
    bandit = BanditEnv(arms=3, pulls=20, render_mode="ansi")
    bandit.reset(seed=4)
    actions, rewards = [0, 2, 2, 1, 2], []
    for a in actions:
        rewards.append(bandit.step(a)[1])
    probs = bandit.unwrapped._core.arm_probs[0]
    lines = bandit.render().splitlines()
    assert lines[0].startswith(f"step 5/20, last action 2, reward {rewards[-1]:+.3g}, return {sum(rewards):.3g}")
    for a in range(3):
        pulls = actions.count(a)
        paid = int(sum(r for b, r in zip(actions, rewards, strict=True) if b == a))
        assert lines[1 + a] == f"{'*' if a == 2 else ' '} arm {a}: p={probs[a]:.2f}, {pulls} pulls, {paid} paid"
    mdp = TabularMDPEnv(states=4, episode_length=3, episodes=2, render_mode="ansi")
    mdp.reset(seed=0)
    for t in range(4):
        obs, *_ = mdp.step(t % 2)
    assert "inner episode 2/2" in mdp.render().splitlines()[0]
    assert mdp.render().splitlines()[1] == f"state {int(obs[:4].argmax())} of 4, step 1/3 of the inner episode"


def test_record_video_writes_a_maze_trial(tmp_path):
    pytest.importorskip("moviepy", reason="Gymnasium's RecordVideo needs moviepy")
    env = gym.wrappers.RecordVideo(gym.make("snail/Maze-v0", size=2, episode_steps=6, render_mode="rgb_array"),
                                   video_folder=str(tmp_path), episode_trigger=lambda episode: True,
                                   disable_logger=True)
    env.reset(seed=0)
    done = False
    while not done:
        done = env.step(env.action_space.sample())[2]
    env.close()
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
