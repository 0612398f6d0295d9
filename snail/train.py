"""One training run: `Workspace` sets it up (or resumes it), then repeats update / evaluate / save.

`train(cfg, run_dir)` is what `python train.py` calls; tests and notebooks call it directly with a config
composed by Hydra's compose API (or any mapping of the same shape).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import signal
import time
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from snail import distributed
from snail.agent import build_agent
from snail.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from snail.config import ConfigError
from snail.config.train import TrainConfig
from snail.device import autocast_dtype, resolve_device
from snail.envs import env_options, make_vector_env
from snail.metrics import scalars, summarize
from snail.ppo import ppo_update
from snail.rollout import collect_trials
from snail.trials import EVAL_SEED_OFFSET, AgentPolicy, run_trials

log = logging.getLogger(__name__)

# Spreads the training seeds of runs with different `seed` values far apart.
_SEED_STRIDE = 10_000_019




@contextmanager
def stop_on_signals():
    """Turns the first Ctrl-C or SIGTERM into a request to stop after the current update (and checkpoint);
    a second Ctrl-C interrupts at once."""
    requested = {"stop": False}

    def handler(signum, frame):
        if requested["stop"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested["stop"] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Workspace:
    """A run folder and everything that trains in it: config, env, agent, optimizer, RNG, counters, logs.

    `Workspace(cfg, run_dir)` validates the config and builds the run (before any file is written);
    `resume()` loads `run_dir/last.pt`; `run()` loops `update()` / `evaluate()` / `save()` until the run's
    step or time limit or a signal, then closes the logs and returns a summary.
    """

    def __init__(self, cfg: DictConfig | Mapping, run_dir: str | Path):
        self.cfg = cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
        # Validate everything before any work starts.
        settings = TrainConfig.from_mapping(cfg)
        self.run_cfg, self.ppo_cfg, self.logger_cfg = settings.run, settings.algo, settings.logger
        self.wandb = _import_wandb() if self.logger_cfg.wandb else None
        device = resolve_device(settings.device)
        self.ranks = distributed.setup(device)  # one process unless started by torchrun
        self.device = distributed.rank_device(device, self.ranks)
        self.autocast_dtype = autocast_dtype(self.ppo_cfg.precision, self.device)
        if self.run_cfg.torch_threads:
            torch.set_num_threads(self.run_cfg.torch_threads)
        self.env_options = env_options(cfg.env)
        try:
            self.vec_env = make_vector_env(cfg.env.id, self.ppo_cfg.num_envs, self.env_options)
        except ValueError as err:  # the envs check their options' ranges: name the key as the config does
            raise ConfigError(f"env.{err}") from None
        self.dims = {"obs_dim": self.vec_env.single_observation_space.shape[0],
                     "num_actions": int(self.vec_env.single_action_space.n),
                     "max_len": int(self.vec_env.unwrapped.max_trial_steps)}
        torch.manual_seed(cfg.seed)
        self.agent = build_agent(cfg.model, **self.dims).to(self.device)
        # What PPO trains: the agent, or its DDP wrapper whose backward all-reduces the gradients across ranks.
        self.trainee = DistributedDataParallel(self.agent) if self.ranks.active else self.agent
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=self.ppo_cfg.lr, eps=1e-5)
        # Rank r samples with its own stream; rank 0's is the single-process one.
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed + _SEED_STRIDE * self.ranks.rank)
        self.run_dir = Path(run_dir)
        self.counters = {"update": 0, "env_steps": 0, "wall_clock_s": 0.0, "best_eval_return": -math.inf}
        self.resumed = False
        self._start_clock()

    # ---- setup ----------------------------------------------------------------------------------------------

    def budget_used(self) -> float:
        """The fraction of the run's budget spent: env steps of `run.total_env_steps` or wall-clock time of
        `run.max_minutes` (counted across resumes), whichever is further along, i.e. the limit that will end the
        run. The learning-rate schedule and the progress bar follow it."""
        used = self.counters["env_steps"] / self.run_cfg.total_env_steps
        if self.run_cfg.max_minutes is not None:
            wall_s = self._wall_at_start + time.perf_counter() - self._start_time
            used = max(used, wall_s / (60 * self.run_cfg.max_minutes))
        return min(used, 1.0)

    def _start_clock(self) -> None:
        """Wall-clock time counts from here, on top of what the run had spent before a resume."""
        self._start_time = time.perf_counter()
        self._wall_at_start = self.counters["wall_clock_s"]
        self.last_train: dict = {}

    def resume(self) -> None:
        """Continue from `last.pt`: weights, optimizer, RNG and counters (the same curve as an unbroken run)."""
        ckpt = load_checkpoint(self.run_dir / "last.pt", map_location=self.device)
        try:
            self.agent.load_state_dict(ckpt["model"])
        except RuntimeError as err:
            raise CheckpointError(f"{self.run_dir / 'last.pt'} does not match the model of its config: {err}"
                                  ) from err
        self.optimizer.load_state_dict(ckpt["optimizer"])
        generators = ckpt.get("rank_generators") or [ckpt["generator"]]
        if len(generators) != self.ranks.world:
            raise ConfigError(f"{self.run_dir} was trained by {len(generators)} process(es) and is resumed by "
                              f"{self.ranks.world}: resume it with the same number (torchrun --nproc_per_node)")
        self.generator.set_state(generators[self.ranks.rank])
        self.counters.update(ckpt["counters"])
        self.resumed = True

    def _open_logs(self) -> None:
        """Rank 0's files: config.yaml, TensorBoard, metrics.jsonl, the progress bar (other ranks write none)."""
        if not self.ranks.main:
            self.writer = self.metrics_file = None
            self.progress = tqdm(disable=True)
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.resumed:
            _truncate_metrics(self.run_dir / "metrics.jsonl", self.counters["env_steps"])
        else:
            OmegaConf.save(self.cfg, self.run_dir / "config.yaml")
        if self.wandb is not None:  # before the SummaryWriter, whose scalars it then syncs
            self.wandb.init(project=self.logger_cfg.project, entity=self.logger_cfg.entity, dir=str(self.run_dir),
                            name=self.run_dir.name, config=OmegaConf.to_container(self.cfg), sync_tensorboard=True)
        self.writer = SummaryWriter(self.run_dir / "tb",
                                    purge_step=self.counters["env_steps"] if self.resumed else None)
        if not self.resumed:
            self.writer.add_text("config", f"```\n{OmegaConf.to_yaml(self.cfg)}\n```", 0)
            _write_hparams(self.writer, self.cfg)
        self.metrics_file = open(self.run_dir / "metrics.jsonl", "a")
        # In percent of the run's budget, so its ETA follows whichever limit ends the run.
        self.progress = tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
                             disable=not self.run_cfg.progress, dynamic_ncols=True)

    # ---- one update -----------------------------------------------------------------------------------------

    def update(self) -> dict[str, float]:
        """One rollout of whole trials and one PPO update; returns the scalars to log."""
        ppo_cfg, counters = self.ppo_cfg, self.counters
        if ppo_cfg.lr_schedule == "linear":  # to 0 when the run's budget is spent (rank 0's clock for all)
            lr = ppo_cfg.lr * (1.0 - distributed.from_main(self.budget_used(), self.ranks))
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        t0 = time.perf_counter()
        # Disjoint task seeds for every update and rank (rank 0 of one process: seed*stride + update*num_envs).
        rollout = counters["update"] * self.ranks.world + self.ranks.rank
        seed = (self.cfg.seed * _SEED_STRIDE + rollout * ppo_cfg.num_envs) % EVAL_SEED_OFFSET
        self.agent.eval()
        policy = AgentPolicy(self.agent, ppo_cfg.num_envs, generator=self.generator, keep_outputs=True)
        batch, results = collect_trials(policy, self.vec_env, seed)
        t1 = time.perf_counter()
        self.agent.train()
        losses = ppo_update(self.trainee, self.optimizer, batch, ppo_cfg, generator=self.generator,
                            autocast_dtype=self.autocast_dtype,
                            average=lambda x: distributed.all_sum(x, self.ranks) / self.ranks.world)
        t2 = time.perf_counter()

        steps = int(distributed.all_sum(int(batch.mask.sum()), self.ranks))  # every rank's env steps
        counters["update"] += 1
        counters["env_steps"] += steps
        counters["wall_clock_s"] = self._wall_at_start + time.perf_counter() - self._start_time
        self.last_train = summarize(results, self.cfg.env.id)
        logged = scalars(self.last_train, "train")
        logged.update({f"losses/{k}": v for k, v in losses.items()})
        logged.update({
            "charts/learning_rate": self.optimizer.param_groups[0]["lr"],
            "charts/env_steps_per_s": steps / (t2 - t0),
            "charts/rollout_s": t1 - t0,
            "charts/update_s": t2 - t1,
            "charts/wall_clock_s": counters["wall_clock_s"],
        })
        return logged

    # ---- evaluate -------------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        """The trial metrics on the run's fixed held-out tasks (seeds from EVAL_SEED_OFFSET, so the curve
        compares); a new best return is saved as `best.pt`."""
        self.agent.eval()
        policy = AgentPolicy(self.agent, num_envs=self.run_cfg.eval_trials, seed=self.cfg.seed)
        summary = summarize(run_trials(policy, self.cfg.env.id, self.env_options,
                                       num_trials=self.run_cfg.eval_trials), self.cfg.env.id)
        if summary["return"] > self.counters["best_eval_return"]:
            self.counters["best_eval_return"] = summary["return"]
            self.save("best.pt")
        return scalars(summary, "eval")

    # ---- save -----------------------------------------------------------------------------------------------

    def save(self, name: str) -> None:
        """Rank 0 writes the checkpoint. `last.pt` (saved by every rank at the same point) also holds each
        rank's sampling stream, so that a resume continues every rank's curve."""
        extra = {}
        if name == "last.pt" and self.ranks.active:
            extra["rank_generators"] = distributed.gather(self.generator.get_state().cpu(), self.ranks)
        if not self.ranks.main:
            return
        save_checkpoint(self.run_dir / name, {
            "config": OmegaConf.to_container(self.cfg), "model": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
            "counters": dict(self.counters), **self.dims, **extra,
        })

    def _log_start(self) -> None:
        """The run's story in train.log (Hydra's log file) and on the console."""
        c, r = self.counters, self.run_cfg
        if self.resumed:
            log.info("resumed %s at update %d (%s env steps)", self.run_dir, c["update"], f"{c['env_steps']:,}")
        else:
            log.info("run %s: %s %s, model %s (%s parameters), device %s, seed %d", self.run_dir, self.cfg.env.id,
                     self.env_options, self.cfg.model.name, f"{self.agent.num_params():,}", self.device, self.cfg.seed)
        precision = "bf16 autocast" if self.autocast_dtype is not None else "fp32"
        log.info("PPO update in %s (algo.precision=%s)", precision, self.ppo_cfg.precision)
        minutes = f" or {r.max_minutes} min of wall clock, whichever comes first" if r.max_minutes is not None else ""
        log.info("budget: %s env steps%s", f"{r.total_env_steps:,}", minutes)

    def _log_progress(self, logged: dict[str, float]) -> None:
        c = self.counters
        evaluated = f", eval return {logged['eval/return']:.3f}" if "eval/return" in logged else ""
        log.info("update %d, %s env steps, %.1f min: train return %.3f%s, %.0f env steps/s", c["update"],
                 f"{c['env_steps']:,}", c["wall_clock_s"] / 60, logged["train/return"], evaluated,
                 logged["charts/env_steps_per_s"])

    def _log(self, logged: dict[str, float]) -> None:
        if not self.ranks.main:
            return
        step = self.counters["env_steps"]
        for key, value in logged.items():
            self.writer.add_scalar(key, value, step)
        self.metrics_file.write(json.dumps({"env_steps": step, "update": self.counters["update"], **logged}) + "\n")
        self.metrics_file.flush()

    # ---- the loop -------------------------------------------------------------------------------------------

    def run(self) -> dict:
        """Train until `run.total_env_steps`, `run.max_minutes`, Ctrl-C or SIGTERM; returns a summary:
        env_steps, updates, wall_clock_s, last train metrics, best eval return, stopped_by_signal."""
        run_cfg, counters, ranks = self.run_cfg, self.counters, self.ranks
        self._open_logs()
        self._start_clock()
        if ranks.main:
            self._log_start()

        def go_on() -> bool:  # every rank takes the same decision: rank 0's clock, any rank's signal
            stopped = distributed.all_sum(float(stop["stop"]), ranks) > 0
            return distributed.from_main(self.budget_used(), ranks) < 1.0 and not stopped

        with stop_on_signals() as stop, logging_redirect_tqdm():
            while go_on():
                logged = self.update()
                is_last = distributed.from_main(self.budget_used(), ranks) >= 1.0
                evaluating = run_cfg.eval_every and (counters["update"] % run_cfg.eval_every == 0 or is_last)
                if evaluating and ranks.main:
                    logged.update(self.evaluate())
                self._log(logged)
                if ranks.main and (evaluating or counters["update"] % run_cfg.checkpoint_every == 0):
                    self._log_progress(logged)
                self.progress.update(100 * self.budget_used() - self.progress.n)
                self.progress.set_postfix(steps=f"{counters['env_steps']:,}", ret=f"{self.last_train['return']:.2f}",
                                          sps=f"{logged['charts/env_steps_per_s']:.0f}")
                if counters["update"] % run_cfg.checkpoint_every == 0:
                    self.save("last.pt")
            # Whatever stopped the loop (end, time limit, Ctrl-C, SIGTERM), the run can be resumed from here.
            self.save("last.pt")
            why = "a signal (Ctrl-C or SIGTERM)" if stop["stop"] else "its budget"
            if ranks.main:
                log.info("stopped by %s after %d updates, %s env steps, %.1f min; last.pt saved", why,
                         counters["update"], f"{counters['env_steps']:,}", counters["wall_clock_s"] / 60)
        self.progress.close()
        if ranks.main:
            self.metrics_file.close()
            self.writer.close()
            if self.wandb is not None:
                self.wandb.finish()
        return {"env_steps": counters["env_steps"], "updates": counters["update"],
                "wall_clock_s": counters["wall_clock_s"], "best_eval_return": counters["best_eval_return"],
                "train": self.last_train, "stopped_by_signal": stop["stop"]}


def train(cfg: DictConfig | Mapping, run_dir: str | Path, resume: bool = False) -> dict:
    """Train the agent described by `cfg` (env/model/algo/run groups, seed, device), writing TensorBoard
    curves, `metrics.jsonl`, `config.yaml` and checkpoints `last.pt`/`best.pt` into `run_dir`.

    With `resume=True`, continues from `run_dir/last.pt` (same curve, same RNG streams). Returns
    `Workspace.run()`'s summary.
    """
    workspace = Workspace(cfg, run_dir)
    if resume:
        workspace.resume()
    return workspace.run()


def _import_wandb():
    """The wandb module, or a one-line error before any work when `logger.wandb=true` cannot be honoured."""
    try:
        return importlib.import_module("wandb")
    except ImportError:
        raise ConfigError("logger.wandb=true needs the wandb package: pip install wandb (or logger.wandb=false)"
                          ) from None


def _truncate_metrics(path: Path, env_steps: int) -> None:
    """Drop lines logged after the checkpoint we resume from, so the curve continues without a fork."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["env_steps"] <= env_steps]
    path.write_text("".join(line + "\n" for line in lines))


def _write_hparams(writer: SummaryWriter, cfg: DictConfig) -> None:
    """The flattened config in TensorBoard's HParams tab, linked to the eval and train return curves."""
    flat = flatten(OmegaConf.to_container(cfg))
    hparam_dict = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in flat.items()}
    metrics = {"eval/return": 0.0, "train/return": 0.0}
    for summary in hparams(hparam_dict, metrics):
        writer.file_writer.add_summary(summary)


def flatten(tree: Mapping, prefix: str = "") -> dict:
    """{"algo": {"lr": 1}} -> {"algo.lr": 1}"""
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
