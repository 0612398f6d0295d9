"""One training run: `Workspace` sets it up (or resumes it), then repeats update / evaluate / save.

`train(cfg, run_dir)` is what `python train.py` calls; tests and notebooks call it directly with a config
composed by Hydra's compose API (or any mapping of the same shape).

What a run guarantees (README, "What a run guarantees"): one process per run folder (`snail.rundir.RunLock`,
held from `claim` to `close`); a new run only in an empty folder; every rewritten file replaced atomically, so a
kill at any moment leaves a run that resumes on the same curve; nothing non-finite applied, logged or saved
(an update with a non-finite loss, gradient, weight or policy output is rolled back and retried, and
MAX_BAD_UPDATES of them in a row stop the run with `TrainingDiverged`).
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
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
from snail.checkpoint import CheckpointError, check_state_dict, load_checkpoint, save_checkpoint
from snail.config import ConfigError
from snail.config.train import TrainConfig
from snail.device import autocast_dtype, resolve_device
from snail.envs import env_options, make_vector_env
from snail.finite import NonFiniteError, all_finite
from snail.metrics import scalars, summarize
from snail.ppo import ppo_update
from snail.rollout import collect_trials
from snail.rundir import RunLock, atomic_write, claim_fresh, read_metrics, remove_stale_temps, write_metrics
from snail.trials import EVAL_SEED_OFFSET, VALIDATION_SEED_OFFSET, AgentPolicy, run_trials

log = logging.getLogger(__name__)

# Spreads the training seeds of runs with different `seed` values far apart.
_SEED_STRIDE = 10_000_019
# Updates in a row rolled back for non-finite numbers before the run stops (TrainingDiverged).
MAX_BAD_UPDATES = 3


class TrainingDiverged(NonFiniteError):
    """MAX_BAD_UPDATES updates in a row gave non-finite numbers; the message (one line) names the likely cause."""


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def writer_errors_raised_in_main():
    """TensorBoard writes from a thread: a full or read-only disk there would print a traceback of its own, while
    the same error is raised again in the main thread at its next TensorBoard call (where the run stops with
    one line). This keeps that thread's OSError quiet."""
    previous = threading.excepthook

    def hook(args):
        if not (isinstance(args.exc_value, OSError) and type(args.thread).__name__ == "_AsyncWriterThread"):
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


@contextmanager
def stop_on_signals():
    """Turns the first Ctrl-C or SIGTERM into a request to stop after the current update (and checkpoint);
    a second Ctrl-C interrupts at once. `requested["signal"]` is the number of the first signal."""
    requested = {"stop": False, "signal": None}

    def handler(signum, frame):
        if requested["stop"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested["stop"] = True
        requested["signal"] = requested["signal"] or signum

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Workspace:
    """A run folder and everything that trains in it: config, env, agent, optimizer, RNG, counters, logs.

    `Workspace(cfg, run_dir)` validates the config and builds the run (before any file is written);
    `claim()` takes the folder's lock and checks it is free for a new run, or `claim(resume=True)` loads
    `run_dir/last.pt`; `run()` loops `update()` / `evaluate()` / `save()` until the run's step or time limit or
    a signal, then closes the logs and returns a summary; `close()` releases the lock.
    """

    def __init__(self, cfg: DictConfig | Mapping, run_dir: str | Path):
        self.cfg = cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
        # Validate everything before any work starts.
        self.settings = settings = TrainConfig.from_mapping(cfg)
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
        # fused: one kernel over all parameters, 4x faster than the foreach step on CPU (3.2 against 12.5 ms for
        # SNAIL's 615 k parameters, 1 thread, contended), ~4% of a default bandit update.
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=self.ppo_cfg.lr, eps=1e-5, fused=True)
        # Rank r samples with its own stream; rank 0's is the single-process one.
        self.rank_seed = cfg.seed + _SEED_STRIDE * self.ranks.rank
        self.generator = torch.Generator(device=self.device).manual_seed(self.rank_seed)
        try:  # one policy plays every rollout (a captured CUDA graph is kept)
            self.rollout_policy = AgentPolicy(self.agent, self.ppo_cfg.num_envs, generator=self.generator,
                                              keep_outputs=True, step_mode=self.run_cfg.rollout_step)
        except ValueError as err:
            raise ConfigError(f"run.rollout_step={self.run_cfg.rollout_step!r} is invalid: {err}") from None
        self.eval_policy: AgentPolicy | None = None
        self.run_dir = Path(run_dir)
        self.counters = {"update": 0, "env_steps": 0, "wall_clock_s": 0.0, "best_eval_return": -math.inf}
        self.resumed = False  # continues from last.pt
        self.restarted = False  # a run killed before its first checkpoint, started over from its config
        self.saved: dict | None = None  # the counters of the last last.pt written
        self.init_source: str | None = None  # where the starting weights came from (init_from), for the log
        self.lock = RunLock(self.run_dir)
        self.writer = self.metrics_file = self.progress = None
        self._start_clock()

    # ---- setup ----------------------------------------------------------------------------------------------

    def budget_used(self) -> float:
        """The fraction of the run's budget spent: env steps of `run.total_env_steps` or wall-clock time of
        `run.max_minutes` (counted across resumes), whichever is further along, i.e. the limit that will end the
        run. The learning-rate schedule and the progress bar follow it (rank 0's clock for every rank)."""
        used = self.counters["env_steps"] / self.run_cfg.total_env_steps
        if self.run_cfg.max_minutes is not None:
            used = max(used, self._wall_clock_s() / (60 * self.run_cfg.max_minutes))
        return distributed.from_main(min(used, 1.0), self.ranks)

    def _start_clock(self) -> None:
        """Wall-clock time counts from here, on top of what the run had spent before a resume."""
        self._start_time = time.perf_counter()
        self._wall_at_start = self.counters["wall_clock_s"]
        self.last_train: dict = {}

    def _wall_clock_s(self) -> float:
        """Seconds the run has trained so far, across resumes: the clock of `run.max_minutes`."""
        return self._wall_at_start + time.perf_counter() - self._start_time

    def claim(self, resume: bool = False) -> None:
        """Take the run folder's lock (RunBusyError when another process has it; held until `close`), then
        `resume()`, or check that the folder is free for a new run (`overwrite=true` clears an earlier run)."""
        if self.ranks.main:  # under torchrun, rank 0 holds the folder for all
            self.lock.acquire()
        try:
            if resume:
                self.resume()  # the run's own last.pt (init_from is read again only by a run that starts over)
            else:
                if self.settings.init_from is not None:  # checked before the folder is touched
                    self.load_init_weights(self.settings.init_from)
                if self.ranks.main:
                    claim_fresh(self.run_dir, overwrite=self.settings.overwrite)
        except BaseException:
            self.lock.release()
            raise

    def resume(self) -> None:
        """Continue from `last.pt`: weights, optimizer, RNG and counters (the same curve as an unbroken run).
        A run killed before its first checkpoint (config.yaml written, nothing logged) starts over."""
        path, metrics = self.run_dir / "last.pt", self.run_dir / "metrics.jsonl"
        remove_stale_temps(self.run_dir)
        if not path.exists() and (self.run_dir / "config.yaml").is_file() and not read_metrics(metrics, warn):
            self.restarted = True
            if self.settings.init_from is not None:  # starts over as it started
                self.load_init_weights(self.settings.init_from)
            return
        ckpt = load_checkpoint(path, map_location=self.device)
        check_state_dict(self.agent, ckpt.get("model"), path, "the run's config")
        for key, value in self.dims.items():
            if ckpt.get(key) != value:
                raise CheckpointError(f"the env of the run's config gives {key}={value}, but {path} was trained "
                                      f"with {key}={ckpt.get(key)}: was config.yaml edited?")
        self.agent.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        generators = ckpt.get("rank_generators") or [ckpt["generator"]]
        if len(generators) != self.ranks.world:
            raise ConfigError(f"{self.run_dir} was trained by {len(generators)} process(es) and is resumed by "
                              f"{self.ranks.world}: resume it with the same number (torchrun --nproc_per_node)")
        state = generators[self.ranks.rank].cpu()  # set_state takes a CPU ByteTensor, also for a CUDA generator
        if state.numel() == self.generator.get_state().numel():
            self.generator.set_state(state)
        else:  # saved by a generator of another device type (a resume may change `device`): a new random stream
            log.warning("%s was saved on another device type: its random stream cannot go on here, so the "
                        "sampling is seeded anew from seed %d and update %d", path, self.cfg.seed,
                        ckpt["counters"]["update"])
            self.generator.manual_seed(self.rank_seed * 1_000_003 + ckpt["counters"]["update"])
        self.counters.update(ckpt["counters"])
        self.saved = dict(self.counters)
        self.resumed = True

    def load_init_weights(self, source: str) -> None:
        """Start the agent from the weights of `source`, a run folder (its last.pt) or a checkpoint file, which
        must hold the same model for the same observations and actions (CheckpointError otherwise). Everything
        else (optimizer, schedule, counters, sampling) starts as in any new run."""
        path = Path(source)
        if path.is_dir():
            path = path / "last.pt"
        if not path.is_file():
            raise CheckpointError(f"init_from={source!r} is neither a checkpoint file nor a run folder holding "
                                  "last.pt")
        ckpt = load_checkpoint(path, map_location=self.device)
        for key in ("obs_dim", "num_actions"):
            if ckpt.get(key) != self.dims[key]:
                raise CheckpointError(f"init_from={source!r}: its agent was trained with {key}={ckpt.get(key)}, "
                                      f"this run's env gives {key}={self.dims[key]}")
        check_state_dict(self.agent, ckpt.get("model"), path, "this run's config",
                         hint="init_from needs the same model with the same settings (and for the models with "
                              "TC blocks or learned positions, trials of the same length)")
        self.agent.load_state_dict(ckpt["model"])
        counters = ckpt.get("counters") or {}
        self.init_source = (f"{path} (update {counters.get('update', '?')}, "
                            f"{counters.get('env_steps', 0):,} env steps)")

    def _open_logs(self) -> None:
        """Rank 0's files: config.yaml, TensorBoard, metrics.jsonl, the progress bar (other ranks write none)."""
        if not self.ranks.main:
            self.progress = tqdm(disable=True)
            return
        metrics = self.run_dir / "metrics.jsonl"
        if self.resumed:
            self._rewrite_metrics(metrics)
            purge_step = self.counters["env_steps"] + 1  # TensorBoard drops what was logged after the checkpoint
        else:
            atomic_write(self.run_dir / "config.yaml", OmegaConf.to_yaml(self.cfg))
            write_metrics(metrics, [])
            purge_step = 0 if self.restarted else None
        if self.wandb is not None:  # before the SummaryWriter, whose scalars it then syncs
            self.wandb.init(project=self.logger_cfg.project, entity=self.logger_cfg.entity, dir=str(self.run_dir),
                            name=self.run_dir.name, config=OmegaConf.to_container(self.cfg), sync_tensorboard=True)
        self.writer = SummaryWriter(self.run_dir / "tb", purge_step=purge_step)
        if not self.resumed:
            self.writer.add_text("config", f"```\n{OmegaConf.to_yaml(self.cfg)}\n```", 0)
            _write_hparams(self.writer, self.cfg)
        self.metrics_file = open(metrics, "a")
        # In percent of the run's budget, so its ETA follows whichever limit ends the run.
        self.progress = tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
                             disable=not self.run_cfg.progress, dynamic_ncols=True)

    def _rewrite_metrics(self, path: Path) -> None:
        """Keep the lines up to the checkpoint's update (a partial last line dropped), atomically, so the curve
        continues without a fork; say so when the file ends before the checkpoint."""
        rows = [row for row in read_metrics(path, warn) if row.get("update", 0) <= self.counters["update"]]
        write_metrics(path, rows)
        last = rows[-1].get("update", 0) if rows else 0
        if last != self.counters["update"]:
            warn(f"warning: {path} ends at update {last} but last.pt is at update {self.counters['update']}: "
                 "the curve misses the updates between (the file was edited, or lost in a power failure)")

    def close(self, raise_errors: bool = True) -> None:
        """Close the logs and release the run folder's lock (safe to call twice). Closing flushes: the first
        error (a full disk, say) is raised after everything is closed, unless `raise_errors` is false (on the
        way out of another error)."""
        errors = []
        for closable in (self.progress, self.metrics_file, self.writer):
            try:
                if closable is not None:
                    closable.close()
            except Exception as err:
                errors.append(err)
        self.progress = self.metrics_file = self.writer = None
        if self.wandb is not None and self.ranks.main:
            self.wandb.finish()
            self.wandb = None
        self.lock.release()
        if errors and raise_errors:
            raise errors[0]

    # ---- one update -----------------------------------------------------------------------------------------

    def update(self) -> dict[str, float]:
        """One rollout of whole trials and one PPO update; returns the scalars to log."""
        ppo_cfg, counters = self.ppo_cfg, self.counters
        if ppo_cfg.lr_schedule == "linear":  # to 0 when the run's budget is spent
            lr = ppo_cfg.lr * (1.0 - self.budget_used())
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        t0 = time.perf_counter()
        # Disjoint task seeds for every update and rank (one process: seed * stride + update * num_envs).
        rollout = counters["update"] * self.ranks.world + self.ranks.rank
        seed = (self.cfg.seed * _SEED_STRIDE + rollout * ppo_cfg.num_envs) % EVAL_SEED_OFFSET
        self.agent.eval()
        batch, results = collect_trials(self.rollout_policy, self.vec_env, seed)
        t1 = time.perf_counter()
        self.agent.train()
        losses = ppo_update(self.trainee, self.optimizer, batch, ppo_cfg, generator=self.generator,
                            autocast_dtype=self.autocast_dtype,
                            average=lambda x: distributed.all_sum(x, self.ranks) / self.ranks.world)
        t2 = time.perf_counter()
        skipped = int(losses.pop("nonfinite_minibatches"))
        if skipped:
            raise NonFiniteError(f"a non-finite loss or gradient in {skipped} minibatch(es)")
        if not all_finite(self.agent.state_dict()):
            raise NonFiniteError("non-finite weights after the update")

        steps = int(distributed.all_sum(int(batch.mask.sum()), self.ranks))  # every rank's env steps
        counters["update"] += 1
        counters["env_steps"] += steps
        counters["wall_clock_s"] = self._wall_clock_s()
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
        """The trial metrics on the run's fixed validation tasks (seeds from VALIDATION_SEED_OFFSET, the same at
        every evaluation, so the curve compares; disjoint from the held-out tasks of evaluate.py, which must not
        choose the checkpoint they score); a new best return is saved as `best.pt`."""
        self.agent.eval()
        if self.eval_policy is None:  # kept, so that a captured graph or compiled step is made once
            self.eval_policy = AgentPolicy(self.agent, num_envs=self.run_cfg.eval_trials, seed=self.cfg.seed,
                                           step_mode=self.run_cfg.rollout_step)
        policy = self.eval_policy
        policy.generator.manual_seed(self.cfg.seed)  # every evaluation samples as a fresh policy would
        summary = summarize(run_trials(policy, self.cfg.env.id, self.env_options, num_trials=self.run_cfg.eval_trials,
                                       seed_offset=VALIDATION_SEED_OFFSET), self.cfg.env.id)
        if summary["return"] > self.counters["best_eval_return"]:
            self.counters["best_eval_return"] = summary["return"]
            self.save("best.pt")
        return scalars(summary, "eval")

    # ---- save -----------------------------------------------------------------------------------------------

    def save(self, name: str) -> None:
        """Write checkpoint `name` atomically (never a non-finite one). Before last.pt, TensorBoard's events are
        flushed, so that what the checkpoint has logged is on disk when a resume purges what came after."""
        extra = {}  # last.pt (saved by every rank at the same point) holds each rank's sampling stream
        if name == "last.pt" and self.ranks.active:
            extra["rank_generators"] = distributed.gather(self.generator.get_state().cpu(), self.ranks)
        if not self.ranks.main:  # rank 0 writes for all
            return
        if name == "last.pt" and self.writer is not None:
            self.writer.flush()
        save_checkpoint(self.run_dir / name, {
            "config": OmegaConf.to_container(self.cfg), "model": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
            "counters": dict(self.counters), **self.dims, **extra,
        })
        if name == "last.pt":
            self.saved = dict(self.counters)

    def _log_start(self) -> None:
        """The run's story in train.log (Hydra's log file) and on the console."""
        c, r = self.counters, self.run_cfg
        if self.resumed:
            log.info("resumed %s at update %d (%s env steps)", self.run_dir, c["update"], f"{c['env_steps']:,}")
        else:
            log.info("run %s: %s %s, model %s (%s parameters), device %s, seed %d", self.run_dir, self.cfg.env.id,
                     self.env_options, self.cfg.model.name, f"{self.agent.num_params():,}", self.device, self.cfg.seed)
            if self.init_source is not None:
                log.info("starting weights from %s", self.init_source)
        precision = "bf16 autocast" if self.autocast_dtype is not None else "fp32"
        log.info("PPO update in %s (algo.precision=%s)%s", precision, self.ppo_cfg.precision,
                 f", {self.ranks.world} processes" if self.ranks.active else "")
        minutes = f" or {r.max_minutes} min of wall clock, whichever comes first" if r.max_minutes is not None else ""
        log.info("budget: %s env steps%s", f"{r.total_env_steps:,}", minutes)

    def _log_progress(self, logged: dict[str, float]) -> None:
        c = self.counters
        evaluated = f", eval return {logged['eval/return']:.3f}" if "eval/return" in logged else ""
        log.info("update %d, %s env steps, %.1f min: train return %.3f%s, %.0f env steps/s", c["update"],
                 f"{c['env_steps']:,}", c["wall_clock_s"] / 60, logged.get("train/return", math.nan), evaluated,
                 logged["charts/env_steps_per_s"])

    def _log(self, logged: dict[str, float]) -> None:
        """One line of metrics.jsonl (flushed) and TensorBoard scalars; non-finite values are left out, so the
        line is always valid JSON."""
        if not self.ranks.main:
            return
        step = self.counters["env_steps"]
        logged = {key: value for key, value in logged.items() if math.isfinite(value)}
        for key, value in logged.items():
            self.writer.add_scalar(key, value, step)
        row = {"env_steps": step, "update": self.counters["update"], **logged}
        self.metrics_file.write(json.dumps(row, allow_nan=False) + "\n")
        self.metrics_file.flush()

    # ---- the non-finite guard ------------------------------------------------------------------------------

    def _snapshot(self) -> dict:
        """What an update and its evaluation change, to roll back to when they meet non-finite numbers."""
        return copy.deepcopy({"model": self.agent.state_dict(), "optimizer": self.optimizer.state_dict(),
                              "counters": self.counters, "last_train": self.last_train})

    def _roll_back(self, snapshot: dict) -> None:
        self.rollout_policy.step.reset_state()  # a non-finite step may have left NaN in the caches
        self.agent.load_state_dict(snapshot["model"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        self.counters.update(snapshot["counters"])
        self.last_train = snapshot["last_train"]

    def _diverged(self, err: NonFiniteError) -> TrainingDiverged:
        saved = (f"last.pt holds the last good state (update {self.saved['update']}, env step "
                 f"{self.saved['env_steps']})" if self.saved else "no checkpoint was written")
        # bf16's short mantissa (or an attention kernel's bf16 backward: the small maze on an H100) is the
        # likelier cause where the update runs under autocast.
        cause = ("bf16 autocast (algo.precision=bf16): start a new run with algo.precision=fp32 or a smaller "
                 f"learning rate (algo.lr={self.ppo_cfg.lr:g})" if self.autocast_dtype is not None else
                 f"a learning rate too large (algo.lr={self.ppo_cfg.lr:g}): start a new run with a smaller one")
        return TrainingDiverged(
            f"training diverged: {MAX_BAD_UPDATES} tries in a row of update {self.counters['update'] + 1} met "
            f"non-finite numbers (last: {err}); each was rolled back and nothing non-finite was saved; {saved}. "
            f"The likely cause is {cause} (or check the env's rewards)")

    # ---- the loop -------------------------------------------------------------------------------------------

    def run(self) -> dict:
        """Train until `run.total_env_steps`, `run.max_minutes`, Ctrl-C or SIGTERM; returns a summary:
        env_steps, updates, wall_clock_s, last train metrics, best eval return, stopped_by_signal."""
        run_cfg, counters, ranks = self.run_cfg, self.counters, self.ranks
        self._open_logs()
        if not self.resumed:
            self.save("last.pt")  # from here on a kill leaves a run that resumes
        self._start_clock()
        if ranks.main:
            self._log_start()
        failures = 0

        def go_on() -> bool:  # every rank takes the same decision: rank 0's clock, any rank's signal
            stopped = distributed.all_sum(float(stop["stop"]), ranks) > 0
            return self.budget_used() < 1.0 and not stopped

        with stop_on_signals() as stop, logging_redirect_tqdm():
            while go_on():
                snapshot = self._snapshot()
                try:
                    logged = self.update()
                    is_last = self.budget_used() >= 1.0
                    evaluating = run_cfg.eval_every and (counters["update"] % run_cfg.eval_every == 0 or is_last)
                    if evaluating and ranks.main:
                        logged.update(self.evaluate())
                except NonFiniteError as err:
                    self._roll_back(snapshot)
                    failures += 1
                    if failures >= MAX_BAD_UPDATES:
                        raise self._diverged(err) from None
                    warn(f"warning: update {counters['update'] + 1}: {err}; rolled back, trying again "
                         f"({failures} of {MAX_BAD_UPDATES})")
                    continue
                failures = 0
                self._log(logged)
                if ranks.main and (evaluating or counters["update"] % run_cfg.checkpoint_every == 0):
                    self._log_progress(logged)
                self.progress.update(100 * self.budget_used() - self.progress.n)
                self.progress.set_postfix(steps=f"{counters['env_steps']:,}", ret=f"{self.last_train['return']:.2f}",
                                          sps=f"{logged['charts/env_steps_per_s']:.0f}")
                if counters["update"] % run_cfg.checkpoint_every == 0:
                    self.save("last.pt")
            # Whatever stopped the loop (end, time limit, Ctrl-C, SIGTERM), the run can be resumed from here. Its
            # clock includes the last evaluation, after the update that set the counter: a run that run.max_minutes
            # ended says so in last.pt (the report reads it there to tell a finished run).
            counters["wall_clock_s"] = self._wall_clock_s()
            self.save("last.pt")
            if ranks.main:
                why = signal.Signals(stop["signal"]).name if stop["signal"] else "its budget"
                log.info("stopped by %s after %d updates, %s env steps, %.1f min; last.pt saved", why,
                         counters["update"], f"{counters['env_steps']:,}", counters["wall_clock_s"] / 60)
        self.close()
        return {"env_steps": counters["env_steps"], "updates": counters["update"],
                "wall_clock_s": counters["wall_clock_s"], "best_eval_return": counters["best_eval_return"],
                "train": self.last_train, "stopped_by_signal": stop["signal"]}

def train(cfg: DictConfig | Mapping, run_dir: str | Path, resume: bool = False,
          on_start: Callable[[Path], None] | None = None) -> dict:
    """Train the agent described by `cfg` (env/model/algo/run groups, seed, device), writing TensorBoard
    curves, `metrics.jsonl`, `config.yaml` and checkpoints `last.pt`/`best.pt` into `run_dir`.

    With `resume=True`, continues from `run_dir/last.pt` (same curve, same RNG streams); otherwise `run_dir`
    must be empty (or `overwrite=true` in `cfg`). `on_start(run_dir)` is called once the folder is locked
    and checked, before training. Returns `Workspace.run()`'s summary (`stopped_by_signal`: the signal's
    number, or None).
    """
    workspace = Workspace(cfg, run_dir)
    workspace.claim(resume=resume)
    try:
        if on_start is not None and workspace.ranks.main:
            on_start(workspace.run_dir)
        with writer_errors_raised_in_main():
            return workspace.run()
    except BaseException:
        workspace.close(raise_errors=False)  # the error on its way out is the one to report
        raise


def _import_wandb():
    """The wandb module, or a one-line error before any work when `logger.wandb=true` cannot be honoured."""
    try:
        return importlib.import_module("wandb")
    except ImportError:
        raise ConfigError("logger.wandb=true needs the wandb package: pip install wandb (or logger.wandb=false)"
                          ) from None


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
