"""Turning config mappings (plain dicts or OmegaConf) into validated dataclasses."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def dataclass_from_mapping(cls: type[T], cfg: Mapping, where: str) -> T:
    """Build dataclass `cls` from `cfg`; an unknown key raises a ValueError that lists the allowed keys.

    `where` names the config section in the message (e.g. "algo"). Value checks belong in the dataclass's
    `__post_init__`, so they too run before any work starts.
    """
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {where} option(s) {unknown}; allowed: {allowed}")
    return cls(**dict(cfg))
