"""Config dataclasses and their checks: one helper for types and value rules, one for unknown keys.

Every config section (algo, run, model, env, evaluate's options) is a dataclass whose field defaults are the
only defaults (conf/*.yaml holds what differs per env and model; snail/config/schemas.py registers the dataclasses
with Hydra). Its `__post_init__` calls `check`, so a config composed by Hydra, a plain dict and a direct
`PPOConfig(...)` are checked alike, before any work starts. Every message is one line:
`<key>=<value> is invalid: expected <what is allowed>`, or for unknown keys
`unknown <section> option(s) [...] (<key>=<value>); allowed: [...]`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, TypeVar

T = TypeVar("T")
Rules = Callable[[], Mapping[str, tuple[bool, str]]]


class ConfigError(ValueError):
    """A config key or value the user can fix; the message is one line naming the key, the value and what is
    allowed (the entry points print it alone)."""


def key_path(section: str, key: str) -> str:
    """"algo", "lr" -> "algo.lr"; a top-level key ("" section) stays as it is."""
    return f"{section}.{key}" if section else key


def invalid(path: str, value: Any, allowed: str) -> str:
    return f"{path}={value!r} is invalid: expected {allowed}"


def unknown_options(where: str, section: str, keys: Sequence[str], allowed: Sequence[str],
                    values: Mapping[str, Any] | None = None) -> str:
    """The message for keys a section does not have; `values` (when known) are shown with their keys."""
    given = ", ".join(f"{key_path(section, k)}={values[k]!r}" for k in keys if k in (values or {}))
    return f"unknown {where} option(s) {sorted(keys)}{f' ({given})' if given else ''}; allowed: {list(allowed)}"


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of dataclass `cls` (the modules use `from __future__ import annotations`)."""
    return typing.get_type_hints(cls)


def _union_args(tp) -> tuple | None:
    return typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else None


_TYPE_TEXT = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list"}


def expected(tp) -> str:
    """What a value of annotation `tp` may be, in the words of the error messages ("null or a number")."""
    args = _union_args(tp)
    if args is not None:
        others = [a for a in args if a is not type(None)]
        text = " or ".join(expected(a) for a in others)
        return f"null or {text}" if len(others) < len(args) else text
    if dataclasses.is_dataclass(tp):
        return "a mapping of options"
    return _TYPE_TEXT.get(typing.get_origin(tp) or tp, f"a {getattr(tp, '__name__', tp)}")


def has_type(value: Any, tp) -> bool:
    """Whether `value` fits annotation `tp`, as strictly as a typed config would take it (no bool for an int,
    an int is a number)."""
    args = _union_args(tp)
    if args is not None:
        return any(has_type(value, a) for a in args)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if tp in (int, float):
        return isinstance(value, Integral if tp is int else Real) and not isinstance(value, bool)
    if (typing.get_origin(tp) or tp) is list:
        return isinstance(value, Sequence) and not isinstance(value, str)
    return isinstance(value, tp)


def check(section: str, obj: Any, rules: Rules | None = None, error: type[Exception] = ConfigError) -> None:
    """Raise `error` for the first field of dataclass `obj` whose value does not fit its annotation, then for
    the first of `rules()` broken: {field: (ok, what is allowed)}. `rules` is a function so that its
    comparisons run only on values of the right types. `section` prefixes the keys in the message."""
    for name, tp in field_types(type(obj)).items():
        value = getattr(obj, name)
        if not has_type(value, tp):
            raise error(invalid(key_path(section, name), value, expected(tp)))
    for name, (ok, allowed) in (rules() if rules else {}).items():
        if not ok:
            raise error(invalid(key_path(section, name), getattr(obj, name), allowed))


def plain(value: Any) -> Any:
    """Mappings and non-string sequences (DictConfig / ListConfig included) -> dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def dataclass_from_mapping(cls: type[T], cfg: Any, section: str, where: str | None = None,
                           error: type[Exception] = ConfigError) -> T:
    """Build dataclass `cls` from mapping `cfg` (plain dict or OmegaConf) after rejecting keys it does not
    have; its `__post_init__` checks the values. `section` is the keys' prefix in messages (e.g. "algo"),
    `where` names the section in the unknown-key message (default: `section`)."""
    if not isinstance(cfg, Mapping):
        raise error(invalid(section, cfg, f"a mapping of {where or section} options"))
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in cfg if k not in allowed]
    if unknown:
        raise error(unknown_options(where or section, section, unknown, allowed, cfg))
    return cls(**{k: plain(v) for k, v in cfg.items()})


def dataclass_by_name(classes: Mapping[str, type], cfg: Any, section: str) -> Any:
    """The dataclass that `cfg["name"]` picks from `classes` (model and env sections), built from `cfg`."""
    name = cfg.get("name") if isinstance(cfg, Mapping) else None
    if isinstance(cfg, Mapping) and name not in classes:
        raise ConfigError(invalid(key_path(section, "name"), name, f"one of {list(classes)}"))
    return dataclass_from_mapping(classes.get(name), cfg, section)  # which refuses a cfg that is no mapping
