"""Controls for the latent point: one slider per dimension, shaped by the model's LatentSpec.

* z: a labelled float slider per dimension (range ``spec.z_range``) with a reset button,
  in a scroll area (GANs have 100+ dims); for a VAE each row shows its dimension's mean
  KL, inactive ones (KL < 0.01 nats) are greyed, and a toggle sorts rows by KL. Beyond
  :data:`EAGER_ROWS` dimensions only the rows on screen exist (``latent_virtual``): a
  20,000-dimension latent opens as fast as a small one;
* categorical codes: a row of toggle buttons per code (a spin box for very wide codes; one
  code-and-category picker for very many codes); a class-conditional model's class label
  (categorical code 0, ``spec.class_names``) is a "Class" group of buttons named by class
  instead (``latent_class_row``);
* continuous codes: their own labelled sliders in a separate group (on-screen rows only
  beyond :data:`EAGER_ROWS` codes too);
* Random / Zero for every model; Encode a test image for models with an encoder;
  a truncation control and a seed box for models without one;
* a Directions mode (``latent_directions``): instead of a slider per z dimension, one per
  principal direction of the model, computed in a job; switching back keeps the point.

Wiring (napari-style): a control writes to LatentState; LatentState.changed updates the
controls with their signals blocked, touching only rows whose value actually changed so
a drag of one slider among 100 stays cheap.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QGroupBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from models.latent import LatentSpec

from ..model_access import model_name
from ..state import DataState, LatentState, ModelState
from ..widgets.layout import check_box, double_spin_box, hrow, push_button, scroll_area, spin_box
from .base import ExplorePanel
from .latent_class_row import ClassRow, class_title
from .latent_directions import DirectionsControls
from .latent_encode import EncodeRow
from .latent_rows import (INACTIVE_KL, CategoryPicker, DimRow, category_row, factor_label_width, set_quietly,
                          spec_text)
from .latent_virtual import VirtualDimRows

#: up to this many dimensions (or continuous codes) each gets its own row, reachable as
#: ``z_rows[i]``; beyond it only the rows on screen are built
EAGER_ROWS = 256
#: more categorical codes than this share one picker instead of a row each
MAX_CATEGORY_ROWS = 64


class LatentPanel(ExplorePanel):
    """Every control of the latent point, rebuilt when the model's spec changes."""

    #: (title, message) for the window's status/error display
    error = Signal(str, str)

    def __init__(self, model_state: ModelState, latent_state: LatentState, data_state: DataState,
                 parent: QWidget | None = None) -> None:
        super().__init__(model_state, latent_state, lambda: data_state.dataset, parent)
        self.data_state = data_state
        data_state.changed.connect(lambda _: self.on_dataset_changed())

    def _setup(self) -> None:
        self.spec: LatentSpec | None = None
        #: a row per dimension, for latents of up to EAGER_ROWS dimensions ([] beyond: see virtual_z)
        self.z_rows: list[DimRow] = []
        self.code_rows: list[DimRow] = []
        #: the on-screen rows of a wider latent (and of very many continuous codes); None otherwise
        self.virtual_z: VirtualDimRows | None = None
        self.virtual_codes: VirtualDimRows | None = None
        #: per categorical code: its button group, or a spin box for very wide codes (a
        #: conditional model's code 0: its ClassRow)
        self.category_controls: list[QButtonGroup | QSpinBox | ClassRow] = []
        self.class_row: ClassRow | None = None
        #: the one picker of a model with more than MAX_CATEGORY_ROWS codes
        self.category_picker: CategoryPicker | None = None
        self._shown = np.zeros(0, np.float32)
        self.directions_jobs = self.job_runner("directions", failure_prefix="Could not compute principal directions: ")

    def _build(self) -> None:
        # -- header: what the model is, Random / Zero
        self.info = QLabel("No model loaded")
        self.info.setWordWrap(True)
        self.random_button = push_button("Random", "Draw a point from the prior (R)", clicked=self.randomize)
        self.zero_button = push_button("Zero", "Go to the origin (0)", clicked=self.zero)

        # -- generator controls (models without an encoder)
        self.generator_box = QWidget()
        self.truncation = double_spin_box(
            0.0, 3.0, 0.0, step=0.1, special_text="off",
            tooltip="Truncation trick: Random clamps |z| to this value (smaller: more typical, less varied images)")
        self.seed = spin_box(0, 2**31 - 1, tooltip="Seed of the next Random draw (it counts up after each draw; "
                                                   "type one back to revisit it)")
        gen = hrow(QLabel("Truncation"), self.truncation, parent=self.generator_box)
        gen.addSpacing(8)
        gen.addWidget(QLabel("Seed"))
        gen.addWidget(self.seed, 1)

        # -- encode controls (models with an encoder)
        self.encode_box = EncodeRow(self.model_state, self.latent_state, self.dataset_provider, self.error.emit, self.say)
        self.test_index, self.encode_button = self.encode_box.test_index, self.encode_box.encode_button
        self.thumbnail = self.encode_box.thumbnail

        self.sort_by_kl = check_box("Sort by KL", tooltip="Order the z sliders by how much information each dimension "
                                                          "carries (mean KL over test images); greyed rows are inactive "
                                                          "(KL < 0.01)")
        self.sort_by_kl.setEnabled(False)
        self.dims_mode = push_button("Dimensions", "A slider per latent dimension", checkable=True)
        self.directions_mode = push_button("Directions", "A slider per principal direction: the directions of the "
                                           "latent space that change the model's features most (GANSpace)", checkable=True)
        self.dims_mode.setChecked(True)
        self.mode_group = QButtonGroup(self)  # exclusive: one mode at a time
        for button in (self.dims_mode, self.directions_mode):
            self.mode_group.addButton(button)
        self.directions = DirectionsControls(self.model_state, self.latent_state, self.directions_jobs, self.say)
        self.directions.setVisible(False)

        # -- groups built per spec
        self.class_group = QGroupBox("Class")
        self.class_group.setToolTip("The class the model draws: its supervised label (class-conditional models)")
        self.class_layout = QVBoxLayout(self.class_group)
        self.categorical_group = QGroupBox("Categorical codes")
        self.categorical_layout = QVBoxLayout(self.categorical_group)
        self.continuous_group = QGroupBox("Continuous codes")
        self.continuous_layout = QVBoxLayout(self.continuous_group)
        self.z_group = QGroupBox("z")
        self.z_outer = z_outer = QVBoxLayout(self.z_group)
        z_outer.setContentsMargins(4, 4, 4, 4)
        z_outer.addLayout(hrow(self.dims_mode, self.directions_mode, stretch=True))
        z_outer.addWidget(self.sort_by_kl)
        z_outer.addWidget(self.directions, 1)
        self.z_container = QWidget()
        self.z_layout = QVBoxLayout(self.z_container)
        self.z_layout.setContentsMargins(0, 0, 6, 0)
        self.z_layout.setSpacing(2)
        self.z_layout.addStretch(1)
        self.scroll = scroll_area(self.z_container, frame=False)
        z_outer.addWidget(self.scroll, 1)

        layout = self.make_body(hints=False)  # it says what is missing in its own header line
        layout.addWidget(self.info)
        layout.addLayout(hrow(self.random_button, self.zero_button))
        for w in (self.generator_box, self.encode_box, self.class_group, self.categorical_group, self.continuous_group):
            layout.addWidget(w)
        layout.addWidget(self.z_group, 1)
        self._empty_space = QWidget()  # keeps the "no model" text at the top
        layout.addWidget(self._empty_space, 1)

    def _wire(self) -> None:
        self.sort_by_kl.toggled.connect(self._order_rows)
        self.directions_mode.toggled.connect(self._show_mode)
        self.model_state.kl_changed.connect(self._on_kl_changed)
        self.model_state.factors_changed.connect(self._on_factors_changed)
        self.latent_state.changed.connect(self._on_latent_changed)

    # -- building ----------------------------------------------------------------------
    def on_model_changed(self, model: object) -> None:
        spec = self.model_state.spec
        if spec != self.spec or model is None:
            self._rebuild(spec)
        elif spec is not None:
            self._shown = np.full(spec.input_dim, np.nan, np.float32)  # resync every control
        # the window resets LatentState to the new model's origin next; that updates the controls
        self._on_latent_changed(self.latent_state.flat)
        self._on_factors_changed(self.model_state.factor_dims)
        self.on_dataset_changed()

    def _rebuild(self, spec: LatentSpec | None) -> None:
        self.setUpdatesEnabled(False)  # one repaint for the whole rebuild, not one per row
        try:
            self._clear()
            self.spec = spec
            has_model = spec is not None
            self.random_button.setEnabled(has_model)
            self.zero_button.setEnabled(has_model)
            self.generator_box.setVisible(has_model and not spec.has_encoder)
            self.encode_box.setVisible(has_model and spec.has_encoder)
            self.sort_by_kl.setChecked(False)
            self.sort_by_kl.setEnabled(False)
            self.sort_by_kl.setVisible(has_model and spec.has_encoder)
            self.z_group.setVisible(has_model)
            self._empty_space.setVisible(not has_model)
            if spec is None:
                self.info.setText("No model loaded.\nOpen a checkpoint (Ctrl+O) or train one (Ctrl+T).")
                for group in (self.class_group, self.categorical_group, self.continuous_group):
                    group.setVisible(False)
                self._shown = np.zeros(0, np.float32)
                return
            model = self.model_state.model
            self.info.setText(f"<b>{model_name(model)}</b> · {spec_text(spec)}")
            self.z_group.setTitle(f"z ({spec.z_dim:,} dimensions)")
            self._build_z(spec)
            self._build_categorical(spec)
            self._build_continuous(spec)
            self._shown = np.full(spec.input_dim, np.nan, np.float32)  # everything differs: first sync sets all
            self._show_mode(self.directions_mode.isChecked())
        finally:
            self.setUpdatesEnabled(True)

    def _build_z(self, spec: LatentSpec) -> None:
        self.scroll.setVisible(spec.z_dim <= EAGER_ROWS)
        if spec.z_dim > EAGER_ROWS:
            self.virtual_z = VirtualDimRows("z", spec.z_range, lambda i: f"Latent dimension {i}", self._on_z_slider,
                                            lambda i: self.latent_state.set_z(i, 0.0), gestures=self.latent_state)
            self.virtual_z.set_count(spec.z_dim)
            self.z_outer.addWidget(self.virtual_z, 1)
            return
        for i in range(spec.z_dim):
            row = DimRow(f"z{i}", spec.z_range, f"Latent dimension {i}", gestures=self.latent_state)
            row.slider.valueChanged.connect(partial(self._on_z_slider, i))
            row.reset.clicked.connect(partial(self.latent_state.set_z, i, 0.0))
            self.z_layout.insertWidget(self.z_layout.count() - 1, row)
            self.z_rows.append(row)

    def _show_mode(self, directions: bool) -> None:
        """Directions mode or a slider per dimension; the point stays where it is (the
        dimension sliders follow it while hidden)."""
        spec = self.spec
        self.directions.setVisible(directions)
        self.scroll.setVisible(not directions and spec is not None and spec.z_dim <= EAGER_ROWS)
        if self.virtual_z is not None:
            self.virtual_z.setVisible(not directions)
        self.sort_by_kl.setVisible(not directions and spec is not None and spec.has_encoder)
        self.directions.set_active(directions and spec is not None)

    def _build_categorical(self, spec: LatentSpec) -> None:
        self.class_group.setVisible(spec.conditional)
        self.categorical_group.setVisible(len(spec.categorical) > (1 if spec.conditional else 0))
        if spec.conditional:  # code 0 is the class label: named buttons of its own
            self.class_row = ClassRow(spec.class_names, partial(self.latent_state.set_category, 0))
            self.class_layout.addWidget(self.class_row)
            self.class_group.setTitle(class_title(spec.class_names, -1))
        if len(spec.categorical) > MAX_CATEGORY_ROWS:
            self.category_picker = CategoryPicker(tuple(spec.categorical), self.latent_state.category,
                                                  self.latent_state.set_category)
            self.categorical_layout.addWidget(self.category_picker)
            return
        for b, k in enumerate(spec.categorical):
            if b == 0 and self.class_row is not None:
                self.category_controls.append(self.class_row)
                continue
            row, control = category_row(b, k, partial(self.latent_state.set_category, b))
            self.category_controls.append(control)
            self.categorical_layout.addWidget(row)

    def _build_continuous(self, spec: LatentSpec) -> None:
        self.continuous_group.setVisible(spec.continuous > 0)
        offset = len(spec.categorical)
        if spec.continuous > EAGER_ROWS:
            self.virtual_codes = VirtualDimRows("c", spec.continuous_range, lambda i: f"Continuous code {i}",
                                                self._on_code_slider, lambda i: self.latent_state.set_code(i, 0.0),
                                                name_offset=offset, gestures=self.latent_state)
            self.virtual_codes.set_count(spec.continuous)
            self.continuous_layout.addWidget(self.virtual_codes)
            return
        for i in range(spec.continuous):
            row = DimRow(f"c{len(spec.categorical) + i}", spec.continuous_range,
                         f"Continuous code {i} (trained on uniform(-1, 1))", gestures=self.latent_state)
            row.slider.valueChanged.connect(partial(self._on_code_slider, i))
            row.reset.clicked.connect(partial(self.latent_state.set_code, i, 0.0))
            self.continuous_layout.addWidget(row)
            self.code_rows.append(row)

    def _clear(self) -> None:
        for row in self.z_rows:
            self.z_layout.removeWidget(row)
            row.deleteLater()
        if self.virtual_z is not None:
            self.z_outer.removeWidget(self.virtual_z)
            self.virtual_z.deleteLater()
        self.virtual_z = self.virtual_codes = self.category_picker = self.class_row = None
        for layout in (self.class_layout, self.categorical_layout, self.continuous_layout):
            while layout.count():
                item = layout.takeAt(0)
                if item.widget() is not None:
                    item.widget().deleteLater()
        self.z_rows, self.code_rows, self.category_controls = [], [], []

    # -- controls -> state -------------------------------------------------------------
    def _on_z_slider(self, index: int, value: float) -> None:
        self._shown[index] = value
        self.latent_state.set_z(index, float(value))

    def _on_code_slider(self, index: int, value: float) -> None:
        assert self.spec is not None
        self._shown[self.spec.z_dim + sum(self.spec.categorical) + index] = value
        self.latent_state.set_code(index, float(value))

    def randomize(self) -> None:
        spec = self.spec
        if spec is None:
            return
        sample = self.model_state.model.sample_latents  # the model's own prior (mixture AAE), not always the spec's
        if spec.has_encoder:
            flat = sample(1)[0].numpy()
        else:
            gen = torch.Generator().manual_seed(self.seed.value())
            truncation = self.truncation.value() or None
            flat = sample(1, generator=gen, truncation=truncation)[0].numpy()
            self.seed.setValue((self.seed.value() + 1) % self.seed.maximum())
        self.latent_state.set_flat(flat)

    def zero(self) -> None:
        if self.spec is not None:
            self.latent_state.reset(self.spec)

    def encode_test_image(self) -> None:
        self.encode_box.encode_test_image()

    def set_thumbnail(self, image: torch.Tensor) -> None:
        """(C, H, W) in [0, 1] -> the small preview next to Encode."""
        self.encode_box.set_thumbnail(image)

    def on_dataset_changed(self) -> None:
        """Encode works when a dataset of the model's image size is loaded; else it says why not."""
        self.encode_box.refresh(self.spec is not None and self.spec.has_encoder)

    # -- state -> controls -------------------------------------------------------------
    def _on_latent_changed(self, flat: np.ndarray) -> None:
        spec = self.spec
        if spec is None or flat.shape[0] != spec.input_dim:
            return
        changed = np.flatnonzero(flat != self._shown)  # NaN != x: a fresh rebuild sets everything
        if changed.size == 0:
            return
        self._shown = flat.copy()
        n_cat = sum(spec.categorical)
        code_start = spec.z_dim + n_cat
        z_changed, codes_changed = changed[changed < spec.z_dim], changed[changed >= code_start] - code_start
        if self.virtual_z is not None:
            if z_changed.size:
                self.virtual_z.set_values(self._shown[: spec.z_dim])
        else:
            for i in z_changed:
                set_quietly(self.z_rows[i].slider, float(flat[i]))
        if self.virtual_codes is not None:
            if codes_changed.size:
                self.virtual_codes.set_values(self._shown[code_start:])
        else:
            for i in codes_changed:
                set_quietly(self.code_rows[i].slider, float(flat[code_start + i]))
        cats_changed = n_cat and np.any((changed >= spec.z_dim) & (changed < code_start))
        if cats_changed and self.class_row is not None:
            self.class_row.show_class(self.latent_state.category(0))
            self.class_group.setTitle(class_title(spec.class_names, self.latent_state.category(0)))
        if self.category_picker is not None:
            self.category_picker.refresh()
        elif cats_changed:
            for b in range(len(spec.categorical)):
                value = self.latent_state.category(b)
                control = self.category_controls[b]
                if isinstance(control, ClassRow):
                    continue  # shown above
                if isinstance(control, QSpinBox):
                    set_quietly(control, value)
                else:
                    button = control.button(value)
                    if button is not None and not button.isChecked():
                        set_quietly(button, True)

    def _on_kl_changed(self, kl: np.ndarray | None) -> None:
        have = kl is not None and self.spec is not None and len(kl) == self.spec.z_dim
        for i, row in enumerate(self.z_rows):
            row.show_kl(float(kl[i]) if have else None)
        if self.virtual_z is not None:
            self.virtual_z.set_kl(kl if have else None)
        self.sort_by_kl.setEnabled(have)
        if have:
            active = int((kl >= INACTIVE_KL).sum())
            self.z_group.setTitle(f"z ({len(kl)} dimensions, {active} active)")
        self._order_rows()

    def _on_factors_changed(self, factors: dict[int, tuple[str, ...]]) -> None:
        """Each z row labelled with the dataset factors an evaluation found it tells most."""
        width = factor_label_width(self, factors)
        for i, row in enumerate(self.z_rows):
            row.show_factors(factors.get(i, ()), width)
        if self.virtual_z is not None:
            self.virtual_z.set_factors(factors)

    def _order_rows(self) -> None:
        kl = self.model_state.kl_per_dim
        z_dim = self.spec.z_dim if self.spec is not None else 0
        if self.sort_by_kl.isChecked() and kl is not None and len(kl) == z_dim:
            order = list(np.argsort(-kl, kind="stable"))
        else:
            order = list(range(z_dim))
        if self.virtual_z is not None:
            self.virtual_z.set_order(np.asarray(order))
            return
        for row in self.z_rows:
            self.z_layout.removeWidget(row)
        for pos, i in enumerate(order):
            self.z_layout.insertWidget(pos, self.z_rows[i])
