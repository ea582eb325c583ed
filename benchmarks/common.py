"""What the benchmark scripts share: interleaved timing and writing their figures."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm


def interleaved_medians(
    fns: dict[str, Callable[[], object]], rounds: int, desc: str, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call of each function, calling them round-robin ``rounds`` times after ``warmup``."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    for _ in tqdm(range(rounds), desc=desc, leave=False):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def write_results(out: Path, stem: str, result: dict, to_markdown: Callable[[dict], str]) -> None:
    """``{stem}.json`` and ``{stem}.md`` in ``out``, and the Markdown printed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = to_markdown(result)
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)


def markdown_table(header: tuple[str, str], rows: dict) -> list[str]:
    """A two-column Markdown table (name, right-aligned value) as lines."""
    return [f"| {header[0]} | {header[1]} |", "|---|---:|", *(f"| {k} | {v} |" for k, v in rows.items())]
