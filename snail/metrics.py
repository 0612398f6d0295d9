"""One vocabulary of trial metrics: `summarize` reduces per-trial results to the names that TensorBoard
(`train/<name>`, `eval/<name>`), metrics.jsonl and the evaluation reports all use.

Over trials (hundreds) a mean's 95% CI is the normal approximation (`mean_ci`). Over seeds (a handful of runs)
`seed_stats` gives the Student-t CI of the mean and the robust statistics of rliable (Agarwal et al., NeurIPS
2021): the interquartile mean (`iqm`) with a stratified-bootstrap percentile CI (`stratified_bootstrap_ci`),
written out here in numpy: rliable 1.2.0 does not import with pandas 3 (its dependency arch fails in
deprecate_kwarg), and it would pull arch, statsmodels, pandas, seaborn and scipy for two functions.
"""

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


# Two-sided 95% quantiles of Student's t with 1..4 degrees of freedom; from 5 on, the Cornish-Fisher expansion
# in `t_quantile_975` is within 3e-4 of the exact value (1e-5 from 10 on).
_T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764}
Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (the 95% CI's multiplier)."""
    if df < 1:
        raise ValueError(f"df={df} is invalid: expected an integer >= 1")
    if df in _T975:
        return _T975[df]
    z, n = Z975, float(df)  # Abramowitz & Stegun 26.7.5
    return (z + (z**3 + z) / (4 * n) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * n**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * n**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * n**4))


def mean_ci_t(values) -> tuple[float, float]:
    """Mean and the half-width of its Student-t 95% CI (for a few samples, e.g. seeds; NaN for one)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(t_quantile_975(values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))


def iqm(values, axis=None):
    """Interquartile mean: the mean of the middle 50% after dropping floor(n / 4) values at each end (scipy's
    trim_mean(values, 0.25), rliable's IQM); over all values (`axis=None`) or along `axis`."""
    values = np.asarray(values, dtype=np.float64)
    if axis is None:
        values, axis = values.reshape(-1), 0
    values = np.sort(np.moveaxis(values, axis, -1), axis=-1)
    cut = values.shape[-1] // 4
    return values[..., cut: values.shape[-1] - cut].mean(-1)


def stratified_bootstrap_ci(scores, statistic=iqm, reps: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap CI of `statistic` over `scores` [runs, tasks] (a 1-D array is one task): runs are
    resampled with replacement within each task (rliable's stratified bootstrap). `statistic(batch, axis)`
    reduces [reps, runs * tasks] along `axis`. The same seed gives the same interval."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    runs, tasks = scores.shape
    rows = np.random.default_rng(seed).integers(runs, size=(reps, runs, tasks))
    samples = np.take_along_axis(np.broadcast_to(scores, (reps, runs, tasks)), rows, axis=1)
    stats = statistic(samples.reshape(reps, runs * tasks), axis=1)
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(low), float(high)


def seed_stats(values, reps: int = 10_000, seed: int = 0) -> dict:
    """Statistics over seeds of per-run values (one number per run): `mean` with its Student-t `ci95`
    half-width, `iqm` with its stratified-bootstrap `iqm_ci95` [low, high], `n`. With fewer than 4 runs the IQM
    drops nothing and equals the mean."""
    values = np.asarray(values, dtype=np.float64)
    mean, ci = mean_ci_t(values)
    low, high = stratified_bootstrap_ci(values, iqm, reps, seed)
    return {"n": int(values.size), "mean": mean, "ci95": ci, "iqm": float(iqm(values)), "iqm_ci95": [low, high]}


def summarize(results: Mapping[str, np.ndarray], env_name: str) -> dict:
    """Means with 95% CI half-widths (as `<key>_ci95`) of per-trial results (`snail.trials.Trials.results()`
    or `run_trials`).

    All: `trials`, `return`; with several inner episodes `return_ep{k}` (k 1-based). Bandit and tabular MDP:
    `optimal_return` (bandit: N max p; MDP: the value-iteration policy's expected return), `normalized` (mean
    return / mean optimal return, as SNAIL normalizes), `regret` (optimal_return - return); bandit also
    `best_arm_fraction`. Maze: `shortest_path`, `success` (over all inner episodes) and per inner episode
    `steps_ep{k}` (the cap when the goal was not reached), `success_ep{k}`, `path_ratio_ep{k}` (steps /
    shortest_path over successful episodes), `on_shortest_ep{k}` (fraction of trials whose episode k reached the
    goal in shortest_path steps), for k >= 2 `steps_ep{k}_minus_ep1` (the paired difference, trial by trial: its
    CI is the one that says whether a later episode is shorter, as the mazes' spread cancels) and, where the
    results have `actions`, `repeats_detour_ep{k}` (of the trials whose episode 1 reached the goal by a longer
    walk than the shortest path, the fraction whose episode k is that walk again, action for action: what a
    policy that ignores its memory of episode 1 does when it acts near-deterministically; NaN without such trials).
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
            out[f"on_shortest_ep{k + 1}"], out[f"on_shortest_ep{k + 1}_ci95"] = mean_ci(
                success[:, k] & (lengths[:, k] == shortest))
            if k > 0:
                key = f"steps_ep{k + 1}_minus_ep1"
                out[key], out[f"{key}_ci95"] = mean_ci(lengths[:, k] - lengths[:, 0])
        if "actions" in results:
            detour = success[:, 0] & (lengths[:, 0] > shortest)
            for k, repeats in enumerate(_repeats_episode_1(results["actions"], lengths.astype(np.int64)), start=2):
                repeats = repeats[detour] if detour.any() else np.array([np.nan])
                out[f"repeats_detour_ep{k}"], out[f"repeats_detour_ep{k}_ci95"] = mean_ci(repeats)
    return out


def _repeats_episode_1(actions: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """For each inner episode k >= 2, bool [trials]: whether episode k's actions are episode 1's, action for
    action. `actions` [trials, steps] holds the trial's episodes one after another (`lengths` [trials, episodes])."""
    starts = np.cumsum(lengths, axis=1) - lengths  # [trials, episodes]: each episode's first step
    offsets = np.arange(lengths[:, 0].max(initial=0))  # [steps of the longest episode 1]
    inside = offsets < lengths[:, :1]  # [trials, steps]: within the trial's episode 1
    last = actions.shape[1] - 1  # past an episode's end the index is clipped, and the step masked by `inside`

    def episode(k):  # [trials, steps]: episode k's first actions, aligned on its start
        return np.take_along_axis(actions, np.minimum(starts[:, k:k + 1] + offsets, last), axis=1)

    first = episode(0)
    return [(lengths[:, k] == lengths[:, 0]) & np.all((episode(k) == first) | ~inside, axis=1)
            for k in range(1, lengths.shape[1])]


def scalars(summary: Mapping, prefix: str) -> dict[str, float]:
    """The means of a summary as logged scalars `<prefix>/<name>` (CI half-widths and counts left out)."""
    return {f"{prefix}/{key}": float(value) for key, value in summary.items()
            if not key.endswith("_ci95") and key != "trials" and value is not None and math.isfinite(value)}
