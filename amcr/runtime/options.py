"""Keyword options of ``Runtime.run`` / ``start`` -> a validated :class:`ContainerSpec`.

Options pass through by name to ContainerSpec's fields, so a field added to the
spec (memory, seccomp, ...) is an API option the day it exists. Only the few
fields where Python callers naturally write something else are converted:
``env`` as a dict, ``mounts`` as ``"HOST:CTR[:ro]"`` strings, sequences as
lists. Everything is validated by the spec itself, before any fork.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from amcr.errors import SpecError
from amcr.spec import ContainerSpec, Mount


def build_spec(argv: Sequence[str], options: Mapping[str, Any]) -> ContainerSpec:
    if isinstance(argv, (str, bytes)):
        raise SpecError("the command must be a list of arguments, not a string",
                        hint='use ["sh", "-c", "..."] for a shell line')
    fields = ContainerSpec.__slots__
    values: dict[str, Any] = {}
    for key, value in options.items():
        if key not in fields or key == "argv":
            known = ", ".join(f for f in fields if f != "argv")
            raise SpecError(f"unknown container option {key!r}", hint=f"use one of: {known}")
        convert = _CONVERT.get(key)
        values[key] = convert(value) if convert is not None else _freeze(value)
    try:
        return ContainerSpec(argv=tuple(str(a) for a in argv), **values)
    except TypeError as exc:   # e.g. a Record field the spec requires and we lack
        raise SpecError(f"invalid container options: {exc}") from exc


def _env(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items: list[Any] = []
    if isinstance(value, Mapping):
        items.extend(value.items())
    else:
        for item in value:
            if isinstance(item, str):
                if "=" not in item:
                    raise SpecError(f"invalid environment entry {item!r}", hint="use KEY=VALUE")
                item = item.split("=", 1)
            items.append(item)
    out = []
    for pair in items:
        key, val = pair
        out.append((str(key), str(val)))
    return tuple(out)


def _mount(value: Any) -> Mount:
    if isinstance(value, Mount):
        return value
    if isinstance(value, str):
        return Mount.parse(value)
    if isinstance(value, Mapping):
        return Mount(**value)
    return Mount(*value)


def _mounts(value: Any) -> tuple[Mount, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, Mount)):
        value = [value]
    return tuple(_mount(v) for v in value)


def _winsize(value: Any) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def _freeze(value: Any) -> Any:
    """Lists become tuples: specs are immutable and hashable."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


_CONVERT = {"env": _env, "mounts": _mounts, "winsize": _winsize}
