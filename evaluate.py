"""Evaluate a trained run and the classical baselines on the same held-out trials.

    python evaluate.py run=runs/bandit/snail/<date-time>      # agent + every baseline of its env
    python evaluate.py env=bandit baseline=ucb1               # one baseline alone
    python evaluate.py run=runs/maze/... render=true attention=true

Writes evaluation.json and evaluation.md (and pictures) into the run folder; see snail/evaluation/cli.py.
"""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from snail.config.errors import hydra_errors_in_one_line
from snail.config.schemas import register_configs
from snail.evaluation import cli

register_configs()


@hydra_errors_in_one_line("evaluate")  # composition errors (a wrong type, an unknown key): Hydra raises them first
@hydra.main(version_base="1.3", config_path="snail/conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    overrides = HydraConfig.get().overrides.task
    cli(cfg, env_overridden=any(o.split("=")[0].lstrip("+~").startswith("env") for o in overrides))


if __name__ == "__main__":
    main()
