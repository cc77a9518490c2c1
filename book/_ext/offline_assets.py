"""Sphinx extension: the built book works with no network.

By default Sphinx loads MathJax from one CDN and myst-nb loads the ipywidgets embedder
(RequireJS and ``@jupyter-widgets/html-manager``) from two more, so a reader offline (a
laptop on a train, a lab behind a firewall, the site opened from disk) sees raw LaTeX and a
page that logs script errors. This extension serves those scripts from the built site
instead. Each comes from its package on the npm registry, at a pinned version, checked
against the SHA-512 integrity the registry publishes; nothing is vendored in the
repository. The packages are fetched once with ``npm pack`` into ``_build/`` and reused.

What is served (under ``_static/``):

- ``mathjax/``: MathJax 3's ES5 build: the TeX-and-MathML-to-CHTML component Sphinx loads
  and the pieces it loads on demand (TeX extensions, CHTML fonts, the accessibility menu
  and its speech rules). The other combined components are left out.
- ``widgets/``: RequireJS and html-manager's ``embed-amd.js`` (which bundles the standard
  widgets) with its fonts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NpmAsset:
    """Files of one npm package served from ``_static/<target>/``."""

    spec: str  # name@version
    integrity: str  # `npm view <spec> dist.integrity`
    prefix: str  # the package folder whose files are served, e.g. "package/es5/"
    target: str
    skip: frozenset[str] = frozenset()  # paths under prefix that are not served

    @property
    def tarball(self) -> str:
        name, version = self.spec.rsplit("@", 1)
        return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


MATHJAX = NpmAsset(
    "mathjax@3.2.2",
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    "package/es5/",
    "mathjax",
    frozenset(
        {
            "mml-chtml.js",
            "mml-svg.js",
            "tex-chtml.js",
            "tex-chtml-full.js",
            "tex-chtml-full-speech.js",
            "tex-mml-svg.js",
            "tex-svg.js",
            "tex-svg-full.js",
            "node-main.js",
        }
    ),
)
# The versions myst-nb loads from its CDNs by default (myst_nb.core.config).
REQUIREJS = NpmAsset(
    "requirejs@2.3.4",
    "sha512-qPD5gRrj6kGQ0ZySAJgqbArkaDqPMbQIT0zSZDkIv1mfA17w/tR2Faq5l2qqRf2CdQx6FWln9nUrgd2UDzb19A==",
    "package/",
    "widgets",
    frozenset({"bin/r.js", "package.json", "README.md"}),
)
HTML_MANAGER = NpmAsset(
    "@jupyter-widgets/html-manager@1.0.6",
    "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
    "package/dist/",
    "widgets",
    frozenset({"embed.js", "libembed-amd.js", "106.embed.js", "330.embed.js"}),
)
ASSETS = (MATHJAX, REQUIREJS, HTML_MANAGER)
MATHJAX_COMPONENT = "mathjax/tex-mml-chtml.js"  # what Sphinx loads from its CDN by default
CACHE = Path("_build") / ".offline-assets"


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _unpack(asset: NpmAsset, npm: str, work: Path, static: Path) -> None:
    done = subprocess.run(
        [npm, "pack", asset.spec, "--silent"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tarball = work / asset.tarball
    if done.returncode != 0 or not tarball.is_file():
        raise ExtensionError(
            f"offline assets: `npm pack {asset.spec}` failed (exit {done.returncode}): "
            f"{done.stderr.strip()[-500:]}"
        )
    got = _integrity(tarball)
    if got != asset.integrity:
        raise ExtensionError(
            f"offline assets: {asset.tarball} has integrity {got}, expected {asset.integrity}; "
            "refusing to serve it"
        )
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = member.name
            if not (member.isfile() and name.startswith(asset.prefix)):
                continue
            relative = name[len(asset.prefix) :]
            if relative in asset.skip or relative.endswith(".map") or ".." in relative:
                continue
            out = static / asset.target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            out.write_bytes(source.read())
    tarball.unlink()


def fetch_assets(cache: Path) -> Path:
    """The folder served as extra static files, fetched into ``cache`` on first use."""
    static = cache / "static"
    if (static / ".complete").is_file():
        return static
    npm = shutil.which("npm")
    if npm is None:
        raise ExtensionError(
            "offline assets: npm (Node.js) is needed once to fetch "
            f"{', '.join(a.spec for a in ASSETS)} from the npm registry, and it is not on "
            "PATH; install Node.js (for example `apt-get install npm`) and build again"
        )
    # Fetched into a folder of this process's own, then renamed into place: two builds that
    # start at once (the tests' and `make book`) never see each other's half-unpacked copy.
    work = cache / f"tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "static").mkdir(parents=True)
    try:
        for asset in ASSETS:
            _unpack(asset, npm, work, work / "static")
        (work / "static" / ".complete").write_text("\n".join(a.spec for a in ASSETS) + "\n")
        shutil.rmtree(static, ignore_errors=True)
        try:
            (work / "static").rename(static)
        except OSError:  # another build got there first
            if not (static / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info(f"offline assets: {', '.join(a.spec for a in ASSETS)} unpacked into {static}")
    return static


# Loaded between RequireJS and the embedder on pages with widgets:
# - the embedder loads its fonts relative to where RequireJS thinks it lives, which is the
#   page's own folder unless told otherwise; Sphinx puts the path to the site's root on <html>;
# - ipywidgets' controls typeset their descriptions with MathJax 2's ``MathJax.Hub.Queue``,
#   and the book loads MathJax 3, where that is undefined (an uncaught TypeError per control):
#   a small ``Hub.Queue`` hands the element to MathJax 3's ``typesetPromise`` instead.
WIDGET_PATHS_JS = """\
// seqcourse (book/_ext/offline_assets.py): see the comment there.
require.config({
  paths: {
    "@jupyter-widgets/html-manager/dist":
      document.documentElement.dataset.content_root + "_static/widgets",
  },
});
(function () {
  const waiting = [];
  const typeset = (el) => window.MathJax.typesetPromise(el ? [el] : undefined);
  const hub = {
    Queue: (job) => {
      const el = Array.isArray(job) ? job[2] : undefined;
      if (window.MathJax && window.MathJax.typesetPromise) typeset(el);
      else waiting.push(el);
    },
  };
  const config = window.MathJax || (window.MathJax = {});
  if (config.version) {  // MathJax 3 is already loaded
    config.Hub = config.Hub || hub;
    return;
  }
  config.Hub = hub;  // until MathJax 3 loads and replaces this object
  const startup = config.startup || (config.startup = {});
  const ready = startup.ready;
  startup.ready = function () {
    if (ready) ready();
    else window.MathJax.startup.defaultReady();
    window.MathJax.Hub = hub;
    window.MathJax.startup.promise.then(() => waiting.splice(0).forEach(typeset));
  };
})();
"""


def serve_assets(app: Sphinx, config: Config) -> None:
    static = fetch_assets(Path(app.confdir) / CACHE)
    paths_js = static / "widgets" / "paths.js"
    if not paths_js.is_file() or paths_js.read_text() != WIDGET_PATHS_JS:
        paths_js.write_text(WIDGET_PATHS_JS)
    config.html_static_path = [*config.html_static_path, str(static)]
    # Paths without a scheme are relative to the built site's _static/.
    config.mathjax_path = MATHJAX_COMPONENT
    config.nb_ipywidgets_js = {
        "widgets/require.js": {},
        "widgets/paths.js": {},
        "widgets/embed-amd.js": {},
    }


def setup(app: Sphinx) -> dict[str, Any]:
    # after myst-nb has registered nb_ipywidgets_js
    app.connect("config-inited", serve_assets, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
