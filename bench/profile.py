"""`--profile`: where each Python process spends its CPU during a run, sampled by py-spy.

py-spy attaches to the running services from outside (no code change, `--nonblocking` so the
processes are never paused) and writes collapsed stacks to bench/results/<scenario>-<process>.txt
(load them into speedscope or flamegraph.pl for a picture). The summary printed and stored with
the results is the top of two lists per process: the functions the CPU was in when sampled
(self time, by function and file) and our own functions (`chatbot_*`) by inclusive time, which
shows which step of a handler is heavy. Idle samples (a thread waiting in the event loop) are
left out by py-spy, so shares are of busy time.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chatbot_devstack import find_executable

__all__ = ["profiling", "summarize"]

OWN_CODE = "chatbot_"


def _frames(line: str) -> tuple[list[str], int]:
    """The frames of one collapsed-stack line (outermost first, line numbers dropped), and its
    sample count."""
    stack, _, count = line.rstrip().rpartition(" ")
    frames = []
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        frames.append(f"{name} ({where.rsplit(':', 1)[0]})" if where else name)
    return frames, int(count)


def _shares(counter: Counter[str], total: int, top: int) -> list[tuple[str, float]]:
    return [(key, round(100 * count / total, 1)) for key, count in counter.most_common(top)]


def summarize(lines: Iterable[str], top: int = 12) -> dict[str, Any]:
    """The busiest functions (self), files (self) and own functions (inclusive) in collapsed
    stacks, each as (name, percent of the samples)."""
    functions: Counter[str] = Counter()
    files: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        if not line.strip():
            continue
        frames, count = _frames(line)
        total += count
        leaf = frames[-1]
        functions[leaf] += count
        files[leaf.rpartition(" (")[2].rstrip(")") or leaf] += count
        for frame in set(frames):
            if OWN_CODE in frame:
                own[frame] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "self_by_function": _shares(functions, total, top),
        "self_by_file": _shares(files, total, top),
        "own_code_inclusive": _shares(own, total, top),
    }


@contextmanager
def profiling(pids: dict[str, int], folder: Path, scenario: str) -> Iterator[dict[str, Any]]:
    """Record each process with py-spy while the block runs; the yielded dict receives a
    summary per process when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    outputs = {name: folder / f"{scenario}-{name}.txt" for name in pids}
    spy = find_executable("py-spy")
    recorders = {
        name: subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking", "--format",
             "raw", "--output", str(outputs[name])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    }  # fmt: skip
    summaries: dict[str, Any] = {}
    try:
        yield summaries
    finally:
        for recorder in recorders.values():
            recorder.send_signal(signal.SIGINT)
        for name, recorder in recorders.items():
            recorder.wait(60)
            if outputs[name].exists():
                summaries[name] = summarize(outputs[name].read_text().splitlines())
