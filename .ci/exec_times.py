"""Print how long each notebook of the book took to execute.

myst-nb (``execute_notebooks: cache``) stores every executed notebook in the jupyter-cache at
_build/.jupyter_cache with its run time; a notebook whose current content has no cache record
did not execute successfully (the build prints its traceback). Notebooks are listed in
table-of-contents order.

Stall check: each time is compared with the same notebook's time under nbval, which
`make test` records in _build/nbval-times.json, or, where there is none, with the 90 s
budget. A notebook whose build took more than twice that and a minute more fails the
check (exit 1): the build once sat idle for its whole 300 s cell timeout on a lab that
takes 10 s, and nothing else reported it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
NBVAL_TIMES = ROOT / "_build" / "nbval-times.json"
BUDGET = 90.0  # seconds per notebook on two CPU cores (the guide's budget)


def stalled(seconds: float, reference: float) -> bool:
    """A build time far beyond the reference: more than twice it and a minute more."""
    return seconds > max(2 * reference, reference + 60)


def toc_files(entry: object) -> list[str]:
    """Every ``file:`` of _toc.yml, depth first, in order."""
    if isinstance(entry, dict):
        found = [entry["file"]] if "file" in entry else []
        for key in ("root", "parts", "chapters", "sections"):
            value = entry.get(key)
            found += [value] if key == "root" and isinstance(value, str) else toc_files(value)
        return found
    if isinstance(entry, list):
        return [name for item in entry for name in toc_files(item)]
    return []


def main() -> int:
    if not CACHE.is_dir():
        print(f"no execution cache at {CACHE.relative_to(ROOT)}: nothing was executed")
        return 0
    cache = get_cache(str(CACHE))
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    notebooks = [ROOT / f"{name}.ipynb" for name in toc_files(toc)]
    nbval = json.loads(NBVAL_TIMES.read_text()) if NBVAL_TIMES.is_file() else {}
    print("notebook execution times (jupyter-cache; in brackets: under nbval, or the budget):")
    total, stalls = 0.0, []
    for path in notebooks:
        if not path.is_file() or "student" in path.relative_to(ROOT).parts:
            continue  # markdown pages, and student notebooks, which are shown unexecuted
        name = path.relative_to(ROOT)
        try:
            record = cache.match_cache_file(str(path))
        except KeyError:
            print(f"  {'-':>8}  {name}  (this version did not execute successfully)")
            continue
        seconds = float(record.data.get("execution_seconds", 0.0))
        reference = float(nbval.get(str(name), BUDGET))
        total += seconds
        flag = "  STALL" if stalled(seconds, reference) else ""
        if flag:
            stalls.append(f"{name}: {seconds:.0f} s in the build, {reference:.0f} s reference")
        print(
            f"  {seconds:7.1f}s  [{reference:5.1f}s]  {name}  "
            f"(executed {record.created:%Y-%m-%d %H:%M} UTC){flag}"
        )
    print(f"  {total:7.1f}s  total")
    if stalls:
        print("notebooks that took far longer in the build than their reference (a stall):")
        print("\n".join(f"  {line}" for line in stalls))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
