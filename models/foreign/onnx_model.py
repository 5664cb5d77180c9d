"""ONNX decoders (and encoders) as models: what a graph must look like, and building one.

A **decoder** graph has one input, ``(N, d)`` or ``(N, d, 1, 1)``, and one output
``(N, C, H, W)`` whose C, H and W are fixed (a manifest's ``image_shape`` stands in when the
graph does not declare them; a symbolic size is refused without one). Its range comes from
the caller, else the manifest, else the op that makes the output (Sigmoid: [0, 1], Tanh:
[-1, 1]); with none of these it is refused, since guessing would show wrong images.

An **encoder** graph (named by a manifest) has one input ``(N, C, H, W)`` and one or two
outputs ``(N, d)``: the mean code, then optionally the log-variance (the KL per dimension).

Both are run once when opened (the decoder on a zero latent, the encoder on a grey image),
within :data:`~models.foreign.onnx_graph.TRIAL_SECONDS`, so a graph whose real shapes
differ from what it declares, or that gives NaN, is refused now, not at the first slider
move. Sizes are bounded before that run: a latent of at most
:data:`~models.foreign.manifest.MAX_LATENT_DIM` values, images of at most the model
budget's.
"""
from __future__ import annotations

from pathlib import Path

import torch

from models.foreign import onnx_graph
from models.foreign.errors import ForeignModelError
from models.foreign.manifest import (
    MANIFEST_NAME,
    MAX_LATENT_DIM,
    Manifest,
    range_problem,
    read_manifest,
)
from models.foreign.onnx_graph import GraphRunError, OnnxGraph, static_dims
from models.foreign.protocol import ForeignConfig, ForeignModel
from models.latent import LatentSpec
from models.runs.model_budget import MAX_IMAGE_VALUES

ONNX_KIND = "onnx"


def _latent_input(graph: OnnxGraph, manifest: Manifest | None) -> tuple[int, tuple[int, ...]]:
    """(d, the decoder's input shape for one latent) from its one input."""
    if len(graph.inputs) != 1:
        raise ForeignModelError(graph.path, f"has {len(graph.inputs)} inputs ({', '.join(n for n, _ in graph.inputs[:4])}); "
                                            "a decoder takes one: the latent, (N, d) or (N, d, 1, 1)")
    graph.input_dtype()
    _, shape = graph.inputs[0]
    if len(shape) == 4 and shape[2:] == [1, 1]:
        rest: tuple[int, ...] = (1, 1)
    elif len(shape) == 2:
        rest = ()
    else:
        raise ForeignModelError(graph.path, f"takes input of shape {_show(shape)}; a decoder takes (N, d) or (N, d, 1, 1)")
    d = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else None
    if manifest is not None:
        if d is not None and d != manifest.latent_dim:
            raise ForeignModelError(graph.path, f"takes latents of {d} values but {manifest.path.name} says latent_dim "
                                                f"{manifest.latent_dim}")
        d = manifest.latent_dim
    if d is None:
        raise ForeignModelError(graph.path, f"does not fix its latent size (input {_show(shape)}); give latent_dim in a "
                                            f"{MANIFEST_NAME} beside it")
    if d > MAX_LATENT_DIM:
        raise ForeignModelError(graph.path, f"takes latents of {d:,} values; a model's latent has at most "
                                            f"{MAX_LATENT_DIM:,}")
    return d, (d, *rest)


def _image_shape(graph: OnnxGraph, manifest: Manifest | None) -> tuple[int, int, int] | None:
    if len(graph.outputs) != 1:
        raise ForeignModelError(graph.path, f"has {len(graph.outputs)} outputs; a decoder has one: the images (N, C, H, W)")
    _, shape = graph.outputs[0]
    declared = manifest.image_shape if manifest is not None else None
    if shape is not None and len(shape) == 2 and declared is not None:
        return declared  # flat images (N, C*H*W), as a VAE's decode gives them: the manifest says their shape
    if shape is not None and len(shape) != 4:
        raise ForeignModelError(graph.path, f"outputs shape {_show(shape)}; a decoder outputs images (N, C, H, W)"
                                + (f", or flat (N, C*H*W) with image_shape in a {MANIFEST_NAME} beside it"
                                   if len(shape) == 2 else ""))
    chw = static_dims(shape[1:]) if shape is not None else None
    if chw is not None:
        _check_image_size(graph, chw)
        if declared is not None and declared != chw:
            raise ForeignModelError(graph.path, f"makes {_show(list(chw))} images but {manifest.path.name} says "
                                                f"image_shape {list(declared)}")
        return chw  # type: ignore[return-value]
    if declared is not None:
        return declared
    if shape is not None and any(isinstance(s, str) for s in shape[1:]):
        raise ForeignModelError(graph.path, f"has a dynamic image size (output {_show(shape)}); export it with a fixed "
                                            f"size or give image_shape in a {MANIFEST_NAME} beside it")
    return None  # undeclared: the trial run says


def _show(shape: list | None) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in (shape or [])) + ")"


def _check_image_size(graph: OnnxGraph, chw: tuple[int, ...]) -> None:
    if _numel(chw) > MAX_IMAGE_VALUES:
        raise ForeignModelError(graph.path, f"makes {' x '.join(f'{v:,}' for v in chw)} images, over the "
                                            f"{MAX_IMAGE_VALUES:,} values a model may work on")


def _trial(graph: OnnxGraph, x: torch.Tensor, what: str) -> list[tuple[int, ...]]:
    """The graph's output shapes on ``x`` (``what`` it is, for messages), refused when the run
    fails, takes over TRIAL_SECONDS, or gives NaN or infinite values."""
    try:
        out = graph(x, timeout=onnx_graph.TRIAL_SECONDS)
    except GraphRunError as e:
        raise ForeignModelError(graph.path, f"was tried on {what} and {e.reason}") from None
    except Exception as e:  # onnxruntime's runtime errors (a Reshape that does not fit, ...)
        text = str(e).strip().splitlines()
        raise ForeignModelError(graph.path, f"fails on a trial input of shape {tuple(x.shape)}: "
                                            f"{(text[0] if text else type(e).__name__)[:300]}") from None
    outs = out if isinstance(out, tuple) else (out,)
    for (name, _), o in zip(graph.outputs, outs):
        if not bool(torch.isfinite(o).all()):
            raise ForeignModelError(graph.path, f"gives NaN or infinite values ({name}) for {what}; a graph that "
                                                "does cannot be explored")
    return [tuple(o.shape) for o in outs]


def _decoder(graph: OnnxGraph, manifest: Manifest | None) -> tuple[tuple[int, ...], tuple[int, int, int]]:
    _, latent_shape = _latent_input(graph, manifest)
    shape = _image_shape(graph, manifest)
    (made,) = _trial(graph, torch.zeros(1, *latent_shape), "a zero latent")
    flat_fits = len(made) == 2 and shape is not None and made[1] == _numel(shape)
    if not flat_fits and (len(made) != 4 or (shape is not None and made[1:] != shape)):
        raise ForeignModelError(graph.path, f"made {_show(list(made))} from one latent, not images of "
                                            f"{_show([1, *(shape or ('C', 'H', 'W'))])}")
    image_shape = shape if flat_fits else made[1:]
    _check_image_size(graph, image_shape)
    if image_shape[0] not in (1, 3):
        raise ForeignModelError(graph.path, f"makes {image_shape[0]}-channel images; 1 (grey) or 3 (RGB) are shown")
    return latent_shape, image_shape  # type: ignore[return-value]


def _encoder(graph: OnnxGraph, image_shape: tuple[int, int, int], d: int) -> bool:
    """Check an encoder graph; whether it gives a log-variance too."""
    if len(graph.inputs) != 1:
        raise ForeignModelError(graph.path, f"has {len(graph.inputs)} inputs; an encoder takes one: images (N, C, H, W)")
    graph.input_dtype()
    _, shape = graph.inputs[0]
    chw = static_dims(shape[1:]) if len(shape) == 4 else None
    if len(shape) != 4 or (chw is not None and chw != image_shape):
        raise ForeignModelError(graph.path, f"takes input {_show(shape)}; the decoder makes images of "
                                            f"{_show(['N', *image_shape])}")
    if len(graph.outputs) not in (1, 2):
        raise ForeignModelError(graph.path, f"has {len(graph.outputs)} outputs; an encoder gives the mean code, "
                                            "and optionally the log-variance")
    made = _trial(graph, torch.full((1, *image_shape), 0.5), "a grey image")
    for (name, _), got in zip(graph.outputs, made):
        if got[0] != 1 or _numel(got[1:]) != d:
            raise ForeignModelError(graph.path, f"output {name} is {_show(list(got))} for one image; the decoder's "
                                                f"latent has {d} values")
    return len(made) == 2


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def onnx_model(decoder: OnnxGraph, encoder: OnnxGraph | None = None, manifest: Manifest | None = None,
               output_range: tuple[float, float] | None = None, source: str | Path | None = None) -> ForeignModel:
    """The model of these graphs (see the module docstring); ForeignModelError naming the
    graph and the problem when they are not a decoder (and encoder)."""
    latent_shape, image_shape = _decoder(decoder, manifest)
    d = latent_shape[0]
    if output_range is not None and range_problem(float(output_range[0]), float(output_range[1])):
        raise ForeignModelError(decoder.path, f"output_range {tuple(output_range)} is no range: "
                                              f"{range_problem(float(output_range[0]), float(output_range[1]))}")
    rng = output_range or (manifest.output_range if manifest is not None else None) or decoder.output_range()
    if rng is None:
        raise ForeignModelError(decoder.path, "does not say its output range (its last op is neither Sigmoid nor Tanh); "
                                              f"give output_range, e.g. [0, 1] or [-1, 1], in a {MANIFEST_NAME} beside it")
    logvar = _encoder(encoder, image_shape, d) if encoder is not None else False
    spec = manifest.spec(encoder is not None) if manifest is not None else LatentSpec(z_dim=d, prior="normal")
    name = (manifest.name if manifest is not None else "") or Path(source or decoder.path).name
    what = "ONNX, with an encoder" if encoder is not None else "ONNX"
    config = ForeignConfig(image_shape=image_shape, source=str(source or decoder.path), kind=ONNX_KIND,
                           latent_shape=latent_shape, output_range=(float(rng[0]), float(rng[1])),
                           description=f"{name} ({what})")
    return ForeignModel(config, spec, decoder, encoder, encoder_logvar=logvar,
                        has_prior=manifest is not None and manifest.prior is not None).eval()


def open_manifest(path: str | Path, output_range: tuple[float, float] | None = None) -> ForeignModel:
    """The model a manifest (or the folder holding ``manifest.json``) describes."""
    manifest = read_manifest(path)
    for field, file in (("decoder", manifest.decoder), ("encoder", manifest.encoder)):
        if file is not None and not file.exists():
            raise ForeignModelError(manifest.path, f"names the {field} {file.name}, which is not in "
                                                   f"{file.parent.name or file.parent}")
    decoder = OnnxGraph(manifest.decoder)
    encoder = OnnxGraph(manifest.encoder) if manifest.encoder is not None else None
    source = manifest.path.parent if Path(path).is_dir() else manifest.path
    return onnx_model(decoder, encoder, manifest, output_range, source)


def open_onnx_file(path: str | Path, output_range: tuple[float, float] | None = None) -> ForeignModel:
    """A bare ``.onnx`` decoder; when a ``manifest.json`` beside it names it, the manifest's model."""
    path = Path(path)
    beside = path.parent / MANIFEST_NAME
    if beside.is_file():
        manifest = read_manifest(beside)
        if manifest.decoder == path.resolve():
            return open_manifest(beside, output_range)
        if manifest.encoder == path.resolve():
            raise ForeignModelError(path, f"is the encoder {MANIFEST_NAME} names; open the folder or "
                                          f"{manifest.decoder.name} to explore the model")
    return onnx_model(OnnxGraph(path), output_range=output_range)
