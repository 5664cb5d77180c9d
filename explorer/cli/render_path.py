"""``latent-explorer render-path``: an interpolation path (a saved one or random keyframes)
rendered to a GIF or a PNG strip."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import PROG, CLIError
from .flags import add_image_out_flags, add_run_command, positive_float, positive_int, seed_int
from .inputs import load_run


def add_parser(sub: Any) -> None:
    r = add_run_command(sub, "render-path", help="render an interpolation path to a GIF or a PNG strip")
    r.add_argument("path", nargs="?", type=Path, help="a path JSON saved by the explorer or --save-path")
    r.add_argument("--random", type=positive_int, metavar="K", help="K random keyframes from the prior instead of a path file")
    r.add_argument("--frames", type=positive_int, default=32, help="frames in all")
    r.add_argument("--kind", choices=("linear", "slerp"), help="interpolation (default: the path's own, or slerp)")
    r.add_argument("--seed", type=seed_int, default=0)
    r.add_argument("--fps", type=positive_float, help="GIF speed (default: the path's own, 12 for --random)")
    r.add_argument("--save-path", type=Path, help="write the path used as JSON (replays to identical frames)")
    add_image_out_flags(r, "FILE.gif or FILE.png")


def run(args: argparse.Namespace) -> int:
    from models.explore import latent_paths as paths
    from models.explore import render

    ckpt = load_run(args)
    if (args.path is None) == (args.random is None):
        raise CLIError("give either a PATH.json or --random K")
    if args.random is not None:
        if args.random < 2:
            raise CLIError("--random needs at least 2 keyframes")
        if args.random > paths.MAX_KEYFRAMES:
            raise CLIError(f"--random: at most {paths.MAX_KEYFRAMES:,} keyframes")
        path = paths.random_path(ckpt.model, args.random, kind=args.kind or "slerp", seed=args.seed, checkpoint=ckpt.path)
    else:
        path = paths.load_path(args.path, ckpt.model)
        for note in path.notes:
            print(f"{PROG}: note: {note}", file=sys.stderr)
        if args.kind:
            path = path.with_kind(args.kind)
    if args.save_path:
        paths.save_path(path, args.save_path)
    frames = render.render_frames(ckpt.model, path, args.frames)
    suffix = args.out.suffix.lower()
    if suffix == ".gif":
        render.save_gif(frames, args.out, fps=args.fps or path.fps, loop=path.loop, pingpong=path.pingpong)
    elif suffix == ".png":
        render.save_strip(frames, args.out)
    else:
        raise CLIError(f"--out must end in .gif or .png, not {suffix or 'nothing'}")
    print(f"wrote {len(frames)} frames to {args.out}", file=sys.stderr)
    return 0
