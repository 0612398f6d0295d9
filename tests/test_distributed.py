"""Several processes, one run (DistributedDataParallel through torchrun), tested on CPU with the gloo backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from snail.agent import build_agent
from snail.checkpoint import load_checkpoint
from snail.ppo import PPOConfig, ppo_update
from snail.rollout import TrialBatch

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"name": "snail", "preset": None, "embed_dim": 8, "policy_blocks": [["tc", 4], ["attn", 4, 4]],
         "value_blocks": [["tc", 3]]}
N, T, A = 8, 6, 3  # trials in the whole batch, steps, actions


def fixed_batch() -> TrialBatch:
    g = torch.Generator().manual_seed(0)
    actions = torch.randint(0, A, (N, T), generator=g)
    rewards = torch.rand(N, T, generator=g)
    return TrialBatch(obs=torch.zeros(N, T, 1), prev_action=torch.cat([torch.full((N, 1), -1), actions[:, :-1]], 1),
                      prev_reward=torch.cat([torch.zeros(N, 1), rewards[:, :-1]], 1), actions=actions,
                      logprobs=torch.full((N, T), -1.1), values=torch.rand(N, T, generator=g), rewards=rewards,
                      mask=torch.ones(N, T, dtype=torch.bool))


class GradientRecorder:
    """Stands in for the optimizer: keeps the gradients PPO would step with."""

    def __init__(self, params):
        self.params, self.grads = list(params), None

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.grads = [p.grad.detach().clone() for p in self.params]


CFG = PPOConfig(num_envs=N, minibatch_trials=N, epochs=1, norm_adv=False, max_grad_norm=1e9)


def first_update_gradient(agent, batch, cfg) -> list[torch.Tensor]:
    recorder = GradientRecorder(getattr(agent, "module", agent).parameters())
    ppo_update(agent, recorder, batch, cfg, generator=torch.Generator().manual_seed(1))
    return recorder.grads


def _rank(rank: int, world: int, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    agent = build_agent(MODEL, obs_dim=1, num_actions=A, max_len=T)
    ddp = torch.nn.parallel.DistributedDataParallel(agent)
    half = TrialBatch(**{k: v[rank * N // world:(rank + 1) * N // world] for k, v in vars(fixed_batch()).items()})
    cfg = PPOConfig(num_envs=N // world, minibatch_trials=N // world, epochs=1, norm_adv=False, max_grad_norm=1e9)
    grads = first_update_gradient(ddp, half, cfg)
    if rank == 0:
        torch.save(grads, out_file)
    # As snail.distributed does: no rank tears the group down while another's gloo work may be in flight (without
    # it, 1 run in ~15 here ended with a rank killed by SIGABRT, "terminate called without an active exception").
    dist.barrier()
    dist.destroy_process_group()


def test_the_all_reduced_gradient_equals_one_process_over_the_same_trials(tmp_path):
    """Two ranks, each with half the trials: DDP's averaged gradient is the one process's over all of them."""
    torch.manual_seed(0)
    single = first_update_gradient(build_agent(MODEL, obs_dim=1, num_actions=A, max_len=T), fixed_batch(), CFG)
    mp.spawn(_rank, args=(2, str(tmp_path / "init"), str(tmp_path / "grads.pt")), nprocs=2, join=True)
    ranked = torch.load(tmp_path / "grads.pt", weights_only=True)
    assert len(ranked) == len(single)
    for a, b in zip(ranked, single, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def torchrun(*args, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                           str(ROOT / "train.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.mark.slow
def test_torchrun_two_processes_train_checkpoint_and_resume(tmp_path):
    tiny = ["env.pulls=10", "algo.num_envs=4", "algo.minibatch_trials=2", "run.eval_every=2", "run.progress=false",
            "run.torch_threads=1"]
    first = torchrun(*tiny, "run.total_env_steps=160", f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("done: 160 env steps") == 1  # rank 0 alone speaks
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["counters"]["env_steps"] == 160 and len(ckpt["rank_generators"]) == 2  # 2 ranks x 4 trials x 10
    second = torchrun(f"resume={tmp_path}", "run.total_env_steps=320")
    assert second.returncode == 0, second.stderr[-3000:]
    assert load_checkpoint(tmp_path / "last.pt")["counters"]["env_steps"] == 320
    alone = subprocess.run([sys.executable, "train.py", f"resume={tmp_path}", "run.total_env_steps=480"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert alone.returncode != 0 and "trained by 2 process(es) and is resumed by 1" in alone.stderr
