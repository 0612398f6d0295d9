"""Config errors in one line: what train.py and evaluate.py print (exit status 1) in place of Hydra's report.

A mistake on the command line is caught by Hydra while it composes the config against the schemas
(snail/config/schemas.py); the same mistake in a plain dict is caught by the dataclasses' checks
(snail/config/__init__.py).
`config_error_message` words the first like the second, so both read the same.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from snail.config import ConfigError, expected, field_types, invalid, unknown_options

CONFIG_ERRORS = (ConfigError, HydraException, OmegaConfBaseException)


def one_line(err: BaseException) -> str:
    """An error's message and its cause's, their lines joined with "; " (without Hydra's config search path)."""
    texts = [str(err).split("\nConfig search path:")[0]] + ([str(err.__cause__)] if err.__cause__ is not None else [])
    lines = [line.strip() for text in texts for line in text.splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(err).__name__


def _appended_value(hydra_message: str, full_key: str) -> dict:
    """{key: value} from Hydra's hint "To append to your config use +<full_key>=<value>", or {} without one."""
    match = re.search(r"use \+(.+)$", hydra_message, re.MULTILINE)
    if match is None:
        return {}
    try:
        override = OverridesParser.create().parse_override(match.group(1))
    except HydraException:
        return {}
    return {full_key.rpartition(".")[2]: override.value()} if override.key_or_group == full_key else {}


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def config_error_message(err: BaseException, program: str) -> str:
    """One line for a config error. For a composition error whose cause is OmegaConf's check against a schema
    dataclass: `<key>=<value> is invalid: expected <type>`, or for a key the dataclass lacks
    `unknown <section> option(s) ...`, as `check` / `dataclass_from_mapping` word them (`program` names the
    root section). Anything else: its lines joined."""
    for link in _chain(err):  # our own error, raised inside a resolver or under Hydra: its message alone
        if isinstance(link, ConfigError):
            return str(link)
    cause = err.__cause__ if isinstance(err.__cause__, OmegaConfBaseException) else err
    schema = getattr(cause, "object_type", None)
    if isinstance(cause, OmegaConfBaseException) and dataclasses.is_dataclass(schema) and cause.key is not None:
        types, key = field_types(schema), str(cause.key)
        section = (cause.full_key or key).rpartition(".")[0]
        if key in types and isinstance(cause, ValidationError):
            return invalid(cause.full_key, cause.value, expected(types[key]))
        if key not in types and isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            values = _appended_value(str(err), cause.full_key)
            return unknown_options(section or program, section, [key], list(types), values)
    return one_line(err)


@contextmanager
def exit_on_config_error(program: str, also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """A config error (or one of the types `also`) raised inside ends the program with
    `<program>: error: <one line>` (exit status 1).

    Inside a @hydra.main function it must catch the function's own errors: Hydra would print a line of its
    own ("Error executing job with overrides") before re-raising them."""
    try:
        yield
    except CONFIG_ERRORS + also as err:
        raise SystemExit(f"{program}: error: {config_error_message(err, program)}") from None


@contextmanager
def hydra_errors_in_one_line(program: str) -> Iterator[None]:
    """Around a call of a @hydra.main function: Hydra raises its composition errors (a wrong type, an unknown
    key, a missing group option) instead of printing them over several lines, and they end the program with
    one line, as do the file system's errors met by Hydra itself (its output folder, its log file). A user's
    own HYDRA_FULL_ERROR=1 keeps Hydra's full report."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        yield
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # read by Hydra when it catches an error: 1 = re-raise it
    try:
        with exit_on_config_error(program):
            yield
    except Exception as err:
        # A folder Hydra cannot make or a log file it cannot open (a read-only or full disk) is the user's to fix.
        os_error = next((link for link in _chain(err) if isinstance(link, OSError)), None)
        if os_error is None:
            raise
        where = f": {os_error.filename}" if os_error.filename else ""
        raise SystemExit(f"{program}: error: {os_error.strerror or os_error}{where}") from None
    finally:
        del os.environ["HYDRA_FULL_ERROR"]
