"""The Paths panel: keyframes, playback through LatentState, GIF/PNG/JSON export."""
from .panel import PathsPanel

__all__ = ["PathsPanel"]
