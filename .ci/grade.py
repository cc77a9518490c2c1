"""Grade a class: every submitted notebook of one chapter, in parallel, into a gradebook.

    python .ci/grade.py CHAPTER SUBMISSIONS_DIR [--jobs N] [--timeout S]

grades every ``SUBMISSIONS_DIR/*.ipynb`` (not recursive) with the chapter's autograder (built
first by ``.ci/assignments.py`` when missing or out of date) and writes

    SUBMISSIONS_DIR/gradebook.csv            submission, q1, ..., qN, total, status
    SUBMISSIONS_DIR/feedback/<name>.txt      per question the score and, for each failed
                                             test, its message (never a hidden test's source)

``status`` is ``ok`` only when every question ran; otherwise it names what went wrong
(unreadable notebook, syntax error in a cell, timeout in a question, crash of the grading
process), and the questions that could not run score 0.

How a submission is kept from setting its own grade (``otter run`` lets it: a cell that
rewrites tests/q*.py or patches otter's ``ExceptionTestFile.run`` gets full marks):

- The chapter comes from the command line, never from the notebook's metadata. The
  questions, the test code and the points come from the autograder zip, read by this
  (parent) process before any submission runs; nothing a submission writes on disk is read
  back as a test or a point value, and otter is not used to run the tests.
- Only definitions of the submission run: from each code cell, ``ast`` keeps the top-level
  imports (not of otter), ``def`` and ``class`` statements and assignments of literal
  constants (``EPS = 1e-8``). Every other top-level statement (calls, loops, attribute
  patching, file writes, ``while True: pass``) is dropped and never runs.
- A test may need a value the notebook computes (``casino_history``): the names that the
  chapter's solution binds by assignment, not by ``def``, are taken (over any literal
  assignment kept above) from a separate run of the whole notebook, whose only output is
  those values as plain data (numbers, strings, lists, tuples, dicts, NumPy arrays; no
  pickle), so that run can hand over data, as a student could type it, but no code and no
  scores. (Top-level code does run there; a hang or crash in it costs only these values.)
- The definitions and the tests run in a fresh ``python -I`` subprocess (temporary working
  folder, own process group) under a wall-clock limit per question; on timeout the group is
  killed, that question scores 0 and the next questions run in a new process. A crash
  (segfault, ``os._exit``) costs the question it happened in, with the reason in ``status``.
- The child reports one JSON line per test, prefixed by a random nonce passed on its stdin;
  lines without it (the student's prints) are ignored.

What is NOT closed: the bodies of the student's functions (and decorators, default values,
class bodies, which run at definition time) still run inside the child, with the child's
rights. Such code could in principle find the nonce in the child's memory and print forged
results, or write anywhere the grading user may write (there is no filesystem sandbox; run
the grader as a user that can write nothing but a scratch folder if that matters). What is
closed: top-level code, the test files, the point totals and otter's internals.
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import assignments  # noqa: E402  (.ci/assignments.py: chapters, build, OUT)

DEFAULT_TIMEOUT_S = 60.0
VALUES_TIMEOUT_FACTOR = 5  # the whole-notebook run for computed values gets 5 x --timeout
MESSAGE_CHARS = 600
SKIPPED_MODULES = ("otter",)


# ---------------------------------------------------------------------------------------------
# The autograder: questions, tests and points, read by the parent only.


@dataclass
class Test:
    """One test case of a question: the function to call, its arguments and points."""

    function: str
    params: list[str]
    points: float
    hidden: bool


@dataclass
class Question:
    name: str
    source: str  # the test file without its otter import; runs in the child
    tests: list[Test]
    all_or_nothing: bool = False

    @property
    def max_points(self) -> float:
        return sum(test.points for test in self.tests)


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def load_autograder(zip_path: Path) -> list[Question]:
    """The questions of an autograder zip, with the points otter would award per test."""
    from otter.test_files.exception_test import ExceptionTestFile

    questions = []
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)]
        for member in sorted(names, key=_natural):
            text = archive.read(member).decode()
            parsed = ExceptionTestFile.from_string(text, path=member)
            tests = []
            for case in parsed.test_cases:
                func = case.body.test_func
                tests.append(
                    Test(
                        func.__name__,
                        case.body._get_func_params(),
                        float(case.points or 0),
                        bool(case.hidden),
                    )
                )
            tree = ast.parse(text)
            tree.body = [
                node
                for node in tree.body
                if not (
                    isinstance(node, ast.ImportFrom) and (node.module or "").startswith("otter")
                )
            ]
            questions.append(Question(parsed.name, ast.unparse(tree), tests, parsed.all_or_nothing))
    if not questions:
        raise SystemExit(f"{zip_path}: no tests/*.py")
    return questions


@dataclass
class Autograder:
    """A chapter's questions, and which test arguments are values rather than functions."""

    questions: list[Question]
    data_names: set[str]

    @property
    def max_points(self) -> float:
        return sum(q.max_points for q in self.questions)


def load_chapter(autograder_dir: Path) -> Autograder:
    """Questions from the zip in ``autograder_dir``; its solution notebook tells which test
    arguments are functions (a top-level ``def`` or ``class`` there) and which are values."""
    zips = sorted(autograder_dir.glob("*-autograder_*.zip"))
    if len(zips) != 1:
        raise SystemExit(f"expected one autograder zip in {autograder_dir}, found {len(zips)}")
    questions = load_autograder(zips[0])
    needed = {p for q in questions for t in q.tests for p in t.params if p != "env"}
    solution = read_submission(autograder_dir / assignments.SOURCE)
    return Autograder(questions, needed - solution.functions)


def autograder_dir(chapter: str, build: bool = True) -> Path:
    """_build/assignments/<chapter>/autograder; built first when asked (a build is reused
    while the source is unchanged) or when it has no zip yet."""
    folder = assignments.OUT / chapter / "autograder"
    if build or len(list(folder.glob("*-autograder_*.zip"))) != 1:
        assignments.build(assignments.chapters([chapter])[0])
    return folder


# ---------------------------------------------------------------------------------------------
# The submission: which top-level statements run.


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _keep(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return not any(a.name.split(".")[0] in SKIPPED_MODULES for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] not in SKIPPED_MODULES
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(isinstance(t, ast.Name) for t in targets) and _is_literal(node.value)
    return False


def _without_magics(source: str) -> str:
    """IPython magics and shell escapes become blank lines (line numbers stay)."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("" if line.lstrip()[:1] in "%!" else line for line in source.split("\n"))


@dataclass
class Submission:
    cells: list[dict] = field(default_factory=list)  # {"label", "source", "keep": [indices]}
    full: list[dict] = field(default_factory=list)  # every parseable cell, for the values run
    defined: set[str] = field(default_factory=set)  # names the kept statements bind
    functions: set[str] = field(default_factory=set)  # names of top-level def and class
    issues: list[str] = field(default_factory=list)


def read_submission(path: Path) -> Submission:
    """Parse a notebook into the statements to run; raises ValueError when unreadable."""
    try:
        notebook = nbformat.read(path, as_version=4)
        sources = [
            (i + 1, str(cell["source"]))
            for i, cell in enumerate(notebook["cells"])
            if cell.get("cell_type") == "code"
        ]
    except Exception as err:  # noqa: BLE001  (any parse failure means the same to a grader)
        first = str(err).splitlines()[0][:200] if str(err) else ""
        raise ValueError(f"{type(err).__name__}: {first}") from None
    sub = Submission()
    for number, raw in sources:
        source = _without_magics(raw)
        label = f"cell {number}"
        try:
            tree = ast.parse(source)
        except SyntaxError as err:
            sub.issues.append(f"syntax error in {label} line {err.lineno}: {err.msg}")
            continue
        keep = [i for i, node in enumerate(tree.body) if _keep(node)]
        for i in keep:
            node = tree.body[i]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                sub.defined.add(node.name)
                sub.functions.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                sub.defined.update(t.id for t in targets if isinstance(t, ast.Name))
            else:
                for alias in node.names:
                    sub.defined.add((alias.asname or alias.name).split(".")[0])
        sub.full.append({"label": label, "source": source})
        if keep:
            sub.cells.append({"label": label, "source": source, "keep": keep})
    return sub


# ---------------------------------------------------------------------------------------------
# The child process. It runs with ``python -I -c CHILD``; the job comes on stdin as JSON.

CHILD = r"""
import ast, builtins, json, math, sys, traceback
job = json.loads(sys.stdin.read())
sys.stdin.close()
_NONCE = job.pop("nonce")
_out = sys.__stdout__
def _emit(**record):
    _out.write(_NONCE + " " + json.dumps(record) + "\n")
    _out.flush()
def _short(err):
    frames = traceback.extract_tb(err.__traceback__)
    where = [f"{f.filename.strip('<>')} line {f.lineno}" for f in frames
             if f.filename.startswith("<cell")]
    text = f"{type(err).__name__}: {err}"
    if not isinstance(err, AssertionError) and where:
        text += f" (in your {where[-1]})"
    return text
def _encode(v, depth=0):
    if depth > 20:
        raise TypeError("nested too deeply")
    if v is None or isinstance(v, (bool, str)):
        return v
    if v is Ellipsis:
        return {"__ellipsis__": 1}
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else {"__float__": repr(v)}
    if isinstance(v, (list, tuple)):
        items = [_encode(x, depth + 1) for x in v]
        return items if isinstance(v, list) else {"__tuple__": items}
    if isinstance(v, dict):
        return {"__dict__": [[_encode(k, depth + 1), _encode(x, depth + 1)] for k, x in v.items()]}
    mod = type(v).__module__
    if mod == "numpy" and hasattr(v, "tolist") and hasattr(v, "dtype"):
        if v.dtype.kind not in "biuf":
            raise TypeError(f"a NumPy array of dtype {v.dtype}")
        if getattr(v, "ndim", 0) == 0:
            return _encode(v.item(), depth + 1)
        return {"__ndarray__": _encode(v.tolist(), depth + 1), "dtype": str(v.dtype)}
    if mod == "torch" and type(v).__name__ == "Tensor":
        return _encode(v.detach().cpu().numpy(), depth)
    raise TypeError(f"a {type(v).__name__}")
def _decode(v):
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if isinstance(v, dict):
        if "__ellipsis__" in v:
            return Ellipsis
        if "__float__" in v:
            return float(v["__float__"])
        if "__tuple__" in v:
            return tuple(_decode(x) for x in v["__tuple__"])
        if "__dict__" in v:
            return {_decode(k): _decode(x) for k, x in v["__dict__"]}
        if "__ndarray__" in v:
            import numpy
            return numpy.array(_decode(v["__ndarray__"]), dtype=v["dtype"])
    return v
env = {"__name__": "__main__", "__builtins__": builtins}
if job["mode"] == "values":
    import types
    stub = types.ModuleType("otter")
    class _Notebook:
        def __init__(self, *a, **k): pass
        def __getattr__(self, name): return lambda *a, **k: None
    stub.Notebook = _Notebook
    sys.modules["otter"] = stub
    for cell in job["cells"]:
        try:
            exec(compile(cell["source"], "<" + cell["label"] + ">", "exec"), env)
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt):
                raise
    values, problems = {}, {}
    for name in job["names"]:
        if name not in env:
            continue
        try:
            values[name] = _encode(env[name])
        except Exception as err:
            problems[name] = str(err)
    _emit(event="values", values=values, problems=problems)
    sys.exit(0)
_emit(event="setup")
for cell in job["cells"]:
    tree = ast.parse(cell["source"])
    tree.body = [tree.body[i] for i in cell["keep"]]
    try:
        exec(compile(tree, "<" + cell["label"] + ">", "exec"), env)
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        _emit(event="issue", text=f"error while defining {cell['label']}: {_short(err)}"[:400])
for name, value in job["values"].items():
    env[name] = _decode(value)
class _TestCase:
    def __init__(self, **kw): self.kw = kw
    def __call__(self, f):
        self.f = f
        return self
for q in job["questions"]:
    _emit(event="start", q=q["name"])
    ns = {"test_case": _TestCase, "__name__": "tests_" + q["name"]}
    exec(compile(q["source"], "<test " + q["name"] + ">", "exec"), ns)
    found = {v.f.__name__: v.f for v in list(ns.values()) if isinstance(v, _TestCase)}
    for t in q["tests"]:
        missing = [p for p in t["params"] if p != "env" and p not in env]
        if missing:
            p = missing[0]
            if p in job["data_names"]:
                why = job["value_problems"].get(p, "not set by the notebook")
                msg = f"variable `{p}` is missing: {why}"
            else:
                msg = f"function `{p}` not defined (renamed or deleted?)"
            _emit(event="test", q=q["name"], test=t["function"], passed=False, message=msg)
            continue
        kwargs = {p: (env if p == "env" else env[p]) for p in t["params"]}
        try:
            found[t["function"]](**kwargs)
            _emit(event="test", q=q["name"], test=t["function"], passed=True, message="")
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt):
                raise
            _emit(event="test", q=q["name"], test=t["function"], passed=False, message=_short(err))
_emit(event="done")
"""


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


@dataclass
class ChildRun:
    records: list[dict]
    outcome: str  # "done", "timeout", "crash"
    detail: str = ""


def run_child(job: dict, timeout_s: float, restart_on: str = "start") -> ChildRun:
    """Run the child on a job; the clock restarts at every ``restart_on`` event."""
    nonce = secrets.token_hex(16)
    with (
        tempfile.TemporaryDirectory(prefix="grade-") as work,
        open(Path(work) / ".stderr", "w+b") as err_file,
    ):
        cwd = Path(work) / "run"
        cwd.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", CHILD],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err_file,
            env=_child_env(),
            start_new_session=True,
        )
        lines: Queue = Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                if raw.startswith(nonce.encode() + b" "):
                    lines.put(raw[len(nonce) + 1 :])
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({**job, "nonce": nonce}).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        records: list[dict] = []
        deadline = time.monotonic() + timeout_s
        outcome, detail = "crash", ""
        while True:
            try:
                raw = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except Empty:
                outcome = "timeout"
                break
            if raw is None:
                break
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            records.append(record)
            if record.get("event") == restart_on:
                deadline = time.monotonic() + timeout_s
            if record.get("event") in ("done", "values"):
                outcome = "done"
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = proc.wait()
        reader.join(timeout=5)
        if outcome == "crash":
            err_file.seek(0)
            tail = err_file.read()[-2000:].decode(errors="replace").strip().splitlines()
            last = tail[-1] if tail else ""
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            detail = f"{how}{': ' + last[:200] if last else ''}"
        return ChildRun(records, outcome, detail)


# ---------------------------------------------------------------------------------------------
# Grading one submission.


@dataclass
class Result:
    submission: str
    scores: dict[str, float]
    status: str
    feedback: str

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def _fmt(x: float) -> str:
    return f"{x:g}"


def _truncate(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 20].rstrip() + " ... [truncated]"


def grade_submission(path: Path, grader: Autograder, timeout_s: float) -> Result:
    """Grade one notebook; never raises for anything the notebook contains."""
    questions = grader.questions
    zeros = {q.name: 0.0 for q in questions}
    try:
        sub = read_submission(path)
    except ValueError as err:
        status = f"unreadable: {err}"
        return Result(path.name, zeros, status, f"{path.name}: {status}\nNo question was graded.\n")
    issues = list(sub.issues)

    # Values the tests need that the kept definitions do not bind come from a whole-notebook run.
    data_names = sorted(grader.data_names - sub.functions)
    values: dict = {}
    value_problems: dict[str, str] = {}
    if data_names:
        run = run_child(
            {"mode": "values", "cells": sub.full, "names": data_names},
            timeout_s * VALUES_TIMEOUT_FACTOR,
        )
        got = [r for r in run.records if r.get("event") == "values"]
        if got:
            values = got[-1].get("values", {})
            value_problems = {
                k: f"it holds {v}, not plain data" for k, v in got[-1]["problems"].items()
            }
        else:
            why = "timed out" if run.outcome == "timeout" else f"crashed ({run.detail})"
            issues.append(f"the run of the whole notebook for {', '.join(data_names)} {why}")
            value_problems = {n: f"the run of the whole notebook {why}" for n in data_names}
        for name in data_names:
            if name not in values:
                value_problems.setdefault(name, "not set by the notebook")

    passed: dict[tuple[str, str], tuple[bool, str]] = {}
    remaining = list(questions)
    while remaining:
        job = {
            "mode": "grade",
            "cells": sub.cells,
            "values": values,
            "data_names": sorted(grader.data_names),
            "value_problems": value_problems,
            "questions": [
                {
                    "name": q.name,
                    "source": q.source,
                    "tests": [{"function": t.function, "params": t.params} for t in q.tests],
                }
                for q in remaining
            ],
        }
        run = run_child(job, timeout_s)
        started = None
        for record in run.records:
            event = record.get("event")
            if event == "issue":
                issues.append(record["text"])
            elif event == "start":
                started = record["q"]
            elif event == "test":
                passed[(record["q"], record["test"])] = (bool(record["passed"]), record["message"])
        if run.outcome == "done":
            break
        names = [q.name for q in remaining]
        if started is None:  # died or hung while loading the definitions: nothing can run
            what = "timeout" if run.outcome == "timeout" else f"crash ({run.detail})"
            issues.append(f"{what} while loading the notebook's definitions")
            break
        issues.append(
            f"timeout in {started}"
            if run.outcome == "timeout"
            else f"crash in {started} ({run.detail})"
        )
        remaining = remaining[names.index(started) + 1 :]

    scores = {}
    lines = [f"Feedback for {path.name}", ""]
    for q in questions:
        results = [passed.get((q.name, t.function)) for t in q.tests]
        earned = sum(t.points for t, r in zip(q.tests, results, strict=True) if r and r[0])
        if q.all_or_nothing and not all(r and r[0] for r in results):
            earned = 0.0
        scores[q.name] = earned
        lines.append(f"{q.name}: {_fmt(earned)} / {_fmt(q.max_points)}")
        for t, r in zip(q.tests, results, strict=True):
            kind = "hidden" if t.hidden else "public"
            if r is None:
                lines.append(f"  - {kind} test {t.function} ({_fmt(t.points)} pt): did not run")
            elif not r[0]:
                lines.append(f"  - {kind} test {t.function} ({_fmt(t.points)} pt) failed:")
                lines.append("      " + _truncate(r[1]).replace("\n", "\n      "))
    status = "ok" if not issues else "; ".join(dict.fromkeys(issues))
    total = sum(scores.values())
    lines += ["", f"total: {_fmt(total)} / {_fmt(grader.max_points)}", f"status: {status}", ""]
    return Result(path.name, scores, status, "\n".join(lines))


# ---------------------------------------------------------------------------------------------
# Grading a folder.


def grade_folder(
    grader: Autograder,
    folder: Path,
    jobs: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[Result]:
    """Grade every ``folder/*.ipynb``; writes gradebook.csv and feedback/<name>.txt."""
    notebooks = sorted(folder.glob("*.ipynb"))
    jobs = max(1, jobs or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda p: _safe_grade(p, grader, timeout_s), notebooks))
    feedback = folder / "feedback"
    shutil.rmtree(feedback, ignore_errors=True)
    feedback.mkdir()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [q.name for q in grader.questions]
    writer.writerow(["submission", *names, "total", "status"])
    for result in results:
        writer.writerow(
            [
                result.submission,
                *(_fmt(result.scores[q]) for q in names),
                _fmt(result.total),
                result.status,
            ]
        )
        (feedback / f"{Path(result.submission).stem}.txt").write_text(result.feedback)
    (folder / "gradebook.csv").write_text(buffer.getvalue())
    return results


def _safe_grade(path: Path, grader: Autograder, timeout_s: float) -> Result:
    try:
        return grade_submission(path, grader, timeout_s)
    except Exception as err:  # noqa: BLE001  (one submission must never stop the run)
        status = f"grader error: {type(err).__name__}: {err}"[:300]
        zeros = {q.name: 0.0 for q in grader.questions}
        return Result(path.name, zeros, status, f"{path.name}: {status}\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="chapter folder, e.g. 04_lstm_gru")
    parser.add_argument("submissions", type=Path, help="folder of submitted *.ipynb")
    parser.add_argument("--jobs", type=int, default=None, help="workers (default: one per core)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds per question (default {DEFAULT_TIMEOUT_S:g})",
    )
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        raise SystemExit(f"not a folder: {args.submissions}")
    grader = load_chapter(autograder_dir(args.chapter))
    start = time.monotonic()
    results = grade_folder(grader, args.submissions, args.jobs, args.timeout)
    elapsed = time.monotonic() - start
    full = grader.max_points
    for r in results:
        print(f"{r.submission}: {_fmt(r.total)}/{_fmt(full)} {r.status}")
    flagged = sum(r.status != "ok" for r in results)
    print(
        f"{len(results)} submissions in {elapsed:.1f} s, {flagged} with a status other than ok; "
        f"{args.submissions / 'gradebook.csv'}"
    )


if __name__ == "__main__":
    main()
