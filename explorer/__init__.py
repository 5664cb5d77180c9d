"""Latent Explorer's Qt application: windows, panels and workers.

Qt is imported lazily by the GUI modules only: the CLI (``explorer.cli``) lives here too and
must run on a headless GPU box where PySide6 is not installed.
"""
