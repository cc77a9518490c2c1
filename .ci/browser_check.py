"""Open every page of a built book in headless Chromium, offline, and check what a reader sees.

    python .ci/browser_check.py [_build/html] [--report FILE]

The site is served on 127.0.0.1 and every request that leaves it is blocked, so each page is
seen as by a reader with no network. For every HTML page it checks:

- **equations**: every ``.math`` element holds a typeset ``mjx-container`` and MathJax
  reported no error (``mjx-merror``);
- **console**: no console error and no uncaught exception;
- **network**: no request for anything outside the site;
- **images**: every ``<img>`` loads (lazy ones are made eager first);
- **widgets**: every ipywidgets view is drawn by the widget embedder, and the next code cell
  shows its static output, a figure or the printed panel (the labs draw the default values
  there, ``seqcourse.widgets``);
- **links**: the launch buttons (Colab, Binder, JupyterHub) and the repository's source and
  edit links name a file tracked in the repository, and the download links (``_sources/``)
  answer on the site. A page built from a notebook must have all three kinds.

It prints one row per page and exits 1 if any page fails. The tests (tests/test_book.py) run
it on the book they build; ``make book`` output can be checked the same way. Chromium is
found as ``$SEQCOURSE_CHROMIUM``, ``chromium``, ``chromium-browser`` or ``google-chrome``
(``.ci/install_chromium.sh`` installs Debian's); Playwright drives it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# As root in a container with a closed network: no sandbox, no GPU, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_FOLDERS = {"_static", "_sources", "_images", "_sphinx_design_static", "reports"}
PAGE_TIMEOUT_MS = 90_000

# Runs in the page once it has loaded: waits for MathJax and the widget embedder, then reports.
INSPECT = """
async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise)
       && document.querySelector('.math'); i++) await sleep(50);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const views = [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')];
  const drawn = (s) => s.parentElement.querySelector('.jupyter-widgets, .widget-container');
  // controls a reader moves (not progress bars, which tqdm draws as widgets too)
  const controls = (s) => !!s.parentElement.querySelector(
    '.widget-slider, .widget-dropdown, .widget-text, .widget-toggle-buttons, .widget-checkbox, '
    + '.widget-radio, select, input');
  for (let i = 0; i < 200 && views.some((s) => !drawn(s)); i++) await sleep(50);
  const images = [...document.images];
  images.forEach((img) => { img.loading = 'eager'; });
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const math = [...document.querySelectorAll('.math')];
  const text = (e) => e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60);
  const nextCell = (s) => {  // the next code cell, past any prose between
    let cell = s.closest('.cell');
    let next = cell && cell.nextElementSibling;
    while (next && !next.classList.contains('cell')) next = next.nextElementSibling;
    return next;
  };
  const shown = (cell) => {  // what that cell shows: a loaded image, else text, else nothing
    if (!cell) return null;
    if ([...cell.querySelectorAll('.cell_output img')]
        .some((img) => img.complete && img.naturalWidth > 0)) return 'figure';
    const out = cell.querySelector('.cell_output');
    return out && out.textContent.trim() ? 'text' : null;
  };
  return {
    math: math.length,
    untypeset: math.filter((e) => !e.querySelector('mjx-container')).map(text),
    merrors: [...document.querySelectorAll('mjx-merror')].map(text),
    images: images.map((img) => ({src: img.getAttribute('src'),
                                  ok: img.complete && img.naturalWidth > 0})),
    figures: [...document.querySelectorAll('.cell_output img')]
      .filter((img) => img.complete && img.naturalWidth > 0).length,
    widgets: views.map((s) => ({drawn: !!drawn(s), controls: controls(s),
                                static: shown(nextCell(s))})),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
  };
}
"""


class BrowserUnavailable(RuntimeError):
    """No Chromium could be found or started."""


@dataclass
class PageReport:
    page: str
    math: int = 0
    images: int = 0
    figures: int = 0  # images among the cells' outputs (plots)
    widgets: int = 0
    links: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str:
    given = os.environ.get("SEQCOURSE_CHROMIUM")
    if given:
        if not Path(given).is_file():
            raise BrowserUnavailable(f"SEQCOURSE_CHROMIUM={given} is not a file")
        return given
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable(
        f"no Chromium on PATH (looked for {', '.join(BROWSERS)}, and $SEQCOURSE_CHROMIUM is "
        "unset): run `bash .ci/install_chromium.sh` (as root it installs Debian's chromium; "
        "`make test` runs it), or set SEQCOURSE_CHROMIUM to a Chromium or Chrome binary"
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1; yields the base URL (ending in /)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def tracked_files(root: Path = ROOT) -> set[str]:
    """Files in the repository: ``git ls-files``, or every file when not a git checkout."""
    done = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if done.returncode == 0:
        return set(done.stdout.splitlines())
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def repository_path(href: str, repo: str, hub: str) -> str | None:
    """The repository file a launch, source or edit link opens; None for other links."""
    url = urlparse(href)
    if url.netloc == "colab.research.google.com" and "/blob/" in url.path:
        return url.path.split("/blob/", 1)[1].split("/", 1)[1]
    if url.netloc == "mybinder.org":
        target = parse_qs(url.query).get("urlpath", [""])[0]
        return target.split("/tree/", 1)[1] if "/tree/" in target else None
    if hub and href.startswith(f"{hub}/hub/user-redirect/git-pull"):
        target = unquote(parse_qs(url.query).get("urlpath", [""])[0])
        return target.split("/tree/", 1)[1].split("/", 1)[1] if "/tree/" in target else None
    for kind in ("/blob/", "/edit/"):
        if href.startswith(repo + kind):
            return href[len(repo + kind) :].split("/", 1)[1]
    return None


def redirect_target(path: Path) -> str | None:
    """Where a page that only redirects (``<meta http-equiv="Refresh" ...>``) sends the reader."""
    found = re.search(
        r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', path.read_text(), re.I
    )
    return found.group(1) if found else None


def pages(site: Path) -> list[Path]:
    return sorted(
        p for p in site.rglob("*.html") if not SKIP_FOLDERS & set(p.relative_to(site).parts[:-1])
    )


def check_site(
    site: Path, config_path: Path = ROOT / "_config.yml", verbose: bool = False
) -> list[PageReport]:
    """Every page of the built site ``site``, checked in headless Chromium (see module doc)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    config = yaml.safe_load(config_path.read_text())
    repo = str(config["repository"]["url"]).rstrip("/")
    hub = str((config.get("launch_buttons") or {}).get("jupyterhub_url") or "").rstrip("/")
    tracked = tracked_files()
    chromium = find_chromium()
    reports = []
    with serve(site) as base, sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        except PlaywrightError as err:
            raise BrowserUnavailable(
                f"Chromium at {chromium} did not start: {str(err).strip()[:800]}"
            ) from None
        context = browser.new_context()
        outside: list[str] = []
        errors: list[str] = []

        def route(r) -> None:
            if r.request.url.startswith(base):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        for path in pages(site):
            name = str(path.relative_to(site))
            report = PageReport(name)
            target = redirect_target(path)
            if target is not None:  # index.html: a meta refresh to the first page
                if not (path.parent / target).is_file():
                    report.problems.append(f"redirects to {target}, which is not on the site")
                reports.append(report)
                continue
            outside.clear()
            errors.clear()
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            start = time.perf_counter()
            try:
                page.goto(base + name, wait_until="load", timeout=PAGE_TIMEOUT_MS)
                found = page.evaluate(INSPECT)
            except PlaywrightError as err:
                report.problems.append(f"did not load: {str(err).strip()[:300]}")
                page.close()
                reports.append(report)
                continue
            report.seconds = time.perf_counter() - start
            page.close()
            if verbose:
                print(f"  {name}: {report.seconds:.1f} s", file=sys.stderr, flush=True)
            report.math = found["math"]
            if found["untypeset"]:
                report.problems.append(
                    f"{len(found['untypeset'])} of {found['math']} equations not typeset, "
                    f"first: {found['untypeset'][0]!r}"
                )
            if found["merrors"]:
                report.problems.append(f"MathJax errors: {found['merrors'][:3]}")
            report.images = len(found["images"])
            report.figures = found["figures"]
            broken = [i["src"] for i in found["images"] if not i["ok"]]
            if broken:
                report.problems.append(f"images that did not load: {broken[:3]}")
            report.widgets = sum(w["controls"] for w in found["widgets"])
            for k, widget in enumerate(found["widgets"]):
                if not widget["drawn"]:
                    report.problems.append(f"widget {k} was not drawn by the embedder")
                if widget["controls"] and not widget["static"]:
                    report.problems.append(
                        f"widget {k}: the next code cell shows no static output (figure or text) "
                        "at the default values"
                    )
            report.problems += [f"console: {e[:200]}" for e in errors[:5]]
            report.problems += [f"request left the site: {u[:150]}" for u in outside[:5]]
            report.problems += check_links(found["links"], name, base, repo, hub, tracked, context)
            report.links = len(
                [h for h in found["links"] if repository_path(h, repo, hub) or "_sources/" in h]
            )
            reports.append(report)
        browser.close()
    return reports


def check_links(
    hrefs: list[str], name: str, base: str, repo: str, hub: str, tracked: set[str], context
) -> list[str]:
    problems = []
    launch = {"colab": False, "binder": False, "download": False}
    for href in set(hrefs):
        target = repository_path(href, repo, hub)
        if target is not None:
            if target not in tracked:
                problems.append(f"{href} opens {target}, which is not in the repository")
            launch["colab"] |= "colab.research.google.com" in href
            launch["binder"] |= "mybinder.org" in href
        elif "_sources/" in href and not href.startswith(("http:", "https:")):
            url = urljoin(base + name, href)
            status = context.request.get(url).status
            launch["download"] = True
            if status != 200:
                problems.append(f"download link {href} answers {status}")
    source = Path(name).with_suffix(".ipynb")
    if (ROOT / source).is_file():  # a page built from a notebook
        missing = [kind for kind, seen in launch.items() if not seen]
        if missing:
            problems.append(f"no {', '.join(missing)} link on a notebook page")
    return problems


def table(reports: list[PageReport]) -> str:
    rows = ["| page | result | equations | images | figures | widgets | links | seconds |"]
    rows.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in reports:
        result = "ok" if r.ok else "FAIL: " + "; ".join(r.problems)
        rows.append(
            f"| {r.page} | {result} | {r.math} | {r.images} | {r.figures} | {r.widgets} | "
            f"{r.links} | "
            f"{r.seconds:.1f} |"
        )
    failed = sum(not r.ok for r in reports)
    rows.append("")
    rows.append(f"{len(reports) - failed} of {len(reports)} pages passed")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--report", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        parser.error(f"{args.site} holds no built book (index.html): run `make book` first")
    try:
        reports = check_site(args.site, verbose=True)
    except BrowserUnavailable as err:
        print(f"browser check: {err}", file=sys.stderr)
        return 2
    text = table(reports)
    print(text, end="")
    if args.report:
        args.report.write_text(text)
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
