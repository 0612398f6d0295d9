"""Where a bf16 PPO update first goes non-finite (seen: the small maze SNAIL on an H100, every minibatch).

    python benchmarks/bf16_nonfinite.py [--device cuda] [hydra overrides, default env=maze]

Runs one training update with algo.precision=bf16 under each scaled-dot-product-attention backend, with a forward
hook on every module (the first module whose output is non-finite) and autograd's anomaly mode (the first
backward function that returns a non-finite gradient), and prints which ones."""

from __future__ import annotations

import argparse
import tempfile

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from snail.config.schemas import compose_config
from snail.train import Workspace


def one_update(overrides: list[str], backends) -> str:
    cfg = compose_config("config", [*overrides, "algo.precision=bf16"])
    first_bad: list[str] = []

    def hook(name):
        def check(_module, _inputs, output):
            outs = output if isinstance(output, tuple) else (output,)
            for out in outs:
                if isinstance(out, torch.Tensor) and out.is_floating_point() and not first_bad \
                        and torch.is_grad_enabled() and not torch.isfinite(out).all():
                    first_bad.append(f"{name} ({type(_module).__name__}, {out.dtype}, shape {list(out.shape)})")
        return check

    with tempfile.TemporaryDirectory() as run_dir:
        workspace = Workspace(cfg, run_dir)
        for name, module in workspace.agent.named_modules():
            module.register_forward_hook(hook(name or "agent"))
        try:
            with sdpa_kernel(backends), torch.autograd.detect_anomaly(check_nan=True):
                workspace.update()
            result = "finite"
        except Exception as error:  # noqa: BLE001 - a diagnostic prints whatever stopped it
            result = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        workspace.close()
    return f"{result}; first non-finite forward output: {first_bad[0] if first_bad else 'none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("overrides", nargs="*", default=["env=maze", "algo.num_envs=64", "algo.minibatch_trials=16"])
    args = parser.parse_args()
    # An eager rollout: anomaly mode's checks would break a CUDA graph's capture.
    overrides = [f"device={args.device}", "run.rollout_step=eager", *args.overrides]
    every = [SDPBackend.MATH, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION]
    for label, backends in [("default backends", every), ("math", [SDPBackend.MATH]),
                            ("efficient", [SDPBackend.EFFICIENT_ATTENTION]), ("flash", [SDPBackend.FLASH_ATTENTION]),
                            ("cudnn", [SDPBackend.CUDNN_ATTENTION])]:
        print(f"{label:>16}: {one_update(overrides, backends)}", flush=True)


if __name__ == "__main__":
    main()
