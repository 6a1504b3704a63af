"""Where root filesystems come from.

An image resolves to a :class:`RootfsPlan`: read-only lower directories for
overlayfs plus host paths to bind read-only on top (the ``host`` image binds
``/usr``). Per-container writes go to a layer (see :mod:`amcr.images.layers`).
"""
from __future__ import annotations

from amcr.images.plan import RootfsPlan
from amcr.images.resolve import resolve

__all__ = ["RootfsPlan", "resolve"]
