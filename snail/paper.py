"""The published results this project reproduces, per task cell: SNAIL (Mishra, Rohaninejad, Chen, Abbeel, "A Simple
Neural Attentive Meta-Learner", ICLR 2018, arXiv 1707.03141) and RL² (Duan et al., "RL²: Fast Reinforcement
Learning via Slow Reinforcement Learning", 2016, arXiv 1611.02779).

Transcribed from the "Published results" tables of /work/shared/reference/snail-paper.md (the project's notes on
the two papers). `paper_rows(env_name, env_options)` gives SNAIL's and RL²'s rows of one cell in this project's
metric names (`snail.metrics.summarize`), or None for a cell the papers did not run. Caveats, kept with the rows:
the tabular-MDP table gives RL² as a total reward and SNAIL only normalized by value iteration; the papers'
mazes are 3-D first-person mazes, so their step counts give the shape of the result, not a target to compare
digit by digit.
"""

from __future__ import annotations

from collections.abc import Mapping

from snail.envs import env_name_of
from snail.envs.maze import PRESETS

SNAIL = "SNAIL (paper)"
RL2 = "RL² (paper)"

BANDIT_COLUMNS = ("random", "gittins", "thompson", "optimistic_thompson", "ucb1", "epsilon_greedy", "greedy", "rl2",
                  "snail", "snail_ci95")
# (N pulls, K arms) -> mean total reward (1000 trials); SNAIL's ± is a 95% CI.
BANDIT: dict[tuple[int, int], dict[str, float]] = {
    cell: dict(zip(BANDIT_COLUMNS, values, strict=True)) for cell, values in {
        (10, 5): (5.0, 6.6, 5.7, 6.5, 6.7, 6.6, 6.6, 6.7, 6.6, 0.1),
        (10, 10): (5.0, 6.6, 5.5, 6.2, 6.7, 6.6, 6.6, 6.7, 6.7, 0.1),
        (10, 50): (5.1, 6.5, 5.2, 5.5, 6.6, 6.5, 6.5, 6.8, 6.7, 0.1),
        (100, 5): (49.9, 78.3, 74.7, 77.9, 78.0, 75.4, 74.8, 78.7, 79.1, 1.0),
        (100, 10): (49.9, 82.8, 76.7, 81.4, 82.4, 77.4, 77.1, 83.5, 83.5, 0.8),
        (100, 50): (49.8, 85.2, 64.5, 67.7, 84.3, 78.3, 78.0, 84.9, 85.1, 0.6),
        (500, 5): (249.8, 405.8, 402.0, 406.7, 405.8, 388.2, 380.6, 401.6, 408.1, 4.9),
        (500, 10): (249.0, 437.8, 429.5, 438.9, 437.1, 408.0, 395.0, 432.5, 432.4, 3.5),
        (500, 50): (249.6, 463.7, 427.2, 437.6, 457.6, 413.6, 402.8, 438.9, 442.6, 2.5),
    }.items()}

MDP_COLUMNS = ("random", "psrl", "opsrl", "ucrl2", "beb", "epsilon_greedy", "greedy", "rl2", "snail_normalized")
# N episodes (10 states, 5 actions, 10-step episodes) -> total reward over the trial; SNAIL normalized by value
# iteration on the true MDP (about 20.8 per 10-step episode).
MDP: dict[int, dict[str, float]] = {
    n: dict(zip(MDP_COLUMNS, values, strict=True)) for n, values in {
        10: (100.1, 138.1, 144.1, 146.6, 150.2, 132.8, 134.8, 156.2, 0.766),
        25: (250.2, 408.8, 425.2, 424.1, 427.8, 377.3, 368.8, 445.7, 0.862),
        50: (499.7, 904.4, 930.7, 918.9, 917.8, 823.3, 769.3, 936.1, 0.908),
        75: (749.9, 1417.1, 1449.2, 1427.6, 1422.6, 1293.9, 1172.9, 1428.8, 0.930),
        100: (999.4, 1939.5, 1973.9, 1942.1, 1935.1, 1778.2, 1578.5, 1913.7, 0.941),
    }.items()}
MDP_SHAPE = {"states": 10, "actions": 5, "episode_length": 10}

# Maze preset -> {method: (average steps to the goal in episode 1, in episode 2)}; 3-D first-person mazes.
MAZE: dict[str, dict[str, tuple[float, float]]] = {
    "small": {"random": (188.6, 187.7), "rl2": (52.4, 39.1), "snail": (50.3, 34.8)},
    "large": {"random": (420.2, 420.8), "rl2": (180.1, 150.6), "snail": (140.5, 105.9)},
}

NOTES = {
    "bandit": "the papers' bandit table: mean total reward over 1000 trials; SNAIL's ± is a 95% CI",
    "tabular_mdp": "the papers' MDP table gives RL² as a total reward and SNAIL only normalized by value iteration",
    "maze": "the papers' mazes are 3-D first-person mazes: their steps give the shape of the result, not a target",
}


def _maze_steps(steps: tuple[float, float]) -> dict[str, float]:
    ep1, ep2 = steps
    return {"steps_ep1": ep1, "steps_ep2": ep2, "steps_ep2_minus_ep1": round(ep2 - ep1, 1)}


def paper_rows(env_name: str, options: Mapping) -> dict | None:
    """SNAIL's and RL²'s published results for the env cell `options` (an env config's options), as
    {"rows": [{"policy", "metrics"}], "note"} in this project's metric names (a published 95% CI as
    `<metric>_ci95`), or None when the papers did not run that cell."""
    env = env_name_of(env_name)
    rows = None
    if env == "bandit":
        cell = BANDIT.get((options.get("pulls"), options.get("arms")))
        if cell:
            rows = [(SNAIL, {"return": cell["snail"], "return_ci95": cell["snail_ci95"]}),
                    (RL2, {"return": cell["rl2"]})]
    elif env == "tabular_mdp":
        cell = MDP.get(options.get("episodes"))
        if cell and all(options.get(k) == v for k, v in MDP_SHAPE.items()):
            rows = [(SNAIL, {"normalized": cell["snail_normalized"]}), (RL2, {"return": cell["rl2"]})]
    elif env == "maze":
        preset = options.get("preset")
        if preset in MAZE and options.get("episodes") == 2 and all(
                options.get(key) in (None, value) for key, value in zip(("size", "episode_steps"), PRESETS[preset],
                                                                        strict=True)):
            rows = [(SNAIL, _maze_steps(MAZE[preset]["snail"])), (RL2, _maze_steps(MAZE[preset]["rl2"]))]
    if rows is None:
        return None
    return {"rows": [{"policy": name, "metrics": metrics} for name, metrics in rows], "note": NOTES[env]}
