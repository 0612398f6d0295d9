"""The training config (conf/config.yaml, what `python train.py` composes): its top-level options and `run`.

The groups have their own dataclasses: algo `snail.ppo.PPOConfig`, model `snail.models.MODEL_CONFIGS`, env
`snail.config.env.ENV_CONFIGS` (picked by `name`). `TrainConfig.from_mapping` checks a whole config, composed
or a plain dict, the way Hydra's composition checks the command line (same messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from snail.config import check, dataclass_by_name, dataclass_from_mapping
from snail.config.env import ENV_CONFIGS
from snail.fast_step import STEP_MODES
from snail.models import MODEL_CONFIGS
from snail.ppo import PPOConfig


@dataclass
class RunConfig:
    """Length, evaluation, checkpoints and logging of a run."""

    total_env_steps: int = 20_000_000  # the run stops here (the learning-rate schedule spans it) ...
    max_minutes: float | None = None  # ... or after this much wall-clock time, whichever comes first
    eval_every: int = 20  # updates between evaluations on held-out tasks (0 = never)
    eval_trials: int = 256
    checkpoint_every: int = 10  # updates between `last` checkpoints
    torch_threads: int | None = None  # null = torch's default
    progress: bool = True  # console progress bar
    # How the rollouts' cached step runs (snail/fast_step.py): auto (a CUDA graph on a GPU, eager elsewhere),
    # eager, compile (torch.compile) or graph (CUDA only). Results are the same; only the speed differs.
    rollout_step: str = "auto"

    def __post_init__(self):
        check("run", self, lambda: {
            "total_env_steps": (self.total_env_steps >= 1, "an integer >= 1"),
            "max_minutes": (self.max_minutes is None or self.max_minutes > 0, "null or a number > 0"),
            "eval_every": (self.eval_every >= 0, "an integer >= 0 (0 = never)"),
            "eval_trials": (self.eval_trials >= 1, "an integer >= 1"),
            "checkpoint_every": (self.checkpoint_every >= 1, "an integer >= 1"),
            "torch_threads": (self.torch_threads is None or self.torch_threads >= 1, "null or an integer >= 1"),
            "rollout_step": (self.rollout_step in STEP_MODES, f"one of {list(STEP_MODES)}"),
        })


@dataclass
class LoggerConfig:
    """Where the scalars go besides TensorBoard and metrics.jsonl (always written)."""

    wandb: bool = False  # true: sync the TensorBoard scalars to Weights & Biases (needs `pip install wandb`)
    project: str = "snail"  # the wandb project
    entity: str | None = None  # the wandb entity (team or user); null = your default


@dataclass
class TrainConfig:
    """The root of conf/config.yaml. The field order is the order of the composed config and config.yaml."""

    algo: Any = MISSING  # PPOConfig (conf/algo/)
    model: Any = MISSING  # one of MODEL_CONFIGS, by model.name (conf/model/)
    env: Any = MISSING  # one of ENV_CONFIGS, by env.name (conf/env/)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N (auto picks CUDA when torch sees a GPU)
    resume: str | None = None  # a run folder (runs/...) to continue where it stopped
    # A run folder (its last.pt) or a checkpoint file whose agent weights start this new run: fine-tuning, or a
    # curriculum (e.g. small mazes first). Only the weights: optimizer, schedule, counters and RNG start fresh.
    init_from: str | None = None
    overwrite: bool = False  # start a new run in a folder holding an earlier run (its files are removed first)
    run: RunConfig = field(default_factory=RunConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)

    def __post_init__(self):
        check("", self, lambda: {"seed": (self.seed >= 0, "an integer >= 0")})

    @classmethod
    def from_mapping(cls, cfg: Mapping) -> TrainConfig:
        """`cfg` (composed, or a plain mapping) with each section built as its dataclass, so checked, and unknown
        top-level keys refused. algo, model and env are required; a missing run section or top-level option is
        taken at its default."""
        values = dict(cfg)
        values["algo"] = dataclass_from_mapping(PPOConfig, values.get("algo"), "algo")
        values["model"] = dataclass_by_name(MODEL_CONFIGS, values.get("model"), "model")
        values["env"] = dataclass_by_name(ENV_CONFIGS, values.get("env"), "env")
        values["run"] = dataclass_from_mapping(RunConfig, values.get("run", {}), "run")
        values["logger"] = dataclass_from_mapping(LoggerConfig, values.get("logger", {}), "logger")
        return dataclass_from_mapping(cls, values, "", where="train")
