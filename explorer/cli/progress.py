"""Progress on stderr: a tqdm bar on a terminal, occasional plain lines in logs.

Covers dataset downloads, the one-off training of the classifier that scores samples, and
training itself.
"""
from __future__ import annotations

import sys
from typing import Any, Callable


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
