"""Scoring a policy on held-out trials: a learned agent, or a classical baseline (tuned first on tuning seeds,
disjoint from the evaluation seeds, when it has a grid of settings)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from snail.agent import Agent
from snail.evaluation.baselines import DEFAULT_GRIDS, make_baseline
from snail.trials import TUNE_SEED_OFFSET, AgentPolicy, run_trials


def evaluate_agent(agent: Agent, env_id: str, kwargs: Mapping, trials: int, seed: int = 0,
                   num_envs: int = 250, greedy: bool = False, forget_between_episodes: bool = False
                   ) -> dict[str, np.ndarray]:
    """run_trials of a learned agent (sampling from its policy with a generator seeded by `seed`)."""
    num_envs = max(1, min(int(num_envs), int(trials)))
    policy = AgentPolicy(agent, num_envs=num_envs, greedy=greedy, seed=seed,
                         forget_between_episodes=forget_between_episodes)
    return run_trials(policy, env_id, kwargs, num_trials=trials, seed=seed, num_envs=num_envs)


def evaluate_baseline(name: str, env_id: str, kwargs: Mapping, trials: int, seed: int = 0, num_envs: int = 250,
                      tune_trials: int = 500, params: Mapping | None = None
                      ) -> tuple[dict, dict[str, np.ndarray]]:
    """(params, run_trials results) of baseline `name`; tunable ones are tuned first unless `params` given."""
    num_envs = max(1, min(int(num_envs), int(trials)))
    if params is None:
        params = {}
        if name in DEFAULT_GRIDS:
            params, _ = tune_baseline(name, kwargs, num_trials=tune_trials, seed=seed, env_name=env_id,
                                      num_envs=max(1, min(100, tune_trials)))
    params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    policy = make_baseline(name, env_id, num_envs, seed, env_kwargs=kwargs, **params)
    return params, run_trials(policy, env_id, kwargs, num_trials=trials, seed=seed, num_envs=num_envs)


def tune_baseline(name: str, env_kwargs: Mapping | None = None, grid: Mapping | None = None,
                  num_trials: int = 500, seed: int = 0, env_name: str = "bandit",
                  num_envs: int = 100) -> tuple[dict, dict]:
    """Grid search of a baseline's hyperparameters on tuning tasks (env seeds from TUNE_SEED_OFFSET + seed,
    disjoint from the evaluation seeds); every setting sees the same tasks.

    `grid`: {param: [values]} (default `DEFAULT_GRIDS[name]`; several params are searched as a product).
    Returns (best params, {tuple of param values: mean trial return}).
    """
    grid = dict(DEFAULT_GRIDS[name] if grid is None else grid)
    if not grid:
        raise ValueError(f"no grid for {name!r}; baselines with default grids: {sorted(DEFAULT_GRIDS)}")
    keys = list(grid)
    scores = {}
    for values in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        policy = make_baseline(name, env_name, num_envs, seed, env_kwargs=env_kwargs, **params)
        result = run_trials(policy, env_name, env_kwargs, num_trials, seed, num_envs=num_envs,
                            seed_offset=TUNE_SEED_OFFSET)
        scores[values] = float(result["trial_return"].mean())
    best = max(scores, key=scores.get)
    return dict(zip(keys, best, strict=True)), scores
