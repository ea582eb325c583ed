"""Integer inputs (token and category ids): the first embedding's output is mixed, never the ids themselves."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lightning_mixup import MixedLabels, MixupCallback
from tests.realistic.modules.bag_of_words import BagOfWordsClassifier
from tests.realistic.modules.data import loader, rows
from tests.realistic.modules.hf_glue import GLUETransformer, SentencePairs
from tests.realistic.modules.hf_glue import loader as glue_loader
from tests.realistic.modules.hf_token_classification import TaggedSentences, TokenClassificationModule
from tests.realistic.modules.hf_token_classification import loader as token_loader
from tests.realistic.modules.tabular import SharedTableTabularModel, TabularModel, table
from tests.realistic.recording import (
    Recorder,
    check_partners,
    contract_params,
    mix_rows,
    mixed_reference,
    parts,
    sample_lam,
)

SEED = 5


def check_embedding_mixed(call, ids, params):
    assert torch.equal(call.args[0], ids)
    torch.testing.assert_close(call.output, mix_rows(F.embedding(ids, call.params["weight"]), params))


def test_hugging_face_token_classification_sequence_labels(fit):
    data = TaggedSentences()
    recorder = Recorder("model.embeddings", "model.encoder", "model.classifier")
    fit(TokenClassificationModule(), token_loader(data), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        batch, ids = step.batch, rows(data.input_ids, n)
        labels = batch["labels"]
        y_a, y_b, lam = parts(labels)
        assert lam.shape == (8, 7)
        params = contract_params(SEED, n, ids)
        check_partners(labels, params)
        torch.testing.assert_close(y_a, rows(data.labels, n))
        assert bool((y_b == -100).any())  # the partners' padding is ignored on their side
        assert torch.equal(batch["input_ids"], ids)
        check_embedding_mixed(step.call("model.embeddings"), ids, params)
        assert torch.equal(step.call("model.encoder").args[0], step.call("model.embeddings").output)
        mask = rows(data.attention_mask, n)
        torch.testing.assert_close(batch["attention_mask"], torch.maximum(mask, mask[params.index]))
        logits = step.call("model.classifier").output
        # L: the head's own token mean over non-ignored positions, for each side
        reference = mixed_reference(F.cross_entropy, logits.view(-1, 5), labels, target=lambda t: t.view(-1))
        torch.testing.assert_close(step.loss, reference)


def test_hugging_face_glue_sequence_classification(fit):
    data = SentencePairs()
    recorder = Recorder("model.embeddings.word_embeddings", "model.classifier")
    model = GLUETransformer()
    fit(model, glue_loader(data), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert model.model.problem_type == "single_label_classification"
    for n, step in enumerate(recorder.steps):
        batch, ids = step.batch, rows(data.input_ids, n)
        labels = batch["labels"]
        params = contract_params(SEED, n, ids)
        check_partners(labels, params)
        assert torch.equal(batch["input_ids"], ids)
        check_embedding_mixed(step.call("model.embeddings.word_embeddings"), ids, params)
        mask = rows(data.attention_mask, n)
        torch.testing.assert_close(batch["attention_mask"], torch.maximum(mask, mask[params.index]))
        logits = step.call("model.classifier").output
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, logits, labels))


def test_tabular_categorical_and_continuous_inputs_with_a_list_of_input_keys(fit):
    x_cat, x_cont, y = table()
    recorder = Recorder("embeds.0", "embeds.1", "layers.0", "layers")
    callback = MixupCallback(alpha=1.0, seed=SEED, input_key=[0, 1], target_key=2)
    fit(TabularModel(), loader(x_cat, x_cont, y), callbacks=[callback, recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        cat, cont = rows(x_cat, n), rows(x_cont, n)
        batch_cat, batch_cont, labels = step.batch
        params = contract_params(SEED, n, cat)
        check_partners(labels, params)
        assert torch.equal(batch_cat, cat)
        torch.testing.assert_close(batch_cont, mix_rows(cont, params))
        # every categorical column's embedding and the continuous features: one λ and partner per row
        plain = torch.cat(
            [F.embedding(cat[:, i], step.call(f"embeds.{i}").params["weight"]) for i in range(2)] + [cont], 1
        )
        torch.testing.assert_close(step.call("layers.0").args[0], mix_rows(plain, params))
        logits = step.call("layers").output
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, logits, labels))


def test_tabular_shared_embedding_table(fit):
    x_cat, x_cont, y = table(offset=True)
    recorder = Recorder("embedding", "layers.0", "layers")
    callback = MixupCallback(alpha=1.0, seed=SEED, input_key=[0, 1], target_key=2)
    fit(SharedTableTabularModel(), loader(x_cat, x_cont, y), callbacks=[callback, recorder])
    for n, step in enumerate(recorder.steps):
        cat, cont = rows(x_cat, n), rows(x_cont, n)
        labels = step.batch[2]
        assert isinstance(labels, MixedLabels)
        params = contract_params(SEED, n, cat)
        check_partners(labels, params)
        torch.testing.assert_close(sample_lam(labels), params.lam)
        embedded = F.embedding(cat, step.call("embedding").params["weight"]).flatten(1)
        torch.testing.assert_close(step.call("layers.0").args[0], mix_rows(torch.cat([embedded, cont], 1), params))
        logits = step.call("layers").output
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, logits, labels))


def test_integer_inputs_without_an_embedding_are_refused_naming_manifold_layers(fit):
    g = torch.Generator().manual_seed(6)
    counts, y = torch.randint(0, 4, (16, 12), generator=g), torch.randint(3, (16,), generator=g)
    with pytest.raises(ValueError, match="manifold_layers"):
        fit(BagOfWordsClassifier(), loader(counts, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED)])
