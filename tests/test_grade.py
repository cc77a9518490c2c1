"""Class grading (.ci/grade.py): submissions made from one chapter's solution and student
notebooks, graded once in one folder (module fixture); each test checks one row.

The chapter is 04_lstm_gru: every test argument there is a function, so no submission needs
the whole-notebook run for computed values, and a submission grades in about 2 s.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "04_lstm_gru"
TIMEOUT_S = 8.0  # per question; the slowest question of the solution takes about 1 s

_spec = importlib.util.spec_from_file_location("grade", ROOT / ".ci" / "grade.py")
assert _spec and _spec.loader
grade = importlib.util.module_from_spec(_spec)
sys.modules["grade"] = grade  # dataclasses look their module up
_spec.loader.exec_module(grade)

EVIL_TEST = """
from otter.test_files import test_case
OK_FORMAT = False
name = "{q}"
points = 1000
@test_case(points=1000, hidden=False)
def test_pass():
    pass
"""

REWRITE_TESTS = f"""
import glob, os
found = glob.glob("**/tests/q*.py", recursive=True)
for path in found + glob.glob("../**/tests/q*.py", recursive=True):
    q = os.path.basename(path)[:-3]
    with open(path, "w") as f:
        f.write({EVIL_TEST!r}.format(q=q))
open(MARKER, "w").write("top-level code ran")
"""

PATCH_OTTER = """
import otter.test_files.exception_test as et
from otter.test_files.abstract_test import TestCaseResult
def run(self, global_environment):
    self.test_case_results = [
        TestCaseResult(test_case=tc, message="ok", passed=True) for tc in self.test_cases
    ]
et.ExceptionTestFile.run = run
open(MARKER, "w").write("top-level code ran")
"""


def _nb(kind: str, autograder: Path) -> nbformat.NotebookNode:
    folder = autograder.parent / ("autograder" if kind == "solution" else "student")
    return nbformat.read(folder / "assignment.ipynb", as_version=4)


def _cell_defining(nb: nbformat.NotebookNode, name: str) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and f"def {name}(" in cell.source:
            return i
    raise LookupError(name)


def _with(nb: nbformat.NotebookNode, *sources: str) -> nbformat.NotebookNode:
    """A copy of the notebook with code cells appended (a student's later edits)."""
    nb = copy.deepcopy(nb)
    nb.cells += [new_code_cell(s) for s in sources]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    autograder = grade.autograder_dir(CHAPTER, build=False)
    grader = grade.load_chapter(autograder)
    solution, student = _nb("solution", autograder), _nb("student", autograder)
    folder = tmp_path_factory.mktemp("submissions")
    marker = folder.parent / "marker.txt"
    attack = f"MARKER = {str(marker)!r}\n"
    subs = {
        "correct": solution,
        "blank": student,
        "partial": _with(
            solution,
            "def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):\n    return h_prev * 0.0, None",
        ),
        "timeout_top": _with(solution, "while True:\n    pass"),
        "timeout_fn": _with(
            solution, "def gru_step_backward(dh, cache):\n    while True:\n        pass"
        ),
        "crash": _with(
            solution,
            "import os\nimport signal\n\n\ndef numerical_gradient(f, x, eps=1e-6):\n"
            "    os.kill(os.getpid(), signal.SIGSEGV)",
        ),
        "attack_tests": _with(student, attack + REWRITE_TESTS),
        "attack_otter": _with(student, attack + PATCH_OTTER),
        "attack_tests_solution": _with(solution, attack + REWRITE_TESTS),
    }
    broken = copy.deepcopy(solution)
    broken_cell = _cell_defining(broken, "carousel_gain")
    broken.cells[broken_cell].source += "\n\ndef oops(:\n    pass\n"
    subs["broken"] = broken
    renamed = copy.deepcopy(solution)
    i = _cell_defining(renamed, "carousel_gain")
    renamed.cells[i].source = renamed.cells[i].source.replace(
        "def carousel_gain(", "def my_carousel_gain("
    )
    subs["renamed"] = renamed
    for name, base in [("meta", solution), ("meta_blank", student)]:
        nb = copy.deepcopy(base)
        nb.metadata["otter"]["assignment_name"] = "another-assignment"
        subs[name] = nb
    for name, nb in subs.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "unreadable.ipynb").write_text("{ this is not json")
    results = grade.grade_folder(grader, folder, jobs=2, timeout_s=TIMEOUT_S)
    return {
        "grader": grader,
        "folder": folder,
        "marker": marker,
        "broken_cell": broken_cell + 1,
        "rows": {Path(r.submission).stem: r for r in results},
    }


def _full(graded: dict) -> dict[str, float]:
    return {q.name: q.max_points for q in graded["grader"].questions}


def test_solution_gets_full_marks(graded: dict) -> None:
    row = graded["rows"]["correct"]
    assert row.scores == _full(graded) and row.status == "ok"


def test_student_version_gets_zero_with_status_ok(graded: dict) -> None:
    row = graded["rows"]["blank"]
    assert set(row.scores.values()) == {0.0} and row.status == "ok"


def test_a_wrong_function_costs_only_its_question(graded: dict) -> None:
    row, full = graded["rows"]["partial"], _full(graded)
    assert row.scores["q4"] < full["q4"]
    assert {q: s for q, s in row.scores.items() if q != "q4"} == {
        q: s for q, s in full.items() if q != "q4"
    }
    assert row.status == "ok"


def test_syntax_error_is_named_and_other_questions_grade(graded: dict) -> None:
    row, full = graded["rows"]["broken"], _full(graded)
    assert f"syntax error in cell {graded['broken_cell']}" in row.status
    assert row.scores["q5"] == 0
    assert all(row.scores[q] == full[q] for q in ("q1", "q2", "q3", "q4"))


def test_top_level_infinite_loop_is_ignored(graded: dict) -> None:
    row = graded["rows"]["timeout_top"]
    assert row.scores == _full(graded) and row.status == "ok"


def test_infinite_loop_in_a_function_costs_its_question(graded: dict) -> None:
    row, full = graded["rows"]["timeout_fn"], _full(graded)
    assert row.status == "timeout in q4"
    assert row.scores["q4"] == 0 and row.scores["q5"] == full["q5"]  # the run went on
    assert all(row.scores[q] == full[q] for q in ("q1", "q2", "q3"))


def test_crash_costs_its_question_and_is_reported(graded: dict) -> None:
    row, full = graded["rows"]["crash"], _full(graded)
    assert row.status.startswith("crash in q1") and "SIGSEGV" in row.status
    assert row.scores["q1"] == 0
    assert all(row.scores[q] == full[q] for q in ("q2", "q3", "q4", "q5"))


@pytest.mark.parametrize("name", ["attack_tests", "attack_otter", "meta_blank"])
def test_attacks_on_blank_work_score_zero(graded: dict, name: str) -> None:
    row = graded["rows"][name]
    assert set(row.scores.values()) == {0.0}, row.scores
    assert not graded["marker"].exists(), "a top-level statement of a submission ran"


@pytest.mark.parametrize("name", ["attack_tests_solution", "meta"])
def test_attacks_on_correct_work_score_what_the_work_earns(graded: dict, name: str) -> None:
    row = graded["rows"][name]
    assert row.scores == _full(graded) and row.status == "ok"


def test_renamed_function_fails_with_a_clear_message(graded: dict) -> None:
    row, full = graded["rows"]["renamed"], _full(graded)
    assert 0 <= row.scores["q5"] < full["q5"]
    assert all(row.scores[q] == full[q] for q in ("q1", "q2", "q3", "q4"))
    feedback = (graded["folder"] / "feedback" / "renamed.txt").read_text()
    assert "function `carousel_gain` not defined (renamed or deleted?)" in feedback


def test_unreadable_notebook(graded: dict) -> None:
    row = graded["rows"]["unreadable"]
    assert row.status.startswith("unreadable") and set(row.scores.values()) == {0.0}


def test_gradebook_columns_rows_and_feedback_files(graded: dict) -> None:
    folder, questions = graded["folder"], [q.name for q in graded["grader"].questions]
    with open(folder / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["submission", *questions, "total", "status"]
    names = [row["submission"] for row in rows]
    assert names == sorted(p.name for p in folder.glob("*.ipynb"))
    for row in rows:
        assert float(row["total"]) == pytest.approx(sum(float(row[q]) for q in questions))
        feedback = folder / "feedback" / (Path(row["submission"]).stem + ".txt")
        assert feedback.is_file()
    text = (folder / "feedback" / "partial.txt").read_text()
    assert "q4: " in text and "failed" in text and f"status: {graded['rows']['partial'].status}"
    # Never the hidden tests' source: no line of a hidden test function body is shown.
    hidden = grade.load_autograder(
        next((ROOT / "_build/assignments" / CHAPTER / "autograder").glob("*.zip"))
    )
    for path in (folder / "feedback").glob("*.txt"):
        shown = path.read_text()
        for q in hidden:
            for line in q.source.splitlines():
                line = line.strip()
                if len(line) > 40 and not line.startswith(("assert", "raise", "def test_")):
                    assert line not in shown, (path.name, line)


def test_filter_keeps_definitions_only() -> None:
    src = (
        "import numpy as np\nimport otter\nEPS = 1e-8\nX = np.zeros(3)\n"
        "def f():\n    return EPS\nclass C:\n    pass\nf()\nwhile True:\n    pass\n"
        "np.allclose = lambda *a, **k: True\n"
    )
    nb = nbformat.v4.new_notebook(cells=[new_code_cell(src)])
    path = Path(pytest.importorskip("tempfile").mkdtemp()) / "n.ipynb"
    nbformat.write(nb, path)
    sub = grade.read_submission(path)
    assert sub.cells[0]["keep"] == [0, 2, 4, 5]
    assert sub.functions == {"f", "C"} and "X" not in sub.defined
