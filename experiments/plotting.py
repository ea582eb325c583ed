"""matplotlib, imported lazily with the Agg backend, and the one way figures are saved.

matplotlib is optional (``pip install 'lightning-mixup[plots]'``); importing this module never needs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed).

    Raises:
        ModuleNotFoundError: with the install line, if matplotlib is missing.
    """
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "Plotting needs matplotlib: `pip install 'lightning-mixup[plots]'` (or `pip install matplotlib`)."
        ) from err
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike[str], title: str = "", *, dpi: int = 120, fontsize: int = 10) -> Path:
    """Give ``fig`` its title, lay it out, write it to ``path`` (creating folders) and close it.

    Example:
        >>> import tempfile
        >>> fig, _ = pyplot().subplots()
        >>> save_figure(fig, Path(tempfile.mkdtemp()) / "a" / "fig.png", "title").exists()
        True
    """
    if title:
        fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    pyplot().close(fig)
    return out
