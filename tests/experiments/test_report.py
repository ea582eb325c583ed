import pytest

from experiments.report import (
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    claims_markdown,
    classification_claims,
    gan_claims,
    interval_verdict,
    sign_test,
)


def ci(low, high):
    return {"mean": (low + high) / 2, "low": low, "high": high, "half_width": (high - low) / 2, "n": 5}


def study(acc, ece, fgsm, pgd):
    summary = {
        "clean_accuracy": {"diff": ci(*acc)},
        "ece": {"diff": ci(*ece)},
        "nll": {"diff": ci(-0.1, 0.1)},
        "fgsm@0": {"diff": ci(0.0, 0.0)},
    }
    for eps, interval in fgsm.items():
        summary[f"fgsm@{eps}"] = {"diff": ci(*interval)}
    for eps, interval in pgd.items():
        summary[f"pgd@{eps}"] = {"diff": ci(*interval)}
    return {"summary": summary}


def by_claim(rows, prefix):
    return [r["verdict"] for r in rows if r["claim"].startswith(prefix)]


def test_interval_verdicts():
    assert interval_verdict(ci(0.01, 0.03), "higher") == AGREES
    assert interval_verdict(ci(-0.03, -0.01), "higher") == DISAGREES
    assert interval_verdict(ci(-0.03, 0.01), "higher") == INCONCLUSIVE
    assert interval_verdict(ci(-0.03, -0.01), "lower") == AGREES
    assert interval_verdict(ci(float("nan"), 1.0), "lower") == INCONCLUSIVE
    with pytest.raises(ValueError, match="Expected argument `better` to be 'higher' or 'lower'"):
        interval_verdict(ci(0, 1), "up")


def test_classification_claims_each_direction():
    agree = study(
        acc=(0.01, 0.02), ece=(-0.05, -0.01), fgsm={0.1: (0.1, 0.2), 0.2: (0.05, 0.1)}, pgd={0.1: (-0.01, 0.02)}
    )
    disagree = study(
        acc=(-0.02, -0.01), ece=(0.01, 0.05), fgsm={0.1: (-0.2, -0.1), 0.2: (-0.1, -0.05)}, pgd={0.1: (0.05, 0.1)}
    )
    rows = classification_claims({"a": agree, "b": disagree})
    assert by_claim(rows, "1.") == [AGREES, DISAGREES]
    assert by_claim(rows, "2.") == [AGREES, DISAGREES]
    assert by_claim(rows, "3.") == [AGREES, DISAGREES]
    assert by_claim(rows, "4.") == [AGREES, DISAGREES]
    assert "mixup higher at some ε" in [r for r in rows if r["claim"].startswith("3.")][1]["measured"]
    mixed = study(acc=(-0.01, 0.01), ece=(-0.01, 0.01), fgsm={0.1: (0.1, 0.2), 0.2: (-0.1, 0.1)}, pgd={})
    rows = classification_claims({"c": mixed})
    assert by_claim(rows, "1.") == [INCONCLUSIVE] and by_claim(rows, "2.") == [INCONCLUSIVE]
    assert by_claim(rows, "3.") == []  # no PGD measured, no row


def gan(erm_converged, mixup_converged, modes_delta, quality_delta, seeds=10):
    """A study where mixup's modes and high-quality share differ from ERM's by the given per-seed deltas."""

    def entry(method, converged):
        return {
            "dataset": "ring",
            "method": method,
            "converged": converged,
            "num_modes": 8,
            "modes_captured": {"mean": 6.0, "std": 1.0},
            "high_quality_share": {"mean": 0.5, "std": 0.1},
        }

    runs = []
    for seed in range(seeds):
        base = {"dataset": "ring", "hidden": 64, "depth": 3, "lr": 1e-3, "latent_dim": 2, "seed": seed}
        runs.append({**base, "method": "erm", "modes_captured": 4, "high_quality_share": 0.5})
        runs.append(
            {
                **base,
                "method": "paper",
                "modes_captured": 4 + modes_delta[seed % len(modes_delta)],
                "high_quality_share": 0.5 + quality_delta[seed % len(quality_delta)],
            }
        )
    return {
        "summary": [entry("erm", erm_converged), entry("paper", mixup_converged)],
        "runs": runs,
        "reference_samplers": [
            {
                "dataset": "ring",
                "sampler": "uniform smear",
                "modes_captured": {"mean": 5.2},
                "high_quality_share": {"mean": 0.004},
            }
        ],
    }


def test_gan_claims():
    assert by_claim(gan_claims(gan(0.2, 0.8, [2], [0.0])), "5.") == [AGREES]
    assert by_claim(gan_claims(gan(0.2, 0.2, [-2], [0.0])), "5.") == [DISAGREES]
    assert by_claim(gan_claims(gan(0.5, 0.5, [1, -1], [0.1, -0.1])), "5.") == [INCONCLUSIVE]
    # more modes but every sample blurrier: a trade-off, not stability
    rows = gan_claims(gan(0.0, 0.0, [2], [-0.3]))
    assert by_claim(rows, "5.") == [INCONCLUSIVE]
    assert (
        "more modes but blurrier samples" in rows[0]["measured"] and "uniform smear scores 5.2" in rows[0]["measured"]
    )
    # fewer converged runs without more modes: disagrees
    assert by_claim(gan_claims(gan(0.8, 0.2, [0], [0.0])), "5.") == [DISAGREES]


def test_sign_test_matches_binomial():
    from scipy.stats import binomtest

    for wins, losses in [(9, 1), (5, 5), (12, 2), (0, 7)]:
        assert sign_test(wins, losses) == pytest.approx(binomtest(wins, wins + losses).pvalue)


def test_markdown_has_a_row_per_claim():
    rows = classification_claims({"a": study((0, 0.1), (0, 0.1), {0.1: (0, 0.1)}, {0.1: (0, 0.1)})})
    assert len(claims_markdown(rows).splitlines()) == 2 + len(rows)


def test_which_method_table_recommends_only_what_helps_without_harm():
    from experiments.report import claim_evidence, which_method_markdown

    rows = [
        {"claim": "1. lower test error than ERM", "verdict": "agrees"},
        {"claim": "1. lower test error than ERM", "verdict": "disagrees"},
        {"claim": "RegMixup", "method": "regmixup", "verdict": "disagrees",
         "parts": {"accuracy": "agrees", "ece15": "disagrees", "auroc_reversed_msp": "agrees"}},
        {"claim": "Kernel warping", "method": "kernel_warping", "verdict": "inconclusive",
         "parts": {"ece15": "agrees", "accuracy": "inconclusive"}},
        {"claim": "3. little or no gain under PGD", "verdict": "agrees"},
        {"claim": "MI", "method": "mixup_inference", "verdict": "inconclusive"},
        {"claim": "mixup can raise regression RMSE", "method": "mixup_regression", "verdict": "disagrees"},
        {"claim": "5. discriminator mixup stabilises GANs", "verdict": "inconclusive"},
        {"claim": "2b. more robust to transferred (black-box) FGSM", "verdict": "agrees"},
    ]  # fmt: skip
    table = which_method_markdown(rows).splitlines()
    assert table[2] == "| accuracy | RegMixup | mixup 1/1/0; RegMixup 1/0/0; kernel warping 0/0/1 |"  # mixup: +1, -1
    assert table[3] == "| calibration (ECE) | kernel warping | RegMixup 0/1/0; kernel warping 1/0/0 |"
    assert table[4] == "| OOD detection | RegMixup | RegMixup 1/0/0 |"
    assert table[5] == "| robustness to adaptive attacks | none helps here | mixup 0/1/0; mixup inference 0/0/1 |"
    assert table[6] == "| regression RMSE | mixup | mixup 1/0/0 |"  # "can raise RMSE" refuted: mixup lowered it
    assert table[7] == "| GAN stability | none helps here | mixup 0/0/1 |"
    assert len(table) == 8  # transferred FGSM is not one of the goals
    assert claim_evidence({"claim": "C-Mixup", "method": "cmixup", "verdict": "agrees"}) == [
        ("regression RMSE", "cmixup", "agrees")
    ]
