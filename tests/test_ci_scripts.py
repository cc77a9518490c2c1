"""The scripts under .ci/: the nbclient notebook runner and the book build's stall check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ci_scripts
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


load = ci_scripts.load


def notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def test_runner_lists_every_page_but_the_assignments():
    pages = [str(p.relative_to(ROOT)) for p in load("run_notebooks").book_pages()]
    assert "book/01_markov_hmm/chapter.ipynb" in pages and "book/01_markov_hmm/lab.ipynb" in pages
    assert not [p for p in pages if p.endswith("assignment.ipynb") or "/student/" in p]


def test_runner_reports_pass_fail_seconds_and_the_environment(tmp_path):
    good = notebook(
        tmp_path / "good.ipynb",
        "import os\nfrom seqcourse import seed_everything",
        "assert os.environ['SEQCOURSE_SEED_SHIFT'] == '5' and seed_everything(1) == 6",
        "import warnings\nwarnings.warn('the step cannot be recorded', RuntimeWarning)",
    )
    bad = notebook(tmp_path / "bad.ipynb", "x = 1", "assert x == 2, 'x is not 2'")
    out = tmp_path / "run.json"
    args = [str(good), str(bad), "--shift", "5", "--device", "cpu", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "run_notebooks.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    printed = done.stdout
    assert done.returncode == 1, done.stderr[-2000:]
    assert "seed shift 5" in printed.splitlines()[0]
    assert "1 passed, 1 failed" in printed
    record = json.loads(out.read_text())
    status = {Path(r["notebook"]).name: r for r in record["results"]}
    assert status["good.ipynb"]["status"] == "pass"
    assert status["good.ipynb"]["warnings"] == ["RuntimeWarning: the step cannot be recorded"]
    assert "        RuntimeWarning: the step cannot be recorded" in printed.splitlines()
    assert status["bad.ipynb"]["warnings"] == []
    assert status["bad.ipynb"]["status"] == "FAIL"
    assert "cell 1" in status["bad.ipynb"]["error"] and "x is not 2" in status["bad.ipynb"]["error"]
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))


@pytest.mark.parametrize(
    ("failures", "raised", "status", "calls"),
    [
        # a kernel that did not start is started once more ...
        (1, RuntimeError("Kernel died before replying to kernel_info"), "pass", 2),
        (2, RuntimeError("Kernel died before replying to kernel_info"), "FAIL", 2),
        # ... but any other failure is the notebook's and is reported at once
        (1, RuntimeError("something else"), "FAIL", 1),
    ],
)
def test_runner_restarts_a_kernel_that_died_on_start(
    tmp_path, monkeypatch, failures, raised, status, calls
):
    import nbclient

    runner = load("run_notebooks")
    seen = []

    def execute(self, **kwargs):
        seen.append(1)
        if len(seen) <= failures:
            raise raised
        return self.nb

    monkeypatch.setattr(nbclient.NotebookClient, "execute", execute)
    result = runner.execute(notebook(tmp_path / "nb.ipynb", "x = 1"), cell_timeout=10)
    assert (result["status"], len(seen)) == (status, calls), result
    if calls == 2:
        assert "kernel start failed 1 time(s), restarted" in result["error"]


@pytest.mark.parametrize(
    ("seconds", "reference", "stall"),
    [(311.6, 12.0, True), (60.0, 25.0, False), (100.0, 90.0, False), (181.0, 90.0, True)],
)
def test_stall_check_flags_a_build_far_slower_than_nbval(seconds, reference, stall):
    assert load("exec_times").stalled(seconds, reference) is stall


def test_every_page_installs_the_package_first():
    install = load("install_cell")
    assert install.main(["check"]) == 0, "run: python .ci/install_cell.py sync"
    source = install.cell_source()
    assert "--no-deps" in source and install.requirement() in source
    pages = {str(p.relative_to(ROOT)) for p in install.pages()}
    assert pages == {str(p.relative_to(ROOT)) for p in load("run_notebooks").book_pages()}


def test_install_cell_does_nothing_where_the_package_is_installed():
    install = load("install_cell")
    namespace: dict[str, object] = {}
    calls: list[object] = []
    real_run = subprocess.run
    subprocess.run = lambda *a, **k: calls.append(a)  # type: ignore[assignment]
    try:
        exec(install.cell_source(), namespace)
    finally:
        subprocess.run = real_run
    assert calls == [] and namespace["PACKAGE"] == install.requirement()


def test_install_cell_follows_the_repository_setting(tmp_path, monkeypatch):
    install = load("install_cell")
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/me/course/\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "seqcourse"\nversion = "2.3.4"\n')
    monkeypatch.setattr(install, "ROOT", tmp_path)
    assert install.requirement() == "seqcourse @ git+https://example.org/me/course@v2.3.4"
    (tmp_path / "_config.yml").write_text("repository:\n  url: not a url\n")
    with pytest.raises(SystemExit, match="repository.url must be"):
        install.requirement()


def test_every_student_assignment_starts_with_the_student_install_cell():
    install = load("install_cell")
    students = sorted(ROOT.glob("book/*/student/assignment.ipynb"))
    sources = sorted(ROOT.glob("book/*/assignment.ipynb"))
    assert len(students) == len(sources), "run `make assignments`"
    for path in students:
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.source == install.student_cell_source(), f"{path}: run `make assignments`"
        assert install.TAG in first.metadata.get("tags", [])


def test_student_install_cell_pins_the_otter_of_pyproject():
    install = load("install_cell")
    assert f'"otter-grader=={install.OTTER_VERSION}"' in (ROOT / "pyproject.toml").read_text()
    source = install.student_cell_source()
    assert f"otter-grader=={install.OTTER_VERSION}" in source and "--no-deps" in source


def test_student_install_cell_does_nothing_where_everything_is_installed():
    install = load("install_cell")
    calls: list[object] = []
    real_run = subprocess.run
    subprocess.run = lambda *a, **k: calls.append(a)  # type: ignore[assignment]
    try:
        exec(install.student_cell_source(), {})
    finally:
        subprocess.run = real_run
    assert calls == []


def test_wheels_follow_requirements_and_leave_out_what_the_device_has():
    wheels = load("wheels")
    pins = wheels.closure(["nbclient", "scikit-learn"], "3.12")
    assert {"nbclient", "jupyter-client", "traitlets", "scikit-learn", "scipy"} <= set(pins)
    assert not {"torch", "numpy", "matplotlib", "tqdm", "pytest"} & set(pins)
    from importlib import metadata

    assert pins["nbclient"] == metadata.version("nbclient")  # the version installed here


def test_wheels_are_packed_into_carryable_folders(tmp_path):
    wheels = load("wheels")
    files = []
    for name, size in [("a", 50), ("b", 30), ("c", 25), ("d", 5), ("e", 70)]:
        path = tmp_path / f"{name}.whl"
        path.write_bytes(b"x" * size)
        files.append(path)
    groups = wheels.pack(files, limit=60)
    assert sorted(p.name for g in groups for p in g) == sorted(p.name for p in files)
    sizes = [sum(p.stat().st_size for p in g) for g in groups]
    assert sizes[0] == 70 and all(s <= 60 for s in sizes[1:])  # too large: alone
    assert len(groups) == 3  # 70 | 50 + 5 | 30 + 25


def test_gpu_check_script_is_valid_bash_and_refuses_unknown_steps(tmp_path):
    script = ROOT / ".ci" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    done = subprocess.run(
        ["bash", str(script), "nonsense"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path)},
    )
    assert done.returncode == 64 and "unknown step nonsense" in done.stdout


def test_runner_part_takes_every_nth_page(tmp_path):
    pages = [notebook(tmp_path / f"p{k}.ipynb", f"x = {k}") for k in range(5)]
    script = [sys.executable, str(ROOT / ".ci" / "run_notebooks.py")]
    out = tmp_path / "run.json"
    done = subprocess.run(
        [*script, *map(str, pages), "--part", "2/2", "--json", str(out), "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    ran = [Path(r["notebook"]).name for r in json.loads(out.read_text())["results"]]
    assert ran == ["p1.ipynb", "p3.ipynb"]
    bad = subprocess.run([*script, "--part", "3/2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--part must be k/n with 1 <= k <= n" in bad.stderr
