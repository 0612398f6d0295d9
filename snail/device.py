"""Picking the torch device a run or an evaluation uses."""

from __future__ import annotations

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
