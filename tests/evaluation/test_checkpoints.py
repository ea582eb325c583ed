"""Safe checkpoint loading: a malicious pickle never runs, whatever Lightning's version; plain state_dicts load."""

import builtins
import os
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch import Tensor, nn

from lightning_mixup.evaluation import evaluate_robustness, load_checkpoint
from lightning_mixup.evaluation.checkpoints import constructor_kwargs, split_checkpoint
from tests.evaluation.conftest import TinyLitClassifier, loader, make_images

GRID = {"fgsm_eps": [0.0, 0.1], "pgd_eps": [], "pgdl2_eps": []}


class Payload:
    """Unpickling this runs ``exec`` on code that writes a marker file: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('payload ran')",)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[TinyLitClassifier, Path]:
    x, y = make_images(32)
    torch.manual_seed(0)
    module = TinyLitClassifier(hidden=6)
    trainer = pl.Trainer(
        max_steps=2, logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False
    )
    trainer.fit(module, loader(x, y))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return module, path


@pytest.fixture(autouse=True)
def _never_load_from_checkpoint(monkeypatch):
    """Lightning <= 2.5.1 drops `weights_only` in load_from_checkpoint: the loader must never rely on it."""

    def refuse(*args, **kwargs):
        pytest.fail("load_from_checkpoint was called")

    monkeypatch.setattr(pl.LightningModule, "load_from_checkpoint", refuse)


def _malicious_checkpoint(path: Path, module: nn.Module, marker: Path, where: str) -> None:
    checkpoint = {
        "pytorch-lightning_version": "2.6.0",
        "state_dict": module.state_dict(),
        "hyper_parameters": {"hidden": 6, "num_classes": 3},
    }
    if where == "hyper_parameters":
        checkpoint["hyper_parameters"]["note"] = Payload(marker)
    elif where == "callbacks":
        checkpoint["callbacks"] = {"SomeCallback": {"state": Payload(marker)}}
    else:  # the whole file is the payload
        checkpoint = Payload(marker)  # type: ignore[assignment]
    torch.save(checkpoint, path)


@pytest.mark.parametrize("where", ["hyper_parameters", "callbacks", "top_level"])
def test_malicious_checkpoint_never_runs_its_payload(trained, tmp_path, where, capsys):
    module, _ = trained
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.ckpt"
    _malicious_checkpoint(path, module, marker, where)
    torch.load(path, weights_only=False)  # the control: a full unpickling runs the payload
    assert marker.read_text() == "payload ran"
    marker.unlink()

    x, y = make_images(16)
    message = r"Refused to load .*evil\.ckpt.* weights-only: it holds a `.*exec` object.*add_safe_globals"
    with pytest.raises(ValueError, match=message):
        evaluate_robustness(str(path), loader(x, y), checkpoint_class=TinyLitClassifier, **GRID)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path, model=TinyLitClassifier(hidden=6))
    from experiments import evaluate_checkpoint

    with pytest.raises(SystemExit) as exit_info:
        evaluate_checkpoint.main([str(path), "--module", "tests.evaluation.conftest.TinyLitClassifier"])
    assert exit_info.value.code == 2
    assert "Refused to load" in capsys.readouterr().err
    assert not marker.exists()


class MakeDir:
    """Unpickling this calls ``os.mkdir`` (a harmless stand-in for ``os.system``): torch blocks its module."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return os.mkdir, (str(self.target),)


def test_blocked_global_is_named_and_its_payload_never_runs(trained, tmp_path):
    module, _ = trained
    target = tmp_path / "made_by_the_payload"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": {"hidden": 6, "x": MakeDir(target)}}, path)
    torch.load(path, weights_only=False)  # the control: a full unpickling runs the payload
    assert target.is_dir()
    target.rmdir()

    blocked = os.mkdir.__module__  # posix (nt on Windows): a module torch's weights-only unpickler always blocks
    message = (
        rf"Refused to load .*evil\.ckpt.* weights-only: it calls `{blocked}\.mkdir`, from the module `{blocked}` "
        r"that torch never allows .*may be malicious\. Nothing in the file was run\. .*state_dict.*weights_only=False"
    )
    with pytest.raises(ValueError, match=message) as error:
        load_checkpoint(path, TinyLitClassifier)
    assert "corrupted" not in str(error.value)
    with pytest.raises(ValueError, match=message):
        evaluate_robustness(str(path), loader(*make_images(8)), checkpoint_class=TinyLitClassifier, **GRID)
    assert not target.exists()


def test_plain_state_dict_built_with_defaults_says_so(trained, tmp_path):
    module, _ = trained  # hidden=6; TinyLitClassifier's default is 8
    path = tmp_path / "weights.pt"
    torch.save(module.state_dict(), path)
    with pytest.raises(
        ValueError,
        match=r"do not fit TinyLitClassifier: size mismatch.*\. TinyLitClassifier was built with its default "
        r"arguments because the file saved no hyper-parameters \(a plain state_dict\): .*`checkpoint_kwargs=` "
        r"\(`--init-args`\), or .*`model=`",
    ):
        load_checkpoint(path, TinyLitClassifier)
    with pytest.raises(ValueError, match=r"built with `checkpoint_kwargs` \{'hidden': 5\} because the file saved no"):
        load_checkpoint(path, TinyLitClassifier, checkpoint_kwargs={"hidden": 5})
    with pytest.raises(ValueError, match=r"do not fit TinyLitClassifier: size mismatch") as error:  # saved hparams
        load_checkpoint(trained[1], TinyLitClassifier, checkpoint_kwargs={"hidden": 7})
    assert "built with" not in str(error.value) and ".." not in str(error.value)
    loaded = load_checkpoint(path, model=TinyLitClassifier(hidden=6))
    assert torch.equal(loaded.net[1].weight, module.net[1].weight)


def test_lightning_checkpoint_is_rebuilt_from_its_hyperparameters(trained):
    module, path = trained
    loaded = load_checkpoint(path, TinyLitClassifier)
    assert isinstance(loaded, TinyLitClassifier) and loaded.hparams["hidden"] == 6
    pairs = zip(loaded.state_dict().values(), module.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    x, y = make_images(16)
    from_path = evaluate_robustness(str(path), loader(x, y), checkpoint_class=TinyLitClassifier, **GRID)
    direct = evaluate_robustness(module, loader(x, y), **GRID)
    assert from_path.robust_accuracy == direct.robust_accuracy
    with pytest.raises(ValueError, match=r"do not fit TinyLitClassifier: size mismatch"):
        load_checkpoint(path, TinyLitClassifier, checkpoint_kwargs={"hidden": 7})


def test_plain_state_dict_files(trained, tmp_path):
    module, _ = trained
    path = tmp_path / "weights.pt"
    torch.save(module.state_dict(), path)
    loaded = load_checkpoint(path, TinyLitClassifier, checkpoint_kwargs={"hidden": 6})
    assert torch.equal(loaded.net[1].weight, module.net[1].weight)
    x, y = make_images(16)
    result = evaluate_robustness(
        str(path), loader(x, y), checkpoint_class=TinyLitClassifier, checkpoint_kwargs={"hidden": 6}, **GRID
    )
    assert result.num_examples == 16
    with pytest.raises(ValueError, match=r"do not fit TinyLitClassifier: size mismatch for net\.1\.weight"):
        load_checkpoint(path, TinyLitClassifier)  # built with the default hidden=8
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": module.state_dict()}, wrapped)
    assert torch.equal(load_checkpoint(wrapped, TinyLitClassifier, checkpoint_kwargs={"hidden": 6}).net[3].bias,
                       module.net[3].bias)  # fmt: skip
    linear = tmp_path / "linear.pt"
    torch.save(nn.Linear(3, 2).state_dict(), linear)
    with pytest.raises(ValueError, match=r"Could not build Linear\(\*\*\{\}\) from no saved hyper-parameters.*"
                                         r"missing 2 required positional arguments.*`checkpoint_kwargs`"):  # fmt: skip
        load_checkpoint(linear, nn.Linear)


def test_pickled_module_is_refused_with_the_way_out(tmp_path):
    path = tmp_path / "whole_model.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match=r"holds a `torch\.nn\.modules\.linear\.Linear` object.*"
                                         r"re-save the weights as a plain state_dict"):  # fmt: skip
        load_checkpoint(path, nn.Linear)
    kwargs = {"in_features": 2, "out_features": 2}
    trusted = load_checkpoint(path, nn.Linear, checkpoint_kwargs=kwargs, weights_only=False)  # the user trusts it
    with torch.serialization.safe_globals([nn.Linear]):  # or allow-lists the class
        allowed = load_checkpoint(path, nn.Linear, checkpoint_kwargs=kwargs)
    assert torch.equal(trusted.weight, allowed.weight)


class _Hooked(pl.LightningModule):
    """Saved its hyper-parameters under one name (``hparams``), and reads extra state in ``on_load_checkpoint``."""

    def __init__(self, hparams: dict) -> None:
        super().__init__()
        self.save_hyperparameters(hparams)
        self.layer = nn.Linear(2, int(hparams["width"]))
        self.seen: dict = {}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.seen = dict(checkpoint.get("extra", {}))

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)


def test_lightning_conventions_are_followed(tmp_path):
    source = _Hooked({"width": 3})
    path = tmp_path / "hooked.ckpt"
    torch.save(
        {
            "state_dict": source.state_dict(),
            "hyper_parameters": {"width": 3, "_instantiator": "lightning.pytorch.cli.instantiate_module",
                                 "_class_path": "elsewhere.Other"},
            "hparams_name": "hparams",
            "extra": {"calibration": 1.5},
        },
        path,
    )  # fmt: skip
    loaded = load_checkpoint(path, _Hooked)
    assert isinstance(loaded, _Hooked) and loaded.seen == {"calibration": 1.5}
    assert torch.equal(loaded.layer.weight, source.layer.weight)
    assert constructor_kwargs(_Hooked, {"width": 3, "_class_path": "x"}, hparams_name="hparams") == {
        "hparams": {"width": 3}
    }
    with pytest.raises(ValueError, match="Expected the `hyper_parameters` of 'p' to be a dict"):
        split_checkpoint({"state_dict": {}, "hyper_parameters": [1]}, "p")
    with pytest.raises(ValueError, match="Expected the `state_dict` of 'p' to map parameter names to tensors"):
        split_checkpoint({"state_dict": {"w": 1}}, "p")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: p.mkdir(), IsADirectoryError, r"is a directory\. A sharded .*consolidate"),
        (lambda p: p.write_text("not a checkpoint"), ValueError, r"Expected a PyTorch checkpoint written by"),
        (lambda p: p.write_bytes(b""), ValueError, r"Expected a PyTorch checkpoint written by"),
        (lambda p: _truncated(p), ValueError, r"Could not read .* as a PyTorch checkpoint \(corrupted or truncated"),
        (lambda p: torch.save(torch.ones(2), p), ValueError, r"holds Tensor"),
        (lambda p: torch.save({"a": 1}, p), ValueError, r"holds a dict with keys \['a'\]"),
    ],
)
def test_unreadable_checkpoints(tmp_path, make, error, match):
    path = tmp_path / "model.ckpt"
    make(path)
    with pytest.raises(error, match=match):
        load_checkpoint(path, TinyLitClassifier)


def _truncated(path: Path) -> None:
    torch.save({"state_dict": TinyLitClassifier().state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_checkpoint_written_during_a_mixup_fit_loads_weights_only(tmp_path):
    """Whatever the callback and Trainer put in a checkpoint must stay plain data, or evaluation refuses it."""
    from lightning_mixup import MixupCallback

    x, y = make_images(32)
    torch.manual_seed(0)
    module = TinyLitClassifier()
    trainer = pl.Trainer(
        max_steps=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, callbacks=[MixupCallback(alpha=1.0, seed=0)],
    )  # fmt: skip
    trainer.fit(module, loader(x, y))
    path = tmp_path / "mixup.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_checkpoint(path, TinyLitClassifier)
    assert torch.equal(loaded.net[1].weight, module.net[1].weight)


def test_checkpoint_script_accepts_a_plain_state_dict(tmp_path, capsys):
    import json

    from experiments import evaluate_checkpoint
    from lightning_mixup.models import Classifier

    init = {"arch": "mlp", "input_shape": [4], "num_classes": 3, "hidden": 8}
    torch.manual_seed(0)
    path = tmp_path / "iris_weights.pt"
    torch.save(Classifier(**init).state_dict(), path)
    out = tmp_path / "result.json"
    common = [str(path), "--dataset", "iris", "--fgsm-eps", "0", "0.1", "--pgd-eps", "--pgdl2-eps", "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:  # the default Classifier() is a digits CNN: the weights do not fit
        evaluate_checkpoint.main(common)
    assert exit_info.value.code == 2
    assert "do not fit Classifier" in capsys.readouterr().err
    evaluate_checkpoint.main([*common, "--init-args", json.dumps(init), "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["num_examples"] == 30 and saved["robust_accuracy"]["fgsm"]["0"] == saved["clean_accuracy"]
