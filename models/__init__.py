"""Latent Explorer's engine: models, data, training and checkpoints.

PyTorch and numpy only. Nothing in this package may import Qt or ``explorer``
(tests/models/test_no_qt.py enforces it): it runs on headless GPU boxes.
"""

__version__ = "0.1.0"
