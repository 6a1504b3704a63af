"""Records: keyword construction with defaults, and errors that name the field."""
from __future__ import annotations

import pytest

from amcr._record import Record


class Point(Record):
    __slots__ = ("x", "y", "label")
    _defaults = {"label": ""}


def test_fields_come_from_positions_keywords_and_defaults() -> None:
    assert Point(1, y=2) == Point(x=1, y=2, label="")
    assert Point(1, 2, "a").label == "a"
    assert Point(1, 2).replace(label="b") == Point(1, 2, "b")


def test_each_mistake_names_itself() -> None:
    with pytest.raises(TypeError, match="has no field 'z'"):
        Point(x=1, y=2, z=3)
    with pytest.raises(TypeError, match="has no field 'z'"):
        Point(x=1, z=3)             # an unknown field is named before a missing one
    with pytest.raises(TypeError, match="needs 'y'"):
        Point(x=1)
    with pytest.raises(TypeError, match="got 'x' twice"):
        Point(1, x=1, y=2)
    with pytest.raises(TypeError, match="at most 3"):
        Point(1, 2, 3, 4)


def test_records_are_immutable_and_pickle() -> None:
    import pickle
    p = Point(1, 2)
    with pytest.raises(AttributeError):
        p.x = 3  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(p)) == p     # how the runtime hands configs to its spawner
