"""What snail.envs exports for the rest of the library: the env registry, the flag, each task's observation
layout and constants. The tests check them against what the envs actually do."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from snail.config.schemas import compose_config
from snail.envs import (
    ENV_IDS,
    FLAG_INDEX,
    env_id_of,
    env_name_of,
    env_options,
    inner_episode_starts,
    make_vector_env,
)
from snail.envs.bandit import OBS_DIM as BANDIT_OBS_DIM
from snail.envs.maze import (
    ACTION_SETS,
    DC,
    DR,
    EAST,
    FORWARD,
    GOAL,
    GOAL_REWARD,
    HEADING_CHANGE,
    NORTH,
    OPEN,
    SOUTH,
    STEP_REWARD,
    TURN_LEFT,
    TURN_RIGHT,
    TURNS_TO_FACE,
    WALL,
    WALL_PENALTY,
    WEST,
    MazeObsLayout,
    cell_square,
    grid_path,
    path_actions,
    reached_goal,
    turn_towards,
)
from snail.envs.tabular_mdp import TabularMDPObsLayout, solve_finite_horizon


def make_vec(env_id, n, **kwargs):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


# ---- registry ------------------------------------------------------------------------------------------


def test_registry_names_ids_and_entry_points():
    assert ENV_IDS == {"bandit": "snail/Bandit-v0", "maze": "snail/Maze-v0", "tabular_mdp": "snail/TabularMDP-v0"}
    for name, env_id in ENV_IDS.items():
        assert env_id_of(name) == env_id_of(env_id) == env_id
        assert env_name_of(name) == env_name_of(env_id) == name
        spec = gym.spec(env_id)  # each task lives in snail.envs.<short name>
        assert spec.entry_point.startswith(f"snail.envs.{name}:")
        assert spec.vector_entry_point.startswith(f"snail.envs.{name}:")
    message = ("unknown env 'atari'; allowed: ['bandit', 'maze', 'tabular_mdp'] or "
               "['snail/Bandit-v0', 'snail/Maze-v0', 'snail/TabularMDP-v0']")
    for lookup in (env_id_of, env_name_of):
        with pytest.raises(ValueError) as err:
            lookup("atari")
        assert str(err.value) == message


@pytest.mark.parametrize("name", sorted(ENV_IDS))
def test_env_options_of_each_config_group_build_its_env(name):
    """The composed env group (conf/env/<name>.yaml over its schema) minus `name` and `id` is what
    make_vector_env takes."""
    cfg = compose_config("config", [f"env={name}"]).env
    options = env_options(cfg)
    assert set(options) == set(cfg) - {"name", "id"} and cfg.name == name and cfg.id == ENV_IDS[name]
    venv = make_vector_env(cfg.id, 2, options)
    reference = make_vec(cfg.id, 2, **options)
    assert type(venv) is type(reference) and venv.num_envs == 2
    (obs, info), (ref_obs, ref_info) = venv.reset(seed=3), reference.reset(seed=3)
    assert np.array_equal(obs, ref_obs) and info.keys() == ref_info.keys()


# ---- the flag ------------------------------------------------------------------------------------------


def test_inner_episode_starts_reads_the_flag():
    obs = np.zeros((3, 5), np.float32)
    obs[1, FLAG_INDEX] = 1.0
    assert inner_episode_starts(obs).tolist() == [False, True, False]
    venv = make_vec("snail/TabularMDP-v0", 2, states=3, episode_length=2, episodes=2)
    venv.reset(seed=0)
    starts = [inner_episode_starts(venv.step(np.zeros(2, np.int64))[0]).tolist() for _ in range(4)]
    assert starts == [[False, False], [True, True], [False, False], [False, False]]


# ---- observation layouts -------------------------------------------------------------------------------


def test_bandit_obs_dim():
    assert gym.make("snail/Bandit-v0").observation_space.shape == (BANDIT_OBS_DIM,) == (1,)


def test_tabular_mdp_obs_layout():
    venv = make_vec("snail/TabularMDP-v0", 4, states=6, episode_length=3, episodes=2)
    env = venv.unwrapped
    layout = env.obs_layout
    assert layout == TabularMDPObsLayout(6) == gym.make("snail/TabularMDP-v0", states=6).unwrapped.obs_layout
    assert layout.obs_dim == venv.single_observation_space.shape[0] == 7
    assert layout.state == slice(0, 6) and layout.flag == layout.obs_dim + FLAG_INDEX == 6
    obs, _ = venv.reset(seed=2)
    rng = np.random.default_rng(0)
    for t in range(6):  # one trial
        assert np.array_equal(layout.states_of(obs), env._state)
        assert (obs[:, layout.state].sum(1) == 1).all()
        if t % 3 == 0:
            assert (layout.states_of(obs) == 0).all()  # inner episodes start in state 0
        obs, *_ = venv.step(rng.integers(0, 5, 4))


MAZE_LAYOUT_CASES = [
    {},
    {"size": 2, "view_size": 1},
    {"size": 4, "view_size": 5, "actions": "cardinal"},
    {"size": 3, "observe_position": True},
    {"preset": "large", "view_size": 1, "actions": "cardinal", "observe_position": True},
]


@pytest.mark.parametrize("kwargs", MAZE_LAYOUT_CASES)
def test_maze_obs_layout_describes_the_observation(kwargs):
    n = 6
    venv = make_vec("snail/Maze-v0", n, episode_steps=15, **kwargs)
    env = venv.unwrapped
    layout = env.obs_layout
    assert layout == MazeObsLayout(env.view_size, env.size, env.observe_position, env.egocentric)
    assert gym.make("snail/Maze-v0", **kwargs).unwrapped.obs_layout == layout
    assert layout.obs_dim == venv.single_observation_space.shape[0]
    assert layout.window == 2 * env.view_size + 1 and layout.area == layout.window ** 2
    # The parts tile the observation in the documented order; the flag is last.
    parts = [layout.walls, layout.goal, layout.heading]
    if env.observe_position:
        parts += [layout.position_rows, layout.position_cols]
    else:
        assert layout.position_rows is None and layout.position_cols is None
    covered = np.concatenate([np.arange(layout.obs_dim)[part] for part in parts])
    assert covered.tolist() == list(range(layout.obs_dim - 1))
    assert layout.flag == layout.obs_dim - 1 == layout.obs_dim + FLAG_INDEX
    # Each part shows what the env's accessors say, along random walks.
    rows, cols = layout.window_offsets
    v = env.view_size
    obs, _ = venv.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(40):
        grids, cells, headings = env.grids, env.agent_cells, env.headings
        assert np.array_equal(layout.headings_of(obs), headings)
        assert np.array_equal(obs[np.arange(n), layout.heading.start + headings], np.ones(n))
        for i in range(n):
            grid = np.pad(grids[i], v, constant_values=WALL)  # outside the maze counts as wall
            h = headings[i]
            squares = grid[2 * cells[i][0] + 1 + v + rows[h], 2 * cells[i][1] + 1 + v + cols[h]]
            assert np.array_equal(obs[i, layout.walls], squares == WALL)
            assert np.array_equal(obs[i, layout.goal], squares == GOAL)
            if env.observe_position:
                assert np.array_equal(obs[i, layout.position_rows], np.eye(env.size)[cells[i][0]])
                assert np.array_equal(obs[i, layout.position_cols], np.eye(env.size)[cells[i][1]])
        obs, *_ = venv.step(rng.integers(0, venv.single_action_space.n, n))


def test_maze_window_offsets_turn_with_the_agent():
    """Egocentric: window row 0 is farthest ahead, column 0 on the left; cardinal: north-up for every heading."""
    v = 3
    centre = v * (2 * v + 1) + v  # the agent's own square
    ahead, left = v, v * (2 * v + 1)  # window squares (0, v) and (v, 0), row-major
    rows, cols = MazeObsLayout(view_size=v, size=5).window_offsets
    for h in (NORTH, EAST, SOUTH, WEST):
        assert (rows[h, centre], cols[h, centre]) == (0, 0)
        assert (rows[h, ahead], cols[h, ahead]) == (v * DR[h], v * DC[h])
        to_left = (h + HEADING_CHANGE[TURN_LEFT]) % 4
        assert (rows[h, left], cols[h, left]) == (v * DR[to_left], v * DC[to_left])
    rows, cols = MazeObsLayout(view_size=v, size=5, egocentric=False).window_offsets
    assert (rows == rows[NORTH]).all() and (cols == cols[NORTH]).all()
    assert (rows[NORTH, ahead], cols[NORTH, ahead]) == (-v, 0)


def test_models_maze_obs_dim_is_the_default_maze_env():
    pytest.importorskip("torch")
    from snail.agent import MAZE_OBS_DIM

    assert MAZE_OBS_DIM == gym.make("snail/Maze-v0").observation_space.shape[0]


# ---- maze constants ------------------------------------------------------------------------------------


def test_maze_direction_and_turn_tables_agree():
    assert (NORTH, EAST, SOUTH, WEST) == (0, 1, 2, 3) and len({OPEN, WALL, GOAL}) == 3
    for d in range(4):
        assert (DR[d] + DR[(d + 2) % 4], DC[d] + DC[(d + 2) % 4]) == (0, 0)  # opposite moves cancel
        assert abs(DR[d]) + abs(DC[d]) == 1
    assert (DR[NORTH], DC[EAST]) == (-1, 1)  # north is up (row - 1), east is column + 1
    assert (HEADING_CHANGE[FORWARD], HEADING_CHANGE[TURN_LEFT], HEADING_CHANGE[TURN_RIGHT]) == (0, -1, 1)
    assert (NORTH + HEADING_CHANGE[TURN_RIGHT]) % 4 == EAST
    for h in range(4):
        for d in range(4):
            actions = path_actions([d], h, egocentric=True)
            assert actions[-1] == FORWARD and len(actions) - 1 == TURNS_TO_FACE[(d - h) % 4]
            heading = h
            for a in actions[:-1]:
                assert a == turn_towards(d, heading) != FORWARD
                heading = (heading + HEADING_CHANGE[a]) % 4
            assert heading == d and turn_towards(d, heading) == FORWARD
            assert path_actions([d], h, egocentric=False) == [d]


def test_reached_goal_separates_the_goal_step():
    rewards = np.array([STEP_REWARD, STEP_REWARD + WALL_PENALTY, STEP_REWARD + GOAL_REWARD])
    assert reached_goal(rewards).tolist() == [False, False, True]
    assert reached_goal(rewards.astype(np.float32)).tolist() == [False, False, True]
    assert reached_goal(np.float32(STEP_REWARD + GOAL_REWARD)) and not reached_goal(0.0)


@pytest.mark.parametrize("actions", ACTION_SETS)
def test_maze_dynamics_follow_the_exported_constants(actions):
    """Every step of random walks, predicted from the module's constants alone (directions, turns, square
    codes, rewards), is what the env does."""
    n = 16
    venv = make_vec("snail/Maze-v0", n, size=3, episode_steps=20, episodes=3, actions=actions)
    env = venv.unwrapped
    venv.reset(seed=7)
    rng = np.random.default_rng(1)
    kinds = set()
    restarting = np.zeros(n, bool)  # rows whose trial ended: the next step starts a new one
    for _ in range(300):
        grids, cells, headings, goals = env.grids, env.agent_cells, env.headings, env.goal_cells
        a = rng.integers(0, venv.single_action_space.n, n)
        obs, reward, terminated, _, info = venv.step(a)
        for i in np.flatnonzero(~restarting):
            if env.egocentric:
                heading, moving = (headings[i] + HEADING_CHANGE[a[i]]) % 4, a[i] == FORWARD
            else:
                heading, moving = a[i], True
            r, c = cells[i]
            wall = moving and grids[i][2 * r + 1 + DR[heading], 2 * c + 1 + DC[heading]] == WALL
            cell = (r + DR[heading], c + DC[heading]) if moving and not wall else (r, c)
            at_goal = cell == tuple(goals[i])
            assert reward[i] == STEP_REWARD + (WALL_PENALTY if wall else 0.0) + (GOAL_REWARD if at_goal else 0.0)
            assert reached_goal(reward[i]) == at_goal
            kinds.add("goal" if at_goal else "wall" if wall else "step")
            ended = at_goal or terminated[i] or inner_episode_starts(obs)[i]
            if ended:  # the agent is back at the start already; info says where the episode ended
                assert info["_final_cell"][i] and info["_final_heading"][i]
                assert tuple(info["final_cell"][i]) == cell and info["final_heading"][i] == heading
            else:
                assert tuple(env.agent_cells[i]) == cell and env.headings[i] == heading
                assert not info.get("_final_cell", np.zeros(n, bool))[i]
        restarting = terminated
    assert kinds == {"goal", "wall", "step"}


# ---- maze: where inner episodes end --------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"size": 3, "episode_steps": 10, "episodes": 3},
                                    {"size": 2, "episode_steps": 6, "actions": "cardinal", "view_size": 1}])
def test_maze_final_cell_vector_matches_single_and_marks_success(kwargs):
    """final_cell / final_heading come on exactly the steps where an inner episode ends, as int64 arrays
    with masks (vector) and as plain values (single env, whose rows the vector env reproduces); the cell is
    the goal cell exactly when the episode reached the goal, which is what `success` records."""
    n, steps = 6, 120
    native = make_vec("snail/Maze-v0", n, **kwargs)
    singles = [gym.make("snail/Maze-v0", **kwargs) for _ in range(n)]
    native.reset(seed=40)
    for i, env in enumerate(singles):
        env.reset(seed=40 + i)
    actions = np.random.default_rng(2).integers(0, native.single_action_space.n, (steps, n))
    goals = native.unwrapped.goal_cells
    successes = [[] for _ in range(n)]
    ends, outcomes = 0, set()
    restarting = np.zeros(n, bool)
    for t in range(steps):
        obs, reward, terminated, _, info = native.step(actions[t])
        ended = (inner_episode_starts(obs) | terminated) & ~restarting
        assert np.array_equal(info.get("_final_cell", np.zeros(n, bool)), ended)
        assert np.array_equal(info.get("_final_heading", np.zeros(n, bool)), ended)
        if ended.any():
            assert info["final_cell"].dtype == np.int64 and info["final_cell"].shape == (n, 2)
            assert info["final_heading"].dtype == np.int64 and info["final_heading"].shape == (n,)
        for i, env in enumerate(singles):
            if restarting[i]:  # the vector row starts a new trial at this step; the single env resets
                env.reset()
                goals[i] = native.unwrapped.goal_cells[i]
                successes[i] = []
                continue
            _, single_reward, single_done, _, single_info = env.step(int(actions[t, i]))
            assert single_reward == reward[i] and single_done == terminated[i]
            if not ended[i]:
                assert "final_cell" not in single_info and "final_heading" not in single_info
                continue
            ends += 1
            assert isinstance(single_info["final_heading"], int)
            assert single_info["final_cell"].dtype == np.int64 and single_info["final_cell"].shape == (2,)
            assert np.array_equal(single_info["final_cell"], info["final_cell"][i])
            assert single_info["final_heading"] == info["final_heading"][i]
            at_goal = np.array_equal(info["final_cell"][i], goals[i])
            assert at_goal == reached_goal(reward[i])
            successes[i].append(at_goal)
            outcomes.add(bool(at_goal))
            if terminated[i]:
                assert info["success"][i].tolist() == successes[i]
        restarting = terminated
    assert ends > 2 * n and outcomes == {True, False}  # several ends per row, at the goal and at the cap


# ---- solvers written once ------------------------------------------------------------------------------

@pytest.mark.parametrize("actions", ACTION_SETS)
def test_maze_shortest_path_is_the_exported_bfs_and_path_actions(actions):
    venv = make_vec("snail/Maze-v0", 40, size=5, actions=actions)
    _, info = venv.reset(seed=3)
    env = venv.unwrapped
    for i in range(40):
        directions = grid_path(env.grids[i], cell_square(env.start_cells[i]), cell_square(env.goal_cells[i]))
        assert len(path_actions(directions, env.headings[i], env.egocentric)) == info["shortest_path"][i]


def textbook_values(mu, probs, horizon):
    """Backward induction one state and action at a time: V [horizon + 1, S] by steps remaining."""
    states, actions = mu.shape
    values = [[0.0] * states]
    for _ in range(horizon):
        last = values[-1]
        values.append([max(mu[s, a] + sum(probs[s, a, k] * last[k] for k in range(states))
                           for a in range(actions)) for s in range(states)])
    return np.array(values)


def test_solve_finite_horizon_policy_and_values():
    rng = np.random.default_rng(4)
    m, states, actions, horizon = 5, 4, 3, 6
    mu = rng.standard_normal((m, states, actions)) + 1
    probs = rng.standard_exponential((m, states, actions, states))
    probs /= probs.sum(-1, keepdims=True)
    policy, values = solve_finite_horizon(mu, probs, horizon)
    assert policy.shape == values.shape == (m, horizon + 1, states) and policy.dtype == np.int64
    assert not values[:, 0].any() and not policy[:, 0].any()
    for i in range(m):
        np.testing.assert_allclose(values[i], textbook_values(mu[i], probs[i], horizon), rtol=1e-12)
        # Following the policy earns the values (policy evaluation), and no single deviation does better.
        earned = np.zeros(states)
        for h in range(1, horizon + 1):
            q = mu[i] + probs[i] @ earned
            earned = q[np.arange(states), policy[i, h]]
            np.testing.assert_allclose(earned, values[i, h], rtol=1e-12)
            assert np.all(q.max(-1) <= earned + 1e-12)


def test_optimal_return_and_mdp_oracle_share_the_solver():
    """The env's optimal_return is exactly episodes * V*_H(0) of solve_finite_horizon; the MDP oracle plays
    its policy."""
    from snail.evaluation.baselines import make_baseline

    kwargs = {"states": 4, "actions": 3, "episode_length": 5, "episodes": 7}
    venv = make_vec("snail/TabularMDP-v0", 6, **kwargs)
    _, info = venv.reset(seed=9)
    env = venv.unwrapped
    policy, values = solve_finite_horizon(env.reward_means, env.transition_probs, 5)
    assert np.array_equal(info["optimal_return"], 7 * values[:, 5, 0])
    oracle = make_baseline("oracle", "tabular_mdp", 6, env_kwargs=kwargs)
    oracle.set_task(info, np.arange(6), env)
    assert np.array_equal(oracle.true_plan, policy)
