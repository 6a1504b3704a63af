"""API keyword options -> ContainerSpec: pass-through by field name, a few conversions."""
from __future__ import annotations

import pytest

from amcr.errors import SpecError
from amcr.runtime.options import build_spec
from amcr.spec import Mount


def test_env_as_dict_pairs_or_strings() -> None:
    for env in ({"A": "1", "B": 2}, [("A", "1"), ("B", "2")], ["A=1", "B=2"]):
        assert build_spec(["true"], {"env": env}).env == (("A", "1"), ("B", "2"))


def test_mounts_as_strings_tuples_or_mounts() -> None:
    spec = build_spec(["true"], {"mounts": ["/tmp:/a:ro", ("/tmp", "/b"), Mount("/tmp", "/c")]})
    assert spec.mounts == (Mount("/tmp", "/a", True), Mount("/tmp", "/b"), Mount("/tmp", "/c"))


def test_other_fields_pass_through_by_name() -> None:
    spec = build_spec(["sh"], {"hostname": "h", "workdir": "/tmp", "read_only": True,
                               "winsize": [30, 100], "tty": True})
    assert (spec.hostname, spec.workdir, spec.read_only, spec.winsize, spec.tty) == \
        ("h", "/tmp", True, (30, 100), True)


def test_unknown_options_and_string_commands_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="unknown container option 'imagee'"):
        build_spec(["true"], {"imagee": "busybox"})
    with pytest.raises(SpecError, match="list of arguments"):
        build_spec("echo hi", {})
    with pytest.raises(SpecError, match="invalid hostname"):
        build_spec(["true"], {"hostname": "-bad-"})


@pytest.mark.parametrize("options, message", [
    ({"env": {"A": "x\0y"}}, "contains a NUL byte"),
    ({"workdir": "/a\0b"}, "cannot contain NUL"),
    ({"mounts": [("/tmp", "/a\0b")]}, "cannot contain NUL"),
    ({"ulimits": ["fsize=18446744073709551616"]}, "invalid --ulimit"),
])
def test_values_a_c_string_or_a_64_bit_limit_cannot_hold_are_spec_errors(options: dict,
                                                                          message: str) -> None:
    with pytest.raises(SpecError, match=message):
        build_spec(["true"], options)


def test_the_largest_64_bit_limit_means_unlimited() -> None:
    from amcr.kernel.rlimits import UNLIMITED, parse_ulimit
    assert parse_ulimit("fsize=18446744073709551615")[1:] == (UNLIMITED, UNLIMITED)
