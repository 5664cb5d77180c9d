"""What a model's latent space looks like, so the GUI can build controls for it.

Every model decodes one flat vector laid out as::

    [ z (z_dim) | one-hot of each categorical code | continuous codes ]

VAEs and AEs have only ``z``; InfoGAN adds categorical and continuous codes. Interpolating
the flat vector works for all of them (one-hot codes blend softly).

A class-conditional family (cvae, cgan) declares its class label as categorical code 0 and
names the classes in ``class_names``: the label is then a supervised control (the latent
panel's class buttons, traversal rows = classes, ``sample --class K``) rather than a code the
model discovered, and every tool that already handles categorical codes handles it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B,) int labels -> (B, ``num_classes``) one-hot rows of ``dtype`` on ``labels``' device;
    a label outside [0, num_classes) gives an all-zero row. A comparison, not ``F.one_hot``:
    on the CPU that reads its input's min and max on the host (on CUDA it does not); this
    reads nothing anywhere, so every device runs the same ops and a captured step stays
    capturable."""
    return (labels.long()[:, None] == torch.arange(num_classes, device=labels.device)).to(dtype)


@dataclass(frozen=True)
class LatentSpec:
    z_dim: int
    #: the range the GUI offers for each z slider
    z_range: tuple[float, float] = (-3.0, 3.0)
    #: "normal", "uniform" (what `sample` draws z from) or a family's own ("mixture": the
    #: AAE draws it in its ``sample_latents``)
    prior: str = "normal"
    #: size of each categorical code (InfoGAN: (10,))
    categorical: tuple[int, ...] = ()
    #: number of continuous codes (InfoGAN: 2)
    continuous: int = 0
    #: the range the GUI offers for continuous codes (training draws from uniform(-1, 1))
    continuous_range: tuple[float, float] = (-2.0, 2.0)
    #: whether the model has an encoder (maps images to z)
    has_encoder: bool = True
    #: names of the classes of a class-conditional model, whose categorical code 0 is the
    #: class label (len == categorical[0]); () for every other model
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.class_names and (not self.categorical or len(self.class_names) != self.categorical[0]):
            raise ValueError(f"class_names names {len(self.class_names)} classes but categorical code 0 has "
                             f"{self.categorical[0] if self.categorical else 0} values")

    @property
    def conditional(self) -> bool:
        """Whether categorical code 0 is a supervised class label (see the module docstring)."""
        return bool(self.class_names)

    @property
    def input_dim(self) -> int:
        """Width of the flat vector the decoder takes."""
        return self.z_dim + sum(self.categorical) + self.continuous

    @property
    def other_categorical(self) -> tuple[int, ...]:
        """Sizes of the categorical codes besides a conditional model's class (code 0); every
        code of any other model. What a summary lists after "N classes"."""
        return self.categorical[1:] if self.conditional else self.categorical

    # -- building and splitting flat vectors ---------------------------------------------
    def compose(
        self,
        z: torch.Tensor,
        categories: torch.Tensor | None = None,
        codes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, z_dim), (B, n_cat) int, (B, continuous) -> (B, input_dim). A category outside
        [0, k) gives an all-zero block."""
        parts = [z]
        B = z.shape[0]
        for i, k in enumerate(self.categorical):
            idx = categories[:, i] if categories is not None else torch.zeros(B, dtype=torch.long, device=z.device)
            # no host read (training draws InfoGAN's latents here every step)
            parts.append(one_hot(idx, k, z.dtype))
        if self.continuous:
            parts.append(codes if codes is not None else z.new_zeros(B, self.continuous))
        return torch.cat(parts, dim=1)

    def split(self, flat: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Inverse of ``compose``: z, a list of (B, k) one-hot/soft blocks, continuous codes."""
        z = flat[:, : self.z_dim]
        blocks, at = [], self.z_dim
        for k in self.categorical:
            blocks.append(flat[:, at : at + k])
            at += k
        return z, blocks, flat[:, at : at + self.continuous]

    def with_category(self, flat: torch.Tensor, block: int, values: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
        """A copy of ``flat`` (B, input_dim) with categorical code ``block`` set to the exact
        one-hot of ``values``: one category for every row (an int) or one per row ((B,) ints).
        Block 0 of a conditional model is its class. Like ``compose``, a value outside the
        code's [0, k) gives an all-zero block, and nothing is read on the host (``values`` on
        ``flat``'s device stay there). ValueError for a block the spec does not have."""
        if not 0 <= block < len(self.categorical):
            raise ValueError(f"categorical code {block} is out of range: the latent has {len(self.categorical)}")
        k, start = self.categorical[block], self.z_dim + sum(self.categorical[:block])
        idx = torch.as_tensor(values, device=flat.device).reshape(-1)
        out = flat.clone()
        out[:, start : start + k] = one_hot(idx, k, flat.dtype)  # one row broadcasts to all
        return out

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu", truncation: float | None = None
    ) -> torch.Tensor:
        """Draw n flat vectors from the spec's prior (categoricals uniform, codes uniform(-1, 1)).

        The spec-level primitive behind ``LatentModel.sample_latents``: draw through the
        model, which knows priors a spec cannot describe (the AAE's mixture reads as
        ``prior="mixture"`` here and would be drawn as N(0, I)). ``truncation`` clamps |z|
        (the truncation trick) for the GUI's GAN controls.
        """
        device = torch.device(device)
        gen_device = generator.device if generator is not None else device
        if self.prior == "uniform":
            z = torch.rand(n, self.z_dim, generator=generator, device=gen_device) * 2 - 1
        else:
            z = torch.randn(n, self.z_dim, generator=generator, device=gen_device)
        if truncation is not None:
            z = z.clamp(-truncation, truncation)
        cats = None
        if self.categorical:
            cats = torch.stack(
                [torch.randint(k, (n,), generator=generator, device=gen_device) for k in self.categorical], dim=1
            )
        codes = torch.rand(n, self.continuous, generator=generator, device=gen_device) * 2 - 1 if self.continuous else None
        return self.compose(z, cats, codes).to(device)

    def zeros(self, n: int = 1) -> torch.Tensor:
        return self.compose(torch.zeros(n, self.z_dim))

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LatentSpec":
        d = dict(d)
        for key in ("z_range", "continuous_range", "categorical", "class_names"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass
class LatentPoint:
    """A point the user is looking at, in the GUI's terms (numpy, not torch)."""

    z: np.ndarray
    categories: list[int] = field(default_factory=list)
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def to_flat(self, spec: LatentSpec) -> np.ndarray:
        z = torch.as_tensor(self.z, dtype=torch.float32)[None]
        cats = torch.as_tensor(self.categories, dtype=torch.long)[None] if spec.categorical else None
        codes = torch.as_tensor(self.codes, dtype=torch.float32)[None] if spec.continuous else None
        return spec.compose(z, cats, codes)[0].numpy()

    @classmethod
    def from_flat(cls, spec: LatentSpec, flat: np.ndarray) -> "LatentPoint":
        z, blocks, codes = spec.split(torch.as_tensor(np.asarray(flat, np.float32))[None])
        return cls(z[0].numpy().copy(), [int(b[0].argmax()) for b in blocks], codes[0].numpy().copy())

    def to_json(self) -> str:
        return json.dumps({"z": self.z.tolist(), "categories": self.categories, "codes": self.codes.tolist()})
