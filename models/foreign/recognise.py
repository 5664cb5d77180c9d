"""Well-known architectures, recognised from a state dict's tensor names and shapes.

* **The PyTorch examples VAE** (github.com/pytorch/examples, ``vae/main.py``)::

      fc1  (D -> H)  relu;  fc21, fc22 (H -> d): mu and logvar
      fc3  (d -> H)  relu;  fc4 (H -> D) sigmoid

  784-400-20 there (MNIST, 1 x 28 x 28). Other sizes are read from the shapes; the image
  is 1 x s x s when D is a square s*s, 3 x s x s when D/3 is, else the caller names it.
  Decoder: ``decode``; encoder: ``fc21``'s mean (and ``fc22``'s logvar, so the KL per
  dimension works); prior N(0, I), as the example samples it.

* **The PyTorch examples DCGAN generator** (``dcgan/main.py``, and the same layout in the
  official DCGAN tutorial)::

      main.0  ConvTranspose2d(nz, ngf*8, 4, 1, 0)  main.1 BatchNorm2d  main.2 ReLU
      main.3  ConvTranspose2d(ngf*8, ngf*4, 4, 2, 1) ...             (every 3rd index)
      main.12 ConvTranspose2d(ngf, nc, 4, 2, 1)    main.13 Tanh      -> nc x 64 x 64

  ``nz``, the channels and ``nc`` come from the shapes; a stack of another depth is read
  the same way (side 4 * 2**(layers - 1)). The latent is (N, nz, 1, 1), flattened to
  (N, nz) in the app; the output is mapped from [-1, 1] to [0, 1]; batch norm runs on its
  running statistics (eval mode); prior N(0, I).

:func:`recognise` returns the model, or one ForeignModelError that lists what the dict
holds and what the app opens. A recognised model is measured on the meta device first and
refused over the model budget (:mod:`models.runs.model_budget`: its values, its image
size, this machine's memory; for the DCGAN generator also the activations of one image),
so a dict of absurd widths or depth allocates nothing; its weights must be finite.
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.foreign.errors import ForeignModelError
from models.foreign.protocol import BoundMethod, ForeignConfig, ForeignModel
from models.foreign.state_dicts import check_finite, summary
from models.latent import LatentSpec
from models.runs.model_budget import MAX_IMAGE_VALUES, ModelTooLarge, check_budget

#: values of the activations one generated image may need (the widest layer's input and output)
MAX_ACTIVATION_VALUES = 2**26

VAE_KIND = "pytorch-examples-vae"
DCGAN_KIND = "pytorch-examples-dcgan"
VAE_NAMES = ("fc1", "fc21", "fc22", "fc3", "fc4")
#: what a refusal lists as openable
KNOWN = ("the PyTorch examples VAE (fc1, fc21, fc22, fc3, fc4)",
         "the PyTorch examples DCGAN generator (main.0.weight ... main.12.weight)",
         "a state dict of one of the app's own families, when told the family and its config")


class ExamplesVAE(nn.Module):
    """``VAE`` of pytorch/examples ``vae/main.py``, with its sizes as arguments."""

    def __init__(self, image_values: int = 784, hidden: int = 400, latent: int = 20, hidden_dec: int | None = None) -> None:
        super().__init__()
        self.image_values = image_values
        self.fc1 = nn.Linear(image_values, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden_dec or hidden)
        self.fc4 = nn.Linear(hidden_dec or hidden, image_values)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x.reshape(-1, self.image_values)))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)


class ExamplesDCGANGenerator(nn.Module):
    """``Generator`` (``_netG``) of pytorch/examples ``dcgan/main.py``: ``channels`` = [nz,
    ngf*8, ..., ngf, nc], one ConvTranspose2d per step, BatchNorm2d + ReLU between, Tanh last."""

    def __init__(self, channels: list[int], conv_bias: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        steps = len(channels) - 1
        for i, (c_in, c_out) in enumerate(itertools.pairwise(channels)):
            first = i == 0
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 1 if first else 2, 0 if first else 1, bias=conv_bias))
            if i < steps - 1:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers.append(nn.Tanh())
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


def _shape(tensors: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    return tuple(tensors[key].shape)


def vae_image_shape(values: int) -> tuple[int, int, int] | None:
    """The image a flat layer of ``values`` is: 1 x s x s, or 3 x s x s, else None."""
    for c in (1, 3):
        side = math.isqrt(values // c)
        if values % c == 0 and side * side * c == values:
            return (c, side, side)
    return None


def _build(model: ForeignModel, tensors: Mapping[str, torch.Tensor], net: nn.Module, path: Path,
           what: str) -> ForeignModel:
    """``model`` (built on the meta device around ``net``) checked against the budget, then
    given storage and ``tensors``: nothing is allocated for a model that is refused."""
    try:
        check_budget(model, path)
    except ModelTooLarge as e:
        raise ForeignModelError(path, f"{what}: {str(e).split(': ', 1)[-1]}") from None
    check_finite(path, tensors)
    model = model.to_empty(device="cpu")
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise ForeignModelError(path, f"looks like {what} but its tensors do not fit: "
                                      f"{str(e).strip().splitlines()[-1].strip()[:200]}") from None
    return model


def _vae_layout(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """Every layer of the VAE: a 2-D weight and a 1-D bias of sizes of at least 1."""
    for name in VAE_NAMES:
        for part, dims in (("weight", 2), ("bias", 1)):
            key = f"{name}.{part}"
            if key not in tensors:
                raise ForeignModelError(path, f"has the PyTorch examples VAE's layer names, but no {key}")
            shape = _shape(tensors, key)
            if len(shape) != dims or min(shape) < 1:
                raise ForeignModelError(path, f"has the PyTorch examples VAE's layer names, but {key} is {list(shape)}, "
                                              f"not a {dims}-D {'weight' if dims == 2 else 'bias'} of the VAE")


def _examples_vae(tensors: Mapping[str, torch.Tensor], path: Path,
                  image_shape: tuple[int, int, int] | None) -> ForeignModel:
    want = {f"{n}.{p}" for n in VAE_NAMES for p in ("weight", "bias")}
    extra = sorted(set(tensors) - want)
    if extra:
        raise ForeignModelError(path, f"has the PyTorch examples VAE's layers but also {', '.join(extra[:4])}; not that VAE")
    _vae_layout(tensors, path)
    h, d_img = _shape(tensors, "fc1.weight")
    d = _shape(tensors, "fc21.weight")[0]
    h_dec = _shape(tensors, "fc3.weight")[0]
    expected = {"fc1.weight": (h, d_img), "fc1.bias": (h,), "fc21.weight": (d, h), "fc21.bias": (d,),
                "fc22.weight": (d, h), "fc22.bias": (d,), "fc3.weight": (h_dec, d), "fc3.bias": (h_dec,),
                "fc4.weight": (d_img, h_dec), "fc4.bias": (d_img,)}
    for key, shape in expected.items():
        if _shape(tensors, key) != shape:
            raise ForeignModelError(path, f"has the PyTorch examples VAE's layer names, but {key} is "
                                          f"{list(_shape(tensors, key))} where the other layers make it {list(shape)}")
    shape = image_shape or vae_image_shape(d_img)
    if shape is None or math.prod(shape) != d_img:
        raise ForeignModelError(path, f"the VAE's images have {d_img:,} values, which is no square image; "
                                      "name the image shape (C, H, W)")
    config = ForeignConfig(image_shape=tuple(shape), source=str(path), kind=VAE_KIND, latent_shape=(d,),
                           output_range=(0.0, 1.0),
                           description=f"the PyTorch examples VAE ({d_img}-{h}-{d})")
    spec = LatentSpec(z_dim=d, prior="normal")
    with torch.device("meta"):
        vae = ExamplesVAE(d_img, h, d, h_dec)
        model = ForeignModel(config, spec, BoundMethod(vae, "decode"), BoundMethod(vae, "encode"), encoder_logvar=True)
    return _build(model, tensors, vae, path, "the PyTorch examples VAE")


_DCGAN_KEY = re.compile(r"main\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def _dcgan_layers(tensors: Mapping[str, torch.Tensor]) -> tuple[list[int], list[int]] | None:
    """The indices of the 4-D (conv) weights and the 1-D (norm) weights of a ``main.<i>``
    Sequential, or None when some name is not of that form."""
    conv, norm = [], []
    for key in tensors:
        m = _DCGAN_KEY.match(key)
        if m is None:
            return None
        if m.group(2) == "weight":
            (conv if tensors[key].dim() == 4 else norm).append(int(m.group(1)))
    return sorted(conv), sorted(norm)


def _activations(channels: list[int]) -> int:
    """Values the widest step of the generator holds for one image (its input and output)."""
    sides = [1] + [4 * 2**i for i in range(len(channels) - 1)]
    return max(c_in * s_in * s_in + c_out * s_out * s_out
               for c_in, c_out, s_in, s_out in zip(channels, channels[1:], sides, sides[1:]))


def _examples_dcgan(tensors: Mapping[str, torch.Tensor], path: Path, conv: list[int], norm: list[int]) -> ForeignModel:
    steps = len(conv)
    if conv != [3 * i for i in range(steps)] or norm != [3 * i + 1 for i in range(steps - 1)] or steps < 2:
        if conv[:2] == [0, 2]:
            raise ForeignModelError(path, "looks like the DCGAN example's discriminator (netD); open its generator "
                                          "(netG_epoch_N.pth) instead")
        raise ForeignModelError(path, f"has a main.<i> Sequential with conv layers at {conv[:8]} and norms at "
                                      f"{norm[:8]}, not the DCGAN example generator's (conv at 0, 3, 6, ...; batch "
                                      "norm after each but the last)")
    weights = [tensors[f"main.{i}.weight"] for i in conv]
    if any(tuple(w.shape[2:]) != (4, 4) for w in weights):
        raise ForeignModelError(path, "has DCGAN-like layers whose kernels are not 4 x 4; not the DCGAN example generator")
    if any(min(w.shape) < 1 for w in weights):
        raise ForeignModelError(path, "has DCGAN-like layers of no channels; not a generator")
    channels = [int(weights[0].shape[0])] + [int(w.shape[1]) for w in weights]
    for i, (w, nxt) in enumerate(itertools.pairwise(weights)):
        if w.shape[1] != nxt.shape[0]:
            raise ForeignModelError(path, f"main.{conv[i]}.weight gives {w.shape[1]} channels but main.{conv[i + 1]}.weight "
                                          f"takes {nxt.shape[0]}")
    nc = channels[-1]
    if nc not in (1, 3):
        raise ForeignModelError(path, f"the DCGAN generator makes {nc}-channel images; 1 (grey) or 3 (RGB) are shown")
    side = 4 * 2 ** (steps - 1)
    what = "the PyTorch examples DCGAN generator"
    if nc * side * side > MAX_IMAGE_VALUES:
        raise ForeignModelError(path, f"{what}: its {steps} layers make {nc} x {side:,} x {side:,} images, over the "
                                      f"{MAX_IMAGE_VALUES:,} values a model may work on")
    if _activations(channels) > MAX_ACTIVATION_VALUES:
        raise ForeignModelError(path, f"{what}: one image needs {_activations(channels):,} activation values "
                                      f"(channels {channels[:8]}), over the {MAX_ACTIVATION_VALUES:,} a model may use")
    bias = any(f"main.{i}.bias" in tensors for i in conv)
    nz = channels[0]
    config = ForeignConfig(image_shape=(nc, side, side), source=str(path), kind=DCGAN_KIND, latent_shape=(nz, 1, 1),
                           output_range=(-1.0, 1.0),
                           description=f"the PyTorch examples DCGAN generator (nz {nz}, ngf {channels[-2]})")
    with torch.device("meta"):
        net = ExamplesDCGANGenerator(channels, conv_bias=bias)
        model = ForeignModel(config, LatentSpec(z_dim=nz, prior="normal", has_encoder=False), net)
    return _build(model, tensors, net, path, what)


def _shared_prefix(tensors: Mapping[str, torch.Tensor]) -> str:
    """The first dotted part every name shares ("model."), or ""."""
    firsts = {k.split(".", 1)[0] for k in tensors}
    if len(firsts) != 1 or not all("." in k for k in tensors):
        return ""
    return firsts.pop() + "."


def recognise(tensors: Mapping[str, torch.Tensor], path: str | Path,
              image_shape: tuple[int, int, int] | None = None) -> ForeignModel:
    """The model whose state dict ``tensors`` is (eval mode, on the CPU), or ForeignModelError.

    ``image_shape`` names the images of a VAE whose size is not a square."""
    path = Path(path)
    not_float = [k for k, v in tensors.items() if not v.is_floating_point() and not k.endswith("num_batches_tracked")]
    if not_float:
        raise ForeignModelError(path, f"{not_float[0]} holds {tensors[not_float[0]].dtype} values, not weights")
    names = {k.rsplit(".", 1)[0] for k in tensors}
    if set(VAE_NAMES) <= names:
        return _examples_vae(tensors, path, image_shape).eval()
    layers = _dcgan_layers(tensors)
    if layers is not None and layers[0]:
        return _examples_dcgan(tensors, path, *layers).eval()
    prefix = _shared_prefix(tensors)
    if prefix:  # a wrapper's attribute name on every key (Lightning's "model.", a parent's "netG.")
        try:
            return recognise({k[len(prefix):]: v for k, v in tensors.items()}, path, image_shape)
        except ForeignModelError:
            pass  # the message about the names as the file has them is the clearer one
    from models.foreign.family_weights import configs_told, families_named_like

    families = families_named_like(tensors)
    if families:
        ranked, hints = configs_told({k: tuple(v.shape) for k, v in tensors.items()})
        told = [f for f in ranked if f in hints]
        how = (f"name the family (--family {told[0]}: its config is read from the shapes)" if told
               else "name the family and its config")
        raise ForeignModelError(path, f"has the tensor names of the app's {' or '.join(families)} family; {how} "
                                      f"to open it ({summary(tensors)})")
    raise ForeignModelError(path, f"matches no architecture this app knows: {summary(tensors)}. It opens "
                                  f"{'; '.join(KNOWN)}; or export the decoder to ONNX, or write an adapter file.")
