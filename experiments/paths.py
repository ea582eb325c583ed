"""Paths in the research outputs: links between reports, and file lists stored relative to the repository.

Committed results must not carry this machine's absolute paths, so every ``"files"`` entry a JSON result stores
goes through :func:`repo_relative`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The studies' LightningCLI configs (``python -m lightning_mixup fit --config experiments/configs/<name>.yaml``).
CONFIGS = ROOT / "experiments" / "configs"

__all__ = ["CONFIGS", "ROOT", "relative", "repo_relative", "repo_relative_files"]


def relative(path: str | Path, base: str | Path) -> str:
    """``path`` relative to the folder ``base`` (for links from one report to another file)."""
    return os.path.relpath(Path(path).resolve(), Path(base).resolve())


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository root (POSIX separators); a path outside the repository stays absolute.

    Example:
        >>> repo_relative(ROOT / "experiments" / "results" / "REPORT.md")
        'experiments/results/REPORT.md'
    """
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return str(resolved)


def repo_relative_files(files: Mapping[str, str | Path] | Iterable[str | Path]) -> dict[str, str] | list[str]:
    """A result's ``"files"`` (a mapping of names to paths, or a list of paths) with :func:`repo_relative` paths."""
    if isinstance(files, Mapping):
        return {name: repo_relative(path) for name, path in files.items()}
    return [repo_relative(path) for path in files]
