"""``latent-explorer timeline``: watch a run learn. One GIF frame per snapshot the run kept
(:mod:`models.runs.snapshots`), each a grid of the same latents decoded with it, captioned
with its step."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import PROG, CLIError
from .flags import positive_float, positive_int, seed_int

#: latents in one frame at most (a 32 x 32 grid)
MAX_LATENTS = 1024


def add_parser(sub: Any) -> None:
    t = sub.add_parser("timeline", help="a GIF of a run's snapshots decoding the same latents: the model learning")
    t.add_argument("run", type=Path, metavar="RUN", help="a run folder (or a checkpoint inside one) that kept snapshots")
    t.add_argument("--z", type=Path, metavar="Z.npy", help="latents to decode (float N x d in the model's flat layout)")
    t.add_argument("--random", type=positive_int, metavar="N", help="N latents from the model's prior (default 16)")
    t.add_argument("--seed", type=seed_int, default=0, help="seed of --random (default 0)")
    t.add_argument("--ncol", type=positive_int, help="columns of each frame's grid (default: about square)")
    t.add_argument("--fps", type=positive_float, default=4.0, help="GIF frames per second (default 4)")
    t.add_argument("--no-labels", action="store_true", help="leave out the step under each frame's top edge")
    t.add_argument("--out", required=True, type=Path, help="FILE.gif")


def run(args: argparse.Namespace) -> int:
    from models.explore.render import save_gif
    from models.explore.timeline import SnapshotDecoder, random_latents, timeline_frames
    from models.runs.snapshots import list_snapshots

    if args.out.suffix.lower() != ".gif":
        raise CLIError(f"--out must end in .gif, not {args.out.suffix or 'nothing'}")
    if args.z is not None and args.random is not None:
        raise CLIError("give either --z Z.npy or --random N, not both")
    if args.random is not None and args.random > MAX_LATENTS:
        raise CLIError(f"--random: at most {MAX_LATENTS:,} latents in one frame")
    if not args.run.exists():
        raise CLIError(f"no such run folder: {args.run}")
    index = list_snapshots(args.run)
    if not index.snapshots:
        for line in index.problems:
            _note(f"skipped {line}")
        raise CLIError(index.note or "no snapshots")
    decoder = SnapshotDecoder()
    latents = _read_z(args.z) if args.z is not None else random_latents(index, args.random or 16, args.seed, decoder)
    frames = timeline_frames(index, latents, ncol=args.ncol, label=not args.no_labels, decoder=decoder)
    for line in frames.problems:
        _note(f"skipped {line}")
    save_gif(frames.frames, args.out, fps=args.fps)
    print(f"wrote {len(frames.frames)} frames (steps {frames.steps[0]:,} to {frames.steps[-1]:,}) to {args.out}",
          file=sys.stderr)
    return 0


def _read_z(path: Path) -> Any:
    from models.foreign.arrays import read_npy

    z = read_npy(path, "latents")
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2:
        raise CLIError(f"{path.name}: latents must be N x d, got an array of shape {' x '.join(map(str, z.shape))}")
    if z.shape[0] > MAX_LATENTS:
        raise CLIError(f"{path.name}: {z.shape[0]:,} latents; at most {MAX_LATENTS:,} fit in one frame")
    return z


def _note(text: str) -> None:
    print(f"{PROG}: note: {text}", file=sys.stderr)
