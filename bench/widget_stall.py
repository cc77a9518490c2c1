"""The `make book` stall, measured: ipywidgets' `interact` against `seqcourse.widgets.sliders`.

Executes two generated notebooks with nbclient, as the book build does (myst-nb and
jupyter-cache call nbclient). Each has CELLS cells that put a small panel (a plot and a line
of text) under a slider: one with `interact`, which draws the panel inside an Output widget
while the cell executes, one with `sliders`, which draws nothing then and calls the panel
in the same cell instead. The cell timeout is short (TIMEOUT s) so a stall shows quickly.

What it showed on the two-core build machine (CELLS = 40, TIMEOUT = 15): the `interact`
notebook took 25 to 83 s a run (4 runs) while no cell ran longer than 1.3 s in the kernel,
so the client sat idle for whole timeouts; the `sliders` notebook took 8 to 9 s in each of
29 runs. nbclient
mimics a front end for Output widgets and sends their state to the kernel over the shell
channel while it waits there for the cell's reply; now and then that reply is not noticed
until the wait's timeout runs out, after which the build goes on without an error. With the
book's 300 s cell timeout that was the 300 s stall on the labs. Run: `python bench/widget_stall.py`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
SETUP = f"""import sys
sys.path.insert(0, {str(ROOT)!r})
import matplotlib.pyplot as plt
from ipywidgets import IntSlider, interact
from seqcourse.widgets import sliders

def panel(n=3):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(range(n))
    plt.show()
    print("n =", n)
"""
CELL = {
    "interact": "interact(panel, n=IntSlider(value=3, min=1, max=9));",
    "sliders": "sliders(panel, n=IntSlider(value=3, min=1, max=9))\npanel()",
}


def run(kind: str, cells: int, timeout: int) -> tuple[float, float]:
    """Wall seconds of one execution, and the longest cell as the kernel timed it."""
    nb = new_notebook(cells=[new_code_cell(SETUP)] + [new_code_cell(CELL[kind])] * cells)
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # distinct cell ids
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            record_timing=True,
            resources={"metadata": {"path": cwd}},
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        ).execute()
    wall = time.perf_counter() - start
    longest = 0.0
    for cell in nb.cells:
        times = cell.metadata.get("execution", {})
        if "iopub.execute_input" in times and "shell.execute_reply" in times:
            begin, end = (
                datetime.fromisoformat(times[key].replace("Z", "+00:00"))
                for key in ("iopub.execute_input", "shell.execute_reply")
            )
            longest = max(longest, (end - begin).total_seconds())
    return wall, longest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--timeout", type=int, default=15)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.cells} widget cells, cell timeout {args.timeout} s, {args.reps} runs each")
    for kind in ("sliders", "interact"):
        runs = [run(kind, args.cells, args.timeout) for _ in range(args.reps)]
        walls = ", ".join(f"{wall:.1f}" for wall, _ in runs)
        longest = max(cell for _, cell in runs)
        print(f"{kind:>9}: wall {walls} s; longest cell in the kernel {longest:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
