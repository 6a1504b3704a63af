"""The one compiled part: a container's PID 1 (amcr/init/pid1.c, see docs/startup.md).

Everything else is in pyproject.toml; setuptools reads ext_modules only from here.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("amcr.init._pid1", ["amcr/init/pid1.c"],
                             extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"])])
