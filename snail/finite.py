"""The non-finite guard's pieces: its error, and one check for NaN or infinity anywhere in nested tensors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch


class NonFiniteError(RuntimeError):
    """NaN or infinity where training needs finite numbers (a loss, gradients, weights, the policy's outputs)."""


def tensors_of(tree) -> Iterable[torch.Tensor]:
    """Every floating-point tensor in nested dicts / lists (a state dict, an optimizer's state)."""
    if isinstance(tree, torch.Tensor):
        if tree.is_floating_point():
            yield tree
    elif isinstance(tree, Mapping):
        for value in tree.values():
            yield from tensors_of(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            yield from tensors_of(value)


def all_finite(tree) -> bool:
    """Whether every floating-point tensor in `tree` is finite (one device sync)."""
    flags = [torch.isfinite(t).all() for t in tensors_of(tree)]
    return bool(torch.stack(flags).all()) if flags else True
