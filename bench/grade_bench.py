"""Throughput of class grading (.ci/grade.py) on one chapter.

    python bench/grade_bench.py [--n 100] [--jobs 2] [--chapter 04_lstm_gru]

Grades N generated submissions (copies of the solution, and of the solution with one
function replaced by a wrong one) on JOBS workers; prints submissions per minute, and the
start-up cost of one grading process (python start, the notebook's imports and definitions,
no test) against the grading time per submission.
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

WRONG = [  # (function, a wrong body): each costs the question that tests it
    "def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):\n    return h_prev * 0.0, None",
    "def carousel_gain(x, Wx, b):\n    return 0.0",
    "def numerical_gradient(f, x, eps=1e-6):\n    return x * 0.0",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--jobs", type=int, default=2, help="workers (default 2)")
    parser.add_argument("--chapter", default="04_lstm_gru")
    args = parser.parse_args()
    autograder = grade.autograder_dir(args.chapter, build=False)
    grader = grade.load_chapter(autograder)
    solution = nbformat.read(autograder / "assignment.ipynb", as_version=4)
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        folder = Path(tmp)
        for i in range(args.n):
            nb = copy.deepcopy(solution)
            if args.chapter == "04_lstm_gru" and i % 2:
                nb.cells.append(new_code_cell(WRONG[(i // 2) % len(WRONG)]))
            nbformat.write(nb, folder / f"s{i:04d}.ipynb")
        sub = grade.read_submission(folder / "s0000.ipynb")
        startup = []
        for _ in range(5):
            t = time.perf_counter()
            job = {"mode": "grade", "cells": sub.cells, "values": {}, "data_names": [],
                   "value_problems": {}, "questions": []}  # fmt: skip
            run = grade.run_child(job, 60)
            assert run.outcome == "done", run
            startup.append(time.perf_counter() - t)
        start = time.perf_counter()
        results = grade.grade_folder(grader, folder, jobs=args.jobs)
        elapsed = time.perf_counter() - start
    bad = [r for r in results if r.status != "ok"]
    assert not bad, bad[:3]
    per_sub = elapsed * args.jobs / args.n
    boot = statistics.median(startup)
    print(f"{args.chapter}: {args.n} submissions on {args.jobs} workers in {elapsed:.1f} s")
    print(f"throughput: {60 * args.n / elapsed:.1f} submissions per minute")
    print(f"per submission: {per_sub:.2f} s of a worker; start-up (python, imports, definitions, "
          f"no test) {boot:.2f} s = {100 * boot / per_sub:.0f} %; "
          f"{len(grader.questions)} questions, one process per submission")  # fmt: skip


if __name__ == "__main__":
    main()
