"""amcr.toml: defaults, containers, and one-line errors naming file and key."""
from __future__ import annotations

import os

import pytest

from amcr.config import ConfigError, load

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "config", "amcr.example.toml")


def _write(tmp_path: object, text: str) -> str:
    path = os.path.join(str(tmp_path), "amcr.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_the_shipped_example_is_valid() -> None:
    config = load(EXAMPLE)
    assert list(config.containers) == ["build", "shell", "sandbox"]
    build = config.spec("build")
    assert build.image == "busybox" and build.argv == ("/bin/sh", "-c", "echo building; exec sh")
    assert dict(build.env) == {"MODE": "build"} and build.mounts[0].readonly
    assert build.memory == "512m"          # from [defaults]
    assert config.spec("shell").hostname == "dev"
    assert config.spec("sandbox").read_only and config.spec("sandbox").seccomp == "strict"
    assert config.prefix == "C-b"


def test_names_not_in_the_file_start_with_the_defaults(tmp_path: object) -> None:
    config = load(_write(tmp_path, '[defaults]\nimage = "busybox"\n'))
    spec = config.spec("other")
    assert spec.image == "busybox" and spec.name == "other" and spec.tty
    assert spec.effective_hostname == "other"


def test_no_file_means_no_containers(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(str(tmp_path))
    config = load()
    assert config.containers == {} and config.spec("a").argv == ("/bin/sh",)


@pytest.mark.parametrize("text,fragment", [
    ('[containers.web]\nmemory = "12q"\n', "containers.web.memory: invalid --memory '12q'"),
    ('[containers.web]\nimage = 3\n', "containers.web.image: must be a string"),
    ('[containers.web]\ncolour = "red"\n', "containers.web.colour: unknown key"),
    ('[containers.web]\nhostname = "bad_name!"\n', "containers.web: invalid hostname"),
    ('[containers.web]\nvolumes = ["nocolon"]\n', "containers.web.volumes: invalid volume"),
    ('[defaults]\ncpus = "lots"\n', "defaults.cpus"),
    ('[extras]\nx = 1\n', "unknown table 'extras'"),
    ('[containers.web\n', "not valid TOML"),
    ('[ui]\nprefix = 5\n', "ui.prefix"),
])
def test_invalid_files_give_one_line_naming_file_and_key(tmp_path: object, text: str,
                                                         fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    line = info.value.line()
    assert "\n" not in line and path in line and fragment in line, line
