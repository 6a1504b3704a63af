"""Frozen value objects without importing :mod:`dataclasses`.

``dataclasses`` imports ``inspect``, which costs about 7 ms at every start
here, a quarter of a container's whole start-up; these records give the same
things the code uses (keyword construction, defaults, immutability, repr,
equality, ``replace``) for the price of one small module.
"""
from __future__ import annotations

TYPE_CHECKING = False   # the typing module costs milliseconds; type checkers see True
if TYPE_CHECKING:
    from typing import Any, TypeVar

    R = TypeVar("R", bound="Record")


class Record:
    """Subclasses list their fields in ``__slots__`` and defaults in ``_defaults``."""

    __slots__: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # One pass over the fields, taking each from kwargs (a fresh dict): a
        # container start builds a dozen records, in the runtime and its spawner.
        names = self.__slots__
        if args:
            if len(args) > len(names):
                raise TypeError(f"{type(self).__name__} takes at most {len(names)} arguments")
            for name, value in zip(names, args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__} got {name!r} twice")
                kwargs[name] = value
        defaults = self._defaults
        init = object.__setattr__
        for name in names:
            if name in kwargs:
                init(self, name, kwargs.pop(name))
            elif name in defaults:
                init(self, name, defaults[name])
            else:
                self._unknown(kwargs)
                raise TypeError(f"{type(self).__name__} needs {name!r}")
        self._unknown(kwargs)
        self._validate()

    def _unknown(self, kwargs: dict[str, Any]) -> None:
        for key in kwargs:
            if key not in self.__slots__:
                raise TypeError(f"{type(self).__name__} has no field {key!r}")

    def _validate(self) -> None:
        """Override to check the values; raise a SpecError with a hint."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace()")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def replace(self: R, **changes: Any) -> R:
        """A copy with some fields changed (validated again)."""
        values = {n: getattr(self, n) for n in self.__slots__}
        values.update(changes)
        return type(self)(**values)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())
