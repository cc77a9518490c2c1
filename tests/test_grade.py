"""Class grading (.ci/grade.py) on generated submissions: correct, partial, wrong, broken and
malicious, made from each chapter's solution and student notebooks.

Every chapter's submissions are graded once, in one folder and one ``grade_folder`` call on
2 workers (a module fixture per chapter); each test checks rows of that gradebook. The attack
submissions are the student notebook plus the attack, so work they did not do must score 0
on the questions they attack. The slip submissions are the solution with one function
edited: only that function's question may lose points (later questions are graded with the
reference version of the earlier ones).
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import ci_scripts
import nbformat
import pytest
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 6.0  # CPU seconds per question; the slowest question of a solution takes about 2 s

grade = ci_scripts.load("grade")


# ---------------------------------------------------------------------------------------------
# Building submissions.


def _notebook(chapter: str, kind: str) -> nbformat.NotebookNode:
    grade.autograder_dir(chapter)  # built when stale (a build locks out test_assignments')
    folder = grade.assignments.OUT / chapter / ("autograder" if kind == "solution" else "student")
    return nbformat.read(folder / "assignment.ipynb", as_version=4)


def _cell_defining(nb: nbformat.NotebookNode, name: str) -> int:
    """The last code cell that defines ``name`` (the definition that counts)."""
    for i in range(len(nb.cells) - 1, -1, -1):
        cell = nb.cells[i]
        if cell.cell_type == "code" and f"def {name}(" in cell.source:
            return i
    raise LookupError(name)


def _with(nb: nbformat.NotebookNode, *sources: str) -> nbformat.NotebookNode:
    """A copy of the notebook with code cells appended (a student's later edits)."""
    nb = copy.deepcopy(nb)
    nb.cells += [new_code_cell(s) for s in sources]
    return nb


def _edit(nb: nbformat.NotebookNode, function: str, *pairs: str) -> nbformat.NotebookNode:
    """A copy of the notebook with text replaced (old, new, old, new, ...) in the cell that
    defines ``function``."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[_cell_defining(nb, function)]
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert old in cell.source, f"{function}: the solution changed, no {old!r}"
        cell.source = cell.source.replace(old, new)
    return nb


def _grade(chapter: str, subs: dict, folder: Path) -> dict:
    autograder = grade.autograder_dir(chapter, build=False)
    grader = grade.load_chapter(autograder)
    for name, nb in subs.items():
        if isinstance(nb, str):
            (folder / f"{name}.ipynb").write_text(nb)
        else:
            nbformat.write(nb, folder / f"{name}.ipynb")
    results = grade.grade_folder(grader, folder, jobs=2, timeout_s=TIMEOUT_S)
    return {
        "grader": grader,
        "folder": folder,
        "full": {q.name: q.max_points for q in grader.questions},
        "rows": {Path(r.submission).stem: r for r in results},
    }


def _only_lost(graded: dict, name: str, lost: str) -> None:
    """The submission lost points on question ``lost`` and on no other."""
    row, full = graded["rows"][name], graded["full"]
    assert row.scores[lost] < full[lost], (name, row.scores)
    others = {q: s for q, s in row.scores.items() if q != lost}
    assert others == {q: s for q, s in full.items() if q != lost}, (name, row.scores, row.status)


def _zero_on(graded: dict, name: str, questions: list[str]) -> None:
    row = graded["rows"][name]
    assert {q: row.scores[q] for q in questions} == dict.fromkeys(questions, 0.0), (
        name,
        row.scores,
        row.status,
    )


def _at_most_public(graded: dict, name: str) -> None:
    """Every question scores at most the points of its public tests."""
    row = graded["rows"][name]
    for q in graded["grader"].questions:
        public = sum(t.points for t in q.tests if not t.hidden)
        assert row.scores[q.name] <= public, (name, q.name, row.scores, row.status)


# ---------------------------------------------------------------------------------------------
# Attacks on the grader itself (any chapter).

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

# ---------------------------------------------------------------------------------------------
# Chapter 4: LSTM and GRU in NumPy. Forbidden: any torch or seqcourse call in the functions.

CH4_LSTM_C = """
import numpy as np
import torch

def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    t = torch.from_numpy
    h, c = torch._C._VariableFunctions.lstm_cell(
        t(x), (t(h_prev), t(c_prev)), t(Wx), t(Wh), t(b), torch.zeros_like(t(b))
    )
    return h.numpy(), c.numpy(), None
"""

CH4_LSTM_VF = """
import importlib
import numpy as np
import torch

def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    cell = getattr(importlib.import_module("torch._VF"), "lstm" + "_cell")
    t = torch.from_numpy
    h, c = cell(t(x), (t(h_prev), t(c_prev)), t(Wx), t(Wh), t(b), torch.zeros_like(t(b)))
    return h.numpy(), c.numpy(), None
"""

CH4_GRU_ATEN = """
import numpy as np
import torch

def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    t = torch.from_numpy
    h = torch.ops.aten.gru_cell(t(x), t(h_prev), t(Wx), t(Wh), t(bx), t(bh))
    return h.numpy(), None
"""

# a FunctionType copy of seqcourse.rnn.numerical_gradient (same signature as question 1's),
# returned by a decorator, and made inside the function with a renamed module namespace
CH4_CLONE_DECORATOR = """
import types
import seqcourse.rnn as rnn

@lambda f: types.FunctionType(
    rnn.numerical_gradient.__code__, rnn.numerical_gradient.__globals__, "numerical_gradient"
)
def numerical_gradient(f, x, eps=1e-6):
    pass
"""

# the reference function itself, returned by a decorator
CH4_REF_DECORATOR = """
import seqcourse.rnn as rnn

@lambda f: rnn.numerical_gradient
def numerical_gradient(f, x, eps=1e-6):
    pass
"""

CH4_CLONE_BODY = """
import types
import seqcourse.rnn as rnn

def numerical_gradient(f, x, eps=1e-6):
    ref = rnn.numerical_gradient
    copy = types.FunctionType(ref.__code__, dict(vars(rnn), __name__="mine"), "mine")
    return copy(f, x, eps)
"""

# a decorator of the student's own (functools.wraps) is their code: no refusal
CH4_OWN_DECORATOR = """
import functools

def logged(f):
    @functools.wraps(f)
    def inner(*args, **kwargs):
        return f(*args, **kwargs)
    return inner
"""

# the student's lstm_forward goes through helpers of their own (one shadows the given sigmoid)
CH4_OWN_HELPERS = """
import numpy as np

def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))

def _one_step(x_t, h, c, Wx, Wh, b):
    return lstm_step_forward(x_t, h, c, Wx, Wh, b)

def lstm_forward(x, h0, c0, Wx, Wh, b):
    h, c = h0, c0
    states, caches = [], []
    for step in range(x.shape[1]):
        h, c, step_cache = _one_step(x[:, step], h, c, Wx, Wh, b)
        states.append(h)
        caches.append(step_cache)
    return np.stack(states, axis=1), caches
"""

GATES_IN_ORDER = ("g = np.tanh(a[:, 2 * H : 3 * H])", "o = sigmoid(a[:, 3 * H :])")
GATES_IFOG = ("g = np.tanh(a[:, 3 * H :])", "o = sigmoid(a[:, 2 * H : 3 * H])")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # Attacks on independent questions share a submission (each submission costs about 3 s
    # of CPU, mostly the hidden tests' imports).
    chapter = "04_lstm_gru"
    solution, student = _notebook(chapter, "solution"), _notebook(chapter, "student")
    folder = tmp_path_factory.mktemp("ch4")
    marker = folder.parent / "marker.txt"
    attack = f"MARKER = {str(marker)!r}\n"
    gates = [GATES_IN_ORDER[0], GATES_IFOG[0], GATES_IN_ORDER[1], GATES_IFOG[1]]
    slip = _edit(solution, "lstm_step_forward", *gates)
    wrong_step = slip.cells[_cell_defining(slip, "lstm_step_forward")].source
    wrong_step = wrong_step.split("def lstm_step_backward(")[0]
    # a wrong gru_step_forward (question 4), and question 5's forget_bias_needed wrapped by a
    # decorator of the student's own
    partial = _with(
        solution, "def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):\n    return h_prev * 0.0, None"
    )
    partial.cells.insert(1, new_code_cell(CH4_OWN_DECORATOR))
    partial = _edit(
        partial, "forget_bias_needed", "def forget_bias_needed(", "@logged\ndef forget_bias_needed("
    )
    # question 5: one function renamed, the other set to None
    renamed = _with(
        _edit(solution, "carousel_gain", "def carousel_gain(", "def my_carousel_gain("),
        "forget_bias_needed = None",
    )
    broken = copy.deepcopy(solution)
    broken_cell = _cell_defining(broken, "carousel_gain")
    broken.cells[broken_cell].source += "\n\ndef oops(:\n    pass\n"
    # edited metadata: another assignment name, no kernel, no cell metadata (otter's tags)
    meta = copy.deepcopy(solution)
    meta.metadata["otter"]["assignment_name"] = "another-assignment"
    meta.metadata.pop("kernelspec", None)
    for cell in meta.cells:
        cell.metadata = nbformat.NotebookNode()
    meta_blank = copy.deepcopy(student)
    meta_blank.metadata["otter"]["assignment_name"] = "another-assignment"
    # a student's print without a newline, at the top level of a cell and in a graded function
    no_newline = _edit(
        solution,
        "carousel_gain",
        "def carousel_gain(",
        'print("checking", end="")\n\n\ndef carousel_gain(',
        "    H = Wx.shape[0] // 4\n",
        '    H = Wx.shape[0] // 4\n    print("carousel", end="")\n',
    )
    subs = {
        "correct": solution,
        "no_newline": no_newline,
        "blank": student,
        "partial": partial,
        "timeout_fn": _with(
            solution, "def gru_step_backward(dh, cache):\n    while True:\n        pass"
        ),
        "crash": _with(
            solution,
            "import os\nimport signal\n\n\ndef numerical_gradient(f, x, eps=1e-6):\n"
            "    os.kill(os.getpid(), signal.SIGSEGV)",
        ),
        "broken": broken,
        "renamed": renamed,
        "renamed_q2": _edit(
            solution, "lstm_step_forward", "def lstm_step_forward(", "def my_lstm_step_forward("
        ),
        "meta": meta,
        # top-level attacks on blank work: rewritten tests, patched otter, an endless loop
        "attack_tests": _with(student, attack + REWRITE_TESTS, "while True:\n    pass"),
        "attack_otter": _with(meta_blank, attack + PATCH_OTTER),
        # ... and on the solution: they change nothing
        "attack_tests_solution": _with(solution, attack + REWRITE_TESTS, "while True:\n    pass"),
        "attack_loop_fn": _with(
            student,
            "def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):\n    while True:\n        pass",
        ),
        # forbidden code (a torch or seqcourse call inside the functions)
        "attack_torch": _with(student, CH4_LSTM_C, CH4_GRU_ATEN),
        "attack_vf_clone": _with(student, CH4_LSTM_VF, CH4_CLONE_BODY),
        "attack_clone_decorator": _with(student, CH4_CLONE_DECORATOR),
        "attack_ref_decorator": _with(student, CH4_REF_DECORATOR),
        # slips: gates read as i, f, o, g
        "slip_gates": slip,
        # ... with lstm_forward going through the student's own helpers
        "slip_gates_helpers": _with(slip, CH4_OWN_HELPERS),
        # ... the wrong lstm_step_forward defined again in question 3's cell, after the right one
        "slip_redefined_later": _edit(
            solution, "lstm_forward", "def lstm_forward(", wrong_step + "\n\ndef lstm_forward("
        ),
        "unreadable": "{ this is not json",
    }
    out = _grade(chapter, subs, folder)
    return {**out, "marker": marker, "broken_cell": broken_cell + 1}


def _full(graded: dict) -> dict[str, float]:
    return graded["full"]


def _feedback(graded: dict, name: str) -> str:
    return (graded["folder"] / "feedback" / f"{name}.txt").read_text()


def test_solution_gets_full_marks(graded: dict) -> None:
    row = graded["rows"]["correct"]
    assert row.scores == _full(graded) and row.status == "ok"


def test_a_print_without_newline_loses_no_result(graded: dict) -> None:
    row = graded["rows"]["no_newline"]
    assert row.scores == _full(graded) and row.status == "ok"


def test_student_version_gets_zero_with_status_ok(graded: dict) -> None:
    row = graded["rows"]["blank"]
    assert set(row.scores.values()) == {0.0} and row.status == "ok"


def test_a_wrong_function_costs_only_its_question(graded: dict) -> None:
    _only_lost(graded, "partial", "q4")
    assert graded["rows"]["partial"].status == "ok"  # the student's decorator is not refused


def test_syntax_error_is_named_and_other_questions_grade(graded: dict) -> None:
    row = graded["rows"]["broken"]
    assert f"syntax error in cell {graded['broken_cell']}" in row.status
    _only_lost(graded, "broken", "q5")
    assert row.scores["q5"] == 0


def test_infinite_loop_in_a_function_costs_its_question(graded: dict) -> None:
    row = graded["rows"]["timeout_fn"]
    assert row.status == "timeout in q4"
    _only_lost(graded, "timeout_fn", "q4")  # the run went on with q5
    assert row.scores["q4"] == 0


def test_crash_costs_its_question_and_is_reported(graded: dict) -> None:
    row = graded["rows"]["crash"]
    assert row.status.startswith("crash in q1") and "SIGSEGV" in row.status
    _only_lost(graded, "crash", "q1")
    assert row.scores["q1"] == 0


@pytest.mark.parametrize("name", ["attack_tests", "attack_otter", "attack_loop_fn"])
def test_attacks_on_blank_work_score_zero(graded: dict, name: str) -> None:
    row = graded["rows"][name]
    assert set(row.scores.values()) == {0.0}, row.scores
    assert not graded["marker"].exists(), "a top-level statement of a submission ran"


def test_endless_loop_in_a_function_is_a_timeout(graded: dict) -> None:
    assert "timeout in q2" in graded["rows"]["attack_loop_fn"].status


@pytest.mark.parametrize("name", ["attack_tests_solution", "meta"])
def test_attacks_on_correct_work_score_what_the_work_earns(graded: dict, name: str) -> None:
    # the chapter comes from the command line: edited metadata changes nothing
    row = graded["rows"][name]
    assert row.scores == _full(graded) and row.status == "ok"


@pytest.mark.parametrize(
    "name",
    [
        "attack_torch",  # torch._C._VariableFunctions.lstm_cell (q2), torch.ops.aten.gru_cell (q4)
        "attack_vf_clone",  # getattr(import_module("torch._VF"), "lstm" + "_cell") (q2), and a
        # FunctionType copy of seqcourse.rnn.numerical_gradient made inside the function (q1)
        "attack_clone_decorator",  # ... that copy returned by a decorator (q1)
        "attack_ref_decorator",  # seqcourse.rnn.numerical_gradient itself, from a decorator (q1)
    ],
)
def test_forbidden_code_scores_zero_ch4(graded: dict, name: str) -> None:
    _zero_on(graded, name, list(graded["full"]))


@pytest.mark.parametrize("name", ["attack_clone_decorator", "attack_vf_clone"])
def test_a_copied_reference_function_is_refused_by_the_grader(graded: dict, name: str) -> None:
    # the child refuses types.FunctionType on a reference package's code (an audit hook)
    assert "refused a copy of seqcourse's numerical_gradient" in graded["rows"][name].status


def test_a_reference_function_under_a_student_name_is_refused(graded: dict) -> None:
    row = graded["rows"]["attack_ref_decorator"]
    assert "refused `numerical_gradient`: it is seqcourse's numerical_gradient" in row.status
    assert "`numerical_gradient` is refused by the grader" in _feedback(graded, row.submission[:-6])


@pytest.mark.parametrize("name", ["slip_gates", "slip_gates_helpers", "slip_redefined_later"])
def test_wrong_gate_order_costs_only_question_2(graded: dict, name: str) -> None:
    _only_lost(graded, name, "q2")
    assert graded["rows"][name].status == "ok"


def test_renamed_or_none_function_fails_with_a_clear_message(graded: dict) -> None:
    _only_lost(graded, "renamed", "q5")
    assert graded["rows"]["renamed"].scores["q5"] == 0
    feedback = _feedback(graded, "renamed")
    assert "no function named `carousel_gain` is defined (renamed or deleted?)" in feedback
    assert "no function named `forget_bias_needed` is defined: `forget_bias_needed` is a" in (
        feedback
    )
    assert "not callable" not in feedback


def test_renamed_step_costs_only_its_question(graded: dict) -> None:
    # lstm_forward still calls lstm_step_forward: question 3 gets the reference one
    _only_lost(graded, "renamed_q2", "q2")
    assert graded["rows"]["renamed_q2"].scores["q2"] == 0
    feedback = _feedback(graded, "renamed_q2")
    assert "no function named `lstm_step_forward` is defined (renamed or deleted?)" in feedback


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
        next((ROOT / "_build/assignments/04_lstm_gru/autograder").glob("*.zip"))
    )
    for path in (folder / "feedback").glob("*.txt"):
        shown = path.read_text()
        for q in hidden:
            for line in q.source.splitlines():
                line = line.strip()
                if len(line) > 40 and not line.startswith(("assert", "raise", "def test_")):
                    assert line not in shown, (path.name, line)


def test_filter_keeps_definitions_only(tmp_path: Path) -> None:
    src = (
        "import numpy as np\nimport otter\nEPS = 1e-8\nX = np.zeros(3)\n"
        "def f():\n    return EPS\nclass C:\n    pass\nf()\nwhile True:\n    pass\n"
        "np.allclose = lambda *a, **k: True\n"
    )
    nb = nbformat.v4.new_notebook(cells=[new_code_cell(src)])
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    sub = grade.read_submission(path)
    assert sub.cells[0]["keep"] == [0, 2, 4, 5]
    assert sub.functions == {"f", "C"} and "X" not in sub.defined


def test_reference_is_split_by_question() -> None:
    grader = grade.load_chapter(grade.autograder_dir("04_lstm_gru"))
    api = grader.api
    assert api["lstm_step_forward"] == "q2" and api["lstm_forward"] == "q3"
    assert api["carousel_gain"] == "q5" and "sigmoid" not in api  # given code is no question's
    job = grade._reference_job(grader)
    assert "q5" not in job["reference"]["cells"]  # the last answer is never sent to a child


# ---------------------------------------------------------------------------------------------
# Chapter 1: HMMs in NumPy. Forbidden in the functions: seqcourse.hmm and hmmlearn.

CH1_HMMLEARN = """
import numpy as np
from hmmlearn import _hmmc

def forward_backward(log_pi, log_A, log_E, x):
    x = np.asarray(x)
    pi, A = np.exp(log_pi), np.exp(log_A)
    frame = np.ascontiguousarray(log_E[:, x].T, dtype=float)
    ll, fwd = _hmmc.forward_log(pi, A, frame)
    if not np.isfinite(ll):
        raise ValueError("x has probability 0")
    bwd = _hmmc.backward_log(pi, A, frame)
    counts = np.exp(_hmmc.compute_log_xi_sum(fwd, A, bwd, frame))
    return np.exp(fwd + bwd - ll), counts, float(ll)

def sample_paths(log_pi, log_A, log_E, x, n, rng):
    x = np.asarray(x)
    T, K = len(x), len(log_pi)
    frame = np.ascontiguousarray(log_E[:, x].T, dtype=float)
    ll, log_alpha = _hmmc.forward_log(np.exp(log_pi), np.exp(log_A), frame)
    if not np.isfinite(ll):
        raise ValueError("x has probability 0")

    def draw(log_w):
        w = np.exp(log_w - logsumexp(log_w, axis=1)[:, None])
        cdf = np.cumsum(w, axis=1)
        cdf[:, -1] = np.inf
        return (rng.random((len(log_w), 1)) >= cdf).sum(axis=1)

    paths = np.empty((n, T), dtype=np.int64)
    paths[:, -1] = draw(np.broadcast_to(log_alpha[-1], (n, K)))
    for t in range(T - 2, -1, -1):
        paths[:, t] = draw(log_alpha[t][None, :] + log_A[:, paths[:, t + 1]].T)
    return paths
"""

CH1_SUBCLASS = """
import numpy as np
import seqcourse.hmm as hmm_module

class Model(hmm_module.HMM):
    pass

def forward_backward(log_pi, log_A, log_E, x):
    model = Model(np.exp(log_pi), np.exp(log_A), np.exp(log_E))
    x = np.asarray(x)
    ll = model.log_likelihood(x)
    if not np.isfinite(ll):
        raise ValueError("x has probability 0")
    alpha, beta = model.forward(x), model.backward(x)
    xi = alpha[:-1, :, None] + log_A + (log_E[:, x[1:]].T + beta[1:])[:, None, :]
    return np.exp(alpha + beta - ll), np.exp(xi - ll).sum(axis=0), ll
"""

# casino_em_step (question 3) on the casino model's own forward and backward, under other
# names; the rest is the solution's M-step
CH1_CASINO = """
import numpy as np
from seqcourse.hmm import dishonest_casino

def _posterior(s, r, x):
    casino = dishonest_casino(s, 2 * s, r)
    x = np.asarray(x)
    alpha = getattr(casino, "for" + "ward")(x)
    beta = getattr(casino, "back" + "ward")(x)
    ll = float(np.logaddexp.reduce(alpha[-1]))
    with np.errstate(divide="ignore"):
        log_A, log_E = np.log(casino.trans), np.log(casino.emit)
    xi = alpha[:-1, :, None] + log_A + (log_E[:, x[1:]].T + beta[1:])[:, None, :]
    return np.exp(alpha + beta - ll), np.exp(xi - ll).sum(axis=0), ll
"""


def _ch1_casino_attack(solution: nbformat.NotebookNode) -> str:
    source = solution.cells[_cell_defining(solution, "casino_em_step")].source
    call = "forward_backward(*logs, x)"
    assert call in source, "casino_em_step of the solution changed"
    return CH1_CASINO + "\n\n" + source.replace(call, "_posterior(s, r, x)")


@pytest.fixture(scope="module")
def graded_ch1(tmp_path_factory: pytest.TempPathFactory) -> dict:
    chapter = "01_markov_hmm"
    solution, student = _notebook(chapter, "solution"), _notebook(chapter, "student")
    step = "log_alpha[t] = logsumexp(log_alpha[t - 1][:, None] + log_A, axis=0) + log_Ex[t]"
    subs = {
        "correct": solution,
        "attack_hmmlearn": _with(student, CH1_HMMLEARN),
        "attack_subclass": _with(student, CH1_SUBCLASS),
        "attack_casino": _with(student, _ch1_casino_attack(solution)),
        # off by one in the forward recursion: E of the previous symbol
        "slip_forward": _edit(solution, "forward_backward", step, step[:-2] + "t - 1]"),
    }
    return _grade(chapter, subs, tmp_path_factory.mktemp("ch1"))


def test_ch1_solution_gets_full_marks(graded_ch1: dict) -> None:
    row = graded_ch1["rows"]["correct"]
    assert row.scores == graded_ch1["full"] and row.status == "ok"


@pytest.mark.parametrize(
    "name",
    [
        "attack_hmmlearn",  # hmmlearn._hmmc.forward_log, backward_log, ... (q1, q4)
        "attack_subclass",  # a subclass of seqcourse.hmm.HMM (q1)
        "attack_casino",  # the casino model's forward/backward under other names (q3)
    ],
)
def test_forbidden_code_scores_zero_ch1(graded_ch1: dict, name: str) -> None:
    _zero_on(graded_ch1, name, list(graded_ch1["full"]))


@pytest.mark.parametrize("name", ["attack_hmmlearn", "attack_subclass", "attack_casino"])
def test_forbidden_code_earns_no_hidden_point_ch1(graded_ch1: dict, name: str) -> None:
    _at_most_public(graded_ch1, name)


def test_a_subclass_of_a_reference_class_is_refused(graded_ch1: dict) -> None:
    status = graded_ch1["rows"]["attack_subclass"].status
    assert "refused `Model`: it derives from seqcourse.hmm.HMM" in status


def test_ch1_off_by_one_forward_costs_only_question_1(graded_ch1: dict) -> None:
    # questions 2 and 3 compute their values and EM steps with forward_backward
    _only_lost(graded_ch1, "slip_forward", "q1")


# ---------------------------------------------------------------------------------------------
# Chapter 2: BPTT in NumPy. Forbidden in the functions: torch and seqcourse.rnn.

CH2_CLONES = """
import types
import numpy as np
import seqcourse.rnn as rnn

def _copy(f):
    return types.FunctionType(f.__code__, dict(vars(rnn), __name__="mine"), "mine")

def leaky_forward(x, h0, Wx, Wh, b, alpha):
    step = _copy(rnn.rnn_step_forward)
    N, T, _ = x.shape
    h, caches, h_prev = np.empty((N, T, Wh.shape[0])), [], h0
    for t in range(T):
        u, c = step(x[:, t], h_prev, Wx, Wh, b)
        h[:, t] = (1 - alpha) * h_prev + alpha * u
        caches.append((c, h_prev, u))
        h_prev = h[:, t]
    return h, (caches, alpha, x)

def leaky_backward(dh, cache):
    back = _copy(rnn.rnn_step_backward)
    caches, alpha, x = cache
    N, T, H = dh.shape
    grads = {"x": np.zeros_like(x), "Wx": 0.0, "Wh": 0.0, "b": 0.0, "alpha": 0.0}
    later = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        c, h_prev, u = caches[t]
        d = dh[:, t] + later
        grads["alpha"] += float(np.sum(d * (u - h_prev)))
        dx, dh_prev, dWx, dWh, db = back(alpha * d, c)
        grads["x"][:, t] = dx
        grads["Wx"], grads["Wh"], grads["b"] = grads["Wx"] + dWx, grads["Wh"] + dWh, grads["b"] + db
        later = (1 - alpha) * d + dh_prev
    grads["h0"] = later
    return grads
"""


@pytest.fixture(scope="module")
def graded_ch2(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # Built on the student notebook with the solutions of questions 1 and 2 appended: the
    # solution's question 3 trains a character model (tens of seconds per submission).
    chapter = "02_rnn_bptt"
    student = _notebook(chapter, "student")
    reference = grade.load_reference(
        grade.assignments.OUT / chapter / "autograder" / "assignment.ipynb"
    )
    answers = [cell["source"] for q in ("q1", "q2") for cell in reference.cells[q]]
    q12 = _with(student, *answers)
    subs = {
        "attack_clones": _with(student, CH2_CLONES),
        # transposed W_hh in the leaky forward pass
        "slip_Wh": _edit(q12, "leaky_forward", "h_prev @ Wh + b", "h_prev @ Wh.T + b"),
    }
    return _grade(chapter, subs, tmp_path_factory.mktemp("ch2"))


def test_ch2_function_type_clones_score_zero(graded_ch2: dict) -> None:
    _zero_on(graded_ch2, "attack_clones", list(graded_ch2["full"]))
    assert (
        "refused a copy of seqcourse's rnn_step_forward"
        in graded_ch2["rows"]["attack_clones"].status
    )


def test_ch2_transposed_wh_costs_only_question_2(graded_ch2: dict) -> None:
    # question 1 answered, question 2 with the slip, questions 3 and 4 blank (no later
    # question of this assignment calls leaky_forward: the slip costs one question either way)
    row, full = graded_ch2["rows"]["slip_Wh"], graded_ch2["full"]
    assert row.scores["q1"] == full["q1"] and row.scores["q2"] < full["q2"], row.scores
    assert row.scores["q3"] == row.scores["q4"] == 0


# ---------------------------------------------------------------------------------------------
# Chapter 3: RTRL. Forbidden: a backward pass (torch autograd or BPTT by hand) in place of
# the forward sensitivities.

CH3_SNAP = """
    J, G, hn = np.zeros((H, D + H + 1)), np.zeros((H, D + H + 1)), np.asarray(h0, float)
    for x_t, y_t in zip(xs, ys):
        u_t = np.tanh(W_xh @ x_t + W_hh @ hn + b)
        z = np.concatenate([x_t, hn, [1.0]])
        gain = alpha * (1 - u_t**2)
        J = ((1 - alpha) + gain * np.diag(W_hh))[:, None] * J + gain[:, None] * z[None, :]
        hn = (1 - alpha) * hn + alpha * u_t
        G += (hn - y_t)[:, None] * J
    g_snap = np.concatenate([G[:, :D].ravel(), G[:, D : D + H].ravel(), G[:, -1]])
    cos = float(g_rtrl @ g_snap / (np.linalg.norm(g_rtrl) * np.linalg.norm(g_snap)))
    return g_rtrl, g_snap, cos
"""

CH3_AUTOGRAD = (
    """
import numpy as np
import torch

def leaky_gradients(xs, ys, W_xh, W_hh, b, alpha, h0):
    H, D = W_xh.shape

    def t(a):
        return torch.tensor(np.asarray(a, dtype=float), dtype=torch.float64)

    Wx, Wh, bb = (t(a).requires_grad_() for a in (W_xh, W_hh, b))
    al, h, loss = t(alpha), t(h0), 0.0
    for x_t, y_t in zip(xs, ys):
        h = (1 - al) * h + al * torch.tanh(Wx @ t(x_t) + Wh @ h + bb)
        loss = loss + 0.5 * ((h - t(y_t)) ** 2).sum()
    gx, gh, gb = torch.autograd.grad(loss, (Wx, Wh, bb))
    g_rtrl = torch.cat([gx.reshape(-1), gh.reshape(-1), gb]).numpy()
"""
    + CH3_SNAP
)

CH3_BPTT = (
    """
import numpy as np

def leaky_gradients(xs, ys, W_xh, W_hh, b, alpha, h0):
    H, D = W_xh.shape
    hs, us = [np.asarray(h0, float)], []
    for x_t in xs:
        us.append(np.tanh(W_xh @ x_t + W_hh @ hs[-1] + b))
        hs.append((1 - alpha) * hs[-1] + alpha * us[-1])
    gx, gh, gb, later = np.zeros((H, D)), np.zeros((H, H)), np.zeros(H), np.zeros(H)
    for t in range(len(xs) - 1, -1, -1):
        d = hs[t + 1] - ys[t] + later
        da = d * alpha * (1 - us[t] ** 2)
        gx += np.outer(da, xs[t])
        gh += np.outer(da, hs[t])
        gb += da
        later = d * (1 - alpha) + W_hh.T @ da
    g_rtrl = np.concatenate([gx.ravel(), gh.ravel(), gb])
"""
    + CH3_SNAP
)


@pytest.fixture(scope="module")
def graded_ch3(tmp_path_factory: pytest.TempPathFactory) -> dict:
    chapter = "03_rtrl"
    solution, student = _notebook(chapter, "solution"), _notebook(chapter, "student")
    keep = "P_t = (1.0 - alpha)[:, None] * P_prev + gain[:, None]"
    subs = {
        "correct": solution,
        "attack_autograd": _with(student, CH3_AUTOGRAD),
        "attack_bptt": _with(student, CH3_BPTT),
        # the leak of P forgotten in the exact RTRL step (questions 3 and 4 call it)
        "slip_rtrl_step": _edit(solution, "leaky_rtrl_step", keep, "P_t = gain[:, None]"),
    }
    return _grade(chapter, subs, tmp_path_factory.mktemp("ch3"))


def test_ch3_solution_gets_full_marks(graded_ch3: dict) -> None:
    row = graded_ch3["rows"]["correct"]
    assert row.scores == graded_ch3["full"] and row.status == "ok"


@pytest.mark.parametrize("name", ["attack_autograd", "attack_bptt"])
def test_ch3_gradients_by_a_backward_pass_score_zero(graded_ch3: dict, name: str) -> None:
    _zero_on(graded_ch3, name, list(graded_ch3["full"]))


@pytest.mark.parametrize("name", ["attack_autograd", "attack_bptt"])
def test_ch3_backward_pass_earns_no_hidden_point(graded_ch3: dict, name: str) -> None:
    _at_most_public(graded_ch3, name)


def test_ch3_wrong_rtrl_step_costs_only_question_1(graded_ch3: dict) -> None:
    _only_lost(graded_ch3, "slip_rtrl_step", "q1")


# Chapter 7, question 3: attention's backward pass by hand. The attacks reach the guard's
# state (the lists its profile function and its TorchFunctionMode record into) and clear it,
# then let autograd do the work.
CH7_CLEAR = """
def _clear_lists(function):
    for cell in getattr(function, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, list):
            value.clear()


def _by_autograd(Q, K, V, dO, mask):
    import torch
    import torch.nn.functional as F

    leaves = [t.clone().requires_grad_() for t in (Q, K, V)]
    out = F.scaled_dot_product_attention(*leaves, attn_mask=None if mask is None else ~mask)
    return torch.autograd.grad((out * dO).sum(), leaves)
"""
CH7_PROFILE = (
    CH7_CLEAR
    + """

def attention_backward(Q, K, V, dO, mask=None):
    import sys

    _clear_lists(sys.getprofile())
    return _by_autograd(Q, K, V, dO, mask)
"""
)
CH7_MODE_STACK = (
    CH7_CLEAR
    + """

def attention_backward(Q, K, V, dO, mask=None):
    import torch

    for _ in range(2):  # a refused call switches the profiler off: the second try runs
        try:
            for i in range(torch._C._len_torch_function_stack()):
                mode = torch._C._get_function_stack_at(i)
                _clear_lists(type(mode).__dict__["__torch_function__"])
        except PermissionError:
            pass
    return _by_autograd(Q, K, V, dO, mask)
"""
)


@pytest.fixture(scope="module")
def graded_ch7(tmp_path_factory: pytest.TempPathFactory) -> dict:
    chapter = "07_attention"
    solution = _notebook(chapter, "solution")
    subs = {
        "attack_profile": _with(solution, CH7_PROFILE),
        "attack_mode_stack": _with(solution, CH7_MODE_STACK),
    }
    return _grade(chapter, subs, tmp_path_factory.mktemp("ch7"))


@pytest.mark.parametrize("name", ["attack_profile", "attack_mode_stack"])
def test_ch7_clearing_the_guard_earns_no_hidden_point(graded_ch7: dict, name: str) -> None:
    row = graded_ch7["rows"][name]
    q3 = next(q for q in graded_ch7["grader"].questions if q.name == "q3")
    public = sum(t.points for t in q3.tests if not t.hidden)
    assert row.scores["q3"] <= public, (name, row.scores, row.status)
    others = {q: s for q, s in row.scores.items() if q != "q3"}
    assert others == {q: s for q, s in graded_ch7["full"].items() if q != "q3"}, row.scores
