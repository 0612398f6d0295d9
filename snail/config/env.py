"""The env group's configs (conf/env/<name>.yaml): options, types and defaults of each meta-task.

These check types and keys only; the envs check their value ranges themselves (snail/envs/, when `train` makes
them, before any work starts). Every option besides `name` and `id` is passed to `gymnasium.make(id, ...)`.
The defaults are the vector envs' own (read from their signatures), the ids the env registry's.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from snail.config import check
from snail.envs import ENV_IDS
from snail.envs.bandit import BanditVectorEnv
from snail.envs.maze import MazeVectorEnv
from snail.envs.tabular_mdp import TabularMDPVectorEnv


def _default(env_cls: type, option: str):
    return inspect.signature(env_cls).parameters[option].default


@dataclass
class EnvConfig:
    name: str
    id: str  # the Gymnasium id

    def __post_init__(self):
        check("env", self)


@dataclass
class BanditConfig(EnvConfig):
    """Bernoulli bandit: `arms` arms with p ~ U[0,1] per trial, `pulls` pulls per trial."""

    name: str = "bandit"
    id: str = ENV_IDS["bandit"]
    arms: int = _default(BanditVectorEnv, "arms")
    pulls: int = _default(BanditVectorEnv, "pulls")


@dataclass
class MazeConfig(EnvConfig):
    """Random perfect maze. `preset`: small (5x5 cells, 250-step inner-episode cap) or large (9x9, 1000);
    `size` / `episode_steps` override the preset's."""

    name: str = "maze"
    id: str = ENV_IDS["maze"]
    preset: str = _default(MazeVectorEnv, "preset")
    size: int | None = _default(MazeVectorEnv, "size")
    episode_steps: int | None = _default(MazeVectorEnv, "episode_steps")
    episodes: int = _default(MazeVectorEnv, "episodes")
    # egocentric (0 forward, 1 turn left, 2 turn right) | cardinal (0 N, 1 E, 2 S, 3 W)
    actions: str = _default(MazeVectorEnv, "actions")
    # the agent sees (2*view_size+1)^2 squares of the grid (cells and walls) around it
    view_size: int = _default(MazeVectorEnv, "view_size")
    # true adds the agent's cell (row and column one-hots) to the observation
    observe_position: bool = _default(MazeVectorEnv, "observe_position")


@dataclass
class TabularMDPConfig(EnvConfig):
    """Random tabular MDP: `states` states, `actions` actions, `episodes` inner episodes of `episode_length`
    steps per trial."""

    name: str = "tabular_mdp"
    id: str = ENV_IDS["tabular_mdp"]
    states: int = _default(TabularMDPVectorEnv, "states")
    actions: int = _default(TabularMDPVectorEnv, "actions")
    episode_length: int = _default(TabularMDPVectorEnv, "episode_length")
    episodes: int = _default(TabularMDPVectorEnv, "episodes")


ENV_CONFIGS = {"bandit": BanditConfig, "maze": MazeConfig, "tabular_mdp": TabularMDPConfig}
