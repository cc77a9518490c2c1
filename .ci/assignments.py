"""Build and check the graded assignments (otter-grader, no Docker).

    python .ci/assignments.py build [CHAPTER ...]
    python .ci/assignments.py check [CHAPTER ...]

The source of a chapter's assignment is ``book/<chapter>/assignment.ipynb`` in otter-assign
format: solutions and tests, public and hidden. ``build`` turns it into

    _build/assignments/<chapter>/student/     the notebook students get (solutions removed)
    _build/assignments/<chapter>/autograder/  the solution notebook and the autograder zip
    book/<chapter>/student/                   a copy of student/, shown by the book

by running ``otter assign --no-run-tests`` on a copy of the chapter folder (the tests are
Python code, so nothing needs the source's outputs; ``check`` runs them on the solution). A
build is reused while the source and the package are unchanged.

``check`` builds, then grades with ``otter run -a <zip>``: the solution notebook must get full
marks, the unmodified student notebook must score below full marks on every question, and no
line of a solution or of a hidden test may appear in the student notebook.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import install_cell  # noqa: E402  (.ci/install_cell.py: the install cell's code)

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
OUT = ROOT / "_build" / "assignments"
SOURCE = "assignment.ipynb"

MARKER = re.compile(r"^\s*#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS|PROMPT)\b", re.IGNORECASE)
INLINE_BEGIN = re.compile(r"^\s*#\s*BEGIN\s+SOLUTION\b", re.IGNORECASE)
INLINE_END = re.compile(r"^\s*#\s*END\s+SOLUTION\b", re.IGNORECASE)
INLINE_LINE = re.compile(r"#\s*SOLUTION(\s+NO\s+PROMPT)?\s*$", re.IGNORECASE)
TEST_CONFIG = re.compile(
    r'"""\s*#\s*BEGIN\s+TEST\s+CONFIG(.*?)"""\s*#\s*END\s+TEST\s+CONFIG', re.IGNORECASE | re.DOTALL
)


def chapters(names: list[str]) -> list[Path]:
    """The chapter folders that hold an assignment, all of them or the ones named."""
    found = sorted(path.parent for path in BOOK.glob(f"*/{SOURCE}"))
    if names:
        unknown = set(names) - {chapter.name for chapter in found}
        if unknown:
            raise SystemExit(f"no book/<chapter>/{SOURCE} for: {', '.join(sorted(unknown))}")
        found = [chapter for chapter in found if chapter.name in names]
    return found


def assignment_config(notebook: nbformat.NotebookNode) -> dict:
    """The YAML of the raw ``# ASSIGNMENT CONFIG`` cell."""
    for cell in notebook.cells:
        head = cell.source.lstrip().upper()
        if cell.cell_type == "raw" and head.startswith("# ASSIGNMENT CONFIG"):
            return yaml.safe_load(cell.source) or {}
    raise ValueError("no raw '# ASSIGNMENT CONFIG' cell")


def source_digest(chapter: Path) -> str:
    """Hash of what a build depends on: the source, the chapter's data files, the package."""
    digest = hashlib.sha256()
    files = [chapter / SOURCE, *(ROOT / "seqcourse").rglob("*.py")]
    # the student notebook's install cell: the repository address, the version, its code
    files += [ROOT / "_config.yml", ROOT / "pyproject.toml", ROOT / ".ci" / "install_cell.py"]
    files += [Path(__file__).resolve()]
    files += [p for p in chapter.rglob("*") if p.is_file() and p.suffix != ".ipynb"]
    for path in sorted(set(files)):
        if {"student", ".ipynb_checkpoints", "__pycache__"} & set(path.relative_to(ROOT).parts):
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build(chapter: Path) -> Path:
    """Student and autograder versions of one chapter's assignment; returns their folder.

    Processes that build the same chapter at once (two pytest workers) take turns on a lock
    file; the later one then finds the build current and reuses it."""
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{chapter.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(chapter)


def _build(chapter: Path) -> Path:
    out = OUT / chapter.name
    digest = source_digest(chapter)
    stamp = out / ".source-hash"
    if not (stamp.is_file() and stamp.read_text() == digest):
        src = chapter / SOURCE
        notebook = nbformat.read(src, as_version=4)
        if not assignment_config(notebook).get("generate"):
            raise SystemExit(
                f"{src}: set 'generate:' (e.g. 'generate: {{pdf: false}}') in the ASSIGNMENT "
                "CONFIG cell; otter assign writes the autograder zip only then"
            )
        work = OUT / f"{chapter.name}.tmp-{os.getpid()}"  # two builds at once do not collide
        shutil.rmtree(work, ignore_errors=True)
        # otter assign works on a copy of the chapter folder, so files the notebook reads
        # are beside it. It neither executes the source nor runs its tests
        # (--no-run-tests): with Python-format tests nothing needs the outputs, and `check`
        # grades the solution notebook with the autograder anyway, which is the same run.
        executed = work / "source"
        shutil.copytree(chapter, executed, ignore=shutil.ignore_patterns("student", ".*"))
        nbformat.write(notebook, executed / SOURCE)
        print(f"{chapter.name}: otter assign", flush=True)
        run(
            [
                sys.executable,
                "-m",
                "otter",
                "assign",
                "--no-pdfs",
                "--no-run-tests",
                SOURCE,
                str(work / "otter"),
            ],
            cwd=executed,
        )
        finish_student_notebook(work / "otter" / "student" / SOURCE)
        shutil.rmtree(out, ignore_errors=True)
        (work / "otter").rename(out)
        shutil.rmtree(work)
        stamp.write_text(digest)
    # Replace the book's copy only when it differs: a book build may be reading it.
    shown = chapter / "student"
    if _contents(shown) != _contents(out / "student"):
        shutil.rmtree(shown, ignore_errors=True)
        shutil.copytree(out / "student", shown)
    return out


def finish_student_notebook(path: Path) -> None:
    """Make otter's student notebook launchable and reproducible, in place.

    - First cell: install the package and otter where missing (``install_cell``), so the
      launch buttons of the student page (Colab, Binder, a hub) open a notebook that runs.
    - Cell ids numbered in order, and the kernel's language_info reduced to its name: the
      notebook is committed (the launch buttons need a file in the repository), so a rebuild
      on another machine must give the same bytes.
    """
    notebook = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell(
        install_cell.student_cell_source(), metadata={"tags": [install_cell.TAG]}
    )
    notebook.cells = [c for c in notebook.cells if c.get("id") != install_cell.CELL_ID]
    notebook.cells.insert(0, cell)
    for index, c in enumerate(notebook.cells):
        c.id = install_cell.CELL_ID if index == 0 else f"cell-{index:03d}"
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.write(notebook, path)


def _contents(folder: Path) -> dict[Path, bytes]:
    files = folder.rglob("*") if folder.is_dir() else []
    return {path.relative_to(folder): path.read_bytes() for path in files if path.is_file()}


def run(command: list[str], cwd: Path) -> None:
    """Run a command; on failure print its output and stop."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout + done.stderr)
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")


def grade(notebook: Path, autograder_zip: Path, results: Path) -> dict[str, tuple[float, float]]:
    """Grade a notebook with ``otter run``: {question: (score, max_score)}.

    ``otter run`` exits 0 whatever the score, so the scores are read from results.json.
    """
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    command = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder_zip)]
    run([*command, "-o", str(results), str(notebook)], cwd=results)
    tests = json.loads((results / "results.json").read_text())["tests"]
    scored = [test for test in tests if "max_score" in test]  # not the "Public Tests" summary
    return {test["name"]: (float(test["score"]), float(test["max_score"])) for test in scored}


def _normalise(line: str) -> str:
    line = INLINE_LINE.sub("", line)
    line = re.sub(r"^\s*(>>>|\.\.\.)\s", "", line)
    return " ".join(line.split())


def _significant(lines: Iterable[str]) -> set[str]:
    """Normalised lines that carry content (not blank, not only brackets or markers)."""
    kept = {_normalise(line) for line in lines if not MARKER.match(line)}
    return {line for line in kept if re.search(r"[A-Za-z0-9]", line) and line != "..."}


def _is_hidden(test_source: str) -> bool:
    """Whether otter treats a test cell as hidden (config block, else a first-line comment)."""
    match = TEST_CONFIG.search(test_source)
    if match:
        return bool((yaml.safe_load(match.group(1)) or {}).get("hidden", False))
    first = test_source.lstrip().splitlines()[0] if test_source.strip() else ""
    return first.startswith("#") and re.search(r"\bhidden\b", first, re.IGNORECASE) is not None


def secret_lines(source: nbformat.NotebookNode) -> set[str]:
    """Lines of the source that students must not see: solutions and hidden tests.

    A line counts only if it does not also stand in the part students are given (a
    solution may repeat a line of the prompt; a hidden test may repeat a public one).
    """
    secret: set[str] = set()
    visible: set[str] = set()
    in_solution = in_tests = False
    for cell in source.cells:
        text = cell.source
        if cell.cell_type == "raw":
            marker = MARKER.match(text.strip())
            if marker and marker.group(2).upper() == "SOLUTION":
                in_solution = marker.group(1).upper() == "BEGIN"
            elif marker and marker.group(2).upper() == "TESTS":
                in_tests = marker.group(1).upper() == "BEGIN"
            continue
        if cell.cell_type == "markdown":
            (secret if in_solution else visible).update(_significant(text.splitlines()))
        elif in_tests:
            body = TEST_CONFIG.sub("", text).splitlines()
            (secret if _is_hidden(text) else visible).update(_significant(body))
        else:
            inside = False
            for line in text.splitlines():
                if INLINE_BEGIN.match(line) or INLINE_END.match(line):
                    inside = bool(INLINE_BEGIN.match(line))
                elif inside or INLINE_LINE.search(line):
                    secret.update(_significant([line]))
                else:
                    visible.update(_significant([line]))
    return secret - visible


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def leaked_lines(source: Path, student: Path) -> list[str]:
    """Solution and hidden-test lines of ``source`` that appear in ``student``.

    The install cell that ``finish_student_notebook`` puts first is not the source's, and a
    line it shares with a hidden test (``import sys``) is no leak: it is left out.
    """
    student_nb = nbformat.read(student, as_version=4)
    texts = [cell.source for cell in student_nb.cells if cell.get("id") != install_cell.CELL_ID]
    texts += _strings(student_nb.metadata.get("otter", {}))
    shown = _significant([line for text in texts for line in text.splitlines()])
    return sorted(secret_lines(nbformat.read(source, as_version=4)) & shown)


def check(chapter: Path) -> list[str]:
    """Build and grade one assignment; returns what is wrong (empty when all is well)."""
    out = build(chapter)
    zips = sorted((out / "autograder").glob("*-autograder_*.zip"))
    if len(zips) != 1:
        return [f"expected one autograder zip in {out / 'autograder'}, found {len(zips)}"]
    problems = []
    solution = grade(out / "autograder" / SOURCE, zips[0], out / "graded" / "solution")
    student = grade(out / "student" / SOURCE, zips[0], out / "graded" / "student")
    for name, (score, max_score) in solution.items():
        if score < max_score:
            problems.append(f"solution scores {score:g}/{max_score:g} on {name}")
    for name, (score, max_score) in student.items():
        if score >= max_score:
            problems.append(f"unmodified student notebook gets full marks on {name}")
    if not solution or sum(m for _, m in solution.values()) == 0:
        problems.append("the autograder awards no points")
    for line in leaked_lines(chapter / SOURCE, out / "student" / SOURCE):
        problems.append(f"student notebook shows a solution or hidden-test line: {line!r}")

    def total(scores: dict[str, tuple[float, float]]) -> str:
        return f"{sum(s for s, _ in scores.values()):g}/{sum(m for _, m in scores.values()):g}"

    print(f"{chapter.name}: solution {total(solution)}, unmodified student {total(student)}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["build", "check"])
    parser.add_argument("chapters", nargs="*", help="chapter folders, e.g. 01_markov_hmm")
    args = parser.parse_args()
    found = chapters(args.chapters)
    if not found:
        print(f"no book/*/{SOURCE}: nothing to do")
    failed = False
    for chapter in found:
        if args.mode == "build":
            out = build(chapter)
            print(f"{chapter.name}: {out.relative_to(ROOT)}/{{student,autograder}}")
            continue
        problems = check(chapter)
        for problem in problems:
            print(f"{chapter.name}: {problem}")
        failed = failed or bool(problems)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
