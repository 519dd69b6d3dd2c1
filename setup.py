"""Maps the folders protocol/, server/, satellite/ to the packages jarvis.protocol, .server, .satellite.

Everything else lives in pyproject.toml; this file only computes the package list, which setuptools
cannot discover by itself across a package-dir mapping.
"""

from setuptools import find_namespace_packages, setup

PACKAGES = []
for folder in ("protocol", "server", "satellite"):
    PACKAGES.append(f"jarvis.{folder}")
    # Namespace discovery also lists data-only folders (brain/data, brain/sentences/en, web/static),
    # so their files ship as package data (see [tool.setuptools.package-data]).
    PACKAGES.extend(
        f"jarvis.{folder}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])
    )

setup(packages=PACKAGES)
