"""One vocabulary of trial metrics: `summarize` reduces per-trial results to the names that TensorBoard
(`train/<name>`, `eval/<name>`), metrics.jsonl and the evaluation reports all use."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from snail.envs import env_name_of


def mean_ci(values) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(1.96 * values.std(ddof=1) / math.sqrt(values.size))


def summarize(results: Mapping[str, np.ndarray], env_name: str) -> dict:
    """Means with 95% CI half-widths (as `<key>_ci95`) of per-trial results (`snail.trials.Trials.results()`
    or `run_trials`).

    All: `trials`, `return`; with several inner episodes `return_ep{k}` (k 1-based). Bandit and tabular MDP:
    `optimal_return` (bandit: N max p; MDP: the value-iteration policy's expected return), `normalized` (mean
    return / mean optimal return, as SNAIL normalizes), `regret` (optimal_return - return); bandit also
    `best_arm_fraction`. Maze: `shortest_path`, `success` (over all inner episodes) and per inner episode
    `steps_ep{k}` (the cap when the goal was not reached), `success_ep{k}`, `path_ratio_ep{k}` (steps /
    shortest_path over successful episodes), for k >= 2 `steps_ep{k}_minus_ep1` (the paired difference, trial
    by trial: its CI is the one that says whether a later episode is shorter, as the mazes' spread cancels).
    """
    env = env_name_of(env_name)
    out: dict = {"trials": int(len(results["trial_return"]))}
    out["return"], out["return_ci95"] = mean_ci(results["trial_return"])
    episode_returns = np.asarray(results["episode_returns"], dtype=np.float64)
    if episode_returns.shape[1] > 1:
        for k in range(episode_returns.shape[1]):
            out[f"return_ep{k + 1}"], out[f"return_ep{k + 1}_ci95"] = mean_ci(episode_returns[:, k])
    if env in ("bandit", "tabular_mdp"):
        optimal = np.asarray(results["optimal_return"], dtype=np.float64)
        out["optimal_return"], out["optimal_return_ci95"] = mean_ci(optimal)
        out["normalized"] = out["return"] / out["optimal_return"]
        out["normalized_ci95"] = out["return_ci95"] / out["optimal_return"]
        out["regret"], out["regret_ci95"] = mean_ci(optimal - results["trial_return"])
    if env == "bandit":
        out["best_arm_fraction"], out["best_arm_fraction_ci95"] = mean_ci(results["best_arm_fraction"])
    elif env == "maze":
        lengths = np.asarray(results["episode_lengths"], dtype=np.float64)
        success = np.asarray(results["success"], dtype=bool)
        shortest = np.asarray(results["shortest_path"], dtype=np.float64)
        out["shortest_path"], out["shortest_path_ci95"] = mean_ci(shortest)
        out["success"] = float(success.mean())
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


def scalars(summary: Mapping, prefix: str) -> dict[str, float]:
    """The means of a summary as logged scalars `<prefix>/<name>` (CI half-widths and counts left out)."""
    return {f"{prefix}/{key}": float(value) for key, value in summary.items()
            if not key.endswith("_ci95") and key != "trials" and value is not None and math.isfinite(value)}
