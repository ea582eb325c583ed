"""The PacGAN baseline run (experiments/gan/baseline.py): its configuration, its anchor check, a smoke run."""

import json

import pytest
import torch

from experiments.gan import baseline
from experiments.gan.suite import _anchor_check, _authors, _pacgan

_THREADS = torch.get_num_threads()


def test_configs_change_only_length_step_and_seeds():
    base = _pacgan(False)
    ring, grid = baseline.configs(iterations=600, seeds=2, lr=5e-4)
    assert (ring.datasets, grid.datasets) == (["ring"], ["grid"])
    for cfg in (ring, grid):
        assert (cfg.iterations, cfg.seeds, cfg.eval_every) == (600, 2, 100)
        assert cfg.model == {**base.model, "lr_g": 5e-4, "lr_d": 5e-4}
        assert cfg.cells == base.cells and cfg.batch_size == base.batch_size
        assert (cfg.ring, cfg.grid) == (base.ring, base.grid)
        assert "alternating discriminator and generator steps" in cfg.reference


def test_configs_take_pacgans_simultaneous_updates():
    base = _pacgan(False)
    (ring,) = baseline.configs(iterations=600, seeds=2, lr=1e-4, datasets=["ring"], updates="simultaneous")
    assert ring.model == {**base.model, "updates": "simultaneous"}  # d_steps stays 1
    assert ring.title.endswith("simultaneous updates: ring")
    assert "PacGAN's own step), both networks stepping on each batch" in ring.reference
    assert ring.reference.endswith("simultaneous updates).") and ring.num_samples is None


def test_configs_take_pacgans_fixed_training_set():
    (ring,) = baseline.configs(iterations=600, seeds=2, lr=1e-4, datasets=["ring"], num_samples=100_000)
    assert ring.num_samples == 100_000 and ring.engine_config("ring", 2).num_samples == 100_000
    assert ring.title.endswith("100,000 fixed samples: ring")
    assert ring.reference.endswith("on a fixed training set of 100,000 samples per run.")


def test_configs_take_pacgans_full_width_and_threads():
    base = _pacgan(False)
    (ring,) = baseline.configs(iterations=600, seeds=2, lr=1e-4, datasets=["ring"], full_width=True, threads=2)
    assert ring.model == {**base.model, "g_hidden": 400, "d_hidden": 200}  # depths, maxout, BN unchanged
    assert ring.num_threads == 2 and baseline.configs(iterations=600)[0].num_threads == 1
    assert ring.title.endswith("full width (4×400 / 3×200): ring")
    assert ring.reference.startswith(
        "PacGAN trains 4×400 / 3×200 networks for 400,000 iterations at lr 1e-4; here the same networks for 600 "
    )
    narrow = baseline.configs(iterations=600)[0].reference
    assert "; here 4×100 / 3×50 for 600 iterations" in narrow


def test_configs_take_adams_beta1_in_blocks_old_convention():
    base = _pacgan(False)
    (ring,) = baseline.configs(iterations=600, lr=1e-4, datasets=["ring"], beta1=0.2)
    assert ring.model == {**base.model, "betas": (0.2, 0.999)}
    assert ring.title.endswith("Adam β1 0.2: ring")
    assert (
        "Adam β1 0.2 instead of PacGAN's 0.8, its config's beta1 0.8 read in Blocks' Adam convention" in ring.reference
    )
    assert baseline.configs(iterations=600, beta1=0.8)[0].model["betas"] == (0.8, 0.999)  # the default: unchanged


@pytest.mark.slow  # study
def test_full_width_smoke_run_on_two_threads(tmp_path):
    result = baseline.run(
        tmp_path, iterations=2, seeds=1, lr=1e-4, full_width=True, threads=2, datasets=["ring"], name="w"
    )
    text = (tmp_path / "w.md").read_text()
    assert "--full-width --threads 2 --datasets ring --name w`" in text and "(1 process, 2 threads each)" in text
    assert "G 4×400 BN, D 3×200 maxout-5" in text
    assert (result["full_width"], result["threads"]) == (True, 2)
    assert torch.get_num_threads() == _THREADS  # restored after the setting


def _cell(data, modes, hq):
    return {
        "form": "erm",
        "dataset": f"{data} (pacgan_long_{data})",
        "modes_captured": {"mean": modes},
        "high_quality_share": {"mean": hq},
    }


@pytest.mark.parametrize(
    ("modes", "hq", "reproduced"),
    [(6.3, 0.982, True), (7.7, 0.94, True), (4.9, 1.0, True), (8.0, 0.982, False), (6.3, 0.93, False)],
)
def test_anchor_check_tolerances(modes, hq, reproduced):
    """Table 1's GAN row on the ring: 6.3 modes, 98.2 % HQ; modes within 1.5 and HQ within 5 points count."""
    text = _anchor_check({"cells": [_cell("ring", modes, hq)]})
    assert text.startswith("ring: ")
    assert text.endswith("— reproduced") is reproduced and text.endswith("NOT reproduced") is not reproduced


@pytest.mark.slow  # study
def test_smoke_run_writes_the_report(tmp_path):
    result = baseline.run(tmp_path, iterations=6, seeds=1, workers=1)
    text = (tmp_path / "pacgan_long.md").read_text()
    assert "## The baseline against PacGAN Table 1" in text and "Baseline check" in text
    assert "NOT reproduced" in result["baseline_check"]  # 6 iterations cannot reach Table 1
    saved = json.loads((tmp_path / "pacgan_long.json").read_text())
    assert {c["dataset"].split(" ")[0] for c in saved["cells"]} == {"ring", "grid"}
    assert [r["setting"].split(" ")[0] for r in saved["claims"]] == ["ring", "grid"]


def test_one_dataset_under_another_name():
    (grid,) = baseline.configs(iterations=80_000, datasets=["grid"], name="pacgan_long_80k")
    assert (grid.name, grid.datasets) == ("pacgan_long_80k_grid", ["grid"])
    assert "(five times fewer iterations, a ten times larger step)" in grid.reference


def test_authors_configs_restore_only_the_length_and_pick_the_cells():
    base = _authors(False)
    ring, grid = baseline.authors_configs(iterations=1200, seeds=5)
    assert (ring.datasets, grid.datasets, ring.name) == (["ring"], ["grid"], "authors_long_ring")
    for cfg in (ring, grid):
        assert (cfg.iterations, cfg.seeds, cfg.eval_every) == (1200, 5, 200)
        assert cfg.model == base.model and cfg.batch_size == base.batch_size  # the study's 3×64 networks
        assert (cfg.ring, cfg.grid) == (base.ring, base.grid)
        assert [(c["method"], c["alpha"]) for c in cfg.cells] == [
            ("erm", 0.0),
            ("shuffle", 0.2),
            ("shuffle", 1.0),
            ("paper", 0.2),
        ]
        assert "1200 iterations (the study: 800)" in cfg.reference


@pytest.mark.slow  # study
def test_authors_smoke_run_has_no_anchor_check(tmp_path):
    result = baseline.run(tmp_path, setting="authors", iterations=4, seeds=1, workers=2, datasets=["ring"])
    text = (tmp_path / "authors_long.md").read_text()
    assert text.startswith("# The mixup authors' GAN setting at their length")
    assert "(1 process)" in text  # one dataset trains in one process, whatever the pool size
    assert "Baseline check" not in text and result["baseline_check"] is None
    assert (result["setting"], result["iterations"], result["lr"]) == ("authors", 4, 1e-3)
    assert [r["setting"].split(",")[2].strip() for r in result["claims"]] == [
        "shuffle α=0.2",
        "shuffle α=1",
        "paper α=0.2",
    ]


def test_unknown_setting_is_refused(tmp_path):
    with pytest.raises(ValueError, match="`setting` to be 'pacgan' or 'authors'"):
        baseline.run(tmp_path, setting="veegan")
    with pytest.raises(ValueError, match="but got 'simultaneous' with setting='authors'"):
        baseline.run(tmp_path, setting="authors", updates="simultaneous")  # five discriminator steps per G step
    with pytest.raises(ValueError, match="but got 'both'"):
        baseline.run(tmp_path, updates="both")
    with pytest.raises(ValueError, match="`num_samples=None` with setting='authors'"):
        baseline.run(tmp_path, setting="authors", num_samples=1000)
    with pytest.raises(ValueError, match="`full_width=False` with setting='authors'"):
        baseline.run(tmp_path, setting="authors", full_width=True)
    with pytest.raises(ValueError, match=r"`beta1` at its default \(0.8, pacgan only\) with setting='authors'"):
        baseline.run(tmp_path, setting="authors", beta1=0.2)
    with pytest.raises(ValueError, match=r"`beta1` in \[0, 1\), but got 1.0"):
        baseline.run(tmp_path, beta1=1.0)
    for threads in (0, 1.5, True):
        with pytest.raises(ValueError, match="`threads` to be a positive int"):
            baseline.run(tmp_path, threads=threads)


def test_report_names_the_command_that_made_it():
    default = {
        "iterations": 40_000,
        "seeds": 5,
        "lr": 1e-3,
        "beta1": 0.8,
        "updates": "alternating",
        "num_samples": None,
        "full_width": False,
        "threads": 1,
        "datasets": ("ring", "grid"),
        "name": baseline.NAME,
    }
    expected = "`python -m experiments.gan.baseline` (`make gan-baseline`)"
    assert baseline._command("pacgan", **default) == expected
    assert (
        baseline._command("pacgan", **{**default, "lr": 1e-4, "datasets": ["grid"], "name": "x"})
        == "`python -m experiments.gan.baseline --lr 0.0001 --datasets grid --name x`"
    )
    assert (
        baseline._command("pacgan", **{**default, "updates": "simultaneous", "num_samples": 100_000})
        == "`python -m experiments.gan.baseline --updates simultaneous --num-samples 100000`"
    )
    assert (
        baseline._command("pacgan", **{**default, "full_width": True, "threads": 2, "beta1": 0.2})
        == "`python -m experiments.gan.baseline --beta1 0.2 --full-width --threads 2`"
    )
    args = {**default, "iterations": 20_001, "name": baseline.AUTHORS_NAME}
    assert baseline._command("authors", **args).endswith("--setting authors` (`make gan-authors`)")


@pytest.mark.slow  # study
def test_command_line_shows_progress_bars(tmp_path, capsys):
    assert baseline.main(["--iterations", "2", "--seeds", "1", "--datasets", "ring", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "pacgan_long_ring ring z=2 erm" in captured.err  # a tqdm bar per group of runs
    assert captured.out.startswith("# The PacGAN baseline at CPU scale")
