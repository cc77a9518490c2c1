"""Print how long each notebook of the book took to execute.

myst-nb (``execute_notebooks: cache``) stores every executed notebook in the jupyter-cache at
_build/.jupyter_cache with its run time; a notebook whose current content has no cache record
did not execute successfully (the build prints its traceback). Notebooks are listed in
table-of-contents order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"


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
    print("notebook execution times (jupyter-cache):")
    total = 0.0
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
        total += seconds
        print(f"  {seconds:7.1f}s  {name}  (executed {record.created:%Y-%m-%d %H:%M} UTC)")
    print(f"  {total:7.1f}s  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
