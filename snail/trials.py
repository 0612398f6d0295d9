"""The one trial loop: any policy plays whole trials of a native vector env; training rollouts, held-out
evaluation and the pictures of one trial are all built on `play_trials`.

A *policy* is anything with

    act(obs [n, D] float32, prev_action [n] int64, prev_reward [n] float32, reset [n] bool)
        -> actions [n] int64                  or   (actions [n], {name: tensor [n]})

`prev_action` is -1 and `prev_reward` 0 at a trial's first step, and `reset` marks the rows whose trial
starts at this step (their memory must be cleared first). The optional dict holds per-step outputs to keep
(the agent's log-probability and value for PPO): `play_trials` stores them in place, on their own device.
A policy may also have `num_envs` (its batch size) and `set_task(info, rows, env)`, called whenever the rows
`rows` (int array) start a trial with the vector env's `info` (Gymnasium's vector convention: arrays over
rows) and the unwrapped vector env (whose task accessors then hold the new trials' tasks); only oracles use
it. The classical baselines (`snail.evaluation.baselines`) and the learned agents (through `AgentPolicy`,
below) both fit this, so the loop knows no model.

Seeds: training tasks come from env seeds below EVAL_SEED_OFFSET, held-out evaluation tasks from
EVAL_SEED_OFFSET + seed + j (trial j), baseline tuning tasks from TUNE_SEED_OFFSET on, the trainer's periodic
(checkpoint-choosing) evaluations from VALIDATION_SEED_OFFSET on: four disjoint ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from snail.envs import env_id_of, inner_episode_starts, make_vector_env
from snail.envs.wrappers import meta_rl_features
from snail.fast_step import FastStep, resolve_step_mode
from snail.finite import NonFiniteError

# Held-out evaluation tasks come from env seeds at or above this; training (snail.train) uses seeds below it.
EVAL_SEED_OFFSET = 10**9
# Baseline hyperparameters are tuned on tasks from seeds at or above this, disjoint from evaluation seeds
# as long as an evaluation uses fewer than 10**9 trials.
TUNE_SEED_OFFSET = 2 * 10**9
# The trainer's periodic evaluations (which pick best.pt) play tasks from seeds at or above this: choosing a
# checkpoint is tuning too, so it never sees the held-out evaluation tasks.
VALIDATION_SEED_OFFSET = 3 * 10**9

# What the envs report in `info` on the last step of a trial (docs/interfaces.md); each env sends a subset.
TRIAL_END_KEYS = ("trial_return", "episode_returns", "episode_lengths", "success", "optimal_return",
                  "shortest_path", "arm_probs")


@dataclass
class Trials:
    """The first trial of each of n env rows, as played by `play_trials` (T = the longest trial's steps).

    `actions` and `rewards` hold what every row did at every step, also after its trial ended (those steps
    belong to the next, discarded trial: `mask` is False there); `padded()` gives them with -1 / 0 instead.
    """

    seeds: np.ndarray  # [n] int64, the env seed of each row's trial
    actions: np.ndarray  # [n, T] int64
    rewards: np.ndarray  # [n, T] float32
    mask: np.ndarray  # [n, T] bool, True on the steps of the row's first trial
    end_info: dict[str, np.ndarray]  # the trial-end info keys (TRIAL_END_KEYS) of every row, [n, ...]
    obs: np.ndarray | None = None  # [n, T, D] float32 when recorded (record_obs=True)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # the policy's per-step outputs, [n, T]

    @property
    def steps(self) -> int:
        return self.mask.shape[1]

    def results(self, steps: int | None = None) -> dict[str, np.ndarray]:
        """Per-trial arrays (first axis the trial), what `snail.metrics.summarize` reads: `seed`,
        `trial_length`, `actions` / `rewards` [n, steps] (default T) padded with -1 / 0 after the trial's end,
        every trial-end key the env reports, and for bandits `best_arm_fraction` (fraction of pulls of the
        best arm)."""
        pad = ((0, 0), (0, (steps or self.steps) - self.steps))
        mask = np.pad(self.mask, pad)
        actions = np.where(mask, np.pad(self.actions, pad), -1)
        out = {"seed": self.seeds, "trial_length": mask.sum(1), "actions": actions,
               "rewards": np.where(mask, np.pad(self.rewards, pad), 0.0).astype(np.float32), **self.end_info}
        if "arm_probs" in out:
            best = out["arm_probs"].argmax(-1)
            out["best_arm_fraction"] = ((actions == best[:, None]) & mask).sum(-1) / np.maximum(mask.sum(-1), 1)
        return out


def _keep_trial_end(info: Mapping, rows: np.ndarray, store: dict[str, np.ndarray]) -> None:
    """Copy the trial-end `info` entries of `rows` (bool [n]) into `store` (arrays [n, ...], made on use)."""
    for key in TRIAL_END_KEYS:
        if key in info:
            value = np.asarray(info[key])
            if key not in store:
                store[key] = np.zeros_like(value)
            store[key][rows] = value[rows]


def play_trials(policy, vec_env: gym.vector.VectorEnv, seed: int, record_obs: bool = False,
                on_step=None) -> Trials:
    """Play the first trial of every row of `vec_env` (reset with `seed`: row i gets seed + i) with `policy`.

    Rows whose trial ended keep being stepped (NEXT_STEP autoreset starts their next trial, shown to the policy
    with `reset`) until every row's first trial is over; those steps are masked out. `on_step(t, action,
    reward, done, info, in_trial)` (optional) sees every env step, e.g. to record what the env's accessors
    show (arrays over rows; `in_trial` as before the step).
    """
    n, max_steps = vec_env.num_envs, int(vec_env.unwrapped.max_trial_steps)
    if getattr(policy, "num_envs", n) != n:
        raise ValueError(f"the vector env has {n} rows but the policy was built for {policy.num_envs}")
    set_task = getattr(policy, "set_task", None)
    obs, info = vec_env.reset(seed=seed)
    if set_task is not None:
        set_task(info, np.arange(n), vec_env.unwrapped)
    # Task keys a trial reports at its end may also be known at its start (arm_probs): keep them from reset.
    end_info: dict[str, np.ndarray] = {}
    _keep_trial_end(info, np.ones(n, dtype=bool), end_info)

    actions = np.zeros((n, max_steps), dtype=np.int64)
    rewards = np.zeros((n, max_steps), dtype=np.float32)
    mask = np.zeros((n, max_steps), dtype=bool)
    obs_seen = np.zeros((n, max_steps, *obs.shape[1:]), dtype=np.float32) if record_obs else None
    outputs: dict[str, torch.Tensor] = {}

    prev_action = np.full(n, -1, dtype=np.int64)
    prev_reward = np.zeros(n, dtype=np.float32)
    reset = np.ones(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    in_trial = np.ones(n, dtype=bool)  # rows whose first trial is running
    for t in range(max_steps):
        out = policy.act(obs, prev_action, prev_reward, reset)
        action, step_outputs = out if isinstance(out, tuple) else (out, None)
        action = np.asarray(action, dtype=np.int64)
        if action.shape != (n,):
            raise ValueError(f"policy.act returned shape {action.shape}, expected ({n},)")
        if record_obs:
            obs_seen[:, t] = obs
        for key, value in (step_outputs or {}).items():
            if key not in outputs:
                outputs[key] = value.new_zeros((n, max_steps))
            outputs[key][:, t] = value
        actions[:, t] = action
        mask[:, t] = in_trial

        obs, reward, terminated, truncated, info = vec_env.step(action)
        rewards[:, t] = reward
        # NEXT_STEP autoreset: rows that ended a trial at the previous step were reset by this step (action
        # ignored, reward 0), so `obs` is a new trial's first observation for them.
        reset = done
        if set_task is not None and reset.any():
            set_task(info, np.flatnonzero(reset), vec_env.unwrapped)
        done = np.asarray(terminated) | np.asarray(truncated)
        if on_step is not None:
            on_step(t, action, rewards[:, t], done, info, in_trial)
        finished = in_trial & done
        if finished.any():
            _keep_trial_end(info, finished, end_info)
            in_trial &= ~finished
        if not in_trial.any():
            break
        prev_action = np.where(reset, -1, action)
        prev_reward = np.where(reset, 0.0, rewards[:, t]).astype(np.float32)
    else:
        raise RuntimeError(f"{int(in_trial.sum())} trials did not end within max_trial_steps={max_steps}")

    steps = t + 1
    return Trials(seeds=seed + np.arange(n, dtype=np.int64), actions=actions[:, :steps],
                  rewards=rewards[:, :steps], mask=mask[:, :steps], end_info=end_info,
                  obs=obs_seen[:, :steps] if record_obs else None,
                  outputs={key: value[:, :steps] for key, value in outputs.items()})


def run_trials(policy, env_id: str, env_options: Mapping | None = None, num_trials: int = 1000, seed: int = 0,
               num_envs: int | None = None, seed_offset: int = EVAL_SEED_OFFSET) -> dict[str, np.ndarray]:
    """`num_trials` whole trials of `policy` on held-out tasks: `Trials.results()` of them all (steps padded
    to the env's `max_trial_steps`), trial j (in
    seed order) being the task of env seed `seed_offset + seed + j` whatever `num_envs` is (round r resets the
    vector env with `seed_offset + seed + r * num_envs`).

    `env_id`: a Gymnasium id or short name ("bandit", "maze", "tabular_mdp"); `env_options`: its options.
    `num_envs` defaults to `policy.num_envs` (else 64) and must equal it when the policy has one.
    """
    env_id = env_id_of(env_id)
    policy_envs = getattr(policy, "num_envs", None)
    num_envs = num_envs or policy_envs or 64
    if policy_envs is not None and policy_envs != num_envs:
        raise ValueError(f"num_envs={num_envs} but the policy was built for {policy_envs} rows")
    if num_trials < 1:
        raise ValueError(f"num_trials must be >= 1, got {num_trials}")
    vec_env = make_vector_env(env_id, num_envs, env_options or {})
    try:
        max_steps = int(vec_env.unwrapped.max_trial_steps)
        rounds = [play_trials(policy, vec_env, seed_offset + seed + r * num_envs).results(max_steps)
                  for r in range(math.ceil(num_trials / num_envs))]
    finally:
        vec_env.close()
    return {key: np.concatenate([r[key] for r in rounds])[:num_trials] for key in rounds[0]}


class AgentPolicy:
    """A learned agent (`snail.agent.Agent`: `initial_state` / `step`) as a policy of the trial loop.

    Samples from the policy's softmax with `generator` (a torch generator on the agent's device; default: a
    new one seeded with `seed`), or takes the argmax if `greedy`. The agent's mode (train/eval) is the
    caller's. With `keep_outputs`, `act` also returns the log-probability of the action taken and the value,
    on the agent's device (what PPO needs); actions come back as numpy. Non-finite logits or values raise
    `snail.finite.NonFiniteError` (instead of sampling from NaN).

    `step_mode` ("auto", "eager", "compile", "graph": snail.fast_step) is how the agent's cached step runs;
    "auto" replays a CUDA graph on a GPU. A policy can play any number of rollouts one after another (each
    trial's first step resets its rows), so keep one to keep its captured graph. Per step, the only host
    traffic is the env's observation in (through pinned memory on a GPU) and the actions out, which also carry
    the non-finite check (no separate synchronisation).

    `forget_between_episodes` is a memory ablation: at the first step of every inner episode after the first
    (the observation's flag is 1) the agent's memory is wiped and the step is shown as a trial's first (flag
    0, no previous action or reward), so every inner episode is played as if it were a new trial. What the
    agent gains from remembering earlier episodes is the difference to the plain policy.
    """

    def __init__(self, agent, num_envs: int, greedy: bool = False, seed: int = 0,
                 generator: torch.Generator | None = None, keep_outputs: bool = False,
                 forget_between_episodes: bool = False, step_mode: str = "eager"):
        self.agent, self.num_envs, self.greedy = agent, int(num_envs), bool(greedy)
        self.keep_outputs = bool(keep_outputs)
        self.forget_between_episodes = bool(forget_between_episodes)
        self.device = next(agent.parameters()).device
        self.generator = generator or torch.Generator(device=self.device).manual_seed(seed)
        self.step = FastStep(agent, self.num_envs, resolve_step_mode(step_mode, self.device))
        self._pinned: dict[str, torch.Tensor] = {}
        # Each row's step in its trial, kept on the host for the static step (compile / graph), which has no
        # max_len check of its own (past max_len it would index out of its caches: on a GPU a device-side assert);
        # the eager step checks itself.
        self._t = None if self.step.mode == "eager" else np.zeros(self.num_envs, dtype=np.int64)

    def _forget(self, obs, prev_action, prev_reward, reset):
        new_episode = inner_episode_starts(obs)
        if not new_episode.any():
            return obs, prev_action, prev_reward, reset
        obs = np.array(obs, dtype=np.float32)
        obs[new_episode, -1] = 0.0
        return (obs, np.where(new_episode, -1, prev_action), np.where(new_episode, 0.0, prev_reward),
                np.asarray(reset, dtype=bool) | new_episode)

    def _to_device(self, name: str, array, dtype: torch.dtype) -> torch.Tensor:
        """A host array on the agent's device; on a GPU through a pinned buffer and a non-blocking copy (the
        buffer is reused at the next step, after `act` has waited for the actions, so the copy is done)."""
        host = torch.as_tensor(np.asarray(array), dtype=dtype)
        if self.device.type != "cuda":
            return host
        pinned = self._pinned.get(name)
        if pinned is None or pinned.shape != host.shape:
            pinned = self._pinned[name] = torch.empty(host.shape, dtype=dtype, pin_memory=True)
        pinned.copy_(host)
        return pinned.to(self.device, non_blocking=True)

    @torch.no_grad()
    def act(self, obs, prev_action, prev_reward, reset):
        if self.forget_between_episodes:
            obs, prev_action, prev_reward, reset = self._forget(obs, prev_action, prev_reward, reset)
        if self._t is not None:
            self._t = np.where(reset, 0, self._t)
            limit = self.agent.step_limit
            if limit is not None and (self._t >= limit).any():
                raise ValueError(f"step {int(self._t.max())} of a trial is past this agent's max_len={limit}; "
                                 "reset those rows first (the caches hold max_len steps)")
            self._t += 1
        logits, value = self.step(self._to_device("obs", obs, torch.float32),
                                  self._to_device("prev_action", prev_action, torch.int64),
                                  self._to_device("prev_reward", prev_reward, torch.float32),
                                  self._to_device("reset", reset, torch.bool))  # [n, A], [n]
        if self.greedy:
            action = logits.argmax(-1)
        else:
            # Non-finite rows get uniform probabilities here and action -1 below, found on the host.
            probs = F.softmax(torch.nan_to_num(logits.float(), nan=0.0, posinf=0.0, neginf=0.0), dim=-1)
            # What torch.multinomial(probs, 1, generator) computes (the same draws from the same generator),
            # without its two checks of the probabilities on the host, each a synchronisation on a GPU.
            noise = torch.empty_like(probs).exponential_(1, generator=self.generator)
            action = (probs / noise).argmax(-1)
        finite = torch.isfinite(logits).all(-1) & torch.isfinite(value)
        actions = torch.where(finite, action, -1).cpu().numpy()  # the step's one synchronisation
        if (actions < 0).any():
            self.step.reset_state()  # NaN may be in the caches now, which masking does not remove
            raise NonFiniteError("the policy's logits or values are not finite (NaN or infinity)")
        if not self.keep_outputs:
            return actions
        logprob = F.log_softmax(logits, -1).gather(-1, action[:, None]).squeeze(-1)
        # `value` may be a captured graph's output buffer, overwritten by the next step: play_trials stores
        # it at once.
        return actions, {"logprob": logprob, "value": value}


class PredictorPolicy:
    """A model from another library trained on `snail.envs.wrappers.MetaRLObservation`-wrapped envs, with
    Stable-Baselines3's `predict(obs, state, episode_start, deterministic) -> (actions, state)` (sb3-contrib's
    RecurrentPPO, ...), as a policy of the trial loop: each step's observation is extended exactly as the
    wrapper extends it, and `reset` is the `episode_start` that clears the model's recurrent state. So
    `run_trials(PredictorPolicy(model, 250), "bandit")` scores it on the same held-out trials as our agents.

    `num_actions` defaults to `model.action_space.n`.
    """

    def __init__(self, model, num_envs: int, deterministic: bool = False, num_actions: int | None = None):
        self.model, self.num_envs, self.deterministic = model, int(num_envs), bool(deterministic)
        self.num_actions = int(model.action_space.n if num_actions is None else num_actions)
        self.state = None

    def act(self, obs, prev_action, prev_reward, reset):
        features = meta_rl_features(obs, prev_action, prev_reward, self.num_actions)
        actions, self.state = self.model.predict(features, state=self.state, episode_start=np.asarray(reset),
                                                 deterministic=self.deterministic)
        return np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
