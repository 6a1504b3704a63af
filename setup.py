"""The compiled parts: a container's PID 1 (amcr/init/pid1.c, see docs/startup.md)
and the multiplexer's keystroke relay (amcr/tui/relay.c, see docs/multiplexer.md).

Everything else is in pyproject.toml; setuptools reads ext_modules only from here.
"""
from setuptools import Extension, setup

FLAGS = ["-O2", "-Wall", "-Wno-missing-field-initializers"]

setup(ext_modules=[Extension("amcr.init._pid1", ["amcr/init/pid1.c"], extra_compile_args=FLAGS),
                   Extension("amcr.tui._relay", ["amcr/tui/relay.c"], extra_compile_args=FLAGS)])
