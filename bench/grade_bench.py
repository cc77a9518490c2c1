"""Throughput of class grading (.ci/grade.py) on one chapter.

    python bench/grade_bench.py [--n 100] [--jobs 2] [--chapter 04_lstm_gru] [--timeout 10]

Grades N generated submissions of one chapter in one ``grade_folder`` call on JOBS workers:
a mix of correct (the solution), partial (the solution with one of the functions the
questions ask for replaced by a wrong one), wrong (the blank student notebook, or several
functions wrong) and broken (a syntax error, a notebook that is not JSON, a function that
crashes the process, a function with an endless loop). Prints submissions per minute, and per
submission the start-up cost (process start, imports, the notebook's definitions: until the
first question starts) against the grading time (the questions' tests) and, where the chapter
needs it, the whole-notebook run for computed values.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("grade", ROOT / ".ci" / "grade.py")
assert _spec and _spec.loader
grade = importlib.util.module_from_spec(_spec)
sys.modules["grade"] = grade
_spec.loader.exec_module(grade)

# per 100 submissions
MIX = {"correct": 30, "partial": 30, "blank": 15, "wrong": 10, "syntax": 5, "unreadable": 3}
MIX |= {"crash": 4, "loop": 3}


def wrong_function(name: str) -> str:
    return f"def {name}(*args, **kwargs):\n    raise ValueError('not this way')\n"


def submissions(chapter: str, n: int, grader: grade.Autograder) -> dict[str, object]:
    """name -> notebook (or text, for the unreadable ones), in the proportions of MIX."""
    folder = grade.assignments.OUT / chapter
    solution = nbformat.read(folder / "autograder" / "assignment.ipynb", as_version=4)
    student = nbformat.read(folder / "student" / "assignment.ipynb", as_version=4)
    api = sorted(grader.api)
    kinds = [k for k, count in MIX.items() for _ in range(count)]
    out: dict[str, object] = {}
    for i in range(n):
        kind = kinds[(i * len(kinds)) // n] if n < len(kinds) else kinds[i % len(kinds)]
        name = f"s{i:04d}_{kind}"
        nb = copy.deepcopy(solution)
        if kind == "partial":
            nb.cells.append(new_code_cell(wrong_function(api[i % len(api)])))
        elif kind == "blank":
            nb = copy.deepcopy(student)
        elif kind == "wrong":
            nb.cells += [new_code_cell(wrong_function(f)) for f in api[i % 2 :: 2]]
        elif kind == "syntax":
            nb.cells.append(new_code_cell("def oops(:\n    pass\n"))
        elif kind == "unreadable":
            nb = "{ not a notebook"
        elif kind == "crash":
            body = "    import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
            nb.cells.append(new_code_cell(f"def {api[i % len(api)]}(*args, **kwargs):\n{body}"))
        elif kind == "loop":
            body = "    while True:\n        pass\n"
            nb.cells.append(new_code_cell(f"def {api[i % len(api)]}(*args, **kwargs):\n{body}"))
        out[name] = nb
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--jobs", type=int, default=2, help="workers (default 2)")
    parser.add_argument("--chapter", default="04_lstm_gru")
    parser.add_argument("--timeout", type=float, default=10.0, help="CPU s per question")
    args = parser.parse_args()
    grader = grade.load_chapter(grade.autograder_dir(args.chapter, build=False))
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        folder = Path(tmp)
        for name, nb in submissions(args.chapter, args.n, grader).items():
            if isinstance(nb, str):
                (folder / f"{name}.ipynb").write_text(nb)
            else:
                nbformat.write(nb, folder / f"{name}.ipynb")
        start = time.perf_counter()
        results = grade.grade_folder(grader, folder, jobs=args.jobs, timeout_s=args.timeout)
        elapsed = time.perf_counter() - start
    by_kind: dict[str, list] = {}
    for r in results:
        by_kind.setdefault(r.submission.split("_", 1)[1].removesuffix(".ipynb"), []).append(r)
    full = grader.max_points
    print(f"{args.chapter}: {args.n} submissions on {args.jobs} workers in {elapsed:.1f} s")
    print(f"throughput: {60 * args.n / elapsed:.1f} submissions per minute")
    for kind, rows in by_kind.items():
        totals = [r.total for r in rows]
        flagged = sum(r.status != "ok" for r in rows)
        print(
            f"  {kind:10s} n={len(rows):3d}  total {statistics.mean(totals):5.1f}/{full:g} "
            f"(min {min(totals):g}, max {max(totals):g}), status not ok: {flagged}"
        )
    timed = [r for r in results if r.timing]
    per_sub = elapsed * args.jobs / args.n
    parts = {k: statistics.mean(r.timing.get(k, 0.0) for r in timed) for k in grade_parts()}
    normal = [r for r in timed if "timeout" not in r.status and "crash" not in r.status]
    normal_parts = {k: statistics.mean(r.timing.get(k, 0.0) for r in normal) for k in parts}
    print(f"per submission: {per_sub:.2f} s of a worker (wall-clock x workers / submissions)")
    for label, p in [("all graded", parts), ("no timeout or crash", normal_parts)]:
        busy = sum(p.values())
        shares = ", ".join(f"{k} {v:.2f} s ({100 * v / busy:.0f} %)" for k, v in p.items())
        print(f"  mean over {label}: {shares}")


def grade_parts() -> list[str]:
    return ["values", "startup", "tests"]


if __name__ == "__main__":
    main()
