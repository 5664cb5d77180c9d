"""``latent-explorer``: the GUI with no sub-command, the headless engine with one.

    latent-explorer train --model vae --dataset mnist --epochs 10 --out runs/vae
    latent-explorer eval runs/vae --json
    latent-explorer sample runs/vae --n 64 --out grid.png
    latent-explorer decode netG.pth --allow-pickle --z z.npy --out images.npy
    latent-explorer export runs/vae --format onnx --out vae-onnx

No Qt is imported here (only ``gui`` loads the window): the headless commands run on GPU boxes
without PySide6. Every command that takes a MODEL opens anything the window opens (run
folders, checkpoints, state dicts, ONNX, adapter files: :func:`inputs.load_run`). Every
failure is one line on stderr and a non-zero exit, no traceback. One module per command; ``entry`` holds the top level, ``flags`` the shared and generated
flags, ``progress`` and ``output`` what goes to stderr and stdout.
"""
from .entry import main

__all__ = ["main"]
