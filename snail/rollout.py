"""Rollouts of whole trials: steps a native vector env with the agent's cached state, fills a TrialBatch."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

# Importing snail.envs registers the snail/ env ids; make_vector_env is re-exported for callers of this module.
from snail.envs import make_vector_env  # noqa: F401
from snail.ppo import TrialBatch

# What the envs report in `info` on the last step of a trial (docs/interfaces.md); each env sends a subset.
TRIAL_INFO_KEYS = ("trial_return", "episode_returns", "episode_lengths", "success", "optimal_return",
                   "shortest_path", "arm_probs")


def record_finished_trials(info: dict, rows: np.ndarray, store: dict[str, np.ndarray]) -> None:
    """Copy the trial-end `info` entries of `rows` (bool [n]) into `store` (arrays [n, ...], made on use)."""
    for key in TRIAL_INFO_KEYS:
        if key not in info:
            continue
        value = np.asarray(info[key])
        if key not in store:
            store[key] = np.zeros_like(value)
        store[key][rows] = value[rows]


@torch.no_grad()
def collect_trials(agent, vec_env: gym.vector.VectorEnv, seed: int, generator: torch.Generator | None = None
                   ) -> tuple[TrialBatch, dict[str, np.ndarray]]:
    """Run one whole trial in every env row, sampling actions from `agent`.

    The env is reset with `seed` (row i gets seed + i), so the tasks are a function of the seed alone.
    Returns the TrialBatch (on the agent's device) and the trial-end info of every row ([num_envs, ...]).
    """
    num_envs, max_steps = vec_env.num_envs, vec_env.unwrapped.max_trial_steps
    device = next(agent.parameters()).device
    obs_np, _ = vec_env.reset(seed=seed)

    obs = torch.zeros((num_envs, max_steps, *obs_np.shape[1:]), dtype=torch.float32)
    actions = torch.zeros((num_envs, max_steps), dtype=torch.int64)
    logprobs = torch.zeros((num_envs, max_steps))
    values = torch.zeros((num_envs, max_steps))
    rewards = torch.zeros((num_envs, max_steps))
    mask = torch.zeros((num_envs, max_steps), dtype=torch.bool)

    state = agent.initial_state(num_envs)
    prev_action = torch.full((num_envs,), -1, dtype=torch.int64, device=device)
    prev_reward = torch.zeros(num_envs, device=device)
    reset = torch.ones(num_envs, dtype=torch.bool, device=device)
    in_trial = np.ones(num_envs, dtype=bool)  # rows whose first trial has not ended yet
    trial_info: dict[str, np.ndarray] = {}
    steps = 0
    for t in range(max_steps):
        obs_t = torch.from_numpy(obs_np).to(device)
        logits, value, state = agent.step(obs_t, prev_action, prev_reward, state, reset)  # [n, A], [n]
        action = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)
        obs[:, t] = obs_t.cpu()
        actions[:, t] = action.cpu()
        logprobs[:, t] = F.log_softmax(logits, -1).gather(-1, action[:, None]).squeeze(-1).cpu()
        values[:, t] = value.cpu()
        mask[:, t] = torch.from_numpy(in_trial)

        obs_np, reward, terminated, truncated, info = vec_env.step(action.cpu().numpy())
        rewards[:, t] = torch.from_numpy(np.asarray(reward, dtype=np.float32))
        finished = in_trial & (terminated | truncated)
        if finished.any():
            record_finished_trials(info, finished, trial_info)
            in_trial &= ~finished
        steps = t + 1
        if not in_trial.any():
            break
        prev_action = action
        prev_reward = rewards[:, t].to(device)
        reset = torch.zeros_like(reset)
    if in_trial.any():
        raise RuntimeError(f"{int(in_trial.sum())} trials did not end within max_trial_steps={max_steps}")

    rewards *= mask  # steps after a row's trial ended belong to the next (discarded) trial
    prev_action_seq = torch.cat([torch.full((num_envs, 1), -1, dtype=torch.int64), actions[:, :-1]], dim=1)
    prev_reward_seq = torch.cat([torch.zeros((num_envs, 1)), rewards[:, :-1]], dim=1)
    batch = TrialBatch(obs=obs[:, :steps], prev_action=prev_action_seq[:, :steps],
                       prev_reward=prev_reward_seq[:, :steps], actions=actions[:, :steps],
                       logprobs=logprobs[:, :steps], values=values[:, :steps], rewards=rewards[:, :steps],
                       mask=mask[:, :steps])
    return batch.to(device), trial_info
