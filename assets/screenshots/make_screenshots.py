"""The README's workspace screenshots: Explore, Train and Compare at 1366x768 and 1920x1080.

    python assets/screenshots/make_screenshots.py [--out assets/screenshots] [--data DIR]

Opens the window offscreen on a private settings folder (the user's own settings are not
touched) with the bundled demo model, puts three models in Compare, trains a small VAE for
a few seconds for the Train workspace, and writes ``{explore,train,compare}-{W}x{H}.png``,
each workspace in its default layout at that window size. ``--data``: a folder holding
``mnist/`` (default: ``../shared/data`` beside the repository, when there); without MNIST the
test-image views stay empty and training uses the ``shapes`` dataset.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZES = ((1366, 768), (1920, 1080))
TRAIN_SECONDS = 6.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="latent-explorer-shots-")  # settings and the little run trained
    os.environ["LATENT_EXPLORER_HOME"] = home
    os.environ["LATENT_EXPLORER_NO_DOWNLOAD"] = "1"
    has_mnist = (args.data / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
    if has_mnist:
        os.environ["LATENT_EXPLORER_DATA"] = str(args.data)
    sys.path.insert(0, str(ROOT))

    from explorer.app import make_app

    app = make_app()
    from explorer.window.main_window import MainWindow

    window = MainWindow()
    window.show()
    wait_until(app, lambda: window.isVisible())
    if not window.open_default_model():
        raise SystemExit("no demo model in assets/demo")
    wait_until(app, lambda: window.model_state.model is not None and window.decoder.last_image is not None)
    fill_compare(app, window, has_mnist)
    fill_paths(window)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for size in SIZES:
        for key in ("explore", "compare"):
            written.append(shoot(app, window, key, size, args.out))
    train_a_little(app, window, has_mnist)
    for size in SIZES:
        written.append(shoot(app, window, "train", size, args.out))
    window.shutdown()
    shutil.rmtree(home, ignore_errors=True)
    for path in written:
        print(f"{path}  {path.stat().st_size // 1024} kB")
    return 0


def spin(app, seconds: float) -> None:
    """Run the event loop for ``seconds`` (a real loop, as the app's: it also deletes what
    Qt scheduled for deletion, such as the tab bars of a layout left)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(app, condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        spin(app, 0.02)


def fill_compare(app, window, has_mnist: bool) -> None:
    """Three models in Compare (the demo, its 2-d sibling, a copy of the demo), with their
    reconstructions of the first test images."""
    compare = window.explore_docks["compare"].widget()
    compare.add_current()
    compare.add_files([ROOT / "assets" / "demo" / "vae2d_mnist.safetensors", ROOT / "assets" / "demo" / "vae_mnist.safetensors"])
    wait_until(app, lambda: len(compare.entries) == 3 and not compare.load_jobs.busy)
    if has_mnist:
        compare.reconstructions.reconstruct()
        wait_until(app, lambda: not compare.reconstructions.jobs.busy)


def fill_paths(window) -> None:
    paths = window.explore_docks["paths"].widget()
    for _ in range(3):
        paths.add_random()


def train_a_little(app, window, has_mnist: bool) -> None:
    """A few seconds of a small VAE, so Train shows curves and previews."""
    window.workspaces.switch("train")
    panel = window.train_panel
    panel.dataset.setCurrentText("mnist" if has_mnist else "shapes")
    panel.family.setCurrentIndex(panel.family.findData("vae"))
    panel.epochs.setValue(2.0)
    panel.device.setCurrentText("cpu")
    panel.start_training()
    wait_until(app, lambda: window.session.state == "running", timeout=60)
    spin(app, TRAIN_SECONDS)
    window.session.stop()
    wait_until(app, lambda: window.session.state == "idle", timeout=30)
    spin(app, 0.5)


def shoot(app, window, key: str, size: tuple[int, int], out: Path) -> Path:
    """``key``'s default layout at ``size``, saved as a small palette PNG."""
    window.resize(*size)
    spin(app, 0.2)
    window.workspaces.switch(key)
    window.workspaces.reset()  # the default arrangement, sized for this window
    spin(app, 1.5)  # panels on screen catch up (traversal grid, latent map)
    path = out / f"{key}-{size[0]}x{size[1]}.png"
    image = window.grab().toImage()
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    # 128 colours: a UI screenshot looks the same and takes a third of the bytes
    with Image.open(io.BytesIO(bytes(buffer.data()))) as shot:
        shot.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
