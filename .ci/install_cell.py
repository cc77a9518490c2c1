"""The first code cell of every book page: install the course package where it is missing.

    python .ci/install_cell.py sync    # write the cell into every page (after changing the URL)
    python .ci/install_cell.py check   # exit 1 if a page lacks the current cell

A reader who opens a page on Colab (the launch button) or on a JupyterHub without the
package gets it installed by this cell; where ``seqcourse`` is importable (a clone with
``make book``/``make test``, CI, the GPU runner) the cell does nothing. The repository address
is one setting, ``repository.url`` in ``_config.yml``, and the version installed is the tag
``v<version>`` of ``pyproject.toml``: after changing either, run ``sync`` (tests/test_ci_scripts.py
fails until then). The install uses ``--no-deps``: the package pins the CPU build of torch for
these machines, and on Colab that pin would replace the GPU build Colab ships; Colab already has
torch, numpy, matplotlib, tqdm and ipywidgets, and hmmlearn (chapter 1) is installed beside it.

The cell is tagged ``remove-cell``, so the built book does not show it. The assignment sources
do not get it; the student version of each assignment, which ``.ci/assignments.py`` generates,
starts with a variant that also installs otter-grader (``student_cell_source``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CELL_ID = "install-seqcourse"
OTTER_VERSION = "7.0.0"  # as pinned in pyproject.toml's book extra (a test checks)
TAG = "remove-cell"


def pages() -> list[Path]:
    """Chapters, section pages, labs and appendix notebooks: every committed notebook but the
    assignment sources and the generated student versions."""
    found = [*BOOK.glob("[0-9][0-9]_*/*.ipynb"), *BOOK.glob("*.ipynb")]
    return sorted(path for path in found if path.name != "assignment.ipynb")


def requirement() -> str:
    """``seqcourse @ git+<repository.url>@v<version>``, from _config.yml and pyproject.toml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = str(config["repository"]["url"]).rstrip("/")
    if not re.fullmatch(r"https://[\w.-]+/[\w.-]+/[\w.-]+", url):
        raise SystemExit(f"_config.yml repository.url must be https://host/owner/name, got {url!r}")
    found = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if found is None:
        raise SystemExit('pyproject.toml has no version = "..." line')
    version = found.group(1)
    return f"seqcourse @ git+{url}@v{version}"


def cell_source() -> str:
    """The install cell's code (ruff-formatted as it stands)."""
    return f'''# Installs the course package where it is missing (Colab, a new JupyterHub); does
# nothing where it is installed. Written by .ci/install_cell.py from _config.yml.
import importlib.util
import subprocess
import sys

PACKAGE = "{requirement()}"
if importlib.util.find_spec("seqcourse") is None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", PACKAGE], check=True)
    subprocess.run([*pip, "hmmlearn>=0.3.2"], check=True)'''


def student_cell_source() -> str:
    """The first cell of a student assignment: the package, hmmlearn and otter where missing.

    A student who opens the assignment with its launch button (Colab, Binder, a hub) has
    neither the package nor otter, whose ``otter.Notebook`` the next cell starts. The
    assignment's public tests travel inside the notebook (otter's metadata), so nothing else
    is needed for ``grader.check``.
    """
    return f'''# Installs what this assignment needs where it is missing (Colab, a new JupyterHub):
# the course package, hmmlearn and otter-grader; does nothing where they are installed.
# Written by .ci/assignments.py from _config.yml.
import importlib.util
import subprocess
import sys

PACKAGE = "{requirement()}"
pip = [sys.executable, "-m", "pip", "install", "--quiet"]
if importlib.util.find_spec("seqcourse") is None:
    subprocess.run([*pip, "--no-deps", PACKAGE], check=True)
    subprocess.run([*pip, "hmmlearn>=0.3.2"], check=True)
if importlib.util.find_spec("otter") is None:
    subprocess.run([*pip, "otter-grader=={OTTER_VERSION}"], check=True)'''


def has_cell(nb: nbformat.NotebookNode) -> bool:
    """Whether the first code cell is the current install cell, tagged remove-cell."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code:
        return False
    return code[0].source == cell_source() and TAG in code[0].metadata.get("tags", [])


def sync(path: Path) -> bool:
    """Put the current install cell first among the code cells; True if the file changed."""
    nb = nbformat.read(path, as_version=4)
    if has_cell(nb):
        return False
    nb.cells = [cell for cell in nb.cells if cell.get("id") != CELL_ID]
    cell = nbformat.v4.new_code_cell(cell_source(), metadata={"tags": [TAG]})
    cell.id = CELL_ID
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first_code, cell)
    nbformat.write(nb, path)
    return True


def main(argv: list[str]) -> int:
    if argv not in (["sync"], ["check"]):
        print(__doc__.strip().splitlines()[2:4], file=sys.stderr)
        return 2
    if argv == ["sync"]:
        changed = [path for path in pages() if sync(path)]
        print(f"install cell written into {len(changed)} of {len(pages())} pages")
        return 0
    missing = [path for path in pages() if not has_cell(nbformat.read(path, as_version=4))]
    for path in missing:
        print(f"{path.relative_to(ROOT)}: first code cell is not the install cell; run sync")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
