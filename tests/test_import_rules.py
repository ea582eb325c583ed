import subprocess
import sys

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


def test_plugin_never_imports_the_research_code():
    result = subprocess.run(
        [sys.executable, "-c", PLUGIN_IMPORTS_NO_RESEARCH], capture_output=True, text=True, check=False, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
