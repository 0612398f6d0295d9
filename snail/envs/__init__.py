"""Gymnasium meta-RL tasks; importing this package registers them (see docs/interfaces.md).

| id                    | single env                             | vector env (`vector_entry_point`)            |
|-----------------------|----------------------------------------|----------------------------------------------|
| `snail/Bandit-v0`     | `snail.envs.bandit.BanditEnv`          | `snail.envs.bandit.BanditVectorEnv`          |
| `snail/Maze-v0`       | `snail.envs.maze.MazeEnv`              | `snail.envs.maze.MazeVectorEnv`              |
| `snail/TabularMDP-v0` | `snail.envs.tabular_mdp.TabularMDPEnv` | `snail.envs.tabular_mdp.TabularMDPVectorEnv` |

    gymnasium.make("snail/Maze-v0", preset="large")
    gymnasium.make_vec("snail/Bandit-v0", num_envs=64, vectorization_mode="vector_entry_point", arms=10)
"""

import gymnasium

_ENVS = {
    "snail/Bandit-v0": ("snail.envs.bandit", "BanditEnv", "BanditVectorEnv"),
    "snail/Maze-v0": ("snail.envs.maze", "MazeEnv", "MazeVectorEnv"),
    "snail/TabularMDP-v0": ("snail.envs.tabular_mdp", "TabularMDPEnv", "TabularMDPVectorEnv"),
}

for _id, (_module, _single, _vector) in _ENVS.items():
    if _id not in gymnasium.registry:  # importing twice (e.g. a reload) must not warn about overriding
        # No max_episode_steps: a trial's length is part of the task, so no TimeLimit wrapper.
        gymnasium.register(id=_id, entry_point=f"{_module}:{_single}",
                           vector_entry_point=f"{_module}:{_vector}")
