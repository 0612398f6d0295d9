"""Training throughput per model, device, rollout step mode and update precision, and where the time goes.

    python benchmarks/train_speed.py [--updates 3] [--models snail transformer lstm tc_only attn_only]
        [--devices cpu cuda] [--step-modes eager compile graph] [--precisions fp32 bf16] [--json out.json]
        [hydra overrides, e.g. env=maze algo.num_envs=4096]

One update = a rollout of `algo.num_envs` whole trials (the cached step, run by `run.rollout_step`) + the PPO
update (forward/backward over whole trials, `algo.precision`), timed by the training loop's own
`Workspace.update` after a warm-up update (which also compiles or captures the step). For each device and model
it prints env steps/s, the rollout/update split, and ratios measured in the same run (the machines are noisy:
compare ratios, not absolute numbers): each row against the first model's first row on that device, each step
mode against the first one timed (eager by default), each other precision against the first (fp32 by
default). Devices or modes that do not apply are skipped with a message (cuda without a GPU, graph off CUDA,
bf16 without native bf16: on an AVX2-only CPU a bf16 matmul crawls).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from snail.config.schemas import compose_config
from snail.device import native_bf16
from snail.finite import NonFiniteError
from snail.train import Workspace


def measure(model: str, device: str, step_mode: str, precision: str, updates: int,
            overrides: list[str]) -> dict[str, float]:
    """The training loop's own update (`Workspace.update`: rollout + PPO update) timed over `updates` updates
    after a warm-up one."""
    cfg = compose_config("config", [f"model={model}", f"device={device}", f"run.rollout_step={step_mode}",
                                    f"algo.precision={precision}", *overrides])
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
        workspace.close()
    return {"params": sum(p.numel() for p in workspace.agent.parameters()),
            "steps_per_s": steps / (rollout_s + update_s), "rollout_share": rollout_s / (rollout_s + update_s),
            "update_s": update_s / updates, "rollout_s": rollout_s / updates}


def configurations(devices, step_modes, precisions):
    """(device, step_mode, precision) to time, and a message for each one skipped."""
    runs, skipped = [], []
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            skipped.append("cuda: torch sees no GPU")
            continue
        dev = torch.device(device)
        modes = [m for m in step_modes if m != "graph" or dev.type == "cuda"]
        if len(modes) < len(step_modes):
            skipped.append(f"{device}: step mode graph (CUDA graphs need a GPU)")
        precs = [p for p in precisions if p != "bf16" or native_bf16(dev)]
        if len(precs) < len(precisions):
            skipped.append(f"{device}: bf16 (no native bf16 here: no AVX512-BF16 / AMX-BF16, where it crawls)")
        if not modes or not precs:
            skipped.append(f"{device}: no step mode or precision left to time")
            continue
        # Step modes with the first precision, then each other precision with the first step mode.
        runs += [(device, mode, precs[0]) for mode in modes] + [(device, modes[0], p) for p in precs[1:]]
    return runs, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["snail", "transformer", "lstm", "tc_only", "attn_only"])
    parser.add_argument("--devices", nargs="+", default=["cpu"], choices=["cpu", "cuda"])
    parser.add_argument("--step-modes", nargs="+", default=["eager"], choices=["eager", "compile", "graph"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--json", type=Path, help="also write every row here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. algo.num_envs=128")
    args = parser.parse_args()
    runs, skipped = configurations(args.devices, args.step_modes, args.precisions)
    for message in skipped:
        print(f"skipping {message}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
          + f"; config: {' '.join(args.overrides) or 'default bandit'}")
    print(f"{'device':<6} {'model':<12} {'step':<8} {'update':<6} {'params':>9} {'env steps/s':>12} "
          f"{'rollout s':>10} {'update s':>9} {'rollout %':>9} {'vs first':>9} {'vs eager':>9} {'vs fp32':>8}")
    rows = []
    for device in args.devices:
        first = None
        for model in args.models:
            eager = fp32 = None
            for dev, mode, precision in runs:
                if dev != device:
                    continue
                try:
                    r = measure(model, device, mode, precision, args.updates, args.overrides)
                except NonFiniteError as error:  # e.g. a bf16 update that breaks: say so, time the rest
                    print(f"{device:<6} {model:<12} {mode:<8} {precision:<6} {error}", flush=True)
                    rows.append(dict(device=device, model=model, step_mode=mode, precision=precision,
                                     error=str(error)))
                    continue
                first = first or r["steps_per_s"]
                eager = eager or r["steps_per_s"]
                fp32 = fp32 or r["steps_per_s"]
                r.update(device=device, model=model, step_mode=mode, precision=precision,
                         vs_first=r["steps_per_s"] / first,
                         vs_eager=r["steps_per_s"] / eager if precision == "fp32" else None,
                         vs_fp32=r["steps_per_s"] / fp32 if precision != "fp32" else None)
                rows.append(r)
                ratio = lambda x: f"{x:.2f}x" if x is not None else "-"  # noqa: E731
                print(f"{device:<6} {model:<12} {mode:<8} {precision:<6} {r['params']:>9,} "
                      f"{r['steps_per_s']:>12,.0f} {r['rollout_s']:>10.2f} {r['update_s']:>9.2f} "
                      f"{100 * r['rollout_share']:>8.0f}% {ratio(r['vs_first']):>9} {ratio(r['vs_eager']):>9} "
                      f"{ratio(r['vs_fp32']):>8}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"torch": torch.__version__, "overrides": args.overrides,
                                         "skipped": skipped, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
