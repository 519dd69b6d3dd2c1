"""Maps the folders protocol/, server/, satellite/ to the packages jarvis.protocol, .server, .satellite.

Everything else lives in pyproject.toml; this file only computes the package list, which setuptools
cannot discover by itself across a package-dir mapping.
"""

from setuptools import find_packages, setup

PACKAGES = []
for folder in ("protocol", "server", "satellite"):
    PACKAGES.append(f"jarvis.{folder}")
    PACKAGES.extend(f"jarvis.{folder}.{sub}" for sub in find_packages(folder))

setup(packages=PACKAGES)
