"""Controls for the labs: a panel function redrawn under sliders and drop-downs.

Every lab cell that shows controls is followed by a cell that calls the same panel with
its default values, so the static web page and a headless run (nbval, the book build)
still show the figure and check it. ``sliders`` therefore draws nothing when it runs: it
displays the controls and an empty output area, and redraws the panel there each time a
control changes. Nothing runs inside a widget's output capture while the notebook is
executed, which is also what a build needs: the book build once sat idle for its whole
300 s cell timeout on a lab whose ``interact`` drew its first figure inside such a capture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["controls_box", "sliders"]


def sliders(panel: Callable[..., Any], **controls: Any) -> None:
    """Show ``controls`` above an output area where ``panel(**values)`` is redrawn on change.

    panel: a function whose keyword arguments are the controls' names; it draws (plots,
    prints) and may return a value, which is not shown. controls: ipywidgets value widgets
    (IntSlider, FloatSlider, Dropdown, Text, ...) by argument name.
    """
    from IPython.display import display

    display(controls_box(panel, **controls))


def controls_box(panel: Callable[..., Any], **controls: Any) -> Any:
    """The widget ``sliders`` displays: the controls, a hint, then the output area (a VBox)."""
    from IPython.display import clear_output
    from ipywidgets import HTML, Output, ValueWidget, VBox

    if not callable(panel):
        raise TypeError(f"panel must be callable, got {type(panel).__name__}")
    if not controls:
        raise ValueError("controls must name at least one widget, got none")
    for name, control in controls.items():
        if not isinstance(control, ValueWidget):
            raise TypeError(
                f"control {name!r} must be an ipywidgets value widget (IntSlider, Dropdown, "
                f"...), got {type(control).__name__}"
            )
    out = Output()
    hint = HTML("<i>Move a control to redraw here; the next cell draws the default values.</i>")

    def redraw(_change: object = None) -> None:
        values = {name: control.value for name, control in controls.items()}
        with out:
            clear_output(wait=True)
            panel(**values)

    for control in controls.values():
        control.observe(redraw, names="value")
    return VBox([*controls.values(), hint, out])
