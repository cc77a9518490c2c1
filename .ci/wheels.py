"""Download, into .whl/1, .whl/2, ..., the wheels a GPU machine needs to run the book's pages.

    python .ci/wheels.py [--python 3.12] [--dest .whl]      (make wheels)

The device machines lent to this project have Python, torch, numpy, matplotlib, tqdm and
pytest, and nothing else: no Jupyter, no scikit-learn, no gensim, and no network. This
script takes the libraries the pages and the CUDA tests import (the Jupyter stack that
.ci/run_notebooks.py drives, ipywidgets, nbval, hmmlearn, scikit-learn, gensim, sacrebleu),
follows their requirements through this environment's installed metadata, leaves out what
the device already has, and downloads each at the version installed here, as a wheel for
CPython ``--python`` on manylinux x86_64 (or a pure-Python wheel). They come to about
100 MiB, more than one call of the device tool may carry (64 MiB), so they are packed into
numbered folders of at most ``--part`` MiB each, the largest wheels first; each folder is
carried by one call, and ``.ci/gpu_check.sh install`` adds what it carries to the same
target on the device. .whl/ is ignored by git.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
ROOTS = [
    "nbclient",
    "nbformat",
    "ipykernel",
    "ipywidgets",
    "nbval",
    "hmmlearn",
    "scikit-learn",
    "gensim",
    "sacrebleu",
    "PyYAML",
]
ON_DEVICE = {"torch", "numpy", "matplotlib", "tqdm", "pytest", "setuptools", "pip", "wheel"}


def closure(roots: list[str], python: str) -> dict[str, str]:
    """name -> installed version for roots and everything they require here (no extras),
    without the device's own packages and what only those require."""
    skip = {canonicalize_name(n) for n in ON_DEVICE}
    env = {"python_version": python, "extra": ""}
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found or name in skip:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # required only on another platform or Python, and not installed here
        found[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return found


def pack(wheels: list[Path], limit: float) -> list[list[Path]]:
    """The wheels in as few groups of total size <= limit bytes as first-fit finds, largest
    wheels first (a wheel larger than the limit gets a group of its own)."""
    groups: list[list[Path]] = []
    sizes: list[int] = []
    for wheel in sorted(wheels, key=lambda p: -p.stat().st_size):
        size = wheel.stat().st_size
        k = next((k for k, s in enumerate(sizes) if s + size <= limit), None)
        if k is None:
            groups.append([])
            sizes.append(0)
            k = len(groups) - 1
        groups[k].append(wheel)
        sizes[k] += size
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="the device's Python (major.minor)")
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl")
    parser.add_argument("--part", type=float, default=60.0, help="MiB per numbered folder")
    args = parser.parse_args()
    pins = closure(ROOTS, args.python)
    tag = args.python.replace(".", "")
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    print(f"{len(pins)} packages for CPython {args.python}: " + ", ".join(sorted(pins)))
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--only-binary=:all:", "--python-version", args.python, "--abi", f"cp{tag}"]
        command += ["--implementation", "cp", "--dest", folder]
        for platform in platforms:
            command += ["--platform", platform]
        command += [f"{name}=={version}" for name, version in sorted(pins.items())]
        done = subprocess.run(command)
        if done.returncode != 0:
            return done.returncode
        shutil.rmtree(args.dest, ignore_errors=True)
        for k, group in enumerate(pack(list(Path(folder).glob("*.whl")), args.part * 2**20)):
            part = args.dest / str(k + 1)
            part.mkdir(parents=True)
            for wheel in group:
                shutil.move(str(wheel), part / wheel.name)
            size = sum(w.stat().st_size for w in part.iterdir()) / 2**20
            print(f"{part.relative_to(ROOT)}: {len(group)} wheels, {size:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
