"""The image's Python environment without a Docker engine: the wheel deploy/Dockerfile builds, installed alone.

The build gets exactly the Dockerfile's COPY sources (a file the build needs that the image would not get
fails here) and runs the Dockerfile's ``pip wheel``. The wheel goes, without dependencies, into a fresh
venv whose site-packages sees .venv's through a ``.pth`` line: those are the dependencies the image's
``pip install`` would bring. .venv's own ``.pth`` files, the editable install's finder among them, are
not processed from a path added that way, so ``harness`` is imported from the wheel, never from this
checkout.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continued lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped.removesuffix("\\").strip() + " "
        if not stripped.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            pending = ""
    return instructions


def copy_sources(path: Path = DOCKERFILE) -> list[str]:
    """What the Dockerfile copies from the build context (not from an earlier stage)."""
    sources: list[str] = []
    for keyword, arguments in dockerfile_instructions(path):
        words = shlex.split(arguments)
        if keyword == "COPY" and not any(w.startswith("--from") for w in words):
            sources.extend(w for w in words[:-1] if not w.startswith("--"))
    return sources


@dataclass(frozen=True)
class InstalledImage:
    """A venv holding only the wheel, as the image's site-packages does."""

    venv: Path
    wheel: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        found = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True)
        return Path(found.stdout.strip())

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """This venv's ``harness`` first on PATH, nothing pointing at the checkout; ``extra`` entries replace
        the environment's (an empty value removes one)."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {k: v for k, v in {**env, **(extra or {})}.items() if v}

    def run(self, argv: list[str], cwd: Path, extra_env: dict[str, str] | None = None,
            timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=cwd, env=self.env(extra_env), capture_output=True, text=True,
                              timeout=timeout_s)


def build_wheel(folder: Path) -> Path:
    """Build the wheel as the Dockerfile's first stage does, from a context holding only its COPY sources."""
    context = folder / "context"
    context.mkdir(parents=True)
    for source in copy_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    wheels = folder / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--wheel-dir", str(wheels),
                    str(context)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = wheels.glob("*.whl")
    return wheel


def install_image(folder: Path) -> InstalledImage:
    """The wheel in a venv of its own whose dependencies come from the running interpreter's site-packages."""
    wheel = build_wheel(folder)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    image = InstalledImage(venv, wheel)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(image.python), "install", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    (image.site_packages / "image-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return image
