"""PPO over whole trials: GAE per trial and the clipped update, readable top to bottom.

A batch holds N complete trials padded to T steps; `mask` marks the steps that belong to a trial (mazes end
early). Every trial in the batch is complete, so nothing is bootstrapped: the value after a trial's last step
is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from snail.config import check, dataclass_from_mapping
from snail.envs import inner_episode_starts
from snail.rollout import TrialBatch

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class PPOConfig:
    """PPO's options and their defaults (conf/algo/ppo.yaml). Each env's conf/algo/per_env/<env>.yaml replaces
    num_envs, lr, epochs and minibatch_trials (and a few more) with its tuned values."""

    name: str = "ppo"
    num_envs: int = 256  # trials collected per update (one trial per env row)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    lr: float = 3e-4
    lr_schedule: str = "linear"  # linear (to 0 at run.total_env_steps) | constant
    epochs: int = 4
    minibatch_trials: int = 64  # whole trials per minibatch
    clip_coef: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    # The entropy bonus on the steps of every inner episode after the first (null: ent_coef there too). A maze
    # agent whose first episode has settled on one fixed walk can keep trying other routes in its second, where
    # what it remembers can pay (issue 13). Tasks with one inner episode per trial (the bandit) never use it.
    ent_coef_later_episodes: float | None = None
    # The weight of the policy term (the clipped surrogate) on the steps of every inner episode after the first,
    # applied after the advantages are normalized; 1 weighs every step alike. A maze agent's walk is shaped as
    # much by episode 1, where there is nothing to remember, as by episode 2; a weight above 1 makes the later
    # episodes, where remembering pays, count for more (issue 13; measured in BENCHMARKS.md, not a default).
    policy_weight_later_episodes: float = 1.0
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    target_kl: float | None = None  # stop an update's epochs early past this approximate KL
    # The update's forward/backward in fp32, or in bf16 under torch.autocast (outputs, loss and optimizer stay
    # fp32); auto = fp32 for now: bf16 measured no faster at the usual minibatches on CPU and GPU, and went
    # non-finite on the maze on an H100 (snail.device.autocast_dtype).
    precision: str = "auto"

    def __post_init__(self):
        check("algo", self, lambda: {
            "name": (self.name == "ppo", "'ppo'"),
            "num_envs": (self.num_envs >= 1, "an integer >= 1"),
            "gamma": (0.0 <= self.gamma <= 1.0, "a number in [0, 1]"),
            "gae_lambda": (0.0 <= self.gae_lambda <= 1.0, "a number in [0, 1]"),
            "lr": (self.lr > 0, "a number > 0"),
            "lr_schedule": (self.lr_schedule in ("linear", "constant"), "'linear' or 'constant'"),
            "epochs": (self.epochs >= 1, "an integer >= 1"),
            "minibatch_trials": (1 <= self.minibatch_trials <= self.num_envs, f"in [1, num_envs={self.num_envs}]"),
            "clip_coef": (self.clip_coef > 0, "a number > 0"),
            "vf_coef": (self.vf_coef >= 0, "a number >= 0"),
            "ent_coef": (self.ent_coef >= 0, "a number >= 0"),
            "ent_coef_later_episodes": (self.ent_coef_later_episodes is None or self.ent_coef_later_episodes >= 0,
                                        "null or a number >= 0"),
            "policy_weight_later_episodes": (self.policy_weight_later_episodes >= 0, "a number >= 0"),
            "max_grad_norm": (self.max_grad_norm > 0, "a number > 0"),
            "target_kl": (self.target_kl is None or self.target_kl > 0, "null or a number > 0"),
            "precision": (self.precision in PRECISIONS, f"one of {list(PRECISIONS)}"),
        })

    @classmethod
    def from_mapping(cls, cfg: Mapping) -> PPOConfig:
        return dataclass_from_mapping(cls, cfg, "algo")


def compute_gae(rewards, values, mask, gamma: float, lam: float):
    """Generalized advantage estimates over whole trials. All inputs and outputs are [N, T].

    Steps outside a trial (mask False) get advantage 0 and contribute no value to the steps before them,
    so the last step of each trial is treated as terminal.
    """
    maskf = mask.float()
    values = values * maskf
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])
    next_advantage = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = (delta + gamma * lam * next_advantage) * maskf[:, t]
        advantages[:, t] = next_advantage
        next_value = values[:, t]
    returns = (advantages + values) * maskf
    return advantages, returns


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def per_episode_weights(obs: torch.Tensor, first: float, later: float | None) -> torch.Tensor | float:
    """A weight on each step of trials `obs` [N, T, D]: the float `first` when `later` is None or equal to it,
    else [N, T], `first` on the first inner episode and `later` on the steps from the first flagged one (the
    observation's inner-episode flag marks each later episode's first step)."""
    if later is None or later == first:
        return first
    in_later = torch.cumsum(inner_episode_starts(obs), dim=1) > 0  # [N, T]: inside episode 2 or later
    return torch.where(in_later, later, first)


def entropy_coefficients(obs: torch.Tensor, cfg: PPOConfig) -> torch.Tensor | float:
    """The entropy bonus's weight on each step: ent_coef, and ent_coef_later_episodes after the first episode."""
    return per_episode_weights(obs, cfg.ent_coef, cfg.ent_coef_later_episodes)


def policy_weights(obs: torch.Tensor, cfg: PPOConfig) -> torch.Tensor | float:
    """The policy term's weight on each step: 1, and policy_weight_later_episodes after the first episode."""
    return per_episode_weights(obs, 1.0, cfg.policy_weight_later_episodes)


def ppo_update(agent, optimizer: torch.optim.Optimizer, batch: TrialBatch, cfg: PPOConfig,
               generator: torch.Generator | None = None, autocast_dtype: torch.dtype | None = None,
               average=None) -> dict[str, float]:
    """Several epochs of clipped PPO over minibatches of whole trials, the agent's forward and backward passes
    under torch.autocast(`autocast_dtype`) when given (e.g. torch.bfloat16). Returns diagnostics for logging, and
    `nonfinite_minibatches`: how many minibatches had a non-finite loss or gradient (their step is skipped;
    the diagnostics average the others, NaN when none is left).

    With several processes `agent` is the DDP-wrapped agent (its backward all-reduces the gradients) and
    `average(x)` the mean of a float over the processes, so that all stop at the same epoch (`target_kl`)."""
    advantages, returns = compute_gae(batch.rewards, batch.values, batch.mask, cfg.gamma, cfg.gae_lambda)
    num_trials = batch.obs.shape[0]
    maskf = batch.mask.float()
    ent_coefs = entropy_coefficients(batch.obs, cfg)  # a float, or [N, T]
    step_weights = policy_weights(batch.obs, cfg)  # a float, or [N, T]
    # The value loss regresses returns of tens; in one shared norm its gradient would dominate and shrink every
    # policy step to nothing (seen on the bandit: approximate KL ~1e-4 per update), so each group is clipped alone.
    clip_groups = [params for params in getattr(agent, "module", agent).param_groups().values() if params]

    stats: dict[str, list[float]] = {k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl",
                                                      "clip_fraction")}
    skipped = 0
    for _epoch in range(cfg.epochs):
        order = torch.randperm(num_trials, generator=generator, device=batch.obs.device)
        epoch_kls = []
        for start in range(0, num_trials, cfg.minibatch_trials):
            idx = order[start:start + cfg.minibatch_trials]
            mb_mask = maskf[idx]
            # Padding beyond the longest trial of the minibatch is dead weight for the forward pass.
            steps = int(batch.mask[idx].any(dim=0).nonzero().max()) + 1
            mb_mask = mb_mask[:, :steps]

            with torch.autocast(batch.obs.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits, new_values = agent(batch.obs[idx, :steps], batch.prev_action[idx, :steps],
                                           batch.prev_reward[idx, :steps])  # [M, t, A], [M, t], float32
            log_probs_all = F.log_softmax(logits, dim=-1)
            new_logprobs = log_probs_all.gather(-1, batch.actions[idx, :steps, None]).squeeze(-1)
            entropy = -(log_probs_all.exp() * log_probs_all).sum(-1)

            log_ratio = new_logprobs - batch.logprobs[idx, :steps]
            ratio = log_ratio.exp()
            with torch.no_grad():
                # The low-variance KL estimator of http://joschu.net/blog/kl-approx.html
                approx_kl = masked_mean((ratio - 1) - log_ratio, mb_mask)
                clip_fraction = masked_mean(((ratio - 1.0).abs() > cfg.clip_coef).float(), mb_mask)

            mb_adv = advantages[idx, :steps]
            if cfg.norm_adv:
                mean = masked_mean(mb_adv, mb_mask)
                std = masked_mean((mb_adv - mean) ** 2, mb_mask).sqrt()
                mb_adv = (mb_adv - mean) / (std + 1e-8)
            if torch.is_tensor(step_weights):
                mb_adv = mb_adv * step_weights[idx, :steps]  # the clipped surrogate scales with its advantage

            policy_loss = masked_mean(torch.max(-mb_adv * ratio,
                                                -mb_adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)),
                                      mb_mask)
            value_loss = 0.5 * masked_mean((new_values - returns[idx, :steps]) ** 2, mb_mask)
            entropy_mean = masked_mean(entropy, mb_mask)
            if torch.is_tensor(ent_coefs):
                entropy_bonus = masked_mean(ent_coefs[idx, :steps] * entropy, mb_mask)
            else:
                entropy_bonus = ent_coefs * entropy_mean
            loss = policy_loss + cfg.vf_coef * value_loss - entropy_bonus

            # A non-finite loss or gradient (divergence: a learning rate too large, say) is never applied: the
            # minibatch's step is skipped and counted, and the caller decides what to do (snail.train rolls back).
            optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                skipped += 1
                continue
            loss.backward()
            norms = [nn.utils.clip_grad_norm_(params, cfg.max_grad_norm) for params in clip_groups]
            if not bool(torch.isfinite(torch.stack(norms)).all()):
                optimizer.zero_grad(set_to_none=True)
                skipped += 1
                continue
            optimizer.step()

            for key, value in (("policy_loss", policy_loss), ("value_loss", value_loss),
                               ("entropy", entropy_mean), ("approx_kl", approx_kl),
                               ("clip_fraction", clip_fraction)):
                stats[key].append(float(value.detach()))
            epoch_kls.append(float(approx_kl))
        epoch_kl = sum(epoch_kls) / len(epoch_kls) if epoch_kls else 0.0
        if cfg.target_kl is not None and (average(epoch_kl) if average else epoch_kl) > cfg.target_kl:
            break

    valid_returns, valid_values = returns[batch.mask], batch.values[batch.mask]
    var_returns = valid_returns.var()
    explained_variance = float(1 - (valid_returns - valid_values).var() / var_returns) if var_returns > 0 else 0.0
    result = {key: sum(v) / len(v) if v else math.nan for key, v in stats.items()}
    result["explained_variance"] = explained_variance
    result["epochs_done"] = float(_epoch + 1)
    result["nonfinite_minibatches"] = float(skipped)  # steps skipped for a non-finite loss or gradient
    return result
