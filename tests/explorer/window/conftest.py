"""Models made elsewhere, for the window tests that open them: the PyTorch examples' VAE
(vae/main.py) and DCGAN generator (dcgan/main.py) as their scripts define them, saved the
way those scripts save them (``torch.save(model.state_dict(), path)``) and as safetensors,
and an ONNX folder written by the app's own export."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_examples import VAE as ExamplesVAE  # noqa: E402
from pytorch_examples import Generator as ExamplesGenerator
from pytorch_examples import weights_init


class ForeignFiles(SimpleNamespace):
    """The modules and the files written from them (see the ``foreign`` fixture)."""

    vae: ExamplesVAE
    gen: ExamplesGenerator
    nz: int
    folder: Path

    # -- what the original modules make --------------------------------------------------
    @torch.no_grad()
    def vae_images(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).reshape(-1, 1, 28, 28)

    @torch.no_grad()
    def vae_means(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(x.reshape(-1, 784))[0]

    @torch.no_grad()
    def gen_images(self, z: torch.Tensor) -> torch.Tensor:
        return ((self.gen(z.reshape(-1, self.nz, 1, 1)) + 1) / 2).clamp(0, 1)

    # -- the files ----------------------------------------------------------------------
    def state_dict_file(self, which: str, suffix: str) -> Path:
        """``which`` ("vae" | "gen") saved as ``.pth`` (torch.save) or ``.safetensors``."""
        module = self.vae if which == "vae" else self.gen
        path = self.folder / f"{'vae' if which == 'vae' else 'netG'}{suffix}"
        if suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
        else:
            torch.save(module.state_dict(), path)
        return path

    def onnx_folder(self, which: str = "gen") -> Path:
        """The model opened from its safetensors, exported by the app (decoder.onnx, manifest.json)."""
        from models.foreign.export import export_onnx
        from models.foreign.open import open_model

        out = self.folder / f"{which}-onnx"
        export_onnx(open_model(self.state_dict_file(which, ".safetensors")).model, out)
        return out


@pytest.fixture
def foreign(tmp_path) -> ForeignFiles:
    """The examples VAE and a small examples DCGAN generator (nz 16, ngf 4, grey 64x64), in eval mode."""
    torch.manual_seed(0)
    vae = ExamplesVAE().eval()
    gen = ExamplesGenerator(nz=16, ngf=4, nc=1)
    gen.apply(partial(weights_init, conv_std=0.3))  # images that are not a flat grey
    folder = tmp_path / "foreign"
    folder.mkdir()
    return ForeignFiles(vae=vae, gen=gen.eval(), nz=16, folder=folder)
