"""Reading an image file as the model sees it."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.image_input import load_image_file


def test_load_image_file_inverts_paper_scans(tmp_path):
    from PIL import Image

    arr = np.full((40, 30), 250, np.uint8)
    arr[10:30, 12:18] = 0  # dark ink on light paper
    Image.fromarray(arr).save(tmp_path / "scan.png")
    x, inverted = load_image_file(str(tmp_path / "scan.png"), (1, 28, 28))
    assert inverted and x.shape == (1, 1, 28, 28)
    assert x.mean() < 0.5 and 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(ValueError):
        (tmp_path / "bad.png").write_bytes(b"nope")
        load_image_file(str(tmp_path / "bad.png"), (1, 28, 28))
