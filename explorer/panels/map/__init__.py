"""The Latent map panel: the test set encoded and scattered in 2-D; hover, click and draw on it."""
from .coordinates import MODE_LATENT, MODE_PCA, MODE_TSNE, MODE_UMAP
from .panel import MapPanel

__all__ = ["MODE_LATENT", "MODE_PCA", "MODE_TSNE", "MODE_UMAP", "MapPanel"]
