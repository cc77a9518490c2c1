"""Shared pytest set-up, for the unit tests and for the notebooks that nbval runs.

``make test`` runs ``pytest tests book --nbval-lax ...``: every notebook under book/ becomes
a test whose cells must run without error (lax mode: outputs are not compared, the asserts
in the cells are the checks). Not collected as notebooks:

- generated student versions of the assignments (book/<chapter>/student/), which are
  unfinished by design;
- assignment sources (book/<chapter>/assignment.ipynb), which tests/test_assignments.py
  executes and grades already;
- labs (book/<chapter>/lab.ipynb), which the strict book build of tests/test_book.py
  executes (a raising cell fails that build: nb_execution_raise_on_error in _config.yml),
  so that each lab runs once per `make test`, not twice.

At the end, the time spent in each test file and notebook is printed, and the notebooks'
times are written to _build/nbval-times.json: after `make book`, `.ci/exec_times.py` compares
the book build's own execution times with them and fails on a notebook that took far longer
in the build (a stall) than under nbval.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBVAL_TIMES = ROOT / "_build" / "nbval-times.json"

# Kernels that nbval starts inherit this environment: draw off-screen, no GUI backend.
os.environ.setdefault("MPLBACKEND", "Agg")
# Under xdist every worker runs its own kernel: one thread each keeps two workers from
# oversubscribing two cores (small torch models slow down many times when they do).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def _not_run_by_nbval(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts if path.is_relative_to(ROOT) else path.parts
    return path.suffix == ".ipynb" and (
        "student" in parts
        or "_build" in parts
        or ".ipynb_checkpoints" in parts
        or path.name in ("assignment.ipynb", "lab.ipynb")
    )


# After a cell's execute_reply, nbval waits for each further kernel message (the rest of the
# cell's output, then "idle") with a hard-coded 5 s timeout (nbval.plugin.IPyNbCell
# .output_timeout; computationalmodelling/nbval#136, #231). On a busy two-core machine a cell
# that trained for a minute with progress bars can miss it, measured here once in CI
# ("Timeout of 5 seconds exceeded waiting for output"). The cell timeout stays
# --nbval-cell-timeout; this is only the wait for output the kernel has already produced.
NBVAL_OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skipped = {item for item in items if _not_run_by_nbval(item.path)}
    if skipped:
        config.hook.pytest_deselected(items=list(skipped))
        items[:] = [item for item in items if item not in skipped]
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT


_seconds_per_file: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds_per_file[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _seconds_per_file:
        return
    terminalreporter.section("time per test file and notebook")
    for name, seconds in sorted(_seconds_per_file.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f}s  {name}")
    notebooks = {k: round(v, 1) for k, v in _seconds_per_file.items() if k.endswith(".ipynb")}
    if notebooks:  # the reference for the book build's stall check (.ci/exec_times.py)
        recorded = json.loads(NBVAL_TIMES.read_text()) if NBVAL_TIMES.is_file() else {}
        NBVAL_TIMES.parent.mkdir(exist_ok=True)
        NBVAL_TIMES.write_text(json.dumps({**recorded, **notebooks}, indent=1, sort_keys=True))
