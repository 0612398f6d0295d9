"""Training rollouts: one whole trial per env row, played by the agent through the trial loop, as a TrialBatch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from snail.trials import AgentPolicy, play_trials


@dataclass
class TrialBatch:
    """N whole trials padded to T steps. Shapes: obs [N, T, D]; everything else [N, T]."""

    obs: torch.Tensor  # float32
    prev_action: torch.Tensor  # int64, -1 at each trial's first step
    prev_reward: torch.Tensor  # float32, 0 at each trial's first step
    actions: torch.Tensor  # int64
    logprobs: torch.Tensor  # float32, log pi_old(a_t | history)
    values: torch.Tensor  # float32, V_old(history)
    rewards: torch.Tensor  # float32
    mask: torch.Tensor  # bool, True on steps inside the trial

    def to(self, device) -> TrialBatch:
        return TrialBatch(**{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})


def collect_trials(policy: AgentPolicy, vec_env: gym.vector.VectorEnv, seed: int
                   ) -> tuple[TrialBatch, dict[str, np.ndarray]]:
    """One whole trial in every env row (reset with `seed`: row i gets seed + i, so the tasks are a function of
    the seed alone), sampled by `policy` (an AgentPolicy with `keep_outputs=True`).

    Returns the TrialBatch (on the policy's device) and the per-trial results (`Trials.results()`).
    """
    trials = play_trials(policy, vec_env, seed, record_obs=True)
    n = vec_env.num_envs
    mask = torch.from_numpy(trials.mask)
    actions = torch.from_numpy(trials.actions)  # steps after a row's trial ended hold valid (ignored) actions
    rewards = torch.from_numpy(trials.rewards) * mask  # those steps belong to the next (discarded) trial
    prev_action = torch.cat([torch.full((n, 1), -1, dtype=torch.int64), actions[:, :-1]], dim=1)
    prev_reward = torch.cat([torch.zeros((n, 1)), rewards[:, :-1]], dim=1)
    batch = TrialBatch(obs=torch.from_numpy(trials.obs), prev_action=prev_action, prev_reward=prev_reward,
                       actions=actions, logprobs=trials.outputs["logprob"], values=trials.outputs["value"],
                       rewards=rewards, mask=mask)
    return batch.to(policy.device), trials.results()
