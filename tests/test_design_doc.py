"""docs/design.md gives every module of the package its one-line reason, so the list cannot rot."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lightning_mixup"


def test_every_module_has_its_line_in_the_design_doc():
    text = (ROOT / "docs" / "design.md").read_text()
    modules = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]
    modules += ["__init__.py", "configs/"]
    missing = [m for m in modules if f"| `{m}` |" not in text]
    assert not missing, f"docs/design.md has no line for {missing}"


def test_the_design_doc_names_no_module_that_is_gone():
    text = (ROOT / "docs" / "design.md").read_text()
    named = [line.split("`")[1] for line in text.splitlines() if line.startswith("| `")]
    gone = [m for m in named if not (PACKAGE / m).exists()]
    assert not gone, f"docs/design.md names modules that do not exist: {gone}"
