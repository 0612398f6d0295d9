"""The options of `python evaluate.py` (conf/evaluate.yaml besides `env`), their defaults and checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snail.config import ConfigError, check

CHECKPOINTS = ("best", "last")


class EvaluationError(ConfigError):
    """A problem with what the user asked to evaluate (a bad option, a missing folder, a config that no longer
    fits the code): `python evaluate.py` prints it as one line."""


@dataclass
class EvaluateConfig:
    """The options of conf/evaluate.yaml besides `env`, and their defaults."""

    run: str | None = None  # a run folder, or a checkpoint file in one (runs/.../best.pt)
    checkpoint: str = "best"  # best | last (best falls back to last when the run never evaluated)
    # all | none | one name or a list (bandit: random greedy epsilon_greedy ucb1 thompson optimistic_thompson
    # gittins oracle_bayes (pulls <= 15; all leaves it out beyond) oracle; tabular_mdp: random psrl oracle;
    # maze: random explorer wall_follower oracle)
    baseline: Any = "all"
    trials: int = 1000  # held-out trials (env seeds from snail.evaluation.EVAL_SEED_OFFSET + seed)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    greedy: bool = False  # false: sample from the agent's policy (as training does); true: argmax
    memory_ablation: bool = False  # true: also play the agent with its memory wiped at every inner episode's start
    num_envs: int = 250  # trials played in parallel (does not change the results' tasks)
    tune_trials: int = 500  # tuning trials per grid value of the tunable baselines (other seeds)
    render: bool = False  # maze: maze_paths.png / .gif of inner episodes 1 and 2 of trial `render_trial`
    attention: bool = False  # attention.png: attention maps of that trial (snail, attn_only, transformer)
    video: bool = False  # maze: trial_<render_trial>.mp4 (with moviepy, else .gif), as the env renders it
    render_trial: int = 0
    out_dir: str | None = None  # null: the run folder, or runs/evaluate/<env>/<date-time> without a run
    torch_threads: int | None = None

    def __post_init__(self):
        check("", self, lambda: {
            "checkpoint": (self.checkpoint in CHECKPOINTS, f"one of {list(CHECKPOINTS)}"),
            "trials": (self.trials >= 1, "an integer >= 1"),
            "seed": (self.seed >= 0, "an integer >= 0"),
            "num_envs": (self.num_envs >= 1, "an integer >= 1"),
            "tune_trials": (self.tune_trials >= 1, "an integer >= 1"),
            "render_trial": (self.render_trial >= 0, "an integer >= 0"),
            "torch_threads": (self.torch_threads is None or self.torch_threads >= 1, "null or an int >= 1"),
        }, error=EvaluationError)
