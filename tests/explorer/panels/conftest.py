"""Fixtures for the panel tests: an Explore panel on fresh states holding a model."""
from __future__ import annotations

import pytest

from explorer.state import LatentState, ModelState


@pytest.fixture
def open_panel(qtbot):
    """``open_panel(PanelType, model, dataset=None, size=None) -> (model_state, latent_state, panel)``:
    the states hold ``model`` at its origin (as the window sets them), the panel reads ``dataset``."""

    def make(panel_type, model, dataset=None, size: tuple[int, int] | None = None):
        ms, ls = ModelState(), LatentState()
        ms.set_model(model)
        ls.reset(model.latent_spec)
        panel = panel_type(ms, ls, lambda: dataset)
        qtbot.addWidget(panel)
        if size is not None:
            panel.resize(*size)
        return ms, ls, panel

    return make
