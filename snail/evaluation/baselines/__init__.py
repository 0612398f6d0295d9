"""Classical baselines for the meta-RL tasks: batched numpy policies with the learned agents' interface.

Every policy handles `num_envs` parallel env rows and has

    act(obs [n, D] float32, prev_action [n] int64, prev_reward [n] float, reset [n] bool) -> actions [n] int64

It sees what a learned agent sees: the observation and the previous action and reward (-1 and 0 at a trial's
first step); `reset` marks rows whose trial starts at this step, whose statistics are cleared first. It learns
its per-row statistics from `prev_action` / `prev_reward` alone. Oracles additionally get the task through
`set_task(info, rows, env)`, called when the rows `rows` (int indices) start a trial: `info` is the vector
env's reset `info` (arrays over rows, Gymnasium's vector convention) and `env` the unwrapped vector env, whose
task accessors (`arm_probs`, `reward_means` / `transition_probs`, `grids` / `start_cells` / ...) then hold
the new trials' tasks; every other policy ignores it.
`snail.trials.run_trials` drives any such policy.

One module per task (`bandit`, `tabular_mdp`, `maze`), each with its `BUILDERS`; this package is the one
registry. Build one with `make_baseline(name, env_name, num_envs, seed, env_kwargs=..., **params)`;
`BASELINES` lists the names per env; some work only for some env options (oracle_bayes: bandits of at most
15 pulls), which `unavailable` tells. Tunable baselines (epsilon_greedy, ucb1, gittins) take the best value
of a small grid (`DEFAULT_GRIDS`), found by `snail.evaluation.score.tune_baseline` on tuning seeds disjoint
from the evaluation seeds, as RL² did.
"""

from __future__ import annotations

from collections.abc import Mapping

from snail.envs import env_id_of, env_name_of, make_vector_env
from snail.evaluation.baselines import bandit, maze, tabular_mdp
from snail.evaluation.baselines.common import BatchedPolicy

_BUILDERS = {"bandit": bandit.BUILDERS, "tabular_mdp": tabular_mdp.BUILDERS, "maze": maze.BUILDERS}

# The baselines of each env, in table order.
BASELINES: dict[str, list[str]] = {env: list(builders) for env, builders in _BUILDERS.items()}

# Baselines that only some env options allow: name -> check(env) raising ValueError with a one-line reason.
LIMITS: dict[str, dict] = {"bandit": bandit.LIMITS}

# Grids searched by `snail.evaluation.score.tune_baseline` for the tunable baselines.
DEFAULT_GRIDS: dict[str, dict[str, list]] = {**bandit.GRIDS}


def _probe(env: str, env_kwargs: Mapping | None):
    """A one-row instance of the env: the policies read the task's sizes from it."""
    return make_vector_env(env_id_of(env), 1, env_kwargs or {})


def unavailable(name: str, env_name: str, env_kwargs: Mapping | None = None) -> str | None:
    """Why baseline `name` cannot be built for these env options (a one-line message), or None if it can."""
    env = env_name_of(env_name)
    check = LIMITS.get(env, {}).get(name)
    if check is None:
        return None
    probe = _probe(env, env_kwargs)
    try:
        check(probe.unwrapped)
    except ValueError as err:
        return str(err)
    finally:
        probe.close()
    return None


def make_baseline(name: str, env_name: str, num_envs: int, seed: int = 0, env_kwargs: Mapping | None = None,
                  **params) -> BatchedPolicy:
    """Baseline `name` for env `env_name` ("bandit", "maze", "tabular_mdp" or its Gymnasium id) with
    `num_envs` rows. `env_kwargs` are the env's options (the policy reads its sizes from the env); `params`
    the baseline's hyperparameters (e.g. epsilon=0.1, c=0.2, gamma=0.95). Unknown names raise ValueError."""
    env = env_name_of(env_name)
    if name not in _BUILDERS[env]:
        raise ValueError(f"unknown baseline {name!r} for env {env!r}; allowed: {BASELINES[env]}")
    probe = _probe(env, env_kwargs)
    try:
        return _BUILDERS[env][name](probe.unwrapped, num_envs, seed, **params)
    finally:
        probe.close()
