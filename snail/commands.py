"""The command-line programs, Hydra entry points over the configs inside the package (snail/conf):

    snail-train env=bandit              python train.py env=bandit         python -m snail train env=bandit
    snail-evaluate run=runs/...         python evaluate.py run=runs/...    python -m snail evaluate run=runs/...

All three spellings run the same function with the same arguments (the root scripts are thin shims).

Exit status of train: 0 the run reached its end (run.total_env_steps or run.max_minutes); 1 an error, printed
as one line (a config value, a folder in use or not empty, a checkpoint that does not fit, a diverged run, a
full or read-only disk); 128 + the signal's number when a signal stopped it (130 Ctrl-C, 143 SIGTERM), with
the command that continues it.
"""

import math
import os
import shlex
import signal
import sys
from datetime import datetime
from pathlib import Path
from secrets import token_hex

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from snail import distributed
from snail.checkpoint import CheckpointError
from snail.config.errors import exit_on_config_error, hydra_errors_in_one_line
from snail.config.saved import load_saved_config, resume_config
from snail.config.schemas import register_configs
from snail.device import resolve_device
from snail.finite import NonFiniteError
from snail.rundir import atomic_write, check_writable, discard_unstarted
from snail.train import train

# Errors of a run that the user can act on: one line, exit status 1, as config errors.
RUN_ERRORS = (CheckpointError, NonFiniteError)

# The topmost folder that a new run's default path creates, per path: removed again if the run never starts.
_created_roots: dict[Path, Path] = {}


def unique_stamp() -> str:
    """A new run folder's name: its start time to the microsecond and a random suffix, so runs started together
    (seeds 0, 1, 2 from one script) never share a folder."""
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S-%f}-{token_hex(2)}"


def run_dir_of(resume: str | None, fresh: str) -> str:
    """hydra.run.dir: the resumed run's folder, checked before Hydra makes or writes anything (a mistyped path
    is refused, not created); or a new one, whose first missing parent is noted for `discard_unstarted`."""
    if resume:
        load_saved_config(Path(resume) / "config.yaml")
        check_writable(resume, "the run's files")  # Hydra opens train.log there first
        return resume
    path = Path(fresh)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    if missing:
        _created_roots.setdefault(path.resolve(), missing[-1].resolve())
    return fresh


# Hydra 1.3 caches `now` per config the same way (use_cache): a sweep's jobs share their sweep folder.
OmegaConf.register_new_resolver("unique_stamp", unique_stamp, use_cache=True, replace=True)
OmegaConf.register_new_resolver("run_dir", run_dir_of, replace=True)
register_configs()


def write_hydra_record(run_dir: Path, cfg: DictConfig) -> None:
    """Hydra's record of a new run (.hydra/config.yaml, hydra.yaml, overrides.yaml). conf/config.yaml sets
    hydra.output_subdir to null, since Hydra would write it before any check: over a finished run's record
    when pointed at its folder, and on every resume, failed or not."""
    hydra_cfg = HydraConfig.instance().cfg
    record = run_dir / ".hydra"
    record.mkdir(exist_ok=True)
    for name, node in (("config.yaml", cfg), ("hydra.yaml", hydra_cfg),
                       ("overrides.yaml", hydra_cfg.hydra.overrides.task)):
        atomic_write(record / name, OmegaConf.to_yaml(node))


def run_folder(cfg: DictConfig) -> Path:
    if cfg.resume:
        return Path(cfg.resume)
    return _shared_run_dir(cfg, Path(HydraConfig.get().runtime.output_dir))


def train_or_resume(cfg: DictConfig, run_dir: Path) -> dict:
    if cfg.resume:
        # The run's own config (read as plain values), with only what a resume may change taken from the command
        # line (run.*, device: `resume=... run.total_env_steps=50_000_000` extends a finished run).
        saved = load_saved_config(run_dir / "config.yaml")
        overrides = list(HydraConfig.get().overrides.task)
        return train(resume_config(saved, cfg, overrides, f"resume={cfg.resume}"), run_dir, resume=True)
    try:
        return train(cfg, run_dir, on_start=lambda folder: write_hydra_record(folder, cfg))
    except BaseException:
        # A run that failed before it wrote anything (a bad value, say) leaves no folder behind, nor the parents
        # its path created; a folder holding anything else is left alone.
        discard_unstarted(run_dir, _created_roots.get(run_dir.resolve()))
        raise


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in `run_dir`, spelled as this program was started."""
    program = sys.argv[0]
    program = f"python {program}" if program.endswith(".py") else Path(program).name
    folder = str(run_dir)
    value = f"'{folder}'" if any(c in folder for c in ",='\" ") else folder  # Hydra's quoting
    return f"{program} {shlex.quote(f'resume={value}')}"


def _continue_hint(run_dir: Path) -> str:
    if (run_dir / "config.yaml").is_file():
        return f"continue with: {resume_command(run_dir)}"
    return "the run had not started: start it again"


def _shared_run_dir(cfg: DictConfig, own: Path) -> Path:
    """Under torchrun every process composes its own Hydra folder: all of them train in rank 0's, and the
    others' (holding nothing but Hydra's files) are removed."""
    ranks = distributed.setup(resolve_device(cfg.device))
    run_dir = distributed.from_main(own, ranks)
    if run_dir != own:
        discard_unstarted(own, _created_roots.get(own.resolve()))
    return run_dir


@hydra_errors_in_one_line("train")  # composition errors (a wrong type, an unknown key): Hydra raises them first
@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train_main(cfg: DictConfig) -> float:
    """`snail-train` / `python train.py` / `python -m snail train`."""
    finished = False
    try:
        result = _train_main(cfg)
        finished = True
        return result
    finally:
        distributed.teardown(finished)  # under torchrun


def _train_main(cfg: DictConfig) -> float | None:
    run_dir = run_folder(cfg)
    with exit_on_config_error("train", RUN_ERRORS):  # train()'s checks, before they start any work
        try:
            summary = train_or_resume(cfg, run_dir)
        except KeyboardInterrupt:
            print(f"train: interrupted at once (a second Ctrl-C): updates after the last checkpoint are lost; "
                  f"{_continue_hint(run_dir)}", file=sys.stderr)
            raise SystemExit(128 + signal.SIGINT) from None
        except OSError as err:  # a full disk, a read-only folder: every file written before stays whole
            where = f" ({err.filename})" if err.filename else ""
            raise SystemExit(f"train: error: {err.strerror or err}{where}; the files written before are intact; "
                             f"{_continue_hint(run_dir)} once it is fixed") from None
    signum = summary["stopped_by_signal"]
    if signum:
        print(f"train: stopped by {signal.Signals(signum).name} after {summary['env_steps']} env steps "
              f"({summary['updates']} updates), last.pt saved; {_continue_hint(run_dir)}", file=sys.stderr)
        raise SystemExit(128 + signum)
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
