import math

import pytest
import torch

from experiments.classification.metrics import classification_metrics, fit_temperature
from experiments.classification.mnist1d import anchor_ok, flag_cells
from experiments.classification.study import _robust_claims, _tabular_claim, robustness_table, tabular_claims
from experiments.classification.tabular import compare, counted, select_alpha, summarise


@pytest.mark.slow  # study fit
def test_temperature_recovers_a_known_scale():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(20000, 3, generator=gen) * 2
    labels = torch.multinomial(z.softmax(-1), 1, generator=gen).squeeze(1)
    assert fit_temperature(3 * z, labels) == pytest.approx(3.0, rel=0.05)
    assert fit_temperature(z, labels) == pytest.approx(1.0, rel=0.05)
    assert fit_temperature(z[:0], labels[:0]) == 1.0


def test_ece_known_answer():
    # both predictions have confidence sigmoid(2) = 0.8808 and land in one bin; accuracy there is 1/2
    m = classification_metrics(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]), 2)
    assert m["ece15"] == pytest.approx(abs(0.5 - 1 / (1 + math.exp(-2))), abs=1e-6)
    assert m["ece100"] == pytest.approx(m["ece15"], abs=1e-6) and m["accuracy"] == 0.5


def _dataset(name, diffs, source="keel", n_test=10, n_train=90):
    folds = [{"n_test": n_test, "n_train": n_train, "selected_alpha": 1.0,
              "arms": {"erm": {"accuracy": 0.8, "ece15": 0.1, "ts_ece15": 0.1, "nll": 0.5},
                       "selected": {"accuracy": 0.8 + d, "ece15": 0.1 - d, "ts_ece15": 0.1 - d, "nll": 0.5 - d},
                       "1": {"accuracy": 0.8 + d, "ece15": 0.1 - d, "ts_ece15": 0.1 - d, "nll": 0.5 - d}}}
             for d in diffs]  # fmt: skip
    return {"dataset": f"{source}/{name}", "source": source, "name": name, "folds": folds, "num_examples": 100}


def test_compare_uses_the_corrected_test():
    row = compare(_dataset("a", [0.01, 0.02, 0.03, 0.02]), "selected")
    assert row["differences"] == pytest.approx([0.01, 0.02, 0.03, 0.02])
    var = torch.tensor([0.01, 0.02, 0.03, 0.02]).var().item()
    assert row["test"]["t"] == pytest.approx(0.02 / math.sqrt((1 / 4 + 1 / 9) * var), rel=1e-5)


def test_summaries_and_claim_verdicts():
    better = [_dataset(f"b{i}", [0.05, 0.06, 0.05, 0.07, 0.06]) for i in range(6)]
    worse = [_dataset(f"w{i}", [-0.05, -0.06, -0.05, -0.07, -0.06]) for i in range(6)]
    s = summarise(better, ["selected"])["selected"]
    assert s["verdicts"] == {"better": 6, "worse": 0, "indistinguishable": 0}
    assert s["win_tie_loss"]["wins"] == 6 and _tabular_claim(s, 6, "accuracy") == "agrees"
    assert _tabular_claim(summarise(worse, ["selected"])["selected"], 6, "accuracy") == "disagrees"
    assert summarise(better, ["selected"], "ece15")["selected"]["verdicts"]["better"] == 6  # lower ECE is better
    mixed = summarise(better[:3] + worse[:3], ["selected"])["selected"]
    assert mixed["verdicts"]["worse"] == 3 and _tabular_claim(mixed, 6, "accuracy") == "inconclusive"
    claims, _ = tabular_claims({"paper": better}, [1.0])
    assert [c["verdict"] for c in claims] == ["agrees", "agrees", "agrees"]


def test_duplicates_count_once():
    rows = [
        _dataset("iris", [0.0, 0.0]),
        _dataset("iris", [0.0, 0.0], "sklearn"),
        _dataset("digits", [0, 0], "sklearn"),
    ]
    assert [d["dataset"] for d in counted(rows)] == ["keel/iris", "sklearn/digits"]


def test_select_alpha_prefers_validation_accuracy_then_nll():
    arms = {"0.1": {"val_accuracy": 0.8, "val_nll": 0.1}, "1": {"val_accuracy": 0.9, "val_nll": 0.5}}
    assert select_alpha(arms, [0.1, 1.0]) == 1.0
    arms["0.1"]["val_accuracy"] = 0.9
    assert select_alpha(arms, [0.1, 1.0]) == 0.1


def _row(rep, arm, fgsm, pgd):
    curves = {
        "fgsm": dict(zip((0.0, 0.1, 0.2), fgsm, strict=True)),
        "pgd": dict(zip((0.0, 0.1, 0.2), pgd, strict=True)),
    }
    return {"seed": rep, "arm": arm, "curves": curves, "flagged": flag_cells(curves, 100)}


def test_robustness_cells_flags_and_claims():
    rows = []
    for rep, noise in enumerate((0.0, 0.01, 0.02)):
        rows.append(_row(rep, "erm", (0.9, 0.5, 0.2), (0.9, 0.45, 0.1)))
        rows.append(_row(rep, "1", (0.9, 0.6 + noise, 0.3 + noise), (0.9, 0.46, 0.4 + noise)))  # PGD > FGSM at 0.2
    table = robustness_table(rows, "seed", ["1"])
    assert table["1"]["pgd@0.2"]["flagged"] and not table["1"]["fgsm@0.1"]["flagged"]
    assert table["1"]["fgsm@0.1"]["diff"]["mean"] == pytest.approx(0.11)
    claims = {c["claim"][:2]: c for c in _robust_claims("x", table, "1")}
    assert claims["2."]["verdict"] == "agrees" and "(flagged)" in claims["3."]["measured"]
    assert claims["3."]["verdict"] == "disagrees"  # PGD at 0.1: +1 pp every seed, a significant change


def test_anchor_rule():
    anchor = {"archs": {"cnn": {"mean": 0.90, "published": 0.94, "notebook": 0.923}}}
    assert anchor_ok(anchor, "cnn") and not anchor_ok(anchor, "cnn", tolerance=0.01)


def _method_dataset(name, acc, ece, ts_ece):
    base = {"accuracy": 0.8, "ece15": 0.1, "ts_ece15": 0.1, "nll": 0.5, "aurc": 0.05}
    folds = []
    for k in range(5):
        jitter = 0.002 * (k - 2)
        arm = {"accuracy": 0.8 + acc + jitter, "ece15": 0.1 + ece + jitter, "ts_ece15": 0.1 + ts_ece + jitter,
               "nll": 0.5, "aurc": 0.05}  # fmt: skip
        folds.append({"n_test": 10, "n_train": 90, "selected_alpha": 1.0,
                      "arms": {"erm": base, "selected": base, "1": base, "regmixup": arm, "kernel_warping": arm,
                               "mixup_inference_training": arm}})  # fmt: skip
    return {"dataset": f"keel/{name}", "source": "keel", "name": name, "folds": folds, "num_examples": 100}


def test_method_claims_follow_each_papers_claim():
    methods = ("regmixup", "kernel_warping", "mixup_inference_training")
    # lower ECE (before and after scaling), accuracy unchanged: kernel warping's and MIT's claims hold, RegMixup's
    # accuracy half is not shown
    tables = [_method_dataset(f"t{i}", 0.0, -0.05, -0.05) for i in range(8)]
    claims, summaries = tabular_claims({"paper": tables}, [1.0], methods)
    verdicts = {c["method"]: c["verdict"] for c in claims if "method" in c}
    assert verdicts == {"regmixup": "inconclusive", "kernel_warping": "agrees", "mixup_inference_training": "agrees"}
    assert "aurc" in summaries["paper"]
    # lower accuracy: kernel warping's "without accuracy loss" fails, RegMixup's accuracy claim fails
    tables = [_method_dataset(f"t{i}", -0.05, -0.05, 0.05) for i in range(8)]
    claims, _ = tabular_claims({"paper": tables}, [1.0], methods)
    verdicts = {c["method"]: c["verdict"] for c in claims if "method" in c}
    assert verdicts == {"regmixup": "disagrees", "kernel_warping": "disagrees", "mixup_inference_training": "disagrees"}


def test_aurc_is_in_the_metrics():
    logits = torch.tensor([[3.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    m = classification_metrics(logits, torch.tensor([0, 1, 1, 0]), 2)
    # confidence order: rows 0, 1, 3, 2; errors 0, 1, 0, 0: risks at coverage 1/4..4/4 = 0, 1/2, 1/3, 1/4
    assert m["aurc"] == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 4) / 4)


def test_ood_sets_and_scores():
    from experiments.classification.ood import digits_ood_sets, mnist1d_ood_sets, ood_metrics_from_logits

    gen = torch.Generator().manual_seed(0)
    train = torch.randn(4000, 40, generator=gen) * 3 + 1
    sets = mnist1d_ood_sets(torch.arange(80.0).view(2, 40), train)
    assert torch.equal(sets["reversed"][0], torch.arange(39.0, -1.0, -1.0))
    noise = mnist1d_ood_sets(train, train)["noise"]
    assert float(noise.mean()) == pytest.approx(1.0, abs=0.05) and float(noise.std()) == pytest.approx(3.0, rel=0.02)
    x = torch.rand(6, 64) * 16
    y = torch.tensor([0, 1, 2, 8, 9, 3])
    mean, std = torch.full((64,), 4.0), torch.full((64,), 2.0)
    digits = digits_ood_sets((x - mean) / std, y, (x - mean) / std, mean, std)
    back = digits["mirrored"] * std + mean  # the images of 2, 9 and 3, mirrored
    torch.testing.assert_close(back, x[[2, 4, 5]].view(3, 8, 8).flip(-1).reshape(3, 64))
    assert float((digits["noise"] * std + mean).min()) >= 0 and float((digits["noise"] * std + mean).max()) <= 16
    id_logits = torch.tensor([[5.0, 0.0], [4.0, 0.0], [0.0, 6.0]])  # confident
    ood_logits = torch.tensor([[0.1, 0.0], [0.0, 0.2]])  # unsure
    m = ood_metrics_from_logits(id_logits, {"far": ood_logits})
    assert m["auroc_far_msp"] == 1.0 and m["fpr95_far_msp"] == 0.0 and m["auroc_far_entropy"] == 1.0
    m = ood_metrics_from_logits(ood_logits, {"far": id_logits})  # the other way round: every OOD sample wins
    assert m["auroc_far_msp"] == 0.0 and m["fpr95_far_msp"] == 1.0


def _reps(deltas):
    base = {"accuracy": 0.8, "ece15": 0.1, "ts_ece15": 0.1, "auroc_reversed_msp": 0.6}
    reps = []
    for k, d in enumerate(deltas):
        j = 0.001 * k
        arm = {key: v + d.get(key, 0.0) + j for key, v in base.items()}
        reps.append({"seed": k, "arms": {"erm": base, "regmixup": arm, "kernel_warping": arm,
                                          "mixup_inference_training": arm}})  # fmt: skip
    return reps


def test_paired_method_claims_and_mixup_inference_claim():
    from experiments.classification.study import mixup_inference_claim, paired_method_claims

    methods = ("regmixup", "kernel_warping", "mixup_inference_training")
    good = {"accuracy": 0.05, "ece15": -0.05, "ts_ece15": -0.05, "auroc_reversed_msp": 0.1}
    claims = paired_method_claims("MNIST-1D", _reps([good] * 3), methods, "reversed")
    assert [c["verdict"] for c in claims] == ["agrees"] * 3
    assert "auroc_reversed_msp" in claims[0]["measured"]
    worse_ood = {**good, "auroc_reversed_msp": -0.1}
    claims = paired_method_claims("MNIST-1D", _reps([worse_ood] * 3), methods, "reversed")
    assert [c["verdict"] for c in claims] == ["disagrees", "agrees", "agrees"]  # only RegMixup claims OOD
    assert paired_method_claims("x", _reps([good] * 2), methods, "reversed")[0]["verdict"] == "inconclusive"

    def row(rep, gain):
        return {"seed": rep, "arm": "selected", "undefended": {"0": 0.9, "0.01": 0.5, "0.02": 0.2},
                "mi": {"0": 0.85, "0.01": 0.5 + gain + 0.01 * rep, "0.02": 0.2 + gain + 0.01 * rep}}  # fmt: skip

    assert mixup_inference_claim("d", [row(r, 0.1) for r in range(3)], "seed")[0]["verdict"] == "agrees"
    assert mixup_inference_claim("d", [row(r, -0.1) for r in range(3)], "seed")[0]["verdict"] == "disagrees"
    claim = mixup_inference_claim("d", [row(0, 0.1), row(1, -0.1), row(2, 0.0)], "seed")[0]
    assert claim["verdict"] == "inconclusive" and "clean accuracy -5.0 pp" in claim["measured"]
    assert mixup_inference_claim("d", [], "seed") == []
