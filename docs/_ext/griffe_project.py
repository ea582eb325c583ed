"""Griffe extension for the API reference (mkdocs.yml loads it; nothing in the package imports it).

- ``Example:`` sections (the house style's Google-docstring title, as Napoleon reads it) are read as griffe's
  ``Examples:``, so their ``>>>`` doctests render as code instead of as Markdown text.
- A class that defines ``__new__`` but no ``__init__`` (a ``torch.Tensor`` subclass) gets its documented
  signature, and its ``Args`` checked, from ``__new__``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_TITLE = re.compile(r"^(\s*)Example:\s*$", flags=re.MULTILINE)


class ProjectDocstrings(griffe.Extension):
    """Reads the project's docstrings the way its doctests and Napoleon do."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rename ``Example:`` section titles to ``Examples:``."""
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_TITLE.sub(r"\1Examples:", obj.docstring.value)

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        """Document a ``__new__``-only class with the signature of its ``__new__``."""
        if "__new__" in cls.members and "__init__" not in cls.members:
            cls.set_member("__init__", cls.members["__new__"])
