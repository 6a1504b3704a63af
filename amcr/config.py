"""``amcr.toml``: named containers and defaults, turned into validated specs.

```toml
[defaults]            # applies to every container
image = "busybox"
memory = "256m"

[ui]
prefix = "C-b"        # the multiplexer's prefix key

[containers.web]      # `amcr up` starts every [containers.*]
command = ["sh"]
env = { MODE = "dev" }
```

Every problem is one line naming the file, the key and what is wrong, with
the same wording the command line uses for the same value.
"""
from __future__ import annotations

import os

from amcr._record import Record
from amcr.errors import AmcrError, SpecError
from amcr.spec import ContainerSpec, Mount, parse_env

DEFAULT_FILE = "amcr.toml"
DEFAULT_COMMAND = ("/bin/sh",)

#: toml key -> how to turn its value into a ContainerSpec keyword argument
_SCALARS = {"image": str, "rootfs": str, "hostname": str, "workdir": str, "seccomp": str,
            "seccomp_profile": str, "limits": str}
_FLAGS = ("read_only", "keep")
_LIMITS = ("memory", "memory_swap", "cpus", "pids_limit")
_LISTS = ("cap_add", "cap_drop", "ulimits")
KNOWN_KEYS = frozenset(_SCALARS) | frozenset(_FLAGS) | frozenset(_LIMITS) | frozenset(_LISTS) | {
    "command", "env", "mounts", "volumes", "tty"}


class ConfigError(AmcrError):
    """amcr.toml is unreadable or holds a bad value."""


class Config(Record):
    __slots__ = ("path", "defaults", "containers", "prefix")
    _defaults = {"prefix": "C-b"}
    path: str | None
    defaults: dict[str, object]
    containers: dict[str, dict[str, object]]   # name -> its table (order kept)
    prefix: str

    def spec(self, name: str, **overrides: object) -> ContainerSpec:
        """The spec for container ``name`` (defaults, its table, then overrides)."""
        table = dict(self.defaults)
        table.update(self.containers.get(name, {}))
        where = f"containers.{name}" if name in self.containers else "defaults"
        return spec_from_table(name, table, self.path, where, overrides)


def load(path: str | None = None) -> Config:
    """Read ``path`` (or ./amcr.toml when it exists); no file means no containers."""
    if path is None:
        if not os.path.exists(DEFAULT_FILE):
            return Config(None, {}, {})
        path = DEFAULT_FILE
    import tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint="check the path") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}",
                          hint="see config/amcr.example.toml") from exc
    unknown = set(data) - {"defaults", "containers", "ui"}
    if unknown:
        raise ConfigError(f"{path}: unknown table {sorted(unknown)[0]!r}",
                          hint="use [defaults], [ui] and [containers.NAME]")
    defaults = _table(data.get("defaults", {}), path, "defaults")
    containers = _table(data.get("containers", {}), path, "containers")
    for name, table in containers.items():
        _table(table, path, f"containers.{name}")
    ui = _table(data.get("ui", {}), path, "ui")
    prefix = ui.get("prefix", "C-b")
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(f"{path}: ui.prefix must be a key name like \"C-b\"",
                          hint="e.g. prefix = \"C-a\"")
    config = Config(path, defaults, containers, prefix)
    for name in containers:      # validate everything now: one line, before any start
        config.spec(name)
    if defaults:
        config.spec("defaults-check")
    return config


def _table(value: object, path: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where} must be a table", hint=f"write it as [{where}]")
    return value


def spec_from_table(name: str, table: dict[str, object], path: str | None, where: str,
                    overrides: dict[str, object] | None = None) -> ContainerSpec:
    label = path or DEFAULT_FILE
    kwargs: dict[str, object] = {"name": name, "argv": DEFAULT_COMMAND, "tty": True}
    for key, value in table.items():
        at = f"{label}: {where}.{key}"
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{at}: unknown key", hint="see config/amcr.example.toml")
        kwargs.update(_convert(key, value, at))
    kwargs.update(overrides or {})
    try:
        return ContainerSpec(**kwargs)
    except SpecError as exc:
        raise ConfigError(f"{label}: {where}: {exc.message}", hint=exc.hint) from exc


def _convert(key: str, value: object, at: str) -> dict[str, object]:
    def need(kind: type | tuple[type, ...], what: str) -> None:
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"{at}: must be {what}", hint="see config/amcr.example.toml")
    try:
        if key in _SCALARS:
            need(str, "a string")
            return {key: value}
        if key in _FLAGS or key == "tty":
            need(bool, "true or false")
            return {key: value}
        if key in _LIMITS:
            need((str, int, float), "a number or a string like \"64m\"")
            from amcr import limits
            check = {"memory": limits.parse_size, "memory_swap": limits.parse_size,
                     "cpus": limits.parse_cpus, "pids_limit": limits.parse_pids}[key]
            if not (key == "memory_swap" and str(value).strip() == "-1"):
                check(value, "--" + key.replace("_", "-"))  # type: ignore[operator]
            return {key: value}
        if key in _LISTS:
            need(list, "a list of strings")
            return {key: tuple(str(v) for v in value)}  # type: ignore[union-attr]
        if key == "command":
            if isinstance(value, str):
                return {"argv": ("/bin/sh", "-c", value)}
            need(list, "a list of strings or a shell command string")
            return {"argv": tuple(str(v) for v in value)}  # type: ignore[union-attr]
        if key == "env":
            need(dict, "a table of NAME = \"value\"")
            return {"env": parse_env([f"{k}={v}" for k, v in value.items()])}  # type: ignore
        if key in ("mounts", "volumes"):
            need(list, "a list of \"HOST:CONTAINER[:ro]\" strings")
            return {"mounts": tuple(Mount.parse(str(v)) for v in value)}  # type: ignore
    except SpecError as exc:
        raise ConfigError(f"{at}: {exc.message}", hint=exc.hint) from exc
    raise ConfigError(f"{at}: unknown key", hint="see config/amcr.example.toml")
