"""Runs that survive anything: unique and exclusive run folders, atomic and crash-tolerant files, the non-finite
guard, what a resume may change, one-line errors, exit statuses, untrusted configs (README: "What a run
guarantees"). benchmarks/faults.py injects the same faults at scale (kill -9, full disk, read-only folder)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from test_train import tiny_config

import snail.train as train_module
from snail import commands
from snail.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from snail.config import ConfigError, schemas
from snail.config.saved import load_saved_config, resume_config
from snail.evaluation import EvaluationError, cli, load_run
from snail.finite import NonFiniteError
from snail.ppo import PPOConfig, ppo_update
from snail.rundir import RunBusyError, RunFolderError, RunLock, read_metrics
from snail.train import MAX_BAD_UPDATES, TrainingDiverged, Workspace, train
from snail.trials import AgentPolicy

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("charts/env_steps_per_s", "charts/rollout_s", "charts/update_s", "charts/wall_clock_s")
STEPS = "run.total_env_steps=200"  # 5 updates of 4 trials x 10 pulls
# An upper bound for a hung subprocess, not a speed check: a tiny run starts in seconds on an idle machine, but
# on two cores shared with training jobs these tests' runs have taken over the two minutes they once had.
SUBPROCESS_TIMEOUT_S = 600
CLI_TINY = ["env.pulls=10", "algo.num_envs=4", "algo.minibatch_trials=2", "algo.epochs=1", "run.eval_every=2",
            "run.eval_trials=4", "run.checkpoint_every=2", "run.progress=false", "run.torch_threads=1"]


def curve(run_dir) -> list[dict]:
    """metrics.jsonl without its timing keys: what must be identical between a resumed and an unbroken run."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(Path(run_dir) / "metrics.jsonl")]


def stop_after(monkeypatch, updates: int, signum=signal.SIGTERM) -> None:
    """The next run receives `signum` during its `updates`-th PPO update."""
    real, calls = train_module.ppo_update, []

    def update_then_signal(*args, **kwargs):
        calls.append(1)
        if len(calls) == updates:
            os.kill(os.getpid(), signum)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "ppo_update", update_then_signal)


def stopped_run(run_dir, monkeypatch, updates=2, extra=()) -> dict:
    """A run of STEPS stopped by SIGTERM after `updates` updates (checkpointed, resumable)."""
    stop_after(monkeypatch, updates)
    summary = train(tiny_config(extra=[STEPS, *extra]), run_dir)
    monkeypatch.undo()
    return summary


def resume(run_dir, **kwargs) -> dict:
    return train(load_saved_config(Path(run_dir) / "config.yaml"), run_dir, resume=True, **kwargs)


def program(*args, cwd=ROOT, timeout=SUBPROCESS_TIMEOUT_S, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    """`python train.py <args>` (or evaluate.py when args[0] ends with .py) with this checkout on the path."""
    script = args[0] if str(args[0]).endswith(".py") else "train.py"
    args = args[1:] if script == args[0] else args
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / script), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def one_line_error(proc, needle: str) -> str:
    """Exit status 1 and the error in one line (after any warnings, one line each), no traceback."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    *warnings, error = proc.stderr.strip().splitlines()
    assert error.startswith("train: error: ") or error.startswith("evaluate: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and needle in error, proc.stderr
    assert all(line.startswith("warning: ") for line in warnings), proc.stderr
    return error


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The unbroken run every interrupted one is compared with."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    train(tiny_config(extra=[STEPS]), run_dir)
    return run_dir


# ---- 1. unique run folders; a new run never lands in a used folder ------------------------------------------


def test_run_folder_names_are_unique_even_within_a_microsecond():
    stamps = {commands.unique_stamp() for _ in range(2000)}
    assert len(stamps) == 2000
    cfg = OmegaConf.create({"a": "${unique_stamp:}", "b": "${unique_stamp:}"})
    assert cfg.a == cfg.b  # cached per config, like ${now:}: a sweep's jobs share their sweep folder


def test_concurrent_starts_of_one_config_never_share_a_folder(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(ROOT / "train.py"), *CLI_TINY, "run.total_env_steps=40"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=SUBPROCESS_TIMEOUT_S) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    folders = sorted((tmp_path / "runs" / "bandit" / "snail").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert len(curve(folder)) == 1 and (folder / ".hydra" / "config.yaml").is_file()


def test_a_new_run_refuses_a_folder_holding_a_run_and_leaves_it_as_it_was(straight, tmp_path):
    before = {p.name: p.read_bytes() for p in straight.iterdir() if p.is_file()}
    with pytest.raises(RunFolderError, match="already holds a run.*resume=.*overwrite=true"):
        train(tiny_config(extra=[STEPS]), straight)
    assert {p.name: p.read_bytes() for p in straight.iterdir() if p.is_file()} == before
    (tmp_path / "mine.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="is not empty"):
        train(tiny_config(), tmp_path)


def test_overwrite_starts_over_but_never_removes_other_files(tmp_path, monkeypatch):
    stopped_run(tmp_path / "run", monkeypatch)
    train(tiny_config(extra=[STEPS, "overwrite=true"]), tmp_path / "run")
    assert len(curve(tmp_path / "run")) == 5
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="notes.txt"):
        train(tiny_config(extra=[STEPS, "overwrite=true"]), tmp_path / "run")
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine" and len(curve(tmp_path / "run")) == 5


# ---- 2. the non-finite guard ----------------------------------------------------------------------------------


def _batch(agent, trials=4, steps=6, obs_dim=1):
    from snail.rollout import TrialBatch

    return TrialBatch(obs=torch.zeros(trials, steps, obs_dim), prev_action=torch.zeros(trials, steps, dtype=torch.long),
                      prev_reward=torch.zeros(trials, steps), actions=torch.zeros(trials, steps, dtype=torch.long),
                      logprobs=torch.zeros(trials, steps), values=torch.zeros(trials, steps),
                      rewards=torch.full((trials, steps), float("nan")), mask=torch.ones(trials, steps, dtype=bool))


def test_ppo_skips_the_step_of_a_minibatch_with_a_nonfinite_loss():
    from snail.agent import build_agent

    agent = build_agent({"name": "lstm", "hidden_size": 8}, obs_dim=1, num_actions=3, max_len=6)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    losses = ppo_update(agent, optimizer, _batch(agent), PPOConfig(num_envs=4, minibatch_trials=2, epochs=2))
    assert losses["nonfinite_minibatches"] == 4
    assert all(torch.equal(before[k], v) for k, v in agent.state_dict().items())


def test_the_policy_refuses_nonfinite_outputs():
    from snail.agent import build_agent

    agent = build_agent({"name": "lstm", "hidden_size": 8}, obs_dim=1, num_actions=3, max_len=6)
    with torch.no_grad():
        next(agent.parameters()).fill_(float("nan"))
    policy = AgentPolicy(agent, num_envs=2)
    with pytest.raises(NonFiniteError, match="not finite"):
        policy.act([[0.0], [0.0]], [-1, -1], [0.0, 0.0], [True, True])


def test_a_huge_learning_rate_stops_clearly_and_leaves_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(extra=[STEPS, "algo.lr=1e8", "run.checkpoint_every=1"])
    with pytest.raises(TrainingDiverged) as err:
        train(cfg, tmp_path)
    message = str(err.value)
    assert "\n" not in message and "algo.lr=1e+08" in message and "last.pt holds the last good state" in message
    ckpt = load_checkpoint(tmp_path / "last.pt")  # refuses non-finite weights
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert all(isinstance(json.loads(line), dict) for line in (tmp_path / "metrics.jsonl").read_text().splitlines())
    load_run(tmp_path, "last")  # evaluate can read it
    with pytest.raises(TrainingDiverged):  # and a resume meets the same learning rate
        resume(tmp_path)


def test_a_diverged_bf16_run_names_the_precision(tmp_path):
    from snail.device import native_bf16

    if not native_bf16(torch.device("cpu")):
        pytest.skip("this CPU has no native bf16")
    with pytest.raises(TrainingDiverged, match=r"bf16 autocast \(algo.precision=bf16\): start a new run with "
                                               r"algo.precision=fp32"):
        train(tiny_config(extra=[STEPS, "algo.lr=1e8", "algo.precision=bf16"]), tmp_path)


def test_a_passing_nonfinite_update_is_rolled_back_and_retried(tmp_path, monkeypatch, capsys):
    real, calls = train_module.ppo_update, []

    def poisoned_once(agent, *args, **kwargs):
        calls.append(1)
        losses = real(agent, *args, **kwargs)
        if len(calls) == 2:
            with torch.no_grad():
                next(agent.parameters()).fill_(float("nan"))
        return losses

    monkeypatch.setattr(train_module, "ppo_update", poisoned_once)
    summary = train(tiny_config(extra=[STEPS]), tmp_path)
    assert summary["updates"] == 5 and len(calls) == 6 and [r["update"] for r in curve(tmp_path)] == [1, 2, 3, 4, 5]
    assert f"non-finite weights after the update; rolled back, trying again (1 of {MAX_BAD_UPDATES})" in (
        capsys.readouterr().err)
    for name in ("last.pt", "best.pt"):
        load_checkpoint(tmp_path / name)


def test_nonfinite_numbers_are_never_saved_nor_logged(tmp_path):
    good = {"model": {"w": torch.ones(2)}, "optimizer": {}}
    save_checkpoint(tmp_path / "last.pt", good)
    with pytest.raises(NonFiniteError, match="refusing to write"):
        save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.tensor([1.0, float("nan")])}, "optimizer": {}})
    assert torch.equal(load_checkpoint(tmp_path / "last.pt")["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left
    torch.save({"format": "snail-checkpoint-v1", "model": {"w": torch.tensor(float("inf"))}}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        load_checkpoint(tmp_path / "old.pt")

    workspace = Workspace(tiny_config(), tmp_path / "run")
    workspace.claim()
    workspace._open_logs()
    workspace._log({"losses/value_loss": float("nan"), "losses/policy_loss": 0.5, "charts/x": float("inf")})
    workspace.close()
    assert read_metrics(tmp_path / "run" / "metrics.jsonl") == [{"env_steps": 0, "update": 0,
                                                                 "losses/policy_loss": 0.5}]


# ---- 3. one process per run folder ------------------------------------------------------------------------


def test_a_second_process_on_a_run_folder_fails_at_once_naming_the_holder(straight, tmp_path):
    with RunLock(straight):
        t0 = time.perf_counter()
        with pytest.raises(RunBusyError, match=f"in use by another training process \\(pid {os.getpid()}\\)"):
            train(tiny_config(extra=[STEPS, "run.total_env_steps=400"]), straight, resume=True)
        assert time.perf_counter() - t0 < 10
    # A holder killed with SIGKILL leaves no stale lock: the kernel drops it.
    code = f"from snail.rundir import RunLock; import os, signal; RunLock({str(tmp_path)!r}).acquire(); " \
           "os.kill(os.getpid(), signal.SIGKILL)"
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL
    RunLock(tmp_path).acquire().release()


# ---- 4. what a resume may change --------------------------------------------------------------------------


def test_resume_may_change_only_run_settings_and_device():
    saved = OmegaConf.create(OmegaConf.to_container(tiny_config(), resolve=True))
    cfg = schemas.compose_config("config", ["algo.lr=0.5", "model=lstm", "seed=3", "env.pulls=20",
                                            "run.total_env_steps=999", "device=cpu"])
    overrides = ["algo.lr=0.5", "model=lstm", "seed=3", "env.pulls=20", "run.total_env_steps=999", "device=cpu"]
    with pytest.raises(ConfigError) as err:
        resume_config(saved, cfg, overrides, "resume=runs/x")
    message = str(err.value)
    for needle in ("algo.lr=0.5 (the run has 0.002)", "model.name='lstm' (the run has 'snail')",
                   "seed=3 (the run has 0)", "env.pulls=20 (the run has 10)"):
        assert needle in message
    assert "run.total_env_steps" not in message and "device" not in message.split("not ")[1]
    overrides = ["run.total_env_steps=999", "device=cpu", f"algo.lr={saved.algo.lr}", "env.pulls=10"]
    allowed = resume_config(saved, schemas.compose_config("config", overrides), overrides, "resume=runs/x")
    assert allowed.run.total_env_steps == 999 and allowed.device == "cpu" and allowed.algo == saved.algo
    with pytest.raises(ConfigError, match="overwrite"):
        resume_config(saved, cfg, ["overwrite=true"], "resume=runs/x")


def test_resume_with_a_model_edited_in_config_yaml_fails_in_one_line(tmp_path, monkeypatch):
    stopped_run(tmp_path, monkeypatch)
    cfg = load_saved_config(tmp_path / "config.yaml")
    cfg.model.embed_dim = 16
    with pytest.raises(CheckpointError) as err:
        train(cfg, tmp_path, resume=True)
    assert "do not fit the model" in str(err.value) and "\n" not in str(err.value)


# ---- 5. metrics.jsonl: atomic rewrite, readable after a crash at any byte ------------------------------------


def test_resume_drops_a_partial_last_line_with_a_warning_and_continues_the_same_curve(
        straight, tmp_path, monkeypatch, capsys):
    stopped_run(tmp_path, monkeypatch)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"env_steps": 120, "update": 3, "train/ret')  # killed in the middle of the line
    resume(tmp_path)
    assert "dropped its last line" in capsys.readouterr().err
    assert curve(tmp_path) == curve(straight)


def test_a_run_killed_before_its_first_checkpoint_starts_over(straight, tmp_path, monkeypatch):
    stopped_run(tmp_path, monkeypatch)
    for name in ("last.pt", "best.pt", "metrics.jsonl"):
        (tmp_path / name).unlink()
    resume(tmp_path)  # config.yaml written, nothing logged yet: starts from update 0
    assert curve(tmp_path) == curve(straight)
    (tmp_path / "last.pt").unlink()  # but a run with logged updates and no checkpoint is not silently restarted
    with pytest.raises(CheckpointError, match="no checkpoint"):
        resume(tmp_path)


def test_the_metrics_rewrite_on_resume_is_atomic(tmp_path, monkeypatch):
    stopped_run(tmp_path, monkeypatch, updates=3)  # checkpoint_every=1: last.pt at update 3
    text = (tmp_path / "metrics.jsonl").read_bytes()
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith("metrics.jsonl"):
            raise OSError(28, "No space left on device", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        resume(tmp_path)
    assert (tmp_path / "metrics.jsonl").read_bytes() == text
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_read_metrics_refuses_damage_before_the_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"update": 1}\nnot json\n{"update": 3}\n')
    with pytest.raises(RunFolderError, match="line 2 is not a JSON object"):
        read_metrics(path)
    path.write_text('{"update": 1}\n{"upd')
    warnings = []
    assert read_metrics(path, warnings.append) == [{"update": 1}] and len(warnings) == 1


# ---- 6. TensorBoard across a resume -------------------------------------------------------------------------


def test_tensorboard_keeps_every_point_across_a_resume(straight, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def points(run_dir):
        acc = EventAccumulator(str(run_dir / "tb"))
        acc.Reload()
        return {tag: [(e.step, round(e.value, 5)) for e in acc.Scalars(tag)]
                for tag in ("train/return", "losses/value_loss", "eval/return")}

    # A crash while saving last.pt at update 4: TensorBoard holds updates 1-4, last.pt is at update 2.
    real_save = Workspace.save

    def crash_at_update_4(self, name):
        if name == "last.pt" and self.counters["update"] == 4:
            raise KeyboardInterrupt
        real_save(self, name)

    monkeypatch.setattr(Workspace, "save", crash_at_update_4)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(extra=[STEPS, "run.checkpoint_every=2"]), tmp_path)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "last.pt")["counters"]["update"] == 2 and len(curve(tmp_path)) == 4
    resume(tmp_path)
    assert points(tmp_path) == points(straight)


# ---- 7. the run's record; nothing created by a failed or mistyped command ------------------------------------


def test_failed_commands_leave_no_trace(straight, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(straight, run)
    (run / ".hydra").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text("- env.pulls=10\n")  # as a new run's command writes them
    (run / "train.log").write_text("")
    record = {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()}
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    one_line_error(program(f"resume={run}", "algo.lr=0.5"), "a resume may change only run.* and device")
    assert {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()} == record
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files
    # A mistyped resume path is refused before Hydra creates anything; a failed new run leaves no folders.
    one_line_error(program(f"resume={tmp_path / 'typo' / 'run'}"), "is not a run folder")
    one_line_error(program("algo.clip_coef=-1", cwd=tmp_path), "algo.clip_coef=-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ---- 8. one-line errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args,needle", [
    (["+foo=1"], "unknown train option(s) ['foo']"),
    (["seed=-1"], "seed=-1 is invalid: expected an integer >= 0"),
    (["init_from=runs/no-such-run"], "init_from='runs/no-such-run' is neither a checkpoint file nor a run folder"),
    (["algo.lr=1e8", "run.total_env_steps=400", *CLI_TINY], "training diverged"),
])
def test_train_errors_are_one_line(tmp_path, args, needle):
    one_line_error(program(*args, f"hydra.run.dir={tmp_path / 'run'}"), needle)


def test_evaluate_refuses_an_unwritable_output_folder_before_any_work(straight, tmp_path, monkeypatch):
    cli_module = sys.modules["snail.evaluation.cli"]  # the package exports the function `cli` under this name
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == straight else real_access(path, mode))
    monkeypatch.setattr(cli_module, "score_rows", lambda *a, **k: pytest.fail("evaluated before the check"))
    with pytest.raises(SystemExit) as exit_:
        cli(OmegaConf.create({"run": str(straight), "baseline": "none", "trials": 4}))
    assert "cannot write the evaluation report" in str(exit_.value.code) and "out_dir=" in str(exit_.value.code)


# ---- 9. a run stopped by a signal is told apart -------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_with_exit_128_plus_its_number_and_the_resume_command(tmp_path, signum):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *CLI_TINY, "run.total_env_steps=10000000",
                             f"hydra.run.dir={tmp_path}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + SUBPROCESS_TIMEOUT_S
    while not read_metrics(tmp_path / "metrics.jsonl") and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, f"the run ended before its first update was logged: {proc.communicate()[1]}"
    if not read_metrics(tmp_path / "metrics.jsonl"):
        proc.kill()
        pytest.fail(f"no update logged within {SUBPROCESS_TIMEOUT_S} s: {proc.communicate()[1]}")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT_S)
    assert proc.returncode == 128 + signum, err
    assert f"stopped by {signal.Signals(signum).name}" in err and f"resume={tmp_path}" in err and "done:" not in out
    assert load_checkpoint(tmp_path / "last.pt")["counters"]["update"] == len(curve(tmp_path))


# ---- 10. a received config is never resolved ----------------------------------------------------------------


def test_interpolations_in_a_saved_config_are_refused_not_resolved(straight, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("SNAIL_TEST_SECRET", "hunter2")
    run = tmp_path / "received"
    shutil.copytree(straight, run)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(
        "device: auto", "device: ${oc.env:SNAIL_TEST_SECRET}"))
    with pytest.raises(ConfigError, match=r"device='\$\{oc.env:SNAIL_TEST_SECRET\}' is an interpolation"):
        load_saved_config(run / "config.yaml")
    with pytest.raises(EvaluationError, match="is an interpolation"):
        load_run(run)
    proc = program(f"resume={run}", "run.total_env_steps=400")
    one_line_error(proc, "is an interpolation")
    assert not any(b"hunter2" in p.read_bytes() for p in run.rglob("*") if p.is_file())


# ---- full and read-only disks -------------------------------------------------------------------------------


def test_a_resume_of_a_read_only_folder_is_refused_before_hydra_writes_there(straight, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == straight else real_access(path, mode))
    with pytest.raises(RunFolderError, match="is not writable"):
        commands.run_dir_of(str(straight), "runs/fresh")
    monkeypatch.undo()
    assert commands.run_dir_of(str(straight), "runs/fresh") == str(straight)


def test_tensorboard_writer_thread_errors_surface_once_in_the_main_thread(capsys):
    import threading

    class _AsyncWriterThread(threading.Thread):  # named as tensorboard's writer thread
        def run(self):
            raise OSError(28, "No space left on device")

    with train_module.writer_errors_raised_in_main():
        thread = _AsyncWriterThread()
        thread.start()
        thread.join()
    assert "Traceback" not in capsys.readouterr().err


def test_a_full_disk_while_saving_a_checkpoint_is_an_oserror_and_keeps_the_old_file(tmp_path, monkeypatch):
    """torch.save reports a failed write as a RuntimeError ("unexpected pos"): the OSError is raised instead."""
    import snail.rundir

    save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.ones(3)}, "optimizer": {}})
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, file):
            self.file, self.written = file, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 200:
                raise OSError(28, "No space left on device")
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(snail.rundir.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.zeros(1000)}, "optimizer": {}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(tmp_path / "last.pt")["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
