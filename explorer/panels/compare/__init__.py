"""The Compare panel: several models side by side (reconstructions, metrics, one path)."""
from .panel import ComparePanel

__all__ = ["ComparePanel"]
