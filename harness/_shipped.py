"""Where the files that ship beside the code are: the load profiles and the manifests the harness reads.

In a source checkout (and an editable install) they are the repository's top-level ``loadprofiles/``
and ``deploy/``; an installed wheel carries them inside the package (``harness/loadprofiles``,
``harness/deploy``: see setup.py), as it has no repository around it. Plain paths, not
``importlib.resources``: Locust and ``string.Template`` need real files, and setuptools' editable
finder cannot import a folder mapped in from outside the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

PACKAGE_DIR = Path(__file__).resolve().parent

ShippedFolder = Literal["loadprofiles", "deploy"]


def shipped_dir(name: ShippedFolder) -> Path:
    """The folder inside the installed package when there is one, else the source checkout's."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name
