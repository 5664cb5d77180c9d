"""Config field docs (the Train form's tooltips, the CLI's help): read from ``#:`` comments,
or from a field's ``metadata["doc"]`` where several families declare a field alike."""
from __future__ import annotations

import dataclasses

import pytest

from models.families.adversarial import EMA_DOC, ema_field
from models.families.base import ModelConfig
from models.families.registry import config_class, field_docs


@pytest.mark.parametrize("family", ["gan", "dcgan", "wgan-gp", "infogan"])
def test_every_gan_config_documents_its_weight_average_once(family):
    cls = config_class(family)
    assert field_docs(cls)["ema"] == EMA_DOC
    assert cls().ema == 0.999


@dataclasses.dataclass
class _Documented(ModelConfig):
    ema: float = ema_field(0.5)
    #: a comment above a field wins over its metadata doc
    other: float = dataclasses.field(default=1.0, metadata={"doc": "not this"})


def test_metadata_doc_is_the_fallback_of_a_comment():
    docs = field_docs(_Documented)
    assert docs["ema"] == EMA_DOC
    assert docs["other"] == "a comment above a field wins over its metadata doc"
    assert docs["image_shape"].startswith("(C, H, W)")  # the bases' comments still count
    assert _Documented().ema == 0.5


def test_nets_shared_by_dcgan_and_wgan_gp_follow_arch():
    from models.families.dcgan import dcgan_nets
    from models.nets.adversarial import ConvDiscriminator, DenseConvDiscriminator

    for family in ("dcgan", "wgan-gp"):
        cls = config_class(family)
        _, dense = dcgan_nets(cls(arch="dense", g_channels=8, d_channels=8, fc_hidden=32), d_norm="none")
        _, conv = dcgan_nets(cls(arch="auto", image_shape=(3, 64, 64), g_channels=8, d_channels=8), d_norm="layer")
        assert isinstance(dense, DenseConvDiscriminator) and isinstance(conv, ConvDiscriminator)
        assert cls.SAVED_BEFORE == {"arch": "conv", "ema": 0.0}
