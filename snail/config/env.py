"""The env group's configs (conf/env/<name>.yaml): options, types and defaults of each meta-task.

These check types and keys only; the envs check their value ranges themselves (envs/, when `train` makes them,
before any work starts). Every option besides `name` and `id` is passed to `gymnasium.make(id, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from snail.config import check


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
    id: str = "snail/Bandit-v0"
    arms: int = 5
    pulls: int = 100


@dataclass
class MazeConfig(EnvConfig):
    """Random perfect maze. `preset`: small (5x5 cells, 250-step inner-episode cap) or large (9x9, 1000);
    `size` / `episode_steps` override the preset's."""

    name: str = "maze"
    id: str = "snail/Maze-v0"
    preset: str = "small"
    size: int | None = None
    episode_steps: int | None = None
    episodes: int = 2
    actions: str = "egocentric"  # egocentric (0 forward, 1 turn left, 2 turn right) | cardinal (0 N, 1 E, 2 S, 3 W)
    view_size: int = 3  # the agent sees (2*view_size+1)^2 squares of the grid (cells and walls) around it
    observe_position: bool = False  # true adds the agent's cell (row and column one-hots) to the observation


@dataclass
class TabularMDPConfig(EnvConfig):
    """Random tabular MDP: 10 states, 5 actions, 10-step episodes, `episodes` episodes per trial."""

    name: str = "tabular_mdp"
    id: str = "snail/TabularMDP-v0"
    states: int = 10
    actions: int = 5
    episode_length: int = 10
    episodes: int = 10


ENV_CONFIGS = {"bandit": BanditConfig, "maze": MazeConfig, "tabular_mdp": TabularMDPConfig}
