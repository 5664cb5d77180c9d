"""Python adapter files: opened only with the code allow, and what load() returns is checked."""
from __future__ import annotations

import textwrap

import pytest
import torch

import models
from models.foreign.errors import ForeignModelError
from models.foreign.open import open_model, trust_needed

ADAPTER = textwrap.dedent('''
    import torch
    from torch import nn
    from my_nets import Decoder, Encoder   # a file beside the adapter

    def load():
        torch.manual_seed(0)
        return {"decoder": Decoder().eval(), "encoder": Encoder().eval(), "latent_dim": 3,
                "image_shape": (1, 4, 4), "output_range": (-1, 1), "prior": "normal", "name": "tiny"}
''')

NETS = textwrap.dedent('''
    import torch
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 16)

        def forward(self, z):
            return torch.tanh(self.fc(z))          # flat (N, 16): the app reshapes it

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 6)

        def forward(self, x):
            h = self.fc(x.flatten(1))
            return h[:, :3], h[:, 3:]              # mean, logvar
''')


def _write(tmp_path, body=ADAPTER, nets=NETS):
    (tmp_path / "my_nets.py").write_text(nets)
    path = tmp_path / "my_model.py"
    path.write_text(body)
    return path


def test_an_adapter_opens_with_the_code_allow(tmp_path):
    path = _write(tmp_path)
    assert trust_needed(path) == "code"
    ckpt = open_model(path, allow_code=True)
    model = ckpt.model
    assert model.latent_spec.input_dim == 3 and model.latent_spec.has_encoder and model.has_kl and model.has_prior
    assert "tiny" in model.describe()
    torch.manual_seed(0)
    import my_nets  # the adapter's folder was on sys.path only while it loaded; the module stays imported

    dec, enc = my_nets.Decoder(), my_nets.Encoder()
    z = torch.randn(5, 3)
    with torch.no_grad():
        want = ((dec(z) + 1) / 2).view(5, 1, 4, 4)
        assert (model.decode(z) - want).abs().max() <= 1e-6
        x = torch.rand(2, 1, 4, 4)
        assert (model.encode(x) - enc(x)[0]).abs().max() <= 1e-6
    assert str(tmp_path) not in __import__("sys").path


def test_the_notebook_api_opens_an_adapter(tmp_path):
    m = models.load(_write(tmp_path), allow_code=True)
    assert m.sample(3, seed=1).shape == (3, 1, 4, 4)


@pytest.mark.parametrize("returned, message", [
    ('{"encoder": None, "latent_dim": 3, "image_shape": (1, 4, 4)}', "decoder NoneType; it must be an nn.Module"),
    ('{"decoder": Decoder(), "image_shape": (1, 4, 4)}', "latent_dim None"),
    ('{"decoder": Decoder(), "latent_dim": 3}', "no image_shape"),
    ('{"decoder": Decoder(), "latent_dim": 3, "image_shape": (2, 4, 4)}', "1 \\(grey\\) or 3 \\(RGB\\)"),
    ('{"decoder": Decoder(), "latent_dim": 3, "image_shape": (1, 5, 5)}', "decoder returned \\(2, 16\\)"),
    ('{"decoder": Decoder(), "latent_dim": 4, "image_shape": (1, 4, 4)}', "the decoder fails on zeros"),
    ('{"decoder": Decoder(), "latent_dim": 3, "image_shape": (1, 4, 4), "output_range": (1, 0)}', "low < high"),
    ('{"decoder": Decoder(), "latent_dim": 3, "image_shape": (1, 4, 4), "decodr": 1}', "unknown field 'decodr'"),
    ('1 / 0', "load\\(\\) failed: ZeroDivisionError"),
])
def test_what_load_returns_is_checked(tmp_path, returned, message):
    body = f"from my_nets import Decoder, Encoder\n\ndef load():\n    return {returned}\n"
    with pytest.raises(ForeignModelError, match=f"^my_model.py: .*{message}"):
        open_model(_write(tmp_path, body), allow_code=True)


def test_an_adapter_without_load_is_refused(tmp_path):
    with pytest.raises(ForeignModelError, match="has no load\\(\\) function"):
        open_model(_write(tmp_path, "x = 1\n"), allow_code=True)
