"""Speed of the models on CPU: cached inference, and the training pass of the bandit preset.

    python benchmarks/inference.py [--threads 2] [--repeat 5] [--skip-variants]

1. Rollout inference, batch 64, trials of T = 100 and 500 steps, SNAIL (bandit preset, max_len T) and the
   Transformer (defaults): the time of one cached `step` at t = 10 and at t = T - 1, against recomputing
   `forward` on the whole prefix to get the same step's output. Goals: cached >= 50x faster than recompute at
   T = 500; SNAIL's step at t = 500 within 3x of its step at t = 10.
2. One training pass (forward + backward over [256, 100] trials, bandit preset) in achieved GFLOP/s, next to
   this machine's own fp32 (and bf16) matrix-multiply GFLOP/s measured in the same run. FLOPs are counted
   by torch.utils.flop_counter.FlopCounterMode on the plain-autograd path (the same arithmetic).
3. Ways to write the dilated causal convolution (conv1d, Linear on cat(x_t, x_{t-d}), one matmul + shift,
   the fused dense stack) and bf16 autocast, each timed on the same training pass; bf16's error is printed.

The machine is shared and noisy: every figure is the minimum over `--repeat` runs, variants are interleaved,
and ratios measured in the same run mean more than absolute times.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from snail.agent import build_agent
from snail.blocks import CausalConv, TCBlock, shift_in_time
from snail.device import native_bf16


def best_time(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def inputs(batch: int, steps: int, num_actions: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.zeros(batch, steps, 1)
    prev_action = torch.randint(0, num_actions, (batch, steps), generator=g)
    prev_action[:, 0] = -1
    prev_reward = (torch.rand(batch, steps, generator=g) < 0.5).float()
    prev_reward[:, 0] = 0.0
    return obs, prev_action, prev_reward


# ------------------------------------------------------------------------------------ 1. cached inference


@torch.no_grad()
def inference_times(model_cfg: dict, T: int, batch: int, repeat: int) -> dict[str, float]:
    torch.manual_seed(0)
    agent = build_agent(model_cfg, obs_dim=1, num_actions=5, max_len=T).eval()
    obs, prev_action, prev_reward = inputs(batch, T)
    state = agent.initial_state(batch)
    reset = torch.ones(batch, dtype=torch.bool)
    result = {}
    for t in range(T):
        if t in (10, T - 1):
            # time the step at t again and again: from the same state (its time index and tick), each call
            # re-writes the same cache slots

            def one_step(t=t, state=state):
                agent.step(obs[:, t], prev_action[:, t], prev_reward[:, t], state, reset & (t == 0))

            result[f"step@{t}"] = best_time(one_step, repeat=max(repeat, 20), warmup=3)
            prefix = (obs[:, : t + 1], prev_action[:, : t + 1], prev_reward[:, : t + 1])
            result[f"recompute@{t}"] = best_time(lambda prefix=prefix: agent(*prefix), repeat=repeat)
        _, _, state = agent.step(obs[:, t], prev_action[:, t], prev_reward[:, t], state, reset & (t == 0))
    return result


def report_inference(repeat: int) -> None:
    print("1. per-step inference time, batch 64 (ms): cached `step` vs `forward` on the whole prefix")
    print(f"{'model':<12} {'T':>4} {'step t=10':>10} {'step t=T':>9} {'recompute t=10':>15} "
          f"{'recompute t=T':>14} {'speedup t=T':>12} {'step T/10':>10}")
    for name, cfg in (("snail", {"name": "snail", "preset": "bandit"}), ("transformer", {"name": "transformer"})):
        for T in (100, 500):
            r = inference_times(cfg, T, batch=64, repeat=repeat)
            s10, sT, r10, rT = (1e3 * r[k] for k in ("step@10", f"step@{T - 1}", "recompute@10", f"recompute@{T - 1}"))
            print(f"{name:<12} {T:>4} {s10:>10.2f} {sT:>9.2f} {r10:>15.2f} {rT:>14.2f} {rT / sT:>11.0f}x "
                  f"{sT / s10:>9.2f}x")


# ------------------------------------------------------------------------------------- 2. training pass


def training_pass(agent, batch, autocast: bool = False) -> None:
    obs, prev_action, prev_reward = batch
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits, values = agent(obs, prev_action, prev_reward)
    loss = logits.float().log_softmax(-1)[..., 0].mean() + values.float().square().mean()
    loss.backward()


def matmul_gflops(dtype: torch.dtype, repeat: int) -> float:
    n = 2048
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / best_time(lambda: a @ b, repeat) / 1e9


@contextmanager
def patched(cls, name: str, fn):
    old = getattr(cls, name)
    setattr(cls, name, fn)
    try:
        yield
    finally:
        setattr(cls, name, old)


def training_flops(agent, batch) -> int:
    with patched(TCBlock, "forward", TCBlock.forward_reference), FlopCounterMode(display=False) as counter:
        training_pass(agent, batch)
    agent.zero_grad(set_to_none=True)
    return counter.get_total_flops()


# Alternative ways to write the causal convolution (same parameters, same result), for comparison.
def conv_conv1d(self: CausalConv, x):  # [B, T, C] -> transposes -> conv1d -> [B, T, out]
    w_now, w_past = self.weight.split(self.out_ch)
    weight = torch.stack([w_past, w_now], dim=-1)  # [out, in, 2]: taps at t - d and t
    y = F.conv1d(F.pad(x.transpose(1, 2), (self.dilation, 0)), weight, self.bias, dilation=self.dilation)
    return y.transpose(1, 2)


def conv_linear_cat(self: CausalConv, x):  # Linear(cat(x_t, x_{t-d}))
    w_now, w_past = self.weight.split(self.out_ch)
    return F.linear(torch.cat([x, shift_in_time(x, self.dilation)], dim=-1), torch.cat([w_now, w_past], 1),
                    self.bias)


VARIANTS = {
    "conv1d [B,C,T] with transposes": (conv_conv1d, False, False),
    "Linear(cat(x_t, x_t-d))": (conv_linear_cat, False, False),
    "one matmul + shift (autograd)": (CausalConv.forward, False, False),
    "fused dense stack (default)": (CausalConv.forward, True, False),
    "fused dense stack, bf16 autocast": (CausalConv.forward, True, True),
}


def report_training(repeat: int, variants: bool) -> None:
    torch.manual_seed(0)
    agent = build_agent({"name": "snail", "preset": "bandit"}, obs_dim=1, num_actions=5, max_len=100)
    batch = inputs(256, 100)
    flops = training_flops(agent, batch)
    names = list(VARIANTS) if variants else ["fused dense stack (default)", "fused dense stack, bf16 autocast"]
    bf16 = native_bf16(torch.device("cpu"))
    if not bf16:  # emulated bf16 runs ~150x slower: this section would take hours
        print("\n   skipping the bf16 variants: this CPU has no native bf16 (no AVX512-BF16 / AMX-BF16)")
        names = [name for name in names if not VARIANTS[name][2]]
    times = {name: [] for name in names}
    mm32, mm16 = [], [float("nan")]
    for _ in range(repeat):  # interleaved, so that the load of the shared machine hits all alike
        mm32.append(matmul_gflops(torch.float32, 3))
        if bf16:
            mm16.append(matmul_gflops(torch.bfloat16, 3))
        for name in names:
            conv, fused, autocast = VARIANTS[name]
            with patched(CausalConv, "forward", conv):
                with patched(TCBlock, "forward", TCBlock.forward if fused else TCBlock.forward_reference):
                    times[name].append(best_time(lambda a=autocast: training_pass(agent, batch, a), 1, warmup=1))
            agent.zero_grad(set_to_none=True)
    peak32, peak16 = max(mm32), max(mm16)
    print(f"\n2. training pass, forward + backward over [256, 100] trials, bandit preset "
          f"({agent.num_params():,} parameters, {flops / 1e9:.1f} GFLOP)")
    print(f"   this machine's matmul (2048^2): fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s "
          f"(best of {repeat}; median fp32 {statistics.median(mm32):.0f})")
    default = min(times["fused dense stack (default)"])
    print(f"{'variant':<36} {'time s':>8} {'median s':>9} {'GFLOP/s':>8} {'of fp32 mm':>11} {'vs default':>11}")
    for name in names:
        t = min(times[name])
        print(f"{name:<36} {t:>8.3f} {statistics.median(times[name]):>9.3f} {flops / t / 1e9:>8.0f} "
              f"{flops / t / 1e9 / peak32:>10.2f}x {default / t:>10.2f}x")
    if bf16:
        print("   bf16 autocast error on this batch:", bf16_error(agent, batch))


def bf16_error(agent, batch) -> str:
    """bf16 autocast against float32 on `batch`, with the policy head rescaled to O(1) logits (a trained
    policy's; the initial head's gain of 0.01 would hide the error)."""
    agent = copy.deepcopy(agent)
    nn.init.normal_(agent.policy_head.weight, std=agent.policy_head.in_features ** -0.5)
    outputs = []
    for autocast in (False, True):
        agent.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits, values = agent(*batch)
        logprobs = logits.float().log_softmax(-1)
        (logprobs[..., 0].mean() + values.float().square().mean()).backward()
        grads = torch.cat([p.grad.flatten() for p in agent.parameters()])
        outputs.append((logprobs.detach(), values.detach().float(), grads))
    (lp32, v32, g32), (lp16, v16, g16) = outputs
    agent.zero_grad(set_to_none=True)
    return (f"max |d log pi| {(lp16 - lp32).abs().max():.1e}, max |d value| {(v16 - v32).abs().max():.1e}, "
            f"|d grad| / |grad| {(g16 - g32).norm() / g32.norm():.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-variants", action="store_true", help="time only the default and bf16")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}\n")
    if not args.skip_inference:
        report_inference(args.repeat)
    if not args.skip_training:
        report_training(args.repeat, variants=not args.skip_variants)


if __name__ == "__main__":
    main()
