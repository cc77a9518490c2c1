"""Execute the book's notebooks with nbclient alone and print a table: pass/fail, seconds each.

Needs only torch, numpy, matplotlib, tqdm, nbclient and ipykernel (and hmmlearn and
ipywidgets, which chapter 1 and the labs import): no jupyter-book, no otter, no pytest. So a
GPU machine with a bare PyTorch can run the whole book:

    python .ci/run_notebooks.py                       # every page, at the default scale
    python .ci/run_notebooks.py --scale cpu --jobs 6  # CPU sizes, six kernels at a time
    python .ci/run_notebooks.py --shift 37 book/04_lstm_gru/temporal_order.ipynb
    make run-notebooks SCALE=gpu SHIFT=0              # the same through make
    python .ci/run_notebooks.py --part 1/2            # every other page (then --part 2/2)

The executed pages are the chapters, their section pages, the labs and the appendix's
notebook pages (not the assignment sources, which tests/test_assignments.py grades with
otter). Every kernel inherits SEQCOURSE_SCALE, SEQCOURSE_SEED_SHIFT and SEQCOURSE_DEVICE
from the options below, and
OMP_NUM_THREADS = cores // jobs so that parallel kernels do not oversubscribe the CPU. The
first line printed is the device line of ``seqcourse.runtime.describe()``; ``--json FILE``
also writes the table (with the machine, Python and torch versions) for the book's
reproducibility appendix. Exit status 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"


def book_pages() -> list[Path]:
    """Chapters, section pages, labs and appendix pages: every committed notebook but the
    assignment sources."""
    pages = [*BOOK.glob("[0-9][0-9]_*/*.ipynb"), *BOOK.glob("*.ipynb")]
    return sorted(path for path in pages if path.name != "assignment.ipynb")


KERNEL_START_ATTEMPTS = 2
WARNING_LINE = re.compile(r"\b([A-Z]\w*Warning): (.+)")


def warnings_in(notebook: Any) -> list[str]:
    """'Category: message' of every warning the cells printed (stderr), each once, in order.
    On a GPU this is where a training step that could not be recorded as a CUDA graph says so
    (``seqcourse.graphs``: 'RuntimeWarning: the step cannot be recorded ...')."""
    found: list[str] = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream" or out.get("name") != "stderr":
                continue
            for line in out.get("text", "").splitlines():
                match = WARNING_LINE.search(line)
                text = f"{match.group(1)}: {match.group(2).strip()[:200]}" if match else ""
                if text and text not in found:
                    found.append(text)
    return found


def _kernel_did_not_start(err: BaseException) -> bool:
    """A kernel that died or timed out before its first reply: a start-up failure under load
    (the kernel's ports, a slow import), not something a notebook's cell did."""
    text = str(err)
    return "before replying to kernel_info" in text or "Kernel didn't respond" in text


def execute(path: Path, cell_timeout: int) -> dict[str, object]:
    """Run one notebook in a fresh kernel from its own folder; never raises.

    A kernel that fails to start is started once more (``KERNEL_START_ATTEMPTS``); a failure
    in a cell is never retried.
    """
    start = time.perf_counter()
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        result, err = _execute_once(path, cell_timeout)
        if err is None or not _kernel_did_not_start(err) or attempt == KERNEL_START_ATTEMPTS:
            break
    result["seconds"] = round(time.perf_counter() - start, 1)
    if attempt > 1:
        result["error"] = (
            f"(kernel start failed {attempt - 1} time(s), restarted) {result['error']}".strip()
        )
    return result


def _execute_once(path: Path, cell_timeout: int) -> tuple[dict[str, object], Exception | None]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no start-up chatter per kernel
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    failure: Exception | None = None
    try:
        client.execute()
        status, error = "pass", ""
    except (CellExecutionError, CellTimeoutError) as err:
        failure = err
        status, error = "FAIL", str(err).strip().splitlines()[-1][:300]
        cell = next(
            (
                i
                for i, c in enumerate(notebook.cells)
                if c.cell_type == "code"
                and any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        if cell is not None:
            error = f"cell {cell}: {error}"
        elif isinstance(err, CellTimeoutError):
            error = f"cell timeout ({cell_timeout} s): {error}"
    except Exception as err:  # a kernel that died or could not start
        failure = err
        status, error = "FAIL", traceback.format_exc().strip().splitlines()[-1][:300]
    record = {
        "notebook": name,
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
        "error": error,
        "warnings": warnings_in(notebook),
    }
    return record, failure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every book page")
    parser.add_argument("--scale", choices=("cpu", "gpu"), help="SEQCOURSE_SCALE for kernels")
    parser.add_argument("--shift", type=int, help="SEQCOURSE_SEED_SHIFT for the kernels")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="SEQCOURSE_DEVICE")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="kernels at a time")
    parser.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell")
    parser.add_argument("--json", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--part", help="k/n: only pages k, k+n, k+2n, ... of the sorted list (split a long run)"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    part = None
    if args.part is not None:
        k, _, n = args.part.partition("/")
        if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
            parser.error(f"--part must be k/n with 1 <= k <= n, got {args.part!r}")
        part = (int(k), int(n))

    for var, value in (
        ("SEQCOURSE_SCALE", args.scale),
        ("SEQCOURSE_SEED_SHIFT", args.shift),
        ("SEQCOURSE_DEVICE", args.device),
    ):
        if value is not None:
            os.environ[var] = str(value)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ROOT))  # the checkout's seqcourse, installed or not
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    import torch

    from seqcourse.runtime import describe

    notebooks = [p.resolve() for p in args.notebooks] or book_pages()
    if part is not None:
        notebooks = sorted(notebooks)[part[0] - 1 :: part[1]]
    line = describe()
    print(f"{line} | {args.jobs} kernels x {threads} threads | Python {platform.python_version()}")
    sys.stdout.flush()

    results: list[dict[str, object]] = []
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(execute, path, args.cell_timeout) for path in notebooks]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            print(f"  {result['status']:4}  {result['seconds']:6.1f}s  {result['notebook']}")
            if result["error"]:
                print(f"        {result['error']}")
            for warning in result.get("warnings", []):
                print(f"        {warning}")
            sys.stdout.flush()
    wall = time.perf_counter() - start
    results.sort(key=lambda r: str(r["notebook"]))
    failed = [r for r in results if r["status"] != "pass"]
    print("\n| notebook | result | seconds |\n| --- | --- | --- |")
    for r in results:
        print(f"| {r['notebook']} | {r['status']} | {r['seconds']:.1f} |")
    print(
        f"\n{len(results) - len(failed)} passed, {len(failed)} failed "
        f"in {wall:.0f} s wall ({sum(float(r['seconds']) for r in results):.0f} s of kernels)"
    )
    if args.json:
        record = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "describe": line,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "jobs": args.jobs,
            "threads_per_kernel": threads,
            "wall_seconds": round(wall, 1),
            "results": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
