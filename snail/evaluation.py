"""The shared evaluation loop: whole trials of any policy on held-out tasks, and their summary statistics.

A *policy* here is anything with

    act(obs [n, D] float32, prev_action [n] int64, prev_reward [n] float32, reset [n] bool)
        -> actions [n] int64

where `prev_action` is -1 and `prev_reward` 0 at a trial's first step, and `reset` marks the rows whose trial
starts at this step (their memory must be cleared first). It may also have `num_envs` (its batch size) and
`set_task(info, rows, env)`, called whenever the rows `rows` (int array) start a trial with the vector env's
`info` (Gymnasium's vector convention: arrays over rows) and the unwrapped vector env (whose task accessors
then hold the new trials' tasks); only oracles use it. The classical baselines (`snail.baselines`) and the
learned agents (through `AgentPolicy`, below) both fit this, so the loop knows no model.

Determinism: trial j (0 <= j < num_trials) is always the task of env seed `seed_offset + seed + j`, whatever
`num_envs` is: round r resets the vector env with `seed_offset + seed + r * num_envs` (row i gets that + i)
and keeps only the first trial of every row; later trials that NEXT_STEP autoreset starts in a row are stepped
(with `reset=True` for that row on its first step) but not counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from snail.envs import ENV_IDS, env_id_of, env_name_of  # noqa: F401  (ENV_IDS: re-exported, as before)
from snail.rollout import make_vector_env, record_finished_trials

# Held-out evaluation tasks come from env seeds at or above this; training (snail.train) uses seeds below it.
EVAL_SEED_OFFSET = 10**9
# Baseline hyperparameters are tuned on tasks from seeds at or above this, disjoint from evaluation seeds
# as long as an evaluation uses fewer than 10**9 trials.
TUNE_SEED_OFFSET = 2 * 10**9


def run_trials(policy, env_id: str, env_kwargs: Mapping | None = None, num_trials: int = 1000, seed: int = 0,
               num_envs: int | None = None, seed_offset: int = EVAL_SEED_OFFSET) -> dict[str, np.ndarray]:
    """Run `num_trials` whole trials of `policy` on held-out tasks; return per-trial arrays.

    `env_id`: a Gymnasium id or short name ("bandit", "maze", "tabular_mdp"); `env_kwargs`: its options.
    `num_envs` defaults to `policy.num_envs` (else 64) and must equal it when the policy has one.

    Returns a dict of arrays whose first axis is the trial (in seed order): `seed` (the trial's env seed),
    `trial_return`, `trial_length`, `episode_returns` [num_trials, E], `episode_lengths` [num_trials, E],
    `actions` and `rewards` [num_trials, T] (padded with -1 / 0 after the trial's end), every task key the env
    reports at the trial's end (`arm_probs`, `optimal_return`, `shortest_path`, `success`, ...), and for
    bandits `best_arm_fraction` (fraction of pulls of the arm with the highest p).
    """
    env_id = env_id_of(env_id)
    env_kwargs = dict(env_kwargs or {})
    policy_envs = getattr(policy, "num_envs", None)
    if num_envs is None:
        num_envs = policy_envs or 64
    if policy_envs is not None and policy_envs != num_envs:
        raise ValueError(f"num_envs={num_envs} but the policy was built for {policy_envs} rows")
    if num_trials < 1:
        raise ValueError(f"num_trials must be >= 1, got {num_trials}")
    set_task = getattr(policy, "set_task", None)

    envs = make_vector_env(env_id, num_envs, env_kwargs)
    try:
        max_steps = int(envs.unwrapped.max_trial_steps)
        rounds = math.ceil(num_trials / num_envs)
        total = rounds * num_envs
        out: dict[str, np.ndarray] = {
            "seed": seed_offset + seed + np.arange(total, dtype=np.int64),
            "trial_length": np.zeros(total, dtype=np.int64),
            "actions": np.full((total, max_steps), -1, dtype=np.int64),
            "rewards": np.zeros((total, max_steps), dtype=np.float32),
        }
        start_info: dict[str, np.ndarray] = {}
        for r in range(rounds):
            sl = slice(r * num_envs, (r + 1) * num_envs)
            obs, info = envs.reset(seed=int(seed_offset + seed + r * num_envs))
            all_rows = np.arange(num_envs)
            if "arm_probs" in info:
                start_info.setdefault("arm_probs", np.zeros((total, *np.shape(info["arm_probs"])[1:])))
                start_info["arm_probs"][sl] = info["arm_probs"]
            if set_task is not None:
                set_task(info, all_rows, envs.unwrapped)
            prev_action = np.full(num_envs, -1, dtype=np.int64)
            prev_reward = np.zeros(num_envs, dtype=np.float32)
            reset = np.ones(num_envs, dtype=bool)
            done = np.zeros(num_envs, dtype=bool)
            in_trial = np.ones(num_envs, dtype=bool)  # rows whose first trial of this round is running
            end_info: dict[str, np.ndarray] = {}
            for t in range(max_steps):
                action = np.asarray(policy.act(obs, prev_action, prev_reward, reset), dtype=np.int64)
                if action.shape != (num_envs,):
                    raise ValueError(f"policy.act returned shape {action.shape}, expected ({num_envs},)")
                obs, reward, terminated, truncated, info = envs.step(action)
                reward = np.asarray(reward, dtype=np.float32)
                out["actions"][sl][in_trial, t] = action[in_trial]
                out["rewards"][sl][in_trial, t] = reward[in_trial]
                out["trial_length"][sl][in_trial] += 1
                # NEXT_STEP autoreset: rows that ended a trial at the previous step were reset by this step
                # (action ignored, reward 0), so `obs` is a new trial's first observation for them.
                reset = done
                if reset.any() and set_task is not None:
                    set_task(info, np.flatnonzero(reset), envs.unwrapped)
                done = np.asarray(terminated) | np.asarray(truncated)
                finished = in_trial & done
                if finished.any():
                    record_finished_trials(info, finished, end_info)
                    in_trial &= ~finished
                if not in_trial.any():
                    break
                prev_action = np.where(reset, -1, action)
                prev_reward = np.where(reset, 0.0, reward).astype(np.float32)
            else:
                raise RuntimeError(f"a trial ran past max_trial_steps={max_steps}")
            for key, value in end_info.items():
                out.setdefault(key, np.zeros((total, *value.shape[1:]), dtype=value.dtype))
                out[key][sl] = value
        out.update(start_info)
    finally:
        envs.close()

    out = {key: value[:num_trials] for key, value in out.items()}
    if "arm_probs" in out:
        best = out["arm_probs"].argmax(-1)
        valid = out["actions"] >= 0
        pulls = np.maximum(valid.sum(-1), 1)
        out["best_arm_fraction"] = ((out["actions"] == best[:, None]) & valid).sum(-1) / pulls
    return out


def mean_ci(values) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(1.96 * values.std(ddof=1) / math.sqrt(values.size))


def summarize(results: Mapping[str, np.ndarray], env_name: str) -> dict:
    """Summary statistics of `run_trials` results (means with 95% CI half-widths as `<key>_ci95`).

    All: `trials`, `return`. Bandit: `regret` (optimal_return - return, with optimal_return = N max p),
    `best_arm_fraction`. Tabular MDP: `optimal_return`, `normalized` (mean return / mean optimal return, as
    SNAIL normalizes). Maze: per inner episode k (1-based): `steps_ep{k}` (steps of the episode, the cap when
    the goal was not reached), `success_ep{k}`, `path_ratio_ep{k}` (steps / shortest_path over successful
    episodes), for k >= 2 `steps_ep{k}_minus_ep1` (the paired difference, trial by trial: its CI is the one
    that says whether a later episode is shorter, as the mazes' spread cancels), and `shortest_path`.
    """
    env = env_name_of(env_name)
    out: dict = {"trials": int(len(results["trial_return"]))}
    out["return"], out["return_ci95"] = mean_ci(results["trial_return"])
    if env == "bandit":
        regret = results["optimal_return"] - results["trial_return"]
        out["regret"], out["regret_ci95"] = mean_ci(regret)
        out["best_arm_fraction"], out["best_arm_fraction_ci95"] = mean_ci(results["best_arm_fraction"])
    elif env == "tabular_mdp":
        optimal = np.asarray(results["optimal_return"], dtype=np.float64)
        out["optimal_return"], out["optimal_return_ci95"] = mean_ci(optimal)
        out["normalized"] = out["return"] / out["optimal_return"]
        out["normalized_ci95"] = out["return_ci95"] / out["optimal_return"]
    elif env == "maze":
        lengths = np.asarray(results["episode_lengths"], dtype=np.float64)
        success = np.asarray(results["success"], dtype=bool)
        shortest = np.asarray(results["shortest_path"], dtype=np.float64)
        out["shortest_path"], out["shortest_path_ci95"] = mean_ci(shortest)
        for k in range(lengths.shape[1]):
            out[f"steps_ep{k + 1}"], out[f"steps_ep{k + 1}_ci95"] = mean_ci(lengths[:, k])
            out[f"success_ep{k + 1}"] = float(success[:, k].mean())
            ok = success[:, k] & (shortest > 0)
            ratio = lengths[ok, k] / shortest[ok] if ok.any() else np.array([np.nan])
            out[f"path_ratio_ep{k + 1}"], out[f"path_ratio_ep{k + 1}_ci95"] = mean_ci(ratio)
            if k > 0:
                key = f"steps_ep{k + 1}_minus_ep1"
                out[key], out[f"{key}_ci95"] = mean_ci(lengths[:, k] - lengths[:, 0])
    return out


class AgentPolicy:
    """A learned agent (`snail.agent.Agent`: `initial_state` / `step`) as a `run_trials` policy.

    Samples from the policy's softmax with its own seeded torch generator (or takes the argmax if `greedy`);
    the agent's mode (train/eval) is the caller's. Inputs go to the agent's device; actions come back as
    numpy.

    `forget_between_episodes` is a memory ablation: at the first step of every inner episode after the first
    (the observation's flag, its last entry, is 1) the agent's memory is wiped and the step is shown as a
    trial's first (flag 0, no previous action or reward), so every inner episode is played as if it were a
    new trial. What the agent gains from remembering earlier episodes is the difference to the plain policy.
    """

    def __init__(self, agent, num_envs: int, greedy: bool = False, seed: int = 0,
                 forget_between_episodes: bool = False):
        import torch

        self._torch = torch
        self.agent, self.num_envs, self.greedy = agent, int(num_envs), bool(greedy)
        self.forget_between_episodes = bool(forget_between_episodes)
        self.device = next(agent.parameters()).device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state = agent.initial_state(self.num_envs)

    def act(self, obs, prev_action, prev_reward, reset) -> np.ndarray:
        torch = self._torch
        if self.forget_between_episodes:
            new_episode = np.asarray(obs)[:, -1] > 0.5
            if new_episode.any():
                obs = np.array(obs, dtype=np.float32)
                obs[new_episode, -1] = 0.0
                prev_action = np.where(new_episode, -1, prev_action)
                prev_reward = np.where(new_episode, 0.0, prev_reward).astype(np.float32)
                reset = np.asarray(reset, dtype=bool) | new_episode
        with torch.no_grad():
            logits, _, self.state = self.agent.step(
                torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device),
                torch.as_tensor(np.asarray(prev_action), dtype=torch.int64, device=self.device),
                torch.as_tensor(np.asarray(prev_reward), dtype=torch.float32, device=self.device),
                self.state,
                torch.as_tensor(np.asarray(reset), dtype=torch.bool, device=self.device))
            if self.greedy:
                action = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.float(), dim=-1)
                action = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
        return action.cpu().numpy()
