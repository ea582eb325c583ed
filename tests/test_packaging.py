"""What pip users get: declared floors that constraints-min.txt pins, extras that cannot break an environment, the
files an sdist needs. Building and installing are checked by .ci/run (.ci/smoke_test.py), not here."""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SELF = "lightning-mixup"
TOOLS = {"ruff", "mypy", "build", "tomli"}  # dev tools the minimum-version run does not use (tomli: Python 3.10)


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path):
    result = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            result[normalise(name)] = version
    return result


def requirements(extra=None):
    texts = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def declared():
    """Every requirement of the project and its extras except the self-references, by normalised name."""
    reqs = requirements() + [r for extra in PROJECT["optional-dependencies"] for r in requirements(extra)]
    return {normalise(r.name): r for r in reqs if normalise(r.name) != SELF}


def floor(req):
    (spec,) = [s for s in req.specifier if s.operator == ">="]
    return spec.version


def test_every_requirement_has_a_floor_and_nothing_else():
    for name, req in declared().items():
        assert [s.operator for s in req.specifier] == [">="], f"{name}: {req}"


def test_constraints_min_pins_each_declared_floor():
    minimum = pins(ROOT / "constraints-min.txt")
    docs = {normalise(r.name) for r in requirements("docs")}
    for name, req in declared().items():
        if name in TOOLS | docs:
            assert name not in minimum, name
        elif name == "torch":  # the floor is 2.6, run as 2.6.0 (see the file's header)
            assert Version(floor(req)) == Version("2.6") and minimum["torch"] == "2.6.0"
        else:
            assert Version(minimum[name]) == Version(floor(req)), f"{name}: {req}, constraints-min.txt {minimum[name]}"
    extra = set(minimum) - set(declared())
    assert extra == {"pytorch-lightning"}, extra  # lightning's own requirement, held at lightning's floor
    assert minimum["pytorch-lightning"] == minimum["lightning"]


def test_constraints_txt_pins_the_torch_that_make_and_the_readme_install():
    assert pins(ROOT / "constraints.txt") == {"torch": "2.13.0"}
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()


def test_plugin_requirements_cannot_pull_torchvision_or_old_requests():
    core = {normalise(r.name) for r in requirements()}
    assert not core & {"torchattacks", "torchvision", "requests", "matplotlib"}
    assert {normalise(r.name) for r in requirements("robustness")} == {"torchattacks"}
    assert {normalise(r.name) for r in requirements("plots")} == {"matplotlib"}


def test_security_floor_for_weights_only_loading():
    (torch,) = [r for r in requirements() if r.name == "torch"]
    assert torch.specifier.contains("2.6.0") and not torch.specifier.contains("2.5.1")


@pytest.mark.parametrize("extra", ["study", "dev"])
def test_extras_reference_only_existing_extras(extra):
    for req in requirements(extra):
        if normalise(req.name) == SELF:
            assert req.extras <= set(PROJECT["optional-dependencies"]), req


def test_apache_license_file_matches_the_declared_license():
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_sdist_manifest_carries_what_the_tests_need():
    lines = [line.split() for line in (ROOT / "MANIFEST.in").read_text().splitlines() if line[:1] not in ("#", "")]
    for folder in ("tests", "experiments", "benchmarks", "docs"):
        assert ["graft", folder] in lines, folder
    included = {name for words in lines if words[0] == "include" for name in words[1:]}
    for name in ("LICENSE", "README.md", "Makefile", "constraints.txt", "constraints-min.txt", "mkdocs.yml", ".ci/run"):
        assert name in included and (ROOT / name).exists(), name
    # every top-level folder with Python code that the test suite collects is shipped
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    assert set(testpaths) <= {"lightning_mixup", "tests", "experiments", "benchmarks"}


def test_wheel_ships_only_the_package_with_its_configs():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["lightning_mixup*"]
    assert "configs/*.yaml" in setuptools["package-data"]["lightning_mixup"]


def test_api_reference_documents_every_public_module():
    pages = "\n".join(path.read_text() for path in (ROOT / "docs" / "api").glob("*.md"))
    documented, packages = set(), set()
    for match in re.finditer(r"^::: (\S+)\n((?:    .*\n)*)", pages, flags=re.M):
        documented.add(match[1])
        if "show_submodules: true" in match[2]:
            packages.add(match[1])
    modules = set()
    for path in (ROOT / "lightning_mixup").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if path.name == "__main__.py" or any(part.startswith("_") and part != "__init__" for part in parts):
            continue
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    missing = {m for m in modules - documented if m.rpartition(".")[0] not in packages}
    assert missing == set(), "add these modules to a page of docs/api/"
    assert documented - modules == set(), "docs/api/ names modules that do not exist"


def test_ci_minimum_run_installs_what_make_setup_installs_beside_the_extras():
    no_deps = re.findall(r"pip install --quiet --no-deps (\S+==\S+)", (ROOT / "Makefile").read_text())
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(f"--no-deps {pin}" in ci for pin in no_deps), no_deps
