"""The config dataclasses registered in Hydra's ConfigStore as the schemas that conf/*.yaml extend.

Each option of a group is stored as `schema/<group>/<option>` (e.g. schema/model/tc_only: SnailConfig named
tc_only), and its conf/<group>/<option>.yaml starts with `defaults: [/schema/<group>/<option>@_here_, _self_]`,
holding only what differs from the dataclass's defaults. The roots conf/config.yaml and conf/evaluate.yaml
extend schema/train and schema/evaluate. Composition then refuses a wrong type or an unknown key.

`register_configs()` must run before Hydra composes conf/: train.py and evaluate.py call it before
`@hydra.main`; `compose_config` does it for Hydra's compose API (tests, notebooks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
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


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (again: storing is idempotent)."""
    store = ConfigStore.instance()
    store.store(group="schema", name="train", node=TrainConfig)
    store.store(group="schema", name="evaluate", node=EvaluateCommandConfig)
    for group, options in GROUP_SCHEMAS.items():
        for name, cls in options.items():
            # The class's fields and defaults, under this option's name (tc_only and attn_only are SnailConfigs).
            store.store(group=f"schema/{group}", name=name, node=OmegaConf.merge(OmegaConf.structured(cls),
                                                                                {"name": name}))


def compose_config(config_name: str = "config", overrides: Sequence[str] = ()) -> DictConfig:
    """conf/<config_name>.yaml composed with `overrides`, as `python train.py` (config) or `python evaluate.py`
    (evaluate) would compose it."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))
