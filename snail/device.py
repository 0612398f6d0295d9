"""Picking the torch device a run or an evaluation uses, and whether it computes bf16 natively."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from snail.config import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` (CUDA when torch sees a GPU, else CPU), `cpu`, `cuda` or `cuda:N`; a ConfigError (a ValueError)
    names what is allowed, or says that no GPU is there."""
    allowed = ("auto", "cpu", "cuda")
    if name not in allowed and not str(name).startswith("cuda:"):
        raise ConfigError(f"device={name!r} is invalid: expected one of {allowed} (or 'cuda:N')")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} was asked for, but torch sees no CUDA device (use cpu or auto)")
    return torch.device(name)


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 matmuls in hardware: a CUDA GPU with bf16 support (Ampere and later), or
    a CPU with AVX512-BF16 or AMX-BF16. Elsewhere (e.g. AVX2-only CPUs) torch emulates bf16, and a bf16 matmul
    runs ~150x slower than fp32 (0.8 against 127 GFLOP/s, measured on one of this project's machines)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `precision` (auto | fp32 | bf16) on `device`: None for fp32.

    auto is fp32 everywhere, as measured (BENCHMARKS.md, "GPU and scaling"): on this project's AMX CPU the
    default bandit update ran 0.81x in bf16 (SNAIL); on an H100 at the gpu_bandit preset's minibatches (512
    trials) the update was no faster in bf16 (SNAIL 0.33 s fp32 against 0.38 s bf16, Transformer 0.37 / 0.38),
    only at 2,048-trial minibatches (H200) was it 1.65x faster; and the small maze's bf16 update went
    non-finite on an H100 (every minibatch) where fp32 trains. Ask for bf16 explicitly for large minibatches. bf16
    asked for on hardware without it is refused, as it would crawl."""
    if precision in ("fp32", "auto"):
        return None
    if not native_bf16(device):
        raise ConfigError(f"algo.precision={precision!r} is invalid on this {device.type} device: it has no native "
                          "bf16 (no AVX512-BF16/AMX on this CPU), where bf16 runs ~150x slower; use auto or fp32")
    return torch.bfloat16
