import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

import snail.train as train_module
from snail.agent import build_agent
from snail.checkpoint import CheckpointError, load_checkpoint
from snail.config import schemas
from snail.train import Workspace, train

ENVS = ["bandit", "maze", "tabular_mdp"]
MODELS = ["snail", "transformer", "lstm", "tc_only", "attn_only"]

# Small enough that a run of a few updates takes a second or two.
TINY = {
    "bandit": ["env.pulls=10"],
    "maze": ["env.size=3", "env.episode_steps=12"],
    "tabular_mdp": ["env.episodes=2"],
}


def compose_config(overrides=()):
    return schemas.compose_config("config", overrides)


def tiny_config(env="bandit", model="snail", updates=2, extra=()):
    cfg = compose_config([f"env={env}", f"model={model}", *TINY[env], "algo.num_envs=4",
                          "algo.minibatch_trials=2", "algo.epochs=1", "run.eval_every=1", "run.eval_trials=4",
                          "run.checkpoint_every=1", "run.progress=false", *extra])
    # Trials are fixed-length in the bandit and the MDP, so a step budget is an update budget there.
    return cfg


def read_metrics(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_every_env_model_pair_composes_and_builds(env, model):
    cfg = compose_config([f"env={env}", f"model={model}"])
    assert cfg.env.name == env and cfg.model.name == model
    OmegaConf.to_container(cfg, resolve=True)  # no dangling interpolations
    agent = build_agent(cfg.model, obs_dim=5, num_actions=3, max_len=20)
    assert sum(p.numel() for p in agent.parameters()) > 0


@pytest.mark.parametrize("group,name", [("env", "cartpole"), ("model", "mamba"), ("algo", "sac")])
def test_unknown_group_choice_lists_what_is_allowed(group, name):
    with pytest.raises((MissingConfigException, ConfigCompositionException), match="Available options"):
        compose_config([f"{group}={name}"])


@pytest.mark.parametrize("override,needle", [
    ("algo.gamma=2", "algo.gamma=2"),
    ("+algo.lr_rate=1", "lr_rate"),
    ("run.eval_trials=0", "run.eval_trials=0"),
    ("device=tpu", "device='tpu'"),
    ("env.arms=1", "arms"),
    ("model.name=mamba", "mamba"),
])
def test_invalid_values_fail_at_start(tmp_path, override, needle):
    cfg = tiny_config(extra=[override])
    with pytest.raises(ValueError, match=needle):
        train(cfg, tmp_path)
    assert not (tmp_path / "last.pt").exists()


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("model", MODELS)
def test_smoke_run_of_every_pair(tmp_path, env, model):
    cfg = tiny_config(env, model)
    max_len = {"bandit": 10, "maze": 24, "tabular_mdp": 20}[env]
    cfg.run.total_env_steps = 2 * 4 * max_len  # two updates (mazes may end trials early: then more)
    summary = train(cfg, tmp_path)
    assert summary["updates"] >= 2
    rows = read_metrics(tmp_path)
    assert len(rows) == summary["updates"]
    assert all(torch.isfinite(torch.tensor(r["losses/policy_loss"])) for r in rows)
    assert "eval/return" in rows[-1]
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    assert OmegaConf.load(tmp_path / "config.yaml").model.name == model
    for name in ("last.pt", "best.pt"):
        ckpt = load_checkpoint(tmp_path / name)
        assert ckpt["counters"]["env_steps"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_and_evaluation_on_cuda(tmp_path):
    """device=cuda: every tensor and generator of the rollout, the update (minibatch order) and the evaluation
    lives on the GPU (a CPU-only generator call once broke here)."""
    cfg = tiny_config("maze", extra=["device=cuda"])
    cfg.run.total_env_steps = 2 * 4 * 24
    summary = train(cfg, tmp_path)
    assert summary["updates"] >= 2 and "eval/return" in read_metrics(tmp_path)[-1]
    assert load_checkpoint(tmp_path / "last.pt")["counters"]["env_steps"] == summary["env_steps"]


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = tiny_config(extra=[f"seed={seed}", "run.total_env_steps=120"])
        train(cfg, tmp_path / name)
        runs[name] = read_metrics(tmp_path / name)
    keys = ["train/return", "losses/policy_loss", "losses/value_loss", "eval/return"]
    assert [[r.get(k) for k in keys] for r in runs["a"]] == [[r.get(k) for k in keys] for r in runs["b"]]
    assert [r["losses/value_loss"] for r in runs["a"]] != [r["losses/value_loss"] for r in runs["c"]]


def test_interrupted_run_checkpoints_and_resume_continues_the_same_curve(tmp_path, monkeypatch):
    steps = "run.total_env_steps=200"  # 5 updates of 4 trials x 10 pulls
    train(tiny_config(extra=[steps]), tmp_path / "straight")

    # The same run, sent SIGTERM during its 2nd update: it finishes that update, saves, stops.
    real_update, calls = train_module.ppo_update, []

    def update_then_sigterm(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_update(*args, **kwargs)

    monkeypatch.setattr(train_module, "ppo_update", update_then_sigterm)
    summary = train(tiny_config(extra=[steps]), tmp_path / "resumed")
    monkeypatch.setattr(train_module, "ppo_update", real_update)
    assert summary["stopped_by_signal"] == signal.SIGTERM and summary["updates"] == 2
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["counters"]["env_steps"] == 80

    summary = train(OmegaConf.load(tmp_path / "resumed" / "config.yaml"), tmp_path / "resumed", resume=True)
    assert summary["updates"] == 5
    # Bit-identical (same seed, same torch_threads), timing keys aside.
    timing = ("charts/env_steps_per_s", "charts/rollout_s", "charts/update_s", "charts/wall_clock_s")
    straight, resumed = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "resumed")
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed] == [
        {k: v for k, v in r.items() if k not in timing} for r in straight]


def test_resume_of_a_folder_without_checkpoint_fails_clearly(tmp_path):
    from snail.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(tiny_config(), tmp_path, resume=True)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        train(tiny_config(), tmp_path, resume=True)


def test_init_from_starts_a_new_run_from_another_runs_weights_and_nothing_else(tmp_path):
    """A curriculum step: mazes of 3x3 cells, then 4x4 (the same observations and trial length) from the first
    run's last.pt. The second run starts with those weights, while its optimizer, counters and schedule start
    fresh; it trains, records init_from in config.yaml, and a resume of it no longer needs the source."""
    import shutil

    train(tiny_config("maze", extra=["run.total_env_steps=200"]), tmp_path / "small")
    source = load_checkpoint(tmp_path / "small" / "last.pt")
    assert source["counters"]["update"] >= 2
    bigger = ["env.size=4", "seed=5", "run.total_env_steps=100"]
    workspace = Workspace(tiny_config("maze", extra=[*bigger, f"init_from={tmp_path / 'small'}"]), tmp_path / "ws")
    workspace.claim()
    try:
        start = workspace.agent.state_dict()
        assert start.keys() == source["model"].keys()
        assert all(torch.equal(start[k], source["model"][k]) for k in start)
        assert workspace.counters["update"] == 0 and not workspace.optimizer.state
    finally:
        workspace.close()
    fresh = Workspace(tiny_config("maze", extra=bigger), tmp_path / "fresh").agent.state_dict()
    assert not all(torch.equal(fresh[k], source["model"][k]) for k in fresh)  # so the check above can fail
    # Killed before its first checkpoint (config.yaml written, nothing else), the run starts over from the source.
    cfg = tiny_config("maze", extra=[*bigger, f"init_from={tmp_path / 'small'}"])
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    workspace = Workspace(cfg, tmp_path / "killed")
    workspace.claim(resume=True)
    workspace.close()
    restarted = workspace.agent.state_dict()
    assert workspace.restarted and all(torch.equal(v, source["model"][k]) for k, v in restarted.items())

    source_pt = tmp_path / "source.pt"  # a checkpoint file works as well as a run folder
    shutil.copy(tmp_path / "small" / "best.pt", source_pt)
    summary = train(tiny_config("maze", extra=[*bigger, f"init_from={source_pt}"]), tmp_path / "big")
    assert summary["updates"] >= 1 and OmegaConf.load(tmp_path / "big" / "config.yaml").init_from == str(source_pt)
    source_pt.unlink()
    saved = OmegaConf.load(tmp_path / "big" / "config.yaml")
    saved.run.total_env_steps = 2 * summary["env_steps"]
    assert train(saved, tmp_path / "big", resume=True)["updates"] > summary["updates"]


@pytest.mark.parametrize("source,target,needle", [
    (None, [], "is neither a checkpoint file nor a run folder holding last.pt"),
    (["env=bandit", "env.pulls=10", "model=lstm"], ["env=bandit", "env.pulls=10"],
     "init_from needs the same model with the same settings"),
    (["env=bandit", "env.pulls=10", "env.arms=3"], ["env=bandit", "env.pulls=10", "env.arms=4"],
     "its agent was trained with num_actions=3, this run's env gives num_actions=4"),
    (["env=maze", "env.size=3", "env.episode_steps=12", "env.view_size=1"],
     ["env=maze", "env.size=3", "env.episode_steps=12", "env.view_size=3"],
     "its agent was trained with obs_dim=23, this run's env gives obs_dim=103"),
    (["env=maze", "env.size=3", "env.episode_steps=12"], ["env=maze", "env.size=3", "env.episode_steps=40"],
     "trials of the same length"),
])
def test_init_from_a_run_that_does_not_fit_fails_in_one_line_before_the_folder_is_used(
        tmp_path, source, target, needle):
    if source is not None:
        cfg = compose_config([*source, "algo.num_envs=4", "algo.minibatch_trials=2", "algo.epochs=1",
                              "run.eval_every=0", "run.progress=false", "run.total_env_steps=1"])
        train(cfg, tmp_path / "source")
    cfg = compose_config([*target, f"init_from={tmp_path / 'source'}", "algo.num_envs=4", "algo.minibatch_trials=2",
                          "run.progress=false"])
    with pytest.raises(CheckpointError) as err:
        train(cfg, tmp_path / "run")
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_resume_on_another_device_type_seeds_the_sampling_anew_and_says_so(tmp_path, caplog):
    """A run saved on CUDA (its generator state is 16 bytes, a CPU one's 5056) resumes on a CPU: the random
    stream cannot go on, so it is seeded from the run's seed and update, with a warning; the same resume twice
    gives the same curve."""
    import logging
    import shutil

    from snail.checkpoint import save_checkpoint

    train(tiny_config(extra=["run.total_env_steps=80"]), tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    ckpt["generator"] = torch.zeros(16, dtype=torch.uint8)  # the size of a CUDA generator's state
    save_checkpoint(tmp_path / "run" / "last.pt", {k: v for k, v in ckpt.items() if k != "format"})
    shutil.copytree(tmp_path / "run", tmp_path / "again")
    curves = []
    for name in ("run", "again"):
        cfg = OmegaConf.load(tmp_path / name / "config.yaml")
        cfg.run.total_env_steps = 200
        with caplog.at_level(logging.WARNING, logger="snail.train"):
            assert train(cfg, tmp_path / name, resume=True)["updates"] == 5
        curves.append([r["losses/policy_loss"] for r in read_metrics(tmp_path / name)])
    assert "saved on another device type" in caplog.text
    assert len(curves[0]) == 5 and curves[0] == curves[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_run_resumes_on_cuda(tmp_path):
    """The generator state comes back from the checkpoint on the run's device; set_state takes it on the CPU."""
    train(tiny_config(extra=["device=cuda", "run.total_env_steps=80"]), tmp_path)
    cfg = OmegaConf.load(tmp_path / "config.yaml")
    cfg.run.total_env_steps = 120
    assert train(cfg, tmp_path, resume=True)["updates"] == 3


@pytest.mark.slow
def test_snail_learns_a_two_armed_bandit(tmp_path):
    """Memory is needed: p ~ U[0,1] per trial, so only the history tells which arm is better.

    Random scores 10 of 20 in expectation and the oracle 13.3; a clear margin above random is the test.
    """
    cfg = compose_config(["env=bandit", "env.arms=2", "env.pulls=20", "run.total_env_steps=600000",
                          "run.eval_every=25", "run.eval_trials=1000", "run.progress=false"])
    summary = train(cfg, tmp_path)
    final_eval = [r for r in read_metrics(tmp_path) if "eval/return" in r][-1]["eval/return"]
    assert final_eval > 11.8, summary


def test_command_line_run_then_resume_extends_it(tmp_path):
    """`python train.py ...` then `python train.py resume=<dir> run.total_env_steps=...` (the entry point)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    tiny = ["env.pulls=10", "algo.num_envs=4", "algo.minibatch_trials=2", "run.progress=false", "run.torch_threads=1"]
    first = subprocess.run([sys.executable, "train.py", *tiny, "run.total_env_steps=80", f"hydra.run.dir={tmp_path}"],
                           cwd=root, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert len(read_metrics(tmp_path)) == 2
    second = subprocess.run([sys.executable, "train.py", f"resume={tmp_path}", "run.total_env_steps=160"],
                            cwd=root, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert [r["env_steps"] for r in read_metrics(tmp_path)] == [40, 80, 120, 160]
    missing = subprocess.run([sys.executable, "train.py", f"resume={tmp_path / 'nope'}"], cwd=root,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "is not a run folder" in missing.stderr


def test_command_line_run_with_a_bad_value_fails_and_leaves_no_folder(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    run_dir = tmp_path / "run"
    bad = subprocess.run([sys.executable, "train.py", "algo.clip_coef=-1", f"hydra.run.dir={run_dir}"],
                         cwd=root, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "algo.clip_coef=-1" in bad.stderr, bad.stderr
    assert not run_dir.exists()
    # A folder that holds anything else is never removed.
    (tmp_path / "keep.txt").write_text("mine")
    bad = subprocess.run([sys.executable, "train.py", "algo.clip_coef=-1", f"hydra.run.dir={tmp_path}"],
                         cwd=root, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and (tmp_path / "keep.txt").read_text() == "mine"


def test_a_time_limited_run_decays_its_learning_rate_and_stops_on_time(tmp_path):
    """run.max_minutes ends the run: the learning-rate schedule and the progress follow the clock then."""
    cfg = tiny_config(extra=["run.total_env_steps=100000000", "run.max_minutes=0.05", "run.eval_every=0"])
    summary = train(cfg, tmp_path)
    rates = [r["charts/learning_rate"] for r in read_metrics(tmp_path)]
    assert summary["wall_clock_s"] < 0.05 * 60 + 5  # stopped on time, far from its step limit
    assert rates[0] > 0.9 * cfg.algo.lr and rates[-1] < 0.5 * cfg.algo.lr  # decayed by the clock
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_a_run_its_clock_ended_during_an_evaluation_says_so_in_last_pt(tmp_path, monkeypatch):
    """The last evaluation's time counts: last.pt of a run that run.max_minutes stopped holds a clock at its
    limit, and the report counts it finished (the counter once stopped at the update before the evaluation)."""
    import time

    from snail import report

    evaluate = train_module.Workspace.evaluate

    def slow_evaluate(self):
        time.sleep(2.5)  # past the 1.8 s limit below: the clock runs out here, after the first update
        return evaluate(self)

    monkeypatch.setattr(train_module.Workspace, "evaluate", slow_evaluate)
    cfg = tiny_config(extra=["run.total_env_steps=100000000", "run.max_minutes=0.03"])
    summary = train(cfg, tmp_path)
    counters = load_checkpoint(tmp_path / "last.pt")["counters"]
    assert counters["update"] == 1 and counters["wall_clock_s"] >= 0.03 * 60
    assert summary["wall_clock_s"] == counters["wall_clock_s"]
    [run] = report.load_runs([tmp_path], "last")
    assert report._finished(run) is True


def test_a_run_that_never_evaluated_reports_none_yet(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    tiny = ["env.pulls=10", "algo.num_envs=4", "algo.minibatch_trials=2", "run.progress=false", "run.eval_every=0",
            "run.total_env_steps=40", f"hydra.run.dir={tmp_path}"]
    done = subprocess.run([sys.executable, "train.py", *tiny], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "best eval return none yet" in done.stdout and "inf" not in done.stdout


def test_the_run_log_tells_its_story_and_wandb_syncs_tensorboard(tmp_path, monkeypatch, caplog):
    """train.log (Hydra's file handler on the logging records) gets the start, progress and end; with
    logger.wandb=true wandb is initialised to sync the TensorBoard scalars, and finished at the end."""
    import logging
    import sys
    import types

    calls = []
    fake = types.SimpleNamespace(init=lambda **kw: calls.append(("init", kw)), finish=lambda: calls.append(("finish",)))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with caplog.at_level(logging.INFO, logger="snail.train"):
        train(tiny_config(extra=["logger.wandb=true", "logger.project=demo", "run.total_env_steps=80"]), tmp_path)
    text = caplog.text
    for told in (f"run {tmp_path}", "update 2", "eval return", "stopped by its budget"):
        assert told in text, told
    assert [c[0] for c in calls] == ["init", "finish"]
    assert calls[0][1]["sync_tensorboard"] is True and calls[0][1]["project"] == "demo"
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed: refused before any work, naming the key
    with pytest.raises(ValueError, match="logger.wandb=true needs the wandb package"):
        train(tiny_config(extra=["logger.wandb=true"]), tmp_path / "other")
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_update_trains_in_either_precision(tmp_path, precision):
    """algo.precision switches the PPO update's forward/backward between fp32 and bf16 autocast; both train
    (finite losses, moving weights). bf16 only where the CPU has it natively."""
    from snail.device import native_bf16

    if precision == "bf16" and not native_bf16(torch.device("cpu")):
        pytest.skip("this CPU has no native bf16")
    train(tiny_config(extra=[f"algo.precision={precision}", "run.total_env_steps=80"]), tmp_path)
    rows = read_metrics(tmp_path)
    assert len(rows) == 2 and all(math.isfinite(r["losses/policy_loss"]) for r in rows)
    saved = load_checkpoint(tmp_path / "last.pt")["model"]
    torch.manual_seed(0)
    fresh = build_agent(OmegaConf.to_container(tiny_config().model), obs_dim=1, num_actions=5, max_len=10)
    assert any(not torch.equal(saved[k], v) for k, v in fresh.state_dict().items())


def test_auto_precision_follows_the_hardware_and_bf16_is_refused_without_it(monkeypatch):
    from snail import device

    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "native_bf16", lambda d: False)  # an AVX2-only CPU
    assert device.autocast_dtype("auto", cpu) is None and device.autocast_dtype("fp32", cpu) is None
    with pytest.raises(ValueError, match="algo.precision='bf16' is invalid on this cpu device"):
        device.autocast_dtype("bf16", cpu)
    monkeypatch.setattr(device, "native_bf16", lambda d: True)  # AVX512-BF16 / AMX, or a recent GPU
    assert device.autocast_dtype("bf16", cpu) is torch.bfloat16 and device.autocast_dtype("fp32", cpu) is None
    # auto is fp32: measured no faster (CPU, and a GPU at the presets' minibatches), non-finite on a GPU maze
    assert device.autocast_dtype("auto", cpu) is None and device.autocast_dtype("auto", torch.device("cuda")) is None
