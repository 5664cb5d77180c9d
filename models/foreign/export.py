"""Export any model the app opens to ONNX: ``decoder.onnx``, ``encoder.onnx`` when there is
an encoder, and ``manifest.json`` (models.foreign.manifest), in one folder that opens again
as the same model.

The decoder graph is the model's own ``decode`` (flat latent -> images in [0, 1], so the
manifest says [0, 1] whatever the net's last activation); the encoder graph its ``encode``,
or ``encode_stats`` (mean and log-variance) for a model with a KL per dimension. Both have
a dynamic batch axis. A model that is already ONNX has its graphs copied as they are.

The export is checked before anything is written: the graphs are opened from memory as the
folder would be, and must decode (and encode) sample latents within :data:`TOLERANCE` of
the model itself. PyTorch's TorchScript-based exporter is used (``dynamo=False``): the
newer one needs ``onnxscript``, which the app does not depend on.
"""
from __future__ import annotations

import copy
import io
import math
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.families.base import LatentModel
from models.foreign.errors import ForeignModelError, require_onnx
from models.foreign.manifest import (
    MANIFEST_NAME,
    manifest_dict,
    manifest_text,
    parse_manifest,
)
from models.foreign.onnx_graph import OnnxGraph
from models.foreign.protocol import ForeignModel
from models.io.atomic import atomic_write_bytes
from models.io.files import FileRefused, read_bytes

#: the largest difference between the model's and the exported graphs' outputs that passes
TOLERANCE = 1e-4
OPSET = 17
DECODER_NAME, ENCODER_NAME = "decoder.onnx", "encoder.onnx"
#: latents the check decodes
CHECK_SAMPLES = 8


class _Decode(nn.Module):
    def __init__(self, model: LatentModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latent)


class _Encode(nn.Module):
    def __init__(self, model: LatentModel, stats: bool) -> None:
        super().__init__()
        self.model, self.stats = model, stats

    def forward(self, images: torch.Tensor) -> Any:
        return self.model.encode_stats(images) if self.stats else self.model.encode(images)


def _to_onnx(module: nn.Module, example: torch.Tensor, input_name: str, output_names: list[str]) -> bytes:
    buf = io.BytesIO()
    axes = {input_name: {0: "batch"}, **{name: {0: "batch"} for name in output_names}}
    with warnings.catch_warnings():
        # the exporter's notes on itself (TorchScript deprecation, tracer caveats) are not the user's concern
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buf, input_names=[input_name], output_names=output_names,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return buf.getvalue()


def _graph_bytes(graph: OnnxGraph) -> bytes:
    """The bytes of an opened graph's file, which must still be the file that was opened."""
    import hashlib

    try:
        data = read_bytes(graph.path, "ONNX model", 2 * 2**30)
    except FileRefused as e:
        raise ForeignModelError(graph.path, e.reason) from None
    if hashlib.sha256(data).hexdigest() != graph.sha256:
        raise ForeignModelError(graph.path, "changed since the model was opened; open it again before exporting")
    return data


def _graphs(model: LatentModel) -> tuple[bytes, bytes | None, tuple[float, float]]:
    """(decoder bytes, encoder bytes or None, the decoder graph's output range)."""
    if isinstance(model, ForeignModel) and isinstance(model.decoder_net, OnnxGraph):
        encoder = model.encoder_net
        enc = _graph_bytes(encoder) if isinstance(encoder, OnnxGraph) else None
        return _graph_bytes(model.decoder_net), enc, tuple(model.config.output_range)  # type: ignore[return-value]
    m = copy.deepcopy(model).cpu().eval().float()
    spec = m.latent_spec
    example = m.sample_latents(2, torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            dec = _to_onnx(_Decode(m), example, "latent", ["images"])
            enc = None
            if spec.has_encoder:
                stats = bool(getattr(m, "has_kl", False)) and hasattr(m, "encode_stats")
                images = m.decode(example)
                enc = _to_onnx(_Encode(m, stats), images, "images", ["mean", "logvar"] if stats else ["mean"])
    except Exception as e:  # the exporter's own errors: an op it cannot convert, a trace that fails
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ForeignModelError(Path(getattr(m.config, "source", "") or m.family),
                                f"cannot be exported to ONNX: {type(e).__name__}: {first}") from e
    return dec, enc, (0.0, 1.0)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


def _name(model: LatentModel) -> str:
    """The manifest's name: one line of printable text that fits its field (a file name may hold anything)."""
    name = model.describe() if isinstance(model, ForeignModel) else model.family
    return "".join(c for c in " ".join(name.split()) if not unicodedata.category(c).startswith("C"))[:200]


def export_onnx(model: LatentModel, out_dir: str | Path) -> dict[str, Any]:
    """Write ``model`` as ONNX graphs and a manifest into ``out_dir`` (made if missing).

    Returns ``{"decoder": Path, "encoder": Path | None, "manifest": Path, "max_abs_diff":
    {"decoder": float, "encoder": float | None}}``: the largest differences between the model
    and the opened export. Raises ForeignModelError (nothing written) when the model cannot be
    exported or the export does not reproduce it within :data:`TOLERANCE`."""
    out = Path(out_dir).expanduser()
    require_onnx(out, "exporting to ONNX")
    dec_bytes, enc_bytes, rng = _graphs(model)
    manifest = manifest_dict(model.latent_spec, tuple(model.config.image_shape), decoder=DECODER_NAME,
                             encoder=ENCODER_NAME if enc_bytes is not None else None,
                             prior=None if model.has_prior else "none", output_range=rng, name=_name(model))
    exported = _reopen(out, manifest, dec_bytes, enc_bytes)
    diffs = _compare(model, exported)
    for part, diff in diffs.items():
        if diff is not None and math.isnan(diff):  # the model itself gives NaN (max() would have skipped it)
            raise ForeignModelError(out, f"the model's {part} gives NaN or infinite values on sample inputs, so its "
                                         "export cannot be checked; nothing was written")
        if diff is not None and not diff <= TOLERANCE:
            raise ForeignModelError(out, f"the exported graphs differ from the model by up to {diff:.2g} (the {part}; "
                                         f"more than {TOLERANCE:g}); nothing was written")
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / DECODER_NAME, dec_bytes)
        if enc_bytes is not None:
            atomic_write_bytes(out / ENCODER_NAME, enc_bytes)
        atomic_write_bytes(out / MANIFEST_NAME, manifest_text(manifest).encode("utf-8"))
    except OSError as e:
        raise ForeignModelError(out, f"could not be written: {e.strerror or e}") from e
    return {"decoder": out / DECODER_NAME, "encoder": out / ENCODER_NAME if enc_bytes is not None else None,
            "manifest": out / MANIFEST_NAME, "max_abs_diff": diffs}


def _reopen(out: Path, manifest: dict[str, Any], dec: bytes, enc: bytes | None) -> ForeignModel:
    """The model the folder will open as, built from the bytes in memory."""
    from models.foreign.onnx_model import onnx_model

    checked = parse_manifest(manifest, out / MANIFEST_NAME)
    decoder = OnnxGraph(out / DECODER_NAME, dec)
    encoder = OnnxGraph(out / ENCODER_NAME, enc) if enc is not None else None
    return onnx_model(decoder, encoder, checked, source=out)


@torch.no_grad()
def _compare(model: LatentModel, exported: ForeignModel) -> dict[str, float | None]:
    m = copy.deepcopy(model).cpu().eval()
    z = m.sample_latents(CHECK_SAMPLES, torch.Generator().manual_seed(1))
    images = m.decode(z).float()
    diffs: dict[str, float | None] = {"decoder": _max_diff(images, exported.decode(z)), "encoder": None}
    if m.latent_spec.has_encoder:
        diffs["encoder"] = _max_diff(m.encode(images), exported.encode(images))
    return diffs
