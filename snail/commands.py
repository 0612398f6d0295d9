"""The command-line programs, Hydra entry points over the configs inside the package (snail/conf):

    snail-train env=bandit              python train.py env=bandit         python -m snail train env=bandit
    snail-evaluate run=runs/...         python evaluate.py run=runs/...    python -m snail evaluate run=runs/...

All three spellings run the same function with the same arguments (the root scripts are thin shims).
"""

import math
import os
import shutil
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from snail import distributed
from snail.config.errors import exit_on_config_error, hydra_errors_in_one_line
from snail.config.schemas import register_configs
from snail.device import resolve_device
from snail.train import train

# hydra.run.dir is the resumed run's folder when `resume` is set, a fresh one otherwise.
OmegaConf.register_new_resolver("run_dir", lambda resume, fresh: resume if resume else fresh, replace=True)
register_configs()


def train_or_resume(cfg: DictConfig) -> dict:
    if cfg.resume:
        run_dir = Path(cfg.resume)
        if not (run_dir / "config.yaml").is_file():
            raise SystemExit(f"resume={cfg.resume!r} is not a run folder: it has no config.yaml")
        saved = OmegaConf.load(run_dir / "config.yaml")
        # The run's own config wins, except its length, logging and device, which the command line may change
        # (e.g. `resume=... run.total_env_steps=50_000_000` extends a finished run).
        for override in HydraConfig.get().overrides.task:
            key = override.split("=", 1)[0].lstrip("+~")
            if key.startswith("run.") or key == "device":
                OmegaConf.update(saved, key, OmegaConf.select(cfg, key))
        summary = train(saved, run_dir, resume=True)
    else:
        run_dir = _shared_run_dir(cfg, Path(HydraConfig.get().runtime.output_dir))
        try:
            summary = train(cfg, run_dir)
        except Exception:
            # A run that failed before it wrote anything (a bad value, say) leaves no folder behind; a folder
            # holding anything besides Hydra's own files (a user's hydra.run.dir=.) is left alone.
            if run_dir.is_dir() and all(p.name in (".hydra", "train.log") for p in run_dir.iterdir()):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
    return summary


def _shared_run_dir(cfg: DictConfig, own: Path) -> Path:
    """Under torchrun every process composes its own Hydra folder: all of them train in rank 0's, and the
    others' (holding nothing but Hydra's files) are removed."""
    ranks = distributed.setup(resolve_device(cfg.device))
    run_dir = distributed.from_main(own, ranks)
    if run_dir != own and own.is_dir() and all(p.name in (".hydra", "train.log") for p in own.iterdir()):
        shutil.rmtree(own, ignore_errors=True)
    return run_dir


@hydra_errors_in_one_line("train")  # composition errors (a wrong type, an unknown key): Hydra raises them first
@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train_main(cfg: DictConfig) -> float:
    """`snail-train` / `python train.py` / `python -m snail train`."""
    with exit_on_config_error("train"):  # train()'s checks of the values, before they start any work
        summary = train_or_resume(cfg)
    last = f"last train return {summary['train']['return']:.2f}; " if summary["train"] else ""
    best = summary["best_eval_return"]
    best = None if best == -math.inf else best  # the run stopped before its first evaluation
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 speaks for the run
        return best
    print(f"done: {summary['env_steps']} env steps in {summary['wall_clock_s'] / 60:.1f} min; {last}"
          f"best eval return {'none yet' if best is None else f'{best:.2f}'}")
    # The return value is what Hydra sweepers optimise (None: no evaluation yet).
    return best


@hydra_errors_in_one_line("evaluate")  # composition errors (a wrong type, an unknown key): Hydra raises them first
@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def evaluate_main(cfg: DictConfig) -> None:
    """`snail-evaluate` / `python evaluate.py` / `python -m snail evaluate`."""
    from snail.evaluation import cli

    overrides = HydraConfig.get().overrides.task
    cli(cfg, env_overridden=any(o.split("=")[0].lstrip("+~").startswith("env") for o in overrides))
