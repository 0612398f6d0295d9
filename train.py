"""Train a meta-RL agent: `python train.py env=bandit model=snail` (see conf/ for every option).

Continue an interrupted run with `python train.py resume=runs/<env>/<model>/<date-time>`.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from snail.train import train

# hydra.run.dir is the resumed run's folder when `resume` is set, a fresh one otherwise.
OmegaConf.register_new_resolver("run_dir", lambda resume, fresh: resume if resume else fresh, replace=True)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    if cfg.resume:
        run_dir = Path(cfg.resume)
        if not (run_dir / "config.yaml").is_file():
            raise SystemExit(f"resume={cfg.resume!r} is not a run folder: it has no config.yaml")
        summary = train(OmegaConf.load(run_dir / "config.yaml"), run_dir, resume=True)
    else:
        summary = train(cfg, HydraConfig.get().runtime.output_dir)
    print(f"done: {summary['env_steps']} env steps in {summary['wall_clock_s'] / 60:.1f} min; "
          f"last train return {summary['train'].get('trial_return', float('nan')):.2f}; "
          f"best eval return {summary['best_eval_return']:.2f}")
    # The return value is what Hydra sweepers optimise.
    return summary["best_eval_return"]


if __name__ == "__main__":
    main()
