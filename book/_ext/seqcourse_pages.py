"""Sphinx extension: no repository links on pages that are generated at build time.

The student version of each assignment (``book/<chapter>/student/assignment.ipynb``) is made
by ``make assignments`` and is not in the repository, so the theme's links to the page's file
on GitHub (Colab, Binder and JupyterHub launch buttons, "show source", "suggest edit") would
404 there. This drops them; the download button, which serves the built copy, stays.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

from sphinx.application import Sphinx

GENERATED_PAGES = "book/*/student/*"
REPOSITORY_FILE_BUTTONS = {"launch-buttons", "source-file-button", "source-edit-button"}


def _without_repository_links(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = []
    for button in buttons:
        if button.get("label") in REPOSITORY_FILE_BUTTONS:
            continue
        if button.get("type") == "group":
            button = {**button, "buttons": _without_repository_links(button["buttons"])}
            if not button["buttons"]:
                continue
        kept.append(button)
    return kept


def drop_repository_links(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if fnmatch(pagename, GENERATED_PAGES) and "header_buttons" in context:
        context["header_buttons"] = _without_repository_links(context["header_buttons"])


def setup(app: Sphinx) -> dict[str, Any]:
    # sphinx-book-theme adds its header buttons at priority 501; run after it.
    app.connect("html-page-context", drop_repository_links, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
