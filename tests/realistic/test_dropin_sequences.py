"""Sequence-first and flat embedding lookups, and Lightning's demo Transformer (issue #24 item 5).

The lookup of the batch's ids may be any view of them: each looked-up row is mixed with the row of the same
position in the partner sample, found through the view's strides. The demo Transformer also looks up its target
sequence (the decoder's input): those lookups are mixed with the labels' λ.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.engine import _mix_output
from lightning_mixup.functional import MixParams
from tests.realistic.modules.data import rows
from tests.realistic.modules.demo_transformer import VOCAB, DemoTransformer, SequenceFirstTagger, token_data
from tests.realistic.recording import Recorder, contract_params, mix_rows, mixed_reference, parts

SEED = 3


def test_lightning_demo_transformer(fit):
    ids, target = token_data()
    recorder = Recorder("model.embedding", "model.decoder")
    fit(DemoTransformer(), None, callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(ids, n))
        labels = step.batch[1]
        y_a, y_b, lam = parts(labels)
        torch.testing.assert_close(y_a, rows(target, n))
        source, decoder_input = step.calls["model.embedding"]
        weight = source.params["weight"]
        torch.testing.assert_close(source.output, mix_rows(F.embedding(rows(ids, n), weight), params))
        expected = lam[..., None] * F.embedding(y_a, weight) + (1 - lam[..., None]) * F.embedding(y_b, weight)
        torch.testing.assert_close(decoder_input.output, expected)
        output = F.log_softmax(step.call("model.decoder").output, dim=-1).view(-1, VOCAB)
        torch.testing.assert_close(step.loss, mixed_reference(F.nll_loss, output, labels, target=lambda t: t.view(-1)))


@pytest.mark.parametrize("layout", ["t", "flat"])
def test_sequence_first_and_flat_lookups(fit, layout):
    """``ids.t()`` with T == B (the batch size in the first dimension by chance) and ``ids.view(1, -1)``."""
    g = torch.Generator().manual_seed(1)
    ids, tags = torch.randint(VOCAB, (16, 8), generator=g), torch.randint(3, (16, 8), generator=g)
    recorder = Recorder("embedding", "head")
    loader = DataLoader(TensorDataset(ids, tags), batch_size=8)
    fit(SequenceFirstTagger(layout), loader, callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(ids, n))
        call = step.call("embedding")
        mixed = mix_rows(F.embedding(rows(ids, n), call.params["weight"]), params)  # (B, T, E)
        expected = mixed.transpose(0, 1) if layout == "t" else mixed.reshape(1, -1, mixed.shape[-1])
        torch.testing.assert_close(call.output, expected)
        logits = step.call("head").output
        reference = mixed_reference(
            F.cross_entropy, logits.reshape(-1, 3), step.batch[1], target=lambda t: t.reshape(-1)
        )
        torch.testing.assert_close(step.loss, reference)


def test_a_lookup_of_part_of_the_batch_is_refused():
    ids = torch.arange(12).view(4, 3)
    params = MixParams(torch.full((4,), 0.5), torch.tensor([1, 0, 3, 2]))
    lookup = ids[:2].t()  # samples 0 and 1 only: sample 0's partner 1 is there, but the check is per position
    output = F.embedding(lookup, torch.rand(12, 2))
    mixed = _mix_output(output, params, "emb", lookup=lookup, ids=[ids])
    torch.testing.assert_close(mixed, 0.5 * output + 0.5 * output.flip(1))
    lookup = ids[1:3].t()  # samples 1 and 2: their partners 0 and 3 are not looked up
    with pytest.raises(ValueError, match=r"covers only part of the batch's ids"):
        _mix_output(F.embedding(lookup, torch.rand(12, 2)), params, "emb", lookup=lookup, ids=[ids])
