"""Grade a class: every submitted notebook of one chapter, in parallel, into a gradebook.

    python .ci/grade.py CHAPTER SUBMISSIONS_DIR [--jobs N] [--timeout S]

grades every ``SUBMISSIONS_DIR/*.ipynb`` (not recursive) with the chapter's autograder (built
first by ``.ci/assignments.py`` when missing or out of date) and writes

    SUBMISSIONS_DIR/gradebook.csv            submission, q1, ..., qN, total, status
    SUBMISSIONS_DIR/feedback/<name>.txt      per question the score and, for each failed
                                             test, its message (never a hidden test's source)

``status`` is ``ok`` only when every question ran and nothing was refused; otherwise it names
what went wrong (unreadable notebook, syntax error in a cell, timeout in a question, crash of
the grading process, a refused definition), and the questions that could not run score 0.

A slip costs one question. The parent splits the chapter's solution notebook (the
autograder's ``assignment.ipynb``, never the submission) by question: the cells otter tags
``otter_assign_solution_cell`` belong to the next ``grader.check("qN")``; every other cell is
given code. The functions a question asks for (its solution's top-level ``def``/``class``
that a test takes as an argument) are swapped for the reference while a later question is
graded: for question k, the names of questions before k are bound, in the namespace the
student's functions use as globals, to reference definitions run in a fresh namespace that
holds the given code and the solutions of the questions before k only (nothing of question k
or later); the names of question k and later are the student's. So a wrong
``lstm_step_forward`` costs question 2 and not question 3, whose ``lstm_forward`` calls it,
even through a helper the student wrote; a step function redefined in a later cell is the
student's for its own question and the reference for later ones. Only those names are
swapped: helpers the student wrote (also one that shadows the given code or a name that the
reference uses internally) stay the student's, and a function the student renamed or
deleted is the reference for later questions. The whole-notebook run for computed values
does the same per cell: a cell that assigns a value of question k (``casino_history``) runs
with the reference functions of the questions before k. A test that needs a function the
notebook does not define (renamed, deleted, set to ``None``) says "no function named `f` is
defined (renamed or deleted?)".

How a submission is kept from setting its own grade (``otter run`` lets it: a cell that
rewrites tests/q*.py or patches otter's ``ExceptionTestFile.run`` gets full marks):

- The chapter comes from the command line, never from the notebook's metadata (any metadata,
  otter's included, may be edited or removed). The questions, the test code and the points
  come from the autograder zip, read by this (parent) process before any submission runs;
  nothing a submission writes on disk is read back as a test or a point value, and otter is
  not used to run the tests.
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
  folder, own process group) under a limit per question on its CPU time (so a busy machine
  does not time out honest work; 3 times that in wall-clock time stops a child that sleeps),
  with a separate allowance of at least ``LOAD_TIMEOUT_S`` for start-up and definitions; on
  timeout the group is killed, that question scores 0 and the next questions run in a new
  process. A crash (segfault, ``os._exit``) costs the question it happened in, with the
  reason in ``status``.
- The child reports one JSON line per test, prefixed by a random nonce passed on its stdin;
  lines without it (the student's prints) are ignored.
- Reference code under a student's name is refused, whatever it is called (a
  chapter-independent check; the packages are ``FORBIDDEN_PACKAGES``, seqcourse and
  hmmlearn): an audit hook in the child makes ``types.FunctionType`` on the code of one of
  their functions raise, at definition or at run time (a copy of a reference function); a
  name the student defines with ``def``/``class``, or a function a question asks for, that
  turns out to be such a function (a decorator that returns it, an import under the
  question's name) or a class deriving from one of their classes, is replaced by a stub that
  fails with the reason. Everything else a question forbids (torch inside the A4 functions,
  a backward pass in A3's RTRL, seqcourse.hmm or hmmlearn in A1's) is each assignment's hidden
  tests' job: they watch what runs (``sys.setprofile``, ``TorchFunctionMode``), not names.

What is NOT closed: the bodies of the student's functions (and decorators, default values,
class bodies, which run at definition time) still run inside the child, with the child's
rights. Such code could in principle find the nonce in the child's memory and print forged
results, read the solution notebook or the autograder zip from disk, or write anywhere the
grading user may write (there is no filesystem sandbox: run the grader as a user that can
read nothing but the submissions and the package, and write nothing but a scratch folder, or
in a container, if that matters). A code object rebuilt from a reference function's bytecode
under another file name is not recognised as a copy. A forbidden call that a public test does
not watch earns that public test's points (the hidden tests of a question watch; whether its
public test does is up to the assignment). What is closed: top-level code, the test files,
the point totals, otter's internals, edited metadata, copies of reference functions and
subclasses of reference classes, endless loops, crashes, and marks lost twice for one slip.
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
LOAD_TIMEOUT_S = 30.0  # start-up, imports and definitions, before the first question (at least)
VALUES_TIMEOUT_FACTOR = 5
WALL_FACTOR = 3  # a child may take 3 x its CPU-time limit in wall-clock time (busy machine)
POLL_S = 0.25  # the whole-notebook run for computed values gets 5 x --timeout
MESSAGE_CHARS = 600
SKIPPED_MODULES = ("otter",)
# packages whose code a student's function may not be (a FunctionType copy, a decorator that
# returns it) and whose classes a student's class may not derive from
FORBIDDEN_PACKAGES = ("seqcourse", "hmmlearn")


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
class Reference:
    """The chapter's solution, split by question (read by the parent from the autograder's
    solution notebook, never from a submission).

    ``preamble``: the kept statements of every cell that is not a solution cell (the given
    code: imports, helpers); ``cells[q]``: those of question q's solution cells (otter tags
    them ``otter_assign_solution_cell``; a cell belongs to the next ``grader.check("q")``);
    ``owner[name]``: the question whose solution cells define the top-level function or class
    ``name``; ``assigned[name]``: the question of the first cell that assigns the top-level
    variable ``name`` (solution or given cell)."""

    preamble: list[dict] = field(default_factory=list)
    cells: dict[str, list[dict]] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)


_CHECK = re.compile(r"""grader\.check\(\s*["']([^"']+)["']\s*\)""")
SOLUTION_TAG = "otter_assign_solution_cell"


def _stored_names(tree: ast.Module) -> set[str]:
    """Names a module's top-level statements assign (not inside def, class or lambda)."""
    names: set[str] = set()
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def load_reference(notebook_path: Path) -> Reference:
    """Split the solution notebook into the given code and each question's solution cells."""
    notebook = nbformat.read(notebook_path, as_version=4)
    code = [c for c in notebook.cells if c.get("cell_type") == "code"]
    # the question of a cell: the next grader.check(...) at or after it
    question_of: list[str | None] = [None] * len(code)
    upcoming: str | None = None
    for i in range(len(code) - 1, -1, -1):
        found = _CHECK.findall(str(code[i].source))
        if len(found) == 1:
            upcoming = found[0]
        elif len(found) > 1:  # grader.check_all() does not match; several checks end nothing
            upcoming = None
        question_of[i] = upcoming
    ref = Reference()
    for i, cell in enumerate(code):
        source = _without_magics(str(cell.source))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        q = question_of[i]
        solution = SOLUTION_TAG in cell.get("metadata", {}).get("tags", []) and q is not None
        label = f"reference {'solution of ' + str(q) if solution else 'given'} cell {i + 1}"
        for name in _stored_names(tree):
            if q is not None:
                ref.assigned.setdefault(name, q)
        keep = [j for j, node in enumerate(tree.body) if _keep(node)]
        if not keep:
            continue
        part = {"label": label, "source": source, "keep": keep}
        if solution:
            ref.cells.setdefault(q, []).append(part)
            for j in keep:
                node = tree.body[j]
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    ref.owner.setdefault(node.name, q)
        else:
            ref.preamble.append(part)
    return ref


@dataclass
class Autograder:
    """A chapter's questions, which test arguments are values rather than functions, and the
    reference solution by question."""

    questions: list[Question]
    data_names: set[str]
    reference: Reference = field(default_factory=Reference)
    functions: set[str] = field(default_factory=set)  # def/class names of the solution

    @property
    def max_points(self) -> float:
        return sum(q.max_points for q in self.questions)

    @property
    def api(self) -> dict[str, str]:
        """The functions a question asks for (a test takes them as an argument), each with
        the question whose solution defines it: these are swapped for the reference while
        a later question is graded."""
        params = {p for q in self.questions for t in q.tests for p in t.params}
        order = [q.name for q in self.questions]
        return {
            name: q for name, q in self.reference.owner.items() if name in params and q in order
        }


def load_chapter(autograder_dir: Path) -> Autograder:
    """Questions from the zip in ``autograder_dir``; its solution notebook tells which test
    arguments are functions (a top-level ``def`` or ``class`` there) and which are values,
    and gives each question's reference definitions."""
    zips = sorted(autograder_dir.glob("*-autograder_*.zip"))
    if len(zips) != 1:
        raise SystemExit(f"expected one autograder zip in {autograder_dir}, found {len(zips)}")
    questions = load_autograder(zips[0])
    needed = {p for q in questions for t in q.tests for p in t.params if p != "env"}
    solution_path = autograder_dir / assignments.SOURCE
    solution = read_submission(solution_path)
    reference = load_reference(solution_path)
    return Autograder(questions, needed - solution.functions, reference, solution.functions)


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
def _emit(**record):  # on a line of its own even after a student's print(..., end="")
    _out.write("\n" + _NONCE + " " + json.dumps(record) + "\n")
    _out.flush()
def _short(err):
    frames = traceback.extract_tb(err.__traceback__)
    where = [f"{f.filename.strip('<>')} line {f.lineno}" for f in frames
             if f.filename.startswith("<cell")]
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, NameError) and getattr(err, "name", None) in job.get("functions", ()):
        text = f"no function named `{err.name}` is defined (renamed or deleted?)"
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
_REF = job.get("reference") or {"preamble": [], "cells": {}}
_ORDER = job.get("order") or []
_API = job.get("api") or {}  # function a question asks for -> that question
_FORBIDDEN = tuple(job.get("forbidden") or ())
def _exec_kept(cell, ns):
    tree = ast.parse(cell["source"])
    tree.body = [tree.body[i] for i in cell["keep"]]
    exec(compile(tree, "<" + cell["label"] + ">", "exec"), ns)
_ref_failed = set()
def _reference_before(k):
    # a fresh namespace: the given code and the solutions of the first k questions, nothing
    # later, so a reference function reached from the student's code leads to no later answer
    ns = {"__name__": "__main__", "__builtins__": builtins}
    for cell in _REF["preamble"] + [c for q in _ORDER[:k] for c in _REF["cells"].get(q, [])]:
        try:
            _exec_kept(cell, ns)
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt):
                raise
            if cell["label"] not in _ref_failed:
                _ref_failed.add(cell["label"])
                _emit(event="issue", text=f"grader: {cell['label']} failed: {_short(err)}"[:400])
    return ns
def _swap(k, saved):
    # the functions of questions before the k-th are the reference's; the others the student's
    earlier = {n for n, q in _API.items() if q in _ORDER and _ORDER.index(q) < k}
    refs = _reference_before(k) if earlier else {}
    for name in _API:
        if name in earlier and name in refs:
            env[name] = refs[name]
        elif name in saved:
            env[name] = saved[name]
        else:
            env.pop(name, None)
def _package_dirs():
    # the folders of the reference packages, found without importing them
    import importlib.util, os
    dirs = []
    for package in _FORBIDDEN:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for folder in getattr(spec, "submodule_search_locations", None) or []:
            dirs.append((os.path.join(os.path.realpath(folder), ""), package))
    return dirs
_PACKAGE_DIRS = _package_dirs()
def _in_package(code):
    import os
    path = code.co_filename
    if path.startswith("<"):
        return None
    real = os.path.realpath(path)
    return next((p for d, p in _PACKAGE_DIRS if path.startswith(d) or real.startswith(d)), None)
def _not_own(obj):
    # why a name the student defines is not their own code, or None
    if isinstance(obj, type):
        for cls in obj.__mro__:
            mod = str(getattr(cls, "__module__", "") or "")
            if mod.split(".")[0] in _FORBIDDEN:
                how = "it is" if cls is obj else "it derives from"
                return f"{how} {mod}.{cls.__qualname__}, a reference implementation"
        return None
    seen = obj
    for _ in range(50):
        code = getattr(seen, "__code__", None)
        if code is not None and _in_package(code):
            name = f"{_in_package(code)}'s {getattr(seen, '__qualname__', code.co_name)}"
            return f"it is {name}, a reference function (or a copy of one)"
        inner = getattr(seen, "__wrapped__", None)
        if inner is None:
            break
        seen = inner
    code = getattr(seen, "__code__", None)
    if code is None or not code.co_filename.startswith("<cell"):
        mod = getattr(seen, "__module__", None) or type(seen).__module__
        name = getattr(seen, "__qualname__", type(seen).__name__)
        return f"it is {mod}.{name}, not a function written in the notebook"
    return None
_copies = set()
def _audit(event, args):
    # types.FunctionType(code, ...) on the code of a reference package: a copy of a reference
    # function, whatever it is called. It is refused when made (at definition or at run time).
    if event == "function.__new__" and args and hasattr(args[0], "co_filename"):
        package = _in_package(args[0])
        if package:
            what = f"{package}'s {args[0].co_name}"
            if what not in _copies:
                _copies.add(what)
                _emit(event="issue", text=f"refused a copy of {what} (types.FunctionType)")
            raise AssertionError(
                f"a copy of {what} was made with types.FunctionType: a reference function may "
                "not run as your code; write it yourself"
            )
if _FORBIDDEN:
    sys.addaudithook(_audit)
def _refused(name, why):
    def refused(*args, **kwargs):
        raise AssertionError(f"`{name}` is refused by the grader: {why}; write it yourself")
    return refused
def _missing(name):
    if name not in env:
        return f"no function named `{name}` is defined (renamed or deleted?)"
    if not callable(env[name]):
        what = type(env[name]).__name__
        return f"no function named `{name}` is defined: `{name}` is a {what} (renamed or deleted?)"
    return None
if job["mode"] == "values":
    import types
    stub = types.ModuleType("otter")
    class _Notebook:
        def __init__(self, *a, **k): pass
        def __getattr__(self, name): return lambda *a, **k: None
    stub.Notebook = _Notebook
    sys.modules["otter"] = stub
    for cell in job["cells"]:
        # a cell that computes a value of question k runs with the reference functions of the
        # questions before k (then the student's are put back)
        k = cell.get("question_index")
        swapped = {}
        if k is not None:
            saved = {n: env[n] for n in _API if n in env}
            _swap(k, saved)
            swapped = {n: env[n] for n in _API if n in env}
        try:
            exec(compile(cell["source"], "<" + cell["label"] + ">", "exec"), env)
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt):
                raise
        for name, value in swapped.items():
            if env.get(name) is value:  # not redefined by the cell
                if name in saved:
                    env[name] = saved[name]
                else:
                    env.pop(name, None)
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
    try:
        _exec_kept(cell, env)
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        _emit(event="issue", text=f"error while defining {cell['label']}: {_short(err)}"[:400])
for name in dict.fromkeys(job.get("student_functions", []) + list(_API)):
    if name in env and callable(env[name]):
        why = _not_own(env[name])
        if why:
            env[name] = _refused(name, why)
            _emit(event="issue", text=f"refused `{name}`: {why}"[:400])
for name, value in job["values"].items():
    env[name] = _decode(value)
_student = {n: env[n] for n in _API if n in env}
class _TestCase:
    def __init__(self, **kw): self.kw = kw
    def __call__(self, f):
        self.f = f
        return self
for q in job["questions"]:
    _emit(event="start", q=q["name"])
    _swap(_ORDER.index(q["name"]) if q["name"] in _ORDER else len(_ORDER), _student)
    ns = {"test_case": _TestCase, "__name__": "tests_" + q["name"]}
    exec(compile(q["source"], "<test " + q["name"] + ">", "exec"), ns)
    found = {v.f.__name__: v.f for v in list(ns.values()) if isinstance(v, _TestCase)}
    for t in q["tests"]:
        msgs = []
        for p in t["params"]:
            if p == "env":
                continue
            if p in job["data_names"] and p not in env:
                why = job["value_problems"].get(p, "not set by the notebook")
                msgs.append(f"variable `{p}` is missing: {why}")
            elif p in job["functions"] or p not in env:
                msgs.append(_missing(p))
        msg = "; ".join(m for m in msgs if m)
        if msg:
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


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads) from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class ChildRun:
    records: list[dict]
    outcome: str  # "done", "timeout", "crash"
    detail: str = ""
    seconds: float = 0.0  # wall-clock, from the start of the process to its end


def run_child(
    job: dict, timeout_s: float, restart_on: str = "start", first_timeout_s: float | None = None
) -> ChildRun:
    """Run the child on a job; the clock restarts at every ``restart_on`` event. Until the
    first such event (start-up, imports, definitions) it allows ``first_timeout_s``."""
    nonce = secrets.token_hex(16)
    with (
        tempfile.TemporaryDirectory(prefix="grade-") as work,
        open(Path(work) / ".stderr", "w+b") as err_file,
    ):
        cwd = Path(work) / "run"
        cwd.mkdir()
        spawned = time.monotonic()
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
        # The limit is on the child's CPU time (robust to a busy machine); a wall-clock limit
        # of WALL_FACTOR times as long stops a child that sleeps or waits.
        limit = max(timeout_s, first_timeout_s or 0.0)
        since, cpu0 = time.monotonic(), _cpu_seconds(proc.pid)
        outcome, detail = "crash", ""
        while True:
            try:
                raw = lines.get(timeout=POLL_S)
            except Empty:
                cpu = _cpu_seconds(proc.pid)
                used = cpu - cpu0 if cpu is not None and cpu0 is not None else None
                wall = time.monotonic() - since
                if (
                    (used is not None and used > limit)
                    or wall > limit * WALL_FACTOR
                    or (used is None and wall > limit)
                ):
                    outcome = "timeout"
                    break
                continue
            if raw is None:
                break
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            record["_t"] = time.monotonic() - spawned
            records.append(record)
            if record.get("event") == restart_on:
                limit, since, cpu0 = timeout_s, time.monotonic(), _cpu_seconds(proc.pid)
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
        return ChildRun(records, outcome, detail, time.monotonic() - spawned)


# ---------------------------------------------------------------------------------------------
# Grading one submission.


@dataclass
class Result:
    submission: str
    scores: dict[str, float]
    status: str
    feedback: str
    # wall-clock seconds: "values" (the whole-notebook run), "startup" (process start,
    # imports, definitions: until the first question starts), "tests" (the questions)
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def _fmt(x: float) -> str:
    return f"{x:g}"


def _truncate(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 20].rstrip() + " ... [truncated]"


def _reference_job(grader: Autograder) -> dict:
    """What the child needs to swap in the reference functions of earlier questions."""
    order = [q.name for q in grader.questions]
    api = grader.api
    last = max((order.index(q) for q in api.values()), default=-1)
    ref = grader.reference
    return {
        "order": order,
        "api": api,
        "functions": sorted(grader.functions),
        "forbidden": list(FORBIDDEN_PACKAGES),
        "reference": {  # no question's solution is sent unless a later question needs it
            "preamble": ref.preamble if api else [],
            "cells": {q: ref.cells.get(q, []) for q in order[: last + 1] if q != order[-1]},
        },
    }


def _value_cells(cells: list[dict], grader: Autograder) -> list[dict]:
    """The whole-notebook cells, each with the index of the question whose values it assigns
    (the earliest such question; None when it assigns none): that cell runs with the
    reference functions of the questions before."""
    order = [q.name for q in grader.questions]
    owners = {n: order.index(q) for n, q in grader.reference.assigned.items() if q in order}
    owners = {n: k for n, k in owners.items() if n in grader.data_names}
    out = []
    for cell in cells:
        try:
            names = _stored_names(ast.parse(cell["source"]))
        except SyntaxError:
            names = set()
        ks = [owners[n] for n in names if n in owners]
        out.append({**cell, "question_index": min(ks) if ks else None})
    return out


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
    common = _reference_job(grader)
    timing: dict[str, float] = {}
    if data_names:
        run = run_child(
            {
                **common,
                "mode": "values",
                "cells": _value_cells(sub.full, grader),
                "names": data_names,
            },
            timeout_s * VALUES_TIMEOUT_FACTOR,
        )
        timing["values"] = run.seconds
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
            **common,
            "mode": "grade",
            "cells": sub.cells,
            "student_functions": sorted(sub.functions),
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
        run = run_child(job, timeout_s, first_timeout_s=LOAD_TIMEOUT_S)
        first = next((r["_t"] for r in run.records if r.get("event") == "start"), run.seconds)
        timing["startup"] = timing.get("startup", 0.0) + first
        timing["tests"] = timing.get("tests", 0.0) + run.seconds - first
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
    return Result(path.name, scores, status, "\n".join(lines), timing)


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
        help=f"CPU seconds per question (default {DEFAULT_TIMEOUT_S:g})",
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
