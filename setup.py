"""Builds the optional C speedup (ws/_speedups.c); metadata lives in pyproject.toml.

``optional=True``: without a compiler the install still succeeds and ``ws``
uses its pure-Python masking and frame splitting.
"""

import os

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("WS_NO_SPEEDUPS") != "1":
    ext_modules.append(Extension("ws._speedups", sources=["ws/_speedups.c"], optional=True))

setup(ext_modules=ext_modules)
