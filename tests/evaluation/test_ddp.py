import pytest
import torch

from lightning_mixup.evaluation import RobustnessEvaluator, evaluate_robustness
from tests.conftest import retry_ddp_exit_abort
from tests.evaluation.conftest import loader

pytestmark = pytest.mark.slow  # DDP: two spawned processes


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
def test_two_cpu_processes_give_the_single_process_metrics(cnn, images, test_trainer):
    """ddp_spawn on 2 CPU processes: torchmetrics synchronise, so the logged numbers equal one process's."""
    x, y = images
    grid = {"fgsm_eps": [0.0, 0.1, 0.3], "pgd_eps": [], "pgdl2_eps": []}  # deterministic attacks only
    single = evaluate_robustness(cnn, loader(x, y, batch_size=8), trainer=test_trainer(), **grid)
    evaluator = RobustnessEvaluator(cnn, num_classes=3, **grid)
    trainer = test_trainer(devices=2, strategy="ddp_spawn")
    (logged,) = retry_ddp_exit_abort(lambda: trainer.test(evaluator, loader(x, y, batch_size=8), verbose=False))
    assert logged["clean/acc"] == pytest.approx(single.clean_accuracy)
    assert logged["clean/nll"] == pytest.approx(single.nll, rel=1e-5)
    assert logged["clean/ece"] == pytest.approx(single.ece, abs=1e-6)
    for eps in grid["fgsm_eps"]:
        assert logged[f"fgsm/acc@{eps if eps else 0}"] == pytest.approx(single.robust_accuracy["fgsm"][eps])
    assert torch.equal(single.robust_correct["fgsm"][0.0], single.clean_correct)
