"""Sphinx extension: the book's page tweaks.

- **The theme's colour mode.** pydata-sphinx-theme (under sphinx-book-theme) reads the
  template variable ``default_mode``, which nothing sets, and its script logs "Got invalid
  theme mode" as a console error on a reader's first visit; the book sets it to ``auto``
  (follow the reader's system setting) in ``html_context``.
- **Each script once.** In this build sphinx-thebe's inline configuration
  (``const THEBE_JS_URL = ...``) reaches every page twice, registered once with no filename
  and once with an empty one, and a ``const`` declared twice is an uncaught SyntaxError in
  the reader's console; repeated scripts are dropped from the page.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # an inline script's filename is None or "" depending on who registered it
        filename = getattr(script, "filename", script) or ""
        attributes = getattr(script, "attributes", {})
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def set_default_mode(app: Sphinx, config: Any) -> None:
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", set_default_mode, priority=900)
    # last, after every extension has added its scripts
    app.connect("html-page-context", drop_repeated_scripts, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
