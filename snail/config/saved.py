"""A run's saved config (its config.yaml, or the copy in a checkpoint): read as plain data, never resolved, and
the rule for what a resume may change.

train.py writes config.yaml fully resolved, so a saved config holds plain values only. A config received from
someone else may hold OmegaConf interpolations (`${oc.env:AWS_SECRET_ACCESS_KEY}`): resolving them would read
this machine's environment or files into the run (and its checkpoints), so a saved config with any `${` in a
value is refused instead.

A resume may change only RESUMABLE (the run's length, evaluation, checkpoints, logging, device); any other
setting on the command line that differs from the run's is refused, every such key named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from snail.config import ConfigError

RESUMABLE = ("run", "device")  # top-level keys whose values a resume may change
INVOCATION_KEYS = ("resume", "overwrite")  # how the program runs, not what the run is


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1} (lists are leaves)."""
    if isinstance(tree, Mapping):
        out = {}
        for key, value in tree.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: tree}


def plain_config(data: Any, where: str) -> DictConfig:
    """`data` (a loaded yaml mapping or a checkpoint's config) as a DictConfig, refusing interpolations."""
    cfg = data if isinstance(data, DictConfig) else OmegaConf.create(data) if isinstance(data, Mapping) else None
    if cfg is None:
        raise ConfigError(f"{where} is not a mapping of options")
    for key, value in _leaves(OmegaConf.to_container(cfg, resolve=False)).items():
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "${" in v for v in texts):
            raise ConfigError(f"{where}: {key}={value!r} is an interpolation, which a saved config never holds "
                              "(train.py writes plain values); it is refused rather than resolved, since it could "
                              "read this machine's environment or files into the run")
    return cfg


def load_saved_config(path: str | Path) -> DictConfig:
    """A run's config.yaml, not resolved (see the module's docstring); ConfigError when it is missing,
    unreadable, not a mapping or holds an interpolation."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path.parent} is not a run folder: it has no config.yaml")
    try:
        data = OmegaConf.load(path)
    except Exception as err:  # yaml's errors, OmegaConf's
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{path} is not a readable config: {first}") from None
    return plain_config(data, str(path))


def _values_at(cfg: DictConfig, key: str) -> dict[str, Any]:
    """{dotted key: value} of every leaf at `key` of `cfg` ({} when it has no such key)."""
    value = OmegaConf.select(cfg, key, default=None)
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    return {} if value is None else _leaves(value, f"{key}.")


def resume_config(saved: DictConfig, cfg: DictConfig, overrides: Sequence[str], where: str) -> DictConfig:
    """The run's saved config with the command line's `overrides` of RESUMABLE keys applied (their values taken
    from `cfg`, the config the command line composed). Any other override whose value differs from the run's
    is refused in one ConfigError naming each key with both values; `where` names the run."""
    saved = OmegaConf.create(OmegaConf.to_container(saved))
    refused = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "overwrite":
            refused.append("overwrite (it starts a new run; a resume continues one)")
        elif key in INVOCATION_KEYS:
            continue
        elif key.split(".")[0] in RESUMABLE:
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key), merge=False)
        else:
            new, old = _values_at(cfg, key), _values_at(saved, key)
            if not new and not old and override.split("=", 1)[-1] != "null":
                refused.append(f"{override} (not a setting of the run)")
            changed = [k for k in sorted(set(new) | set(old)) if new.get(k, "<absent>") != old.get(k, "<absent>")]
            if f"{key}.name" in changed:  # another model or env (`model=lstm`): its name says it
                changed = [f"{key}.name"]
            refused += [f"{k}={new.get(k, '<absent>')!r} (the run has {old.get(k, '<absent>')!r})"
                        for k in changed[:4]]
            if len(changed) > 4:
                refused.append(f"{len(changed) - 4} more under {key}")
    if refused:
        raise ConfigError(f"{where}: a resume may change only run.* and device, not {'; '.join(refused)}; start "
                          "a new run for other settings")
    return saved
