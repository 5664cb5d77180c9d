"""The ``latent-explorer`` entry point: the top-level parser, the default ``gui`` command,
dispatch to the command modules, and every failure turned into one line on stderr."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from . import eval as eval_command
from . import decode, encode, export, render_path, runs, sample, timeline, train, traverse
from .errors import PROG, debugging, describe, unexpected, user_errors

#: command name -> its module (``add_parser(sub)``, ``run(args) -> exit code``), in --help order
COMMANDS = {"train": train, "eval": eval_command, "sample": sample, "decode": decode, "encode": encode,
            "render-path": render_path, "traverse": traverse, "timeline": timeline, "export": export, "runs": runs}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (scripts grep stderr), not the whole usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Train or load generative image models and explore them.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    gui = sub.add_parser("gui", help="open the explorer window (the default)")
    gui.add_argument("paths", nargs="*", help="models to open: checkpoints, run folders, state dicts, ONNX files or folders, adapter files")
    gui.add_argument("--follow", metavar="RUN", help="follow a run folder another process is writing (latent-explorer "
                                                     "train, torchrun; a shared folder): curves, samples, checkpoints")
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def _version() -> str:
    from models import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("gui", "-h", "--help", "--version")):
        argv = ["gui", *argv]  # `latent-explorer model.safetensors` opens it in the window
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "gui":
        try:
            from explorer.app import main as gui_main
        except ImportError as e:
            print(f"{PROG}: error: the window needs PySide6 and pyqtgraph ({e}); the headless commands still work",
                  file=sys.stderr)
            return 2
        return gui_main(args.paths, follow=args.follow)
    try:
        return COMMANDS[args.command].run(args)
    except BrokenPipeError:  # `latent-explorer runs | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is silent too
        return 0
    except (*user_errors(), MemoryError) as e:
        print(f"{PROG}: error: {describe(e)}", file=sys.stderr)  # one line: scripts read the first line of stderr
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: still one line, with a way to see more
        if debugging():
            raise
        print(f"{PROG}: error: {unexpected(e)}", file=sys.stderr)
        return 1
