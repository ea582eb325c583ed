"""experiments.gan.full_scale: the GPU runner's schedule options, the agreed length, merge and the report."""

import json

import pytest

from experiments.gan import full_scale

TINY = {"g_hidden": 8, "d_hidden": 4}


def test_schedule_options_reach_every_group():
    specs = full_scale.groups(lr=1e-3, max_iterations=40_000, stem="pacgan_full_long")
    pacgan = [s for s in specs if s["setting"] == "pacgan"]
    assert {(s["dataset"], s["form"]) for s in pacgan} == {(d, f) for d in ("ring", "grid") for f in ("erm", "paper")}
    assert all(s["lr"] == 1e-3 and s["max_iterations"] == 40_000 and s["peers"] == 4 for s in pacgan)
    cfg = full_scale.full_setting("pacgan", lr=1e-3, stem="pacgan_full_long")
    assert (cfg.model["lr_g"], cfg.model["lr_d"], cfg.name) == (1e-3, 1e-3, "pacgan_full_long")
    assert full_scale.full_setting("pacgan").model["lr_g"] == 1e-4  # PacGAN's own step by default
    with pytest.raises(ValueError, match="max_iterations"):
        full_scale.groups(max_iterations=3)


def test_workers_agree_on_the_fewest_iterations(tmp_path):
    (tmp_path / "s__ring__erm.plan").write_text("900")
    (tmp_path / "s__grid__erm.plan").write_text("1200")
    spec = {"dataset": "ring", "form": "paper", "peers": 3}
    assert full_scale._agree(tmp_path, "s", spec, 1000) == 900
    # a peer that never answers is left out after the wait
    assert full_scale._agree(tmp_path, "s", {**spec, "form": "x", "peers": 9}, 50, wait=0.1) == 50


def test_name_needs_one_setting():
    with pytest.raises(SystemExit):
        full_scale.main(["--name", "x"])


@pytest.mark.slow  # study
def test_workers_merge_and_render(tmp_path):
    """Four tiny groups trained in-process, merged into one report, and the report rebuilt from its JSON."""
    for spec in full_scale.groups(TINY, lr=1e-3, max_iterations=12, stem="smoke"):
        if spec["setting"] == "pacgan":
            full_scale.worker({**spec, "peers": 1}, "cpu", budget=5.0, out=tmp_path)
    full_scale.merge(tmp_path, ["pacgan"], "smoke")
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert result["config"]["iterations"] == 12 and result["config"]["model"]["lr_g"] == 1e-3
    assert {r["method"] for r in result["runs"]} == {"ERM", "paper α=0.2"} and len(result["runs"]) == 20
    text = (tmp_path / "smoke.md").read_text()
    assert "Baseline check" in text and "## Claim rows" in text and "Trained on: cpu" in text
    (tmp_path / "smoke.md").unlink()
    assert full_scale.main(["--render", str(tmp_path / "smoke.json")]) == 0
    assert (tmp_path / "smoke.md").read_text() == text
