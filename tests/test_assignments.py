"""The graded assignments: the solution earns full marks, the student version does not, and
no solution or hidden test reaches students. The work is done by .ci/assignments.py (see
its docstring); this file runs it once per assignment (building it when the source changed,
and checking that the regenerated student notebook is the committed one) and tests its leak
detector.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ci_scripts
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "assignments.py"
CHAPTERS = sorted(path.parent.name for path in (ROOT / "book").glob("*/assignment.ipynb"))

assignments = ci_scripts.load("assignments")


@pytest.mark.skipif(not CHAPTERS, reason="no book/<chapter>/assignment.ipynb yet")
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_assignment_grades_solution_full_and_student_version_below(chapter: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "check", chapter], cwd=ROOT, capture_output=True, text=True
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    # The check regenerated book/<chapter>/student: it must be what is committed (the
    # student page's launch buttons open the committed file).
    if (ROOT / ".git").exists():
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", f"book/{chapter}/student"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert not status.stdout.strip(), (
            f"book/{chapter}/student differs from the committed one; run `make assignments` "
            f"and commit it:\n{status.stdout}"
        )


def _source() -> nbformat.NotebookNode:
    """A two-question source in otter-assign format, as the chapters write them."""
    return new_notebook(
        cells=[
            new_raw_cell("# ASSIGNMENT CONFIG\nname: demo\ngenerate:\n  pdf: false"),
            new_code_cell("import math"),
            new_raw_cell("# BEGIN QUESTION\nname: q1"),
            new_raw_cell("# BEGIN SOLUTION"),
            new_code_cell(
                "def area(r):\n    # BEGIN SOLUTION\n    scaled = math.pi * r**2\n"
                "    return scaled\n    # END SOLUTION"
            ),
            new_raw_cell("# END SOLUTION"),
            new_raw_cell("# BEGIN TESTS"),
            new_code_cell("area(1) > 0"),
            new_code_cell(
                '""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\n'
                "abs(area(2) - 12.566) < 1e-3"
            ),
            new_raw_cell("# END TESTS"),
            new_raw_cell("# END QUESTION"),
            new_raw_cell("# BEGIN QUESTION\nname: q2"),
            new_raw_cell("# BEGIN SOLUTION"),
            new_code_cell("answer = math.e  # SOLUTION"),
            new_markdown_cell("Because the derivative of e^x is e^x."),
            new_raw_cell("# END SOLUTION"),
            new_raw_cell("# END QUESTION"),
        ]
    )


def _student(*code: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_code_cell(source) for source in code])


def test_secret_lines_are_solutions_and_hidden_tests() -> None:
    secret = assignments.secret_lines(_source())
    assert secret == {
        "scaled = math.pi * r**2",
        "return scaled",
        "answer = math.e",
        "Because the derivative of e^x is e^x.",
        "abs(area(2) - 12.566) < 1e-3",
    }


@pytest.mark.parametrize(
    ("student", "leaked"),
    [
        (_student("import math", "def area(r):\n    ...", "answer = ..."), []),
        (_student("def area(r):\n    # BEGIN SOLUTION\n    return scaled"), ["return scaled"]),
        (_student("answer = math.e  # SOLUTION"), ["answer = math.e"]),
        (_student("abs(area(2) - 12.566) < 1e-3"), ["abs(area(2) - 12.566) < 1e-3"]),
    ],
)
def test_leak_detector(tmp_path: Path, student: nbformat.NotebookNode, leaked: list[str]) -> None:
    nbformat.write(_source(), tmp_path / "source.ipynb")
    nbformat.write(student, tmp_path / "student.ipynb")
    assert assignments.leaked_lines(tmp_path / "source.ipynb", tmp_path / "student.ipynb") == leaked
