"""Dialogs and secondary windows of the app: help, evaluation, the runs browser."""
