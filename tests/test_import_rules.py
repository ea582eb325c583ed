import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BLOCK_LIGHTNING = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'lightning', 'pytorch_lightning', 'torchvision'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import lightning_mixup.functional as F
import lightning_mixup.functional.discriminator
import lightning_mixup.policy
import torch
x, y = F.mixup(torch.rand(4, 2), torch.tensor([0, 1, 0, 1]), alpha=1.0, num_classes=2)
print('ok')
"""


def test_functional_core_imports_without_lightning():
    result = subprocess.run([sys.executable, "-c", BLOCK_LIGHTNING], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


PACKAGE_IMPORT = """
import importlib, pkgutil, sys

class Watch:
    # records an import of torchvision made by lightning_mixup's own code (dependencies may import it themselves
    # where a working torchvision is installed; that is theirs)
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torchvision':
            frame = sys._getframe(1)
            # past the import machinery, to the module whose import statement this is
            def machinery(f):
                return '<frozen' in f.f_code.co_filename or 'importlib' in f.f_code.co_filename
            while frame is not None and machinery(frame):
                frame = frame.f_back
            module = frame.f_globals.get('__name__', '') if frame is not None else ''
            if module.split('.')[0] == 'lightning_mixup':
                raise ImportError(f'{module} imports {name}')
        return None

sys.meta_path.insert(0, Watch())
import lightning_mixup
for info in pkgutil.walk_packages(lightning_mixup.__path__, 'lightning_mixup.'):
    if not info.name.endswith('__main__'):
        importlib.import_module(info.name)
from lightning_mixup import MixupCallback, MixupMixin, MixupAccuracy, MixedLabels
print('ok')
"""


@pytest.mark.slow  # a subprocess importing every module
def test_package_never_imports_torchvision():
    result = subprocess.run([sys.executable, "-c", PACKAGE_IMPORT], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


PLUGIN_IMPORTS_NO_RESEARCH = """
import importlib, pkgutil, sys
import lightning_mixup
for info in pkgutil.walk_packages(lightning_mixup.__path__, "lightning_mixup."):
    if info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
print(sorted(m for m in sys.modules if m.split('.')[0] in {'experiments', 'benchmarks'}))
"""


@pytest.mark.slow  # a subprocess importing every module
def test_plugin_never_imports_the_research_code():
    result = subprocess.run(
        [sys.executable, "-c", PLUGIN_IMPORTS_NO_RESEARCH], capture_output=True, text=True, check=False, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "lightning_mixup"


def imported_modules(path: Path, module: str | None = None) -> set[str]:
    """Every module an import statement in ``path`` names, anywhere in the file (function-level imports too).

    Relative imports are resolved against the file's package (``module`` is the file's dotted name, by default its
    path from the repository root); ``from a import b`` counts as ``a`` and ``a.b`` (``b`` may be a submodule).
    """
    module = module or ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module.removesuffix(".__init__") if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def _violations(files: list[Path], forbidden: Callable[[str], bool]) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if forbidden(name)
    )


def test_imported_modules_sees_every_form_of_import(tmp_path):
    # the helper the static rules rest on: absolute, from-, relative and function-level imports are all found
    path = tmp_path / "probe.py"
    path.write_text("import a.b\nfrom c import d\nfrom . import e\nfrom ..f import g\ndef h():\n    import i\n")
    names = imported_modules(path, "lightning_mixup.evaluation.probe")
    assert {"a.b", "c", "c.d", "lightning_mixup.evaluation.e", "lightning_mixup.f.g", "i"} <= names


ENGINE_WITHOUT_LIGHTNING = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'lightning', 'pytorch_lightning'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import torch
from torch import nn
from lightning_mixup.engine import MixupEngine
from lightning_mixup.policy import MixupPolicy
engine = MixupEngine(MixupPolicy(alpha=1.0))
module = nn.Identity()
engine.start(module, seed=0, rank=0)
engine.reseed(0)
x, y = torch.rand(4, 3), torch.tensor([0, 1, 2, 3])
mixed, labels = engine.mix_batch(module, (x, y), epoch=0, step=0)
assert type(labels).__name__ == 'MixedLabels' and not torch.equal(mixed, x), 'the batch was not mixed'
print(sorted(m for m in sys.modules if m.split('.')[0] in {'lightning', 'pytorch_lightning'}))
"""


def test_engine_imports_without_lightning():
    result = subprocess.run(
        [sys.executable, "-c", ENGINE_WITHOUT_LIGHTNING], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# the training side of the package: evaluation takes a model and data and never needs any of it
TRAINING_MODULES = (
    "lightning_mixup.callback",
    "lightning_mixup.mixin",
    "lightning_mixup.engine",
    "lightning_mixup.policy",
    "lightning_mixup.functional",
    "lightning_mixup.metrics",
    "lightning_mixup._batch",
    "lightning_mixup.gan",
    "lightning_mixup.cli",
)
# what evaluation may import from the package besides itself: argument checks, and the Lightning compatibility layer
# (which Trainer / LightningModule / Callback classes the installed distribution has: glue, not training code)
EVALUATION_MAY_IMPORT = ("lightning_mixup.evaluation", "lightning_mixup._checks", "lightning_mixup._compat")


def _is_training(name: str) -> bool:
    return any(name == t or name.startswith(t + ".") for t in TRAINING_MODULES)


EVALUATION_IMPORT = """
import importlib, pkgutil, sys
import lightning_mixup.evaluation
for info in pkgutil.walk_packages(lightning_mixup.evaluation.__path__, 'lightning_mixup.evaluation.'):
    importlib.import_module(info.name)
print(sorted(m for m in sys.modules if m.startswith('lightning_mixup.')))
"""


@pytest.mark.slow  # a subprocess importing every module
def test_evaluation_never_loads_training_code():
    result = subprocess.run(
        [sys.executable, "-c", EVALUATION_IMPORT], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    loaded = ast.literal_eval(result.stdout.strip())
    assert "lightning_mixup.evaluation.robustness" in loaded  # the walk did import the evaluation modules
    assert [m for m in loaded if _is_training(m)] == []


def test_evaluation_source_imports_no_training_code():
    # static: also catches imports inside functions, which importing the modules never runs
    files = sorted((PACKAGE / "evaluation").rglob("*.py"))
    assert len(files) > 3
    assert _violations(files, _is_training) == []
    own = _violations(
        files,
        lambda name: (
            name.startswith("lightning_mixup")
            and not any(name == a or name.startswith(a + ".") for a in EVALUATION_MAY_IMPORT)
        ),
    )
    assert own == []


def test_package_source_never_imports_the_research_code():
    # static twin of test_plugin_never_imports_the_research_code: lazy, function-level imports included
    files = sorted(PACKAGE.rglob("*.py"))
    assert _violations(files, lambda name: name.split(".")[0] in {"experiments", "benchmarks"}) == []
