"""The one trial loop (snail.trials) and the training rollout built on it (snail.rollout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snail.agent import build_agent
from snail.envs import make_vector_env
from snail.evaluation.baselines import make_baseline
from snail.metrics import summarize
from snail.rollout import collect_trials
from snail.trials import AgentPolicy, play_trials, run_trials

SMALL_MODELS = {
    "snail": {"name": "snail", "preset": None, "embed_dim": 8, "policy_blocks": [["tc", 4], ["attn", 4, 4]],
              "value_blocks": [["tc", 3]]},
    "transformer": {"name": "transformer", "d_model": 8, "n_layers": 1, "n_heads": 2},
    "lstm": {"name": "lstm", "hidden_size": 8},
}
ENVS = {"bandit": ("snail/Bandit-v0", {"arms": 3, "pulls": 12}),
        "maze": ("snail/Maze-v0", {"size": 3, "episode_steps": 10, "episodes": 2}),
        "tabular_mdp": ("snail/TabularMDP-v0", {"states": 3, "actions": 2, "episode_length": 3, "episodes": 3})}


def agent_for(vec_env, model):
    torch.manual_seed(0)
    return build_agent(SMALL_MODELS[model], obs_dim=vec_env.single_observation_space.shape[0],
                       num_actions=int(vec_env.single_action_space.n),
                       max_len=int(vec_env.unwrapped.max_trial_steps)).eval()


@pytest.mark.parametrize("env", list(ENVS))
@pytest.mark.parametrize("model", list(SMALL_MODELS))
def test_rollout_batch_replays_to_the_logprobs_and_values_it_recorded(env, model):
    """The agent's whole-trial forward pass on the recorded batch gives back the log-probabilities and values
    that the cached steps recorded: the loop's previous action / reward / reset bookkeeping lines up with what
    training feeds the model (mazes end trials early, so masked padding is covered too)."""
    env_id, options = ENVS[env]
    vec_env = make_vector_env(env_id, 6, options)
    agent = agent_for(vec_env, model)
    policy = AgentPolicy(agent, 6, generator=torch.Generator().manual_seed(1), keep_outputs=True)
    batch, results = collect_trials(policy, vec_env, seed=3)
    with torch.no_grad():
        logits, values = agent(batch.obs, batch.prev_action, batch.prev_reward)
    logprobs = F.log_softmax(logits, -1).gather(-1, batch.actions[..., None]).squeeze(-1)
    torch.testing.assert_close(logprobs[batch.mask], batch.logprobs[batch.mask], rtol=0, atol=1e-5)
    torch.testing.assert_close(values[batch.mask], batch.values[batch.mask], rtol=0, atol=1e-5)
    # Rewards inside each trial add up to the return the env reported at its end; none outside.
    np.testing.assert_allclose(batch.rewards.sum(1).numpy(), results["trial_return"], rtol=1e-5, atol=1e-5)
    assert (batch.mask.sum(1).numpy() == results["trial_length"]).all()
    assert (batch.prev_action[:, 0] == -1).all() and (batch.prev_reward[:, 0] == 0).all()
    torch.testing.assert_close(batch.prev_action[:, 1:][batch.mask[:, 1:]], batch.actions[:, :-1][batch.mask[:, 1:]])


def test_rollout_and_evaluation_play_the_same_trials():
    """A greedy agent plays the same actions in a training rollout and in run_trials on the same env seeds."""
    env_id, options = ENVS["maze"]
    vec_env = make_vector_env(env_id, 5, options)
    agent = agent_for(vec_env, "snail")
    _, rollout = collect_trials(AgentPolicy(agent, 5, greedy=True, keep_outputs=True), vec_env, seed=40)
    evaluation = run_trials(AgentPolicy(agent, 5, greedy=True), env_id, options, num_trials=5, seed=0,
                            seed_offset=40)
    steps = rollout["actions"].shape[1]
    np.testing.assert_array_equal(rollout["actions"], evaluation["actions"][:, :steps])
    for key in ("trial_return", "episode_lengths", "success", "shortest_path"):
        np.testing.assert_array_equal(rollout[key], evaluation[key])


def test_play_trials_steps_rows_past_their_trial_with_reset_and_masks_them():
    """Rows whose trial ended early keep stepping; the policy sees `reset` on their next trial's first step
    (NEXT_STEP autoreset: the step after the trial's last one only resets the row), and those steps are masked
    out of the results."""
    env_id, options = ENVS["maze"][0], {**ENVS["maze"][1], "episode_steps": 40}
    vec_env = make_vector_env(env_id, 8, options)
    policy = make_baseline("oracle", "maze", 8, env_kwargs=options)  # reaches the goal in few steps
    resets = []
    act = policy.act
    policy.act = lambda obs, pa, pr, reset: (resets.append(reset.copy()), act(obs, pa, pr, reset))[1]
    trials = play_trials(policy, vec_env, seed=0)
    lengths = trials.mask.sum(1)
    assert lengths.min() < lengths.max()  # trials of different lengths
    for row, length in enumerate(lengths):
        if length + 1 < trials.steps:
            assert resets[length + 1][row] and not any(r[row] for r in resets[1: length + 1])
    results = trials.results()
    assert (results["actions"][~trials.mask] == -1).all() and (results["rewards"][~trials.mask] == 0).all()
    assert summarize(results, "maze")["success"] == 1.0


def test_policy_of_the_wrong_width_is_refused():
    vec_env = make_vector_env("snail/Bandit-v0", 4, {"arms": 2, "pulls": 3})
    with pytest.raises(ValueError, match="4 rows but the policy was built for 3"):
        play_trials(make_baseline("random", "bandit", 3, env_kwargs={"arms": 2, "pulls": 3}), vec_env, seed=0)
