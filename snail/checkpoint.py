"""Checkpoints: written atomically, never with non-finite numbers, loaded with `weights_only=True`, with errors
that say what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from snail.finite import NonFiniteError, all_finite
from snail.rundir import atomic_write

FORMAT = "snail-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, not one of ours, or that does not fit the model."""


class _KeepWriteError:
    """A binary file for torch.save that keeps the OSError of a failed write: torch's zip writer reports a full
    disk as a RuntimeError ("unexpected pos ..."), and the OSError is what says what happened."""

    def __init__(self, file):
        self.file, self.error = file, None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.file.flush()


def _torch_save(obj, file) -> None:
    out = _KeepWriteError(file)
    try:
        torch.save(obj, out)
    except RuntimeError:
        if out.error is not None:
            raise out.error from None
        raise


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write `payload` to `path` through a temporary file and a rename, so a crash never leaves half a file; a
    payload holding NaN or infinity is refused (NonFiniteError) and the file keeps its last good content."""
    path = Path(path)
    if not all_finite({k: payload.get(k) for k in ("model", "optimizer")}):
        raise NonFiniteError(f"refusing to write {path}: the weights or the optimizer state are not finite")
    atomic_write(path, lambda f: _torch_save({"format": FORMAT, **payload}, f))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many kinds for a corrupt or foreign file
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a snail checkpoint (expected format {FORMAT!r})")
    if not all_finite(payload.get("model")):
        raise CheckpointError(f"{str(path)!r} holds NaN or infinite weights (its run diverged, and a version "
                              "before the non-finite guard saved them): use another checkpoint of the run")
    return payload


def check_state_dict(model: torch.nn.Module, weights, ckpt_path: Path, where: str,
                     hint: str = "was the config edited, or the model code changed?") -> None:
    """Compare names and shapes before loading, for a one-line message (ending with `hint`) instead of torch's
    long one."""
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{str(ckpt_path)!r} holds no model weights")
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in weights and weights[k].shape != v.shape]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape (checkpoint vs config)", wrong)):
        if items:
            problems.append(f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}")
    if problems:
        raise CheckpointError(f"the weights in {ckpt_path} do not fit the model built from {where} "
                              f"({'; '.join(problems)}): {hint}")
