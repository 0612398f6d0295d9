"""The config dataclasses registered in Hydra's ConfigStore as the schemas that conf/*.yaml extend.

Each option of a group is stored as `schema/<group>/<option>` (e.g. schema/model/tc_only: SnailConfig named
tc_only), and its conf/<group>/<option>.yaml starts with `defaults: [/schema/<group>/<option>@_here_, _self_]`,
holding only what differs from the dataclass's defaults. The roots conf/config.yaml and conf/evaluate.yaml
extend schema/train and schema/evaluate. Composition then refuses a wrong type or an unknown key.

`register_configs()` must run before Hydra composes conf/: train.py and evaluate.py call it before
`@hydra.main`; `compose_config` does it for Hydra's compose API (tests, notebooks). It also registers the
`${mul:a,b,...}` resolver (a product of integers), with which an experiment's budget follows the env's size
(experiment/paper_bandit.yaml: `run.total_env_steps: ${mul:${env.pulls},100000}`, 100,000 trials whatever N).
`sweep_jobs` lists the jobs `python train.py -m ...` would launch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import MISSING, DictConfig, OmegaConf

from snail.config.env import ENV_CONFIGS
from snail.config.evaluate import EvaluateConfig
from snail.config.train import TrainConfig
from snail.models import MODEL_CONFIGS
from snail.ppo import PPOConfig

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUP_SCHEMAS: dict[str, dict[str, type]] = {"algo": {"ppo": PPOConfig}, "model": MODEL_CONFIGS, "env": ENV_CONFIGS}


@dataclass
class EvaluateCommandConfig(EvaluateConfig):
    """The root of conf/evaluate.yaml: EvaluateConfig's options and the env group."""

    env: Any = MISSING


def _mul(*factors) -> int:
    """`${mul:a,b,...}`: the product of integers (budgets that follow an env's size)."""
    return math.prod(int(f) for f in factors)


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (again: storing is idempotent); register `${mul:...}`."""
    OmegaConf.register_new_resolver("mul", _mul, replace=True)
    store = ConfigStore.instance()
    store.store(group="schema", name="train", node=TrainConfig)
    store.store(group="schema", name="evaluate", node=EvaluateCommandConfig)
    for group, options in GROUP_SCHEMAS.items():
        for name, cls in options.items():
            # The class's fields and defaults, under this option's name (tc_only and attn_only are SnailConfigs).
            store.store(group=f"schema/{group}", name=name, node=OmegaConf.merge(OmegaConf.structured(cls),
                                                                                {"name": name}))


def compose_config(config_name: str = "config", overrides: Sequence[str] = (),
                   return_hydra_config: bool = False) -> DictConfig:
    """conf/<config_name>.yaml composed with `overrides`, as `python train.py` (config) or `python evaluate.py`
    (evaluate) would compose it; with `return_hydra_config`, the `hydra` section too."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def sweep_jobs(overrides: Sequence[str] = (), config_name: str = "config") -> list[list[str]]:
    """The jobs `python train.py -m <overrides>` launches, each as its list of overrides, in launch order: the
    composed `hydra.sweeper.params` (an experiment's sweep) and then `overrides`, expanded as Hydra's basic
    sweeper does (the cartesian product of comma-separated values; a key on the command line replaces the
    experiment's sweep of it)."""
    parser = OverridesParser.create()
    fixed = [o.input_line for o in parser.parse_overrides(list(overrides)) if not o.is_sweep_override()]
    hydra_cfg = compose_config(config_name, fixed, return_hydra_config=True).hydra
    params = [f"{key}={value}" for key, value in (hydra_cfg.sweeper.params or {}).items()]
    choices: dict[str, list[str]] = {}
    for override in parser.parse_overrides([*params, *overrides]):
        key = override.get_key_element()
        if override.is_sweep_override():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]
