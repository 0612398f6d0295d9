"""Training throughput of each model on the default bandit (K=5, N=100), and where the time goes.

    python benchmarks/train_speed.py [--updates 3] [--models snail transformer lstm tc_only attn_only]

One update = a rollout of `algo.num_envs` whole trials (cached `step`) + the PPO update (forward/backward
over whole trials). Prints env steps per second, the rollout/update split, and each model's throughput as a
ratio to SNAIL's and each bf16 update's to the fp32 one (algo.precision), measured in the same run (the
machine is noisy; compare ratios, not absolute numbers).
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from snail.config.schemas import compose_config
from snail.device import native_bf16
from snail.train import Workspace


def measure(model: str, updates: int, overrides: list[str]) -> dict[str, float]:
    """The training loop's own update (`Workspace.update`: rollout + PPO update) timed over `updates` updates
    after a warm-up one."""
    cfg = compose_config("config", [f"model={model}", "device=cpu", *overrides])
    with tempfile.TemporaryDirectory() as run_dir:
        workspace = Workspace(cfg, run_dir)
        rollout_s = update_s = steps = 0.0
        for i in range(updates + 1):  # the first is a warm-up
            steps_before = workspace.counters["env_steps"]
            logged = workspace.update()
            if i > 0:
                rollout_s += logged["charts/rollout_s"]
                update_s += logged["charts/update_s"]
                steps += workspace.counters["env_steps"] - steps_before
    return {"params": sum(p.numel() for p in workspace.agent.parameters()),
            "steps_per_s": steps / (rollout_s + update_s), "rollout_share": rollout_s / (rollout_s + update_s),
            "update_s": update_s / updates, "rollout_s": rollout_s / updates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["snail", "transformer", "lstm", "tc_only", "attn_only"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
                        help="PPO update precisions to time side by side (bf16 is skipped without native bf16)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. algo.num_envs=128")
    args = parser.parse_args()
    precisions = args.precisions
    if "bf16" in precisions and not native_bf16(torch.device("cpu")):
        print("skipping bf16: this CPU has no native bf16 (no AVX512-BF16 / AMX-BF16), where it would crawl")
        precisions = [p for p in precisions if p != "bf16"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; default bandit config "
          f"{' '.join(args.overrides)}")
    print(f"{'model':<12} {'precision':<9} {'params':>9} {'env steps/s':>12} {'rollout s':>10} {'update s':>9} "
          f"{'rollout %':>9} {'vs snail':>9} {'vs fp32':>8}")
    reference = None
    for model in args.models:
        fp32 = None
        for precision in precisions:
            r = measure(model, args.updates, [*args.overrides, f"algo.precision={precision}"])
            reference = reference or r["steps_per_s"]
            fp32 = fp32 or r["steps_per_s"]
            print(f"{model:<12} {precision:<9} {r['params']:>9,} {r['steps_per_s']:>12,.0f} {r['rollout_s']:>10.2f} "
                  f"{r['update_s']:>9.2f} {100 * r['rollout_share']:>8.0f}% {r['steps_per_s'] / reference:>8.2f}x "
                  f"{r['steps_per_s'] / fp32:>7.2f}x")


if __name__ == "__main__":
    main()
