"""``latent-explorer runs``: the window's run browser as text (or JSON lines), newest first."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import CLIError


def add_parser(sub: Any) -> None:
    u = sub.add_parser("runs", help="list the run folders in a folder: steps, time, last eval, last losses")
    u.add_argument("folder", type=Path, nargs="?", default=Path("runs"), help="folder of run folders (default: ./runs)")
    u.add_argument("--json", action="store_true", help="one JSON object per run, one per line")


def run(args: argparse.Namespace) -> int:
    from models.io.json_io import dumps_json
    from models.runs.listing import find_runs, format_duration

    if not args.folder.is_dir():
        raise CLIError(f"no such folder: {args.folder}")
    runs = find_runs(args.folder)
    if args.json:
        for r in runs:
            print(dumps_json({"run": str(r.path), "family": r.family, "dataset": r.dataset, "step": r.step,
                              "epoch": r.epoch, "seconds": r.seconds, "last": r.last, "eval": r.scores or None,
                              "modified": r.modified, "problem": r.problem or None}))
        return 0
    if not runs:
        print(f"no run folders in {args.folder}", file=sys.stderr)
        return 0
    from datetime import datetime

    rows = [("run", "family", "dataset", "steps", "time", "last eval", "changed")]
    for r in runs:
        rows.append((r.name, r.family, r.dataset, "" if r.step is None else f"{r.step:,}", format_duration(r.seconds),
                     r.headline or (r.problem and f"({r.problem})") or "",
                     datetime.fromtimestamp(r.modified).strftime("%Y-%m-%d %H:%M")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(w) if i in (3, 4) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    return 0
