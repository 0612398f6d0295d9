"""RL²-style observations (snail.envs.wrappers) for agents of other libraries, and PredictorPolicy, which plays
such an agent in the trial loop. All seeds fixed."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from snail.envs import FLAG_INDEX, make_vector_env
from snail.envs.maze import GOAL_REWARD, STEP_REWARD, WALL_PENALTY
from snail.envs.wrappers import MetaRLObservation, MetaRLVectorObservation, meta_rl_features
from snail.trials import PredictorPolicy, run_trials

ROOT = Path(__file__).resolve().parents[1]
# The slow RecurrentPPO test: its training steps and the return it must beat (random 10, best arm 13.3).
SB3_STEPS, SB3_MIN_RETURN = 100_000, 11.0

CASES = [
    ("snail/Bandit-v0", {"arms": 3, "pulls": 6}, 30),
    ("snail/TabularMDP-v0", {"states": 4, "actions": 3, "episode_length": 3, "episodes": 2}, 30),
    ("snail/Maze-v0", {"size": 2, "episode_steps": 6, "episodes": 2}, 60),
    ("snail/Maze-v0", {"size": 3, "episode_steps": 9, "episodes": 2, "actions": "cardinal"}, 60),
]


def wrapped_single(env_id, kwargs):
    return lambda: MetaRLObservation(gym.make(env_id, **kwargs))


def random_actions(env, steps, seed=0):
    return np.random.default_rng(seed).integers(0, env.single_action_space.n, size=(steps, env.num_envs))


@pytest.mark.parametrize("env_id, kwargs, steps", CASES)
def test_vector_wrapper_rows_equal_wrapped_single_envs(env_id, kwargs, steps):
    """The wrapped native vector env gives what n wrapped single envs give under SyncVectorEnv (NEXT_STEP
    autoreset: the single env's reset() shows zeros), over several trials per row."""
    n, seed = 4, 5
    native = MetaRLVectorObservation(make_vector_env(env_id, n, kwargs))
    sync = SyncVectorEnv([wrapped_single(env_id, kwargs)] * n)
    assert native.single_observation_space == sync.single_observation_space
    obs_native, _ = native.reset(seed=seed)
    obs_sync, _ = sync.reset(seed=seed)
    np.testing.assert_array_equal(obs_native, obs_sync)
    ends = np.zeros(n, int)
    for t, action in enumerate(random_actions(native, steps)):
        out_native, out_sync = native.step(action), sync.step(action)
        for a, b in zip(out_native[:4], out_sync[:4], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"step {t}")
        assert native.observation_space.contains(out_native[0])
        ends += out_native[2]
    assert (ends >= 2).all()


@pytest.mark.parametrize("env_id, kwargs, steps", CASES)
def test_observation_is_env_obs_then_previous_action_and_reward(env_id, kwargs, steps):
    """Built by hand from the unwrapped vector env: zeros at reset and at every autoreset (the step after a
    trial ended), else the one-hot of the action taken and the reward it got."""
    n = 3
    plain = make_vector_env(env_id, n, kwargs)
    wrapped = MetaRLVectorObservation(make_vector_env(env_id, n, kwargs))
    d, a = plain.single_observation_space.shape[0], int(plain.single_action_space.n)
    assert wrapped.single_observation_space.shape == (d + a + 1,)
    obs, _ = plain.reset(seed=1)
    got, _ = wrapped.reset(seed=1)
    np.testing.assert_array_equal(got, np.concatenate([obs, np.zeros((n, a + 1), np.float32)], 1))
    done = np.zeros(n, bool)
    autoresets = 0
    for action in random_actions(plain, steps, seed=3):
        obs, reward, terminated, truncated, _ = plain.step(action)
        got = wrapped.step(action)[0]
        np.testing.assert_array_equal(got[:, :d], obs)
        expected_action = np.where(done[:, None], 0.0, np.eye(a)[action])
        np.testing.assert_array_equal(got[:, d:d + a], expected_action)
        np.testing.assert_array_equal(got[:, -1], np.where(done, 0.0, reward).astype(np.float32))
        autoresets += done.sum()
        done = terminated | truncated
    assert autoresets >= n


def test_same_step_autoreset_shows_zeros_on_the_step_that_ended_the_trial():
    """A SAME_STEP vector env returns the next trial's first observation with the dones: zeros go there."""
    env_id, kwargs, steps = CASES[2]
    n = 3
    make = [lambda: gym.make(env_id, **kwargs)] * n
    outer = MetaRLVectorObservation(SyncVectorEnv(make, autoreset_mode=AutoresetMode.SAME_STEP))
    inner = SyncVectorEnv([wrapped_single(env_id, kwargs)] * n, autoreset_mode=AutoresetMode.SAME_STEP)
    np.testing.assert_array_equal(outer.reset(seed=2)[0], inner.reset(seed=2)[0])
    for action in random_actions(outer, steps):
        out_outer, out_inner = outer.step(action), inner.step(action)
        np.testing.assert_array_equal(out_outer[0], out_inner[0])
        np.testing.assert_array_equal(out_outer[2], out_inner[2])


def test_masked_reset_keeps_the_other_rows_previous_action():
    env = MetaRLVectorObservation(make_vector_env("snail/Bandit-v0", 3, {"arms": 4, "pulls": 5}))
    env.reset(seed=0)
    obs = env.step(np.array([1, 2, 3]))[0]
    again, _ = env.reset(options={"reset_mask": np.array([True, False, False])})
    np.testing.assert_array_equal(again[0, 1:], 0.0)
    np.testing.assert_array_equal(again[1:], obs[1:])


@pytest.mark.parametrize("env_id, kwargs", [(c[0], c[1]) for c in CASES] + [("snail/Maze-v0", {})])
def test_gymnasium_check_env_passes_on_the_wrapped_single_env(env_id, kwargs):
    """No errors and no warnings but two expected ones: the checker is looking at a wrapper (the point here),
    and the tabular MDP's reward (mean ~ Normal(1, 1) plus Normal(0, 1) noise) has no finite bounds."""
    expected = [".*is different from the unwrapped version"]
    if env_id == "snail/TabularMDP-v0":
        expected += [".*Box observation space (minimum|maximum) value is (-)?infinity"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any other warning of the checker fails the test
        for message in expected:
            warnings.filterwarnings("ignore", message=message)
        check_env(MetaRLObservation(gym.make(env_id, **kwargs).unwrapped), skip_render_check=True)


def test_reward_bounds_of_the_observation_space():
    spaces = {name: MetaRLObservation(gym.make(f"snail/{name}-v0")).observation_space
              for name in ("Bandit", "Maze", "TabularMDP")}
    assert (spaces["Bandit"].low[-1], spaces["Bandit"].high[-1]) == (0.0, 1.0)
    assert spaces["Maze"].low[-1] == np.float32(STEP_REWARD + WALL_PENALTY)
    assert spaces["Maze"].high[-1] == np.float32(STEP_REWARD + GOAL_REWARD)
    assert spaces["TabularMDP"].low[-1] == -np.inf and spaces["TabularMDP"].high[-1] == np.inf
    for space in spaces.values():  # the env part keeps the env's [0, 1], the one-hot is [0, 1]
        assert (space.low[:-1] == 0).all() and (space.high[:-1] == 1).all()


def test_unsupported_envs_are_refused():
    with pytest.raises(ValueError, match="action space Box"):
        MetaRLObservation(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="autoreset_mode=.*DISABLED"):
        MetaRLVectorObservation(SyncVectorEnv([lambda: gym.make("snail/Bandit-v0")],
                                              autoreset_mode=AutoresetMode.DISABLED))


def test_meta_rl_features():
    obs = np.array([[0.5, 1.0], [0.0, 0.0]], np.float32)
    got = meta_rl_features(obs, np.array([2, -1]), np.array([0.25, 7.0]), num_actions=3)
    np.testing.assert_array_equal(got, [[0.5, 1.0, 0, 0, 1, 0.25], [0, 0, 0, 0, 0, 0]])
    assert got.dtype == np.float32 and got[0, FLAG_INDEX - 4] == 1.0  # the env's flag keeps its place


class FakePredictor:
    """A deterministic 'recurrent' model with sb3's predict: the action depends on the whole observation
    history since the last episode_start (its state), so any difference in what it is shown changes actions."""

    def __init__(self, num_actions):
        self.action_space = gym.spaces.Discrete(num_actions)

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        obs = np.asarray(obs)
        state = np.zeros(len(obs)) if state is None else state
        state = np.where(episode_start, 0.0, state) * 1.7 + (obs * np.arange(1, obs.shape[1] + 1)).sum(1)
        return (np.floor(np.abs(state) * 10) % self.action_space.n).astype(np.int64), state


@pytest.mark.parametrize("env_id, kwargs", [(c[0], c[1]) for c in CASES])
def test_predictor_policy_shows_the_model_what_the_wrapper_shows(env_id, kwargs):
    """run_trials(PredictorPolicy) == the model driven through the wrapped single env, trial by trial."""
    model = FakePredictor(gym.make(env_id, **kwargs).action_space.n)
    results = run_trials(PredictorPolicy(model, num_envs=4), env_id, kwargs, num_trials=6, seed=3, seed_offset=100)
    env = MetaRLObservation(gym.make(env_id, **kwargs))
    returns = []
    for seed in results["seed"]:
        obs, _ = env.reset(seed=int(seed))
        state, start, done, total = None, np.ones(1, bool), False, 0.0
        while not done:
            action, state = model.predict(obs[None], state, start)
            obs, reward, done, _, _ = env.step(int(action[0]))
            start[:] = False
            total += reward
        returns.append(total)
    np.testing.assert_allclose(results["trial_return"], returns, rtol=0, atol=1e-9)
    assert len(set(np.round(returns, 6))) > 1  # the actions depend on what the model saw


@pytest.mark.slow
def test_recurrent_ppo_learns_a_bandit_through_the_wrapper(tmp_path):
    """sb3-contrib's RecurrentPPO (examples/sb3_recurrent_ppo.py) on 2 arms x 20 pulls: random scores 10, the
    best arm 13.3 in expectation. Without the previous action and reward in the observation (a broken wrapper)
    the LSTM cannot tell the arms apart and stays at 10; with them it learns to stay on an arm that pays."""
    pytest.importorskip("sb3_contrib")
    spec = importlib.util.spec_from_file_location("sb3_recurrent_ppo", ROOT / "examples" / "sb3_recurrent_ppo.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = example.main(["--arms", "2", "--pulls", "20", "--steps", str(SB3_STEPS), "--n-envs", "16",
                        "--n-steps", "40", "--batch-size", "320", "--eval-trials", "1000",
                        "--out", str(tmp_path / "result.json")])
    metrics = out["metrics"]
    assert metrics["return"] - metrics["return_ci95"] > SB3_MIN_RETURN, metrics
