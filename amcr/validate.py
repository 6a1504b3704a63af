"""Name checks without ``re`` or ``string`` (each costs milliseconds to import)."""
from __future__ import annotations

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def is_name(text: str, *, lowercase: bool = False, max_len: int = 64) -> bool:
    """Container/image names: alphanumeric first, then alphanumerics and ``_ . -``."""
    first = _LOWER_ALNUM if lowercase else _ALNUM
    rest = first | {"_", ".", "-"}
    return (0 < len(text) <= max_len and text[0] in first
            and all(c in rest for c in text[1:]))


def is_hostname(text: str) -> bool:
    """RFC 1123: dot-separated labels of letters, digits and '-', 1-63 long."""
    if not 0 < len(text) <= 253:
        return False
    allowed = _ALNUM | {"-"}
    return all(0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"
               and all(c in allowed for c in label) for label in text.split("."))
