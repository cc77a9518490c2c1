"""seqcourse.widgets: the labs' controls redraw the panel on change and draw nothing at first."""

import pytest
from ipywidgets import Dropdown, IntSlider, Output

from seqcourse.widgets import controls_box, sliders


def test_panel_is_not_called_until_a_control_moves_then_gets_all_values():
    calls = []

    def panel(n=1, kind="a"):
        calls.append((n, kind))
        print(f"n = {n}")

    n, kind = IntSlider(value=1, min=0, max=5), Dropdown(options=["a", "b"], value="a")
    box = controls_box(panel, n=n, kind=kind)
    assert calls == []  # nothing runs while the notebook executes
    n.value = 3
    kind.value = "b"
    assert calls == [(3, "a"), (3, "b")]
    assert isinstance(box.children[-1], Output) and box.children[:2] == (n, kind)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="panel must be callable, got int"):
        controls_box(3, n=IntSlider())
    with pytest.raises(ValueError, match="controls must name at least one widget"):
        sliders(print)
    with pytest.raises(TypeError, match="control 'n' must be an ipywidgets value widget.*int"):
        sliders(print, n=3)


def test_sliders_displays_the_box_and_returns_nothing(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    assert sliders(print, n=IntSlider()) is None
    assert len(shown) == 1 and isinstance(shown[0].children[-1], Output)
