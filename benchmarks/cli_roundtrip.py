"""How exactly do ``latent-explorer decode``, ``encode`` and ``export`` reproduce a model made elsewhere?

Builds the PyTorch examples' VAE (vae/main.py, 784-400-20) and DCGAN generator (dcgan/main.py
at its defaults: nz 100, ngf 64, 3 x 64 x 64) with random weights, saves their state dicts the
way the scripts do, and exports the VAE's decoder and encoder with ``torch.onnx`` under a
manifest. Then, through the CLI's own ``main()``, it decodes the same latents (and encodes the
decoded images) from the state dicts, the ONNX folder, and the folder ``export`` writes from
each state dict, and measures the largest absolute difference from the original modules.
It also times each command (opening the model included).

Prints ONE JSON object: per source the max abs differences ("decode", "encode") and seconds.

    python benchmarks/cli_roundtrip.py [--n 64] [--seed 0]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.cli import main


class VAE(nn.Module):  # pytorch/examples vae/main.py
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))


def generator(nz=100, ngf=64, nc=3) -> nn.Sequential:  # pytorch/examples dcgan/main.py's netG.main
    layers, ch = [], [nz, ngf * 8, ngf * 4, ngf * 2, ngf]
    for i, (a, b) in enumerate(zip(ch, ch[1:])):
        layers += [nn.ConvTranspose2d(a, b, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                   nn.BatchNorm2d(b), nn.ReLU(True)]
    return nn.Sequential(*layers, nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


class _Decoder(nn.Module):  # the VAE's decode as images, as one exports it
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, z):
        return self.vae.decode(z).view(-1, 1, 28, 28)


class _Encoder(nn.Module):  # the VAE's encoder means from images
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x):
        return self.vae.encode(x.reshape(-1, 784))[0]


def _export(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17, dynamo=False)


def _cli(*argv) -> float:
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main([str(a) for a in argv])
    if code != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed: {err.getvalue().strip()}")
    return time.perf_counter() - t


def _measure(model, tmp: Path, z_file: Path, want_x: np.ndarray, want_mu, flags=()) -> dict:
    out = {"decode_seconds": _cli("decode", model, "--z", z_file, "--out", tmp / "x.npy", *flags)}
    out["decode"] = float(np.abs(np.load(tmp / "x.npy") - want_x).max())
    if want_mu is not None:
        out["encode_seconds"] = _cli("encode", model, "--images", tmp / "want.npy", "--out", tmp / "c.npy", *flags)
        out["encode"] = float(np.abs(np.load(tmp / "c.npy") - want_mu).max())
    return {k: round(v, 4) if k.endswith("seconds") else v for k, v in out.items()}


def run(n: int, seed: int) -> dict:
    torch.manual_seed(seed)
    vae = VAE().eval()
    g = nn.Module()
    g.main = generator()
    g.eval()
    results: dict = {}
    with tempfile.TemporaryDirectory() as d, torch.no_grad():
        tmp = Path(d)
        torch.save(vae.state_dict(), tmp / "vae.pth")
        torch.save(g.state_dict(), tmp / "netG.pth")
        folder = tmp / "vae-onnx"
        folder.mkdir()
        _export(_Decoder(vae).eval(), torch.zeros(2, 20), folder / "dec.onnx")
        _export(_Encoder(vae).eval(), torch.zeros(2, 1, 28, 28), folder / "enc.onnx")
        (folder / "manifest.json").write_text(json.dumps({"version": 1, "decoder": "dec.onnx", "encoder": "enc.onnx",
                                                          "latent_dim": 20}))
        rng = np.random.default_rng(seed)
        z20, z100 = (rng.standard_normal((n, k)).astype(np.float32) for k in (20, 100))
        np.save(tmp / "z20.npy", z20)
        np.save(tmp / "z100.npy", z100)
        x_vae = vae.decode(torch.from_numpy(z20)).view(n, 1, 28, 28).numpy()
        np.save(tmp / "want.npy", x_vae)
        mu = vae.encode(torch.from_numpy(x_vae).view(n, 784))[0].numpy()
        x_gan = ((g.main(torch.from_numpy(z100)[:, :, None, None]) + 1) / 2).numpy()

        results["examples_vae_pth"] = _measure(tmp / "vae.pth", tmp, tmp / "z20.npy", x_vae, mu, ["--allow-pickle"])
        results["dcgan_pth"] = _measure(tmp / "netG.pth", tmp, tmp / "z100.npy", x_gan, None, ["--allow-pickle"])
        results["examples_vae_onnx_folder"] = _measure(folder, tmp, tmp / "z20.npy", x_vae, mu)
        for name, src, z, x, m in (("examples_vae_pth", tmp / "vae.pth", "z20.npy", x_vae, mu),
                                   ("dcgan_pth", tmp / "netG.pth", "z100.npy", x_gan, None)):
            out = tmp / f"export-{name}"
            seconds = _cli("export", src, "--allow-pickle", "--format", "onnx", "--out", out)
            results[f"{name}_exported"] = {"export_seconds": round(seconds, 4), **_measure(out, tmp, tmp / z, x, m)}
    return {"n": n, "seed": seed, "torch": torch.__version__, "max_abs_diff_vs_original_module": results,
            "targets": {"state_dict": 1e-5, "onnx": 1e-4}}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(run(a.n, a.seed)))
