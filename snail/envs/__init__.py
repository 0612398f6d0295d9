"""Gymnasium meta-RL tasks; importing this package registers them (see docs/interfaces.md).

| name          | id                    | in `snail.envs.<name>`: single env, vector env (`vector_entry_point`) |
|---------------|-----------------------|-----------------------------------------------------------------------|
| `bandit`      | `snail/Bandit-v0`     | `BanditEnv`, `BanditVectorEnv`                                        |
| `maze`        | `snail/Maze-v0`       | `MazeEnv`, `MazeVectorEnv`                                            |
| `tabular_mdp` | `snail/TabularMDP-v0` | `TabularMDPEnv`, `TabularMDPVectorEnv`                                |

    gymnasium.make("snail/Maze-v0", preset="large")
    make_vector_env("snail/Bandit-v0", 64, {"arms": 10})  # = gymnasium.make_vec(..., "vector_entry_point")

Also here: the short-name registry (`ENV_IDS`, `env_id_of`, `env_name_of`), `env_options` (a Hydra env
group minus its bookkeeping keys) and what every task's observation shares (`FLAG_INDEX`,
`inner_episode_starts`). Each task module exports its own constants and observation layout.
"""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium

from snail.envs._common import FLAG_INDEX, inner_episode_starts

__all__ = ["ENV_IDS", "FLAG_INDEX", "env_id_of", "env_name_of", "env_options", "inner_episode_starts",
           "make_vector_env"]

# Short name (the Hydra env group's `name`, and the task's module snail.envs.<name>) -> Gymnasium id.
ENV_IDS = {
    "bandit": "snail/Bandit-v0",
    "maze": "snail/Maze-v0",
    "tabular_mdp": "snail/TabularMDP-v0",
}

# Short name -> (single env class, native vector env class), both in the module snail.envs.<name>.
_CLASSES = {
    "bandit": ("BanditEnv", "BanditVectorEnv"),
    "maze": ("MazeEnv", "MazeVectorEnv"),
    "tabular_mdp": ("TabularMDPEnv", "TabularMDPVectorEnv"),
}

# Keys of an env config group (conf/env/*.yaml) that say which env it is rather than how to build it.
_BOOKKEEPING_KEYS = ("name", "id")

for _name, _id in ENV_IDS.items():
    if _id not in gymnasium.registry:  # importing twice (e.g. a reload) must not warn about overriding
        _single, _vector = _CLASSES[_name]
        # No max_episode_steps: a trial's length is part of the task, so no TimeLimit wrapper.
        gymnasium.register(id=_id, entry_point=f"{__name__}.{_name}:{_single}",
                           vector_entry_point=f"{__name__}.{_name}:{_vector}")


def env_id_of(name_or_id: str) -> str:
    """The Gymnasium id of an env given by its short name ("bandit", "maze", "tabular_mdp") or its id."""
    if name_or_id in ENV_IDS:
        return ENV_IDS[name_or_id]
    if name_or_id in ENV_IDS.values():
        return name_or_id
    raise ValueError(f"unknown env {name_or_id!r}; allowed: {sorted(ENV_IDS)} or {sorted(ENV_IDS.values())}")


def env_name_of(name_or_id: str) -> str:
    """The short name ("bandit", ...) of an env given by id or short name."""
    env_id = env_id_of(name_or_id)
    return next(name for name, id_ in ENV_IDS.items() if id_ == env_id)


def make_vector_env(env_id: str, num_envs: int, options: Mapping) -> gymnasium.vector.VectorEnv:
    """The task's native batched env (numpy, no subprocesses): `num_envs` rows built with `options`."""
    return gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **options)


def env_options(env_cfg: Mapping) -> dict:
    """The env config group's options minus its bookkeeping keys (`name`, `id`): what `gymnasium.make` takes."""
    return {k: v for k, v in env_cfg.items() if k not in _BOOKKEEPING_KEYS}
