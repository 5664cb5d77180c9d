"""Progress on stderr: a tqdm bar on a terminal, occasional plain lines in logs.

Covers dataset downloads, the one-off training of the classifier that scores samples,
training's first line (:class:`StartLine`) and training itself.
"""
from __future__ import annotations

import sys
import warnings
from typing import Any, Callable

from .errors import PROG


def download_progress() -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback for dataset downloads (bytes)."""
    state: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = state.get("bar")
            if bar is None or bar.total != total or done < bar.n:
                if bar is not None:
                    bar.close()
                bar = state["bar"] = tqdm(total=total or None, unit="B", unit_scale=True, desc="download", file=sys.stderr)
            bar.update(done - bar.n)
            if total and done >= total:
                bar.close()
                state.pop("bar")
        elif total and done >= total:
            print(f"downloaded {done / 1e6:.1f} MB", file=sys.stderr)

    return report


def scoring_classifier(dataset: Any, device: Any) -> Any:
    """The dataset's cached classifier, or one trained now with its progress on stderr: the
    first evaluation on a CPU spends minutes there and should not look hung."""
    from models.metrics.classifier import cache_path, get_classifier

    path = cache_path(dataset)
    if path.exists():
        return get_classifier(dataset, device)
    print(f"training the {dataset.name} classifier that scores samples (once; cached at {path})", file=sys.stderr)
    state: dict[str, Any] = {"shown": 0}

    def report(done: int, total: int) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = state.get("bar") or state.setdefault("bar", tqdm(total=total, unit="step", desc="classifier", file=sys.stderr))
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
        elif done * 4 // total > state["shown"]:  # a line per quarter in logs
            state["shown"] = done * 4 // total
            print(f"classifier: step {done}/{total}", file=sys.stderr)

    clf = get_classifier(dataset, device, progress=report)
    print(f"classifier: test accuracy {clf.accuracy:.4f}", file=sys.stderr)
    return clf


class TrainingProgress:
    """Shows train()'s metrics: a bar on a terminal; in logs a line every ten log intervals
    and at every snapshot, epoch and the end; nothing when ``quiet`` (ranks other than 0)."""

    def __init__(self, tty: bool, quiet: bool, log_every: int) -> None:
        self.tty, self.quiet, self.log_every = tty, quiet, log_every
        self.bar: Any = None

    def show(self, m: Any) -> None:
        """One of train()'s metrics updates."""
        terms = " ".join(f"{k}={v:.4g}" for k, v in m.terms.items())
        if self.tty:
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=m.total_steps, unit="step", file=sys.stderr, dynamic_ncols=True)
            self.bar.update(m.step - self.bar.n)
            self.bar.set_postfix_str(f"ep {m.epoch:.2f} {terms}", refresh=False)
        elif self.quiet:
            return
        elif m.event != "log" or m.step % (self.log_every * 10) == 0:
            val = "".join(f" {label}={m.validation[k]:.4g}" for k, label in
                          (("total", "val_total"), ("sample_is", "IS"), ("sample_fid", "FID")) if k in (m.validation or {}))
            print(f"step {m.step}/{m.total_steps} epoch {m.epoch:.2f} {m.seconds:.1f}s {m.steps_per_s:.0f} steps/s {terms}{val}",
                  file=sys.stderr, flush=True)
        if m.event in ("done", "stopped") and not self.quiet:
            print(f"{m.event}: {m.step} steps in {m.seconds:.1f}s; checkpoint {m.checkpoint}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class StartLine:
    """``train``'s first line, printed once the training step is built (so it names the step
    actually used: a CUDA graph, or eager after a failed capture), and what comes up before it.

    While entered, notices (:meth:`notice`) and Python warnings wait until the first line is
    out, then follow it; after it they print at once. Warnings print as one readable line
    ("latent-explorer: warning: ..."), not as a source location and a line of code. On exit
    anything still waiting is printed (a run that failed before its first line). ``quiet``
    (ranks other than 0) prints nothing but warnings, which say which rank they come from.
    """

    def __init__(self, quiet: bool = False, rank: int = 0) -> None:
        self.quiet, self.rank = quiet, rank
        self.shown = False
        self._waiting: list[str] = []
        self._previous: Any = None

    def __enter__(self) -> "StartLine":
        self._previous = warnings.showwarning
        warnings.showwarning = self._show_warning  # the filters still decide what shows, and how often
        return self

    def __exit__(self, *_: Any) -> None:
        warnings.showwarning = self._previous
        self._flush()

    def __call__(self, text: str) -> None:
        """Print the first line (once) and then whatever waited for it."""
        if self.shown:
            return
        self.shown = True
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)
        self._flush()

    def notice(self, text: str) -> None:
        """A line for after the first one (now, if it is out)."""
        if not self.quiet:
            self._say(text)

    def _show_warning(self, message: Any, category: type, filename: str, lineno: int, file: Any = None,
                      line: str | None = None) -> None:
        who = f"{PROG} (rank {self.rank})" if self.rank else PROG
        self._say(f"{who}: warning: {' '.join(str(message).split())}")

    def _say(self, text: str) -> None:
        if self.shown:
            print(text, file=sys.stderr, flush=True)
        else:
            self._waiting.append(text)

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for text in waiting:
            print(text, file=sys.stderr, flush=True)
