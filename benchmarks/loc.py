"""Lines of code per module of a Python tree: docstrings, comments and blank lines not counted.

The package's size target (issue #23: at most 4,800 lines of code in ``lightning_mixup/`` before the methods of
issue #25) is measured with this counter::

    python benchmarks/loc.py lightning_mixup            # per module, then the total
    python benchmarks/loc.py lightning_mixup --total    # the total only
"""

from __future__ import annotations

import argparse
import ast
import io
import tokenize
from pathlib import Path

_SKIPPED = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
_SCOPES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def code_lines(source: str) -> int:
    """The number of lines that hold code: a token other than a comment, outside every docstring."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        first = node.body[0] if isinstance(node, _SCOPES) and node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _SKIPPED:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(lines)


def count_tree(root: Path) -> dict[str, int]:
    """Code lines of every ``.py`` file under ``root``, by path relative to ``root``'s parent."""
    return {str(p.relative_to(root.parent)): code_lines(p.read_text()) for p in sorted(root.rglob("*.py"))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=Path("lightning_mixup"))
    parser.add_argument("--total", action="store_true", help="print the total only")
    args = parser.parse_args(argv)
    counts = count_tree(args.root)
    if not args.total:
        for path, n in sorted(counts.items(), key=lambda item: item[1]):
            print(f"{n:6d}  {path}")
    print(f"{sum(counts.values()):6d}  total")


if __name__ == "__main__":
    main()
