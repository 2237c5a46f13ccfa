"""The PNG plots of bench/results/ (matplotlib, Agg backend: no display needed).

Each plot shows what a table cannot: latency over the run (did it drift, did it spike when the
generator opened connections?) and its whole distribution up to the worst request.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

__all__ = ["capacity", "comparison", "latency", "memory", "points", "timeline"]

Series = tuple[Sequence[float], Sequence[float]]
"""x values and y values of one line or scatter."""


def points(timed: Sequence[tuple[float, float]]) -> Series:
    """(time, seconds) pairs as a scatter in milliseconds."""
    return [at for at, _ in timed], [seconds * 1000 for _, seconds in timed]


_NINES = (0.5, 0.9, 0.99, 0.999, 0.9999)


def _distribution(axes: plt.Axes, label: str, values_ms: Sequence[float], **style: str) -> None:
    """Latency against percentile on a log scale of 1/(1-p), as HdrHistogram plots it."""
    ordered = sorted(values_ms)
    if not ordered:
        return
    count = len(ordered)
    xs = [1 / (1 - rank / (count + 1)) for rank in range(1, count + 1)]
    axes.plot(xs, ordered, label=label, **style)
    axes.set_xscale("log")
    shown = [p for p in _NINES if 1 / (1 - p) <= xs[-1]]
    axes.set_xticks([1 / (1 - p) for p in shown], [f"p{p * 100:g}" for p in shown])
    axes.set_xlabel("percentile")
    axes.set_ylabel("latency (ms)")
    axes.grid(True, which="both", alpha=0.3)


def _save(figure: plt.Figure, path: Path, title: str) -> None:
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def latency(path: Path, title: str, series: dict[str, Series], limit_ms: float | None) -> None:
    """Left: each request's latency (ms) against its scheduled send time (s). Right: the
    distribution. ``limit_ms`` draws the target line."""
    figure, (over_time, spread) = plt.subplots(1, 2, figsize=(13, 5))
    for label, (at, ms) in series.items():
        over_time.scatter(at, ms, s=2, alpha=0.4, label=label)
        _distribution(spread, label, ms)
    over_time.set_xlabel("scheduled send time (s)")
    over_time.set_ylabel("latency (ms)")
    over_time.set_yscale("log")
    over_time.grid(True, which="both", alpha=0.3)
    for axes in (over_time, spread):
        if limit_ms is not None:
            axes.axhline(limit_ms, color="red", linestyle="--", linewidth=1, label="target")
        axes.legend(loc="upper left", markerscale=4)
    _save(figure, path, title)


def capacity(path: Path, title: str, steps: dict[str, dict[str, Series]], limit_ms: float) -> None:
    """p50 and p99 latency against the offered rate, one colour per server."""
    figure, axes = plt.subplots(figsize=(9, 5))
    for server, lines in steps.items():
        for name, (rates, ms) in lines.items():
            style = "-o" if name == "p99" else ":x"
            axes.plot(rates, ms, style, label=f"{server} {name}")
    axes.axhline(limit_ms, color="red", linestyle="--", linewidth=1, label="p99 target")
    axes.set_xlabel("offered rate (requests/s, open loop)")
    axes.set_ylabel("latency (ms)")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    _save(figure, path, title)


def timeline(
    path: Path, title: str, panels: dict[str, dict[str, Series]], *, dots: tuple[str, ...] = ()
) -> None:
    """Stacked panels sharing the time axis, each with its named lines; the panels named in
    ``dots`` are scatters (one point per message)."""
    figure, axes_list = plt.subplots(len(panels), 1, figsize=(11, 3.2 * len(panels)), sharex=True)
    for axes, (ylabel, lines) in zip(
        [axes_list] if len(panels) == 1 else axes_list, panels.items(), strict=True
    ):
        for name, (xs, ys) in lines.items():
            if ylabel in dots:
                axes.scatter(xs, ys, s=2, alpha=0.4, label=name)
            else:
                axes.plot(xs, ys, label=name)
        axes.set_ylabel(ylabel)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper right")
    (axes_list if len(panels) == 1 else axes_list[-1]).set_xlabel("time since the first send (s)")
    _save(figure, path, title)


def memory(path: Path, title: str, rss_mib: dict[str, Series]) -> None:
    """Resident memory of each process over the run."""
    timeline(path, title, {"RSS (MiB)": rss_mib})


Run = tuple[str, str]
"""(system, variant) of one run of a comparison."""


def comparison(
    path: Path,
    title: str,
    replies: dict[Run, Series],
    webhooks: dict[Run, Sequence[float]],
    tallies: dict[Run, dict[str, int]],
    *,
    timeout_ms: float,
) -> None:
    """Systems side by side, one colour per system and one line style per variant. Top: each
    message's reply latency (ms) against its send time (s), and its distribution. Bottom: how
    long the webhook caller waited on each attempt, against its ``timeout_ms``; and what became
    of the messages, one bar per run."""
    figure, ((over_time, spread), (waits, bars)) = plt.subplots(2, 2, figsize=(15, 10))
    systems = list(dict.fromkeys(system for system, _ in replies))
    variants = list(dict.fromkeys(variant for _, variant in replies))

    def colour(run: Run) -> str:
        return f"C{systems.index(run[0]) % 10}"  # the default colour cycle

    def line(run: Run) -> str:
        return ("-", "--", ":")[variants.index(run[1]) % 3]

    for run, (at, ms) in replies.items():
        label = ", ".join(run)
        marker = "ox+"[variants.index(run[1]) % 3]
        over_time.scatter(at, ms, s=6, alpha=0.5, marker=marker, color=colour(run), label=label)
        _distribution(spread, label, ms, color=colour(run), linestyle=line(run))
    for run, seconds in webhooks.items():
        ms = [value * 1000 for value in seconds]
        _distribution(waits, ", ".join(run), ms, color=colour(run), linestyle=line(run))
    waits.axhline(timeout_ms, color="red", linewidth=1, label="Twilio gives up")
    waits.set_ylabel("webhook: wait per attempt (ms)")
    waits.set_yscale("log")
    over_time.set_xlabel("scheduled send time (s)")
    over_time.set_ylabel("reply latency (ms)")
    spread.set_ylabel("reply latency (ms)")
    over_time.set_yscale("log")
    over_time.grid(True, which="both", alpha=0.3)
    for axes in (over_time, spread, waits):
        axes.legend(loc="upper left", markerscale=2)
    names = [f"{system}, {variant}" for system, variant in tallies]
    kinds = list(dict.fromkeys(kind for tally in tallies.values() for kind in tally))
    left = [0] * len(names)
    for kind in kinds:
        counts = [tally.get(kind, 0) for tally in tallies.values()]
        bars.barh(names, counts, left=left, label=kind)
        left = [start + count for start, count in zip(left, counts, strict=True)]
    bars.invert_yaxis()
    bars.set_xlabel("messages")
    bars.legend(loc="lower right")
    _save(figure, path, title)
