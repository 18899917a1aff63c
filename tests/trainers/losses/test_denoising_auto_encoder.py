"""DenoisingAutoEncoderLoss (TSDAE): the decoder and its weight tying, parity with the reference's loss, that a
few steps reduce the reconstruction loss, the Trainer, and the noise / row builder.

Parity: the reference loads its decoder with ``AutoModelForCausalLM.from_pretrained(model folder)``, which
initialises the weights the folder lacks (cross-attention, LM-head transform) in its own order; ours builds
the decoder from the config (``from_config``). Seeding both gives the same tied weights but different random
ones (checked below), so the parity tests copy our decoder's weights into the reference's decoder and then
compare the loss and the encoder's gradients on the same batch.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from sbert_plugins.modules import Dense
from trainers import Trainer, TrainingConfig
from trainers.losses import DenoisingAutoEncoderLoss
from trainers.losses.denoising_auto_encoder import delete_words, denoising_pairs

from .cases import ANCHORS, DAMAGED, NEGATIVES, POSITIVES
from .conftest import assert_matches_reference, features

NEW_IN_DECODER = ("crossattention", "cls.predictions.transform")


def _fresh(tiny_model_dir: Path) -> tuple[SentenceEncoder, SentenceTransformer]:
    """New copies: the reference's loss re-points its model's parameters at its decoder's."""
    return (
        SentenceEncoder(tiny_model_dir, device="cpu").eval(),
        SentenceTransformer(str(tiny_model_dir), device="cpu").eval(),
    )


def test_the_decoder_shares_the_encoders_weights(model: SentenceEncoder) -> None:
    loss = DenoisingAutoEncoderLoss(model)
    encoder = model.transformer.auto_model
    encoder_ids = {id(p) for p in encoder.parameters()}
    names = [name for name, _ in loss.decoder.named_parameters()]
    own = [name for name, p in loss.decoder.named_parameters() if id(p) not in encoder_ids]
    assert own and all(any(part in name for part in NEW_IN_DECODER) or name == "cls.predictions.bias" for name in own)
    assert len(own) < len(names)
    assert loss.decoder.get_output_embeddings().weight is encoder.embeddings.word_embeddings.weight
    assert loss.decoder.config.is_decoder and loss.decoder.config.add_cross_attention
    assert not encoder.config.is_decoder  # the encoder's own config is untouched


def test_untied_decoder_starts_from_a_copy(model: SentenceEncoder) -> None:
    loss = DenoisingAutoEncoderLoss(model, tie_encoder_decoder=False)
    encoder_ids = {id(p) for p in model.parameters()}
    assert not encoder_ids & {id(p) for p in loss.decoder.parameters()}
    query = loss.decoder.base_model.encoder.layer[0].attention.self.query.weight
    assert torch.equal(query, model.transformer.auto_model.encoder.layer[0].attention.self.query.weight)


def test_seeded_construction_differs_from_the_reference_only_in_the_new_weights(tiny_model_dir: Path) -> None:
    ours_model, reference_model = _fresh(tiny_model_dir)
    torch.manual_seed(3)
    reference = st_losses.DenoisingAutoEncoderLoss(reference_model)
    torch.manual_seed(3)
    ours = DenoisingAutoEncoderLoss(ours_model)
    theirs, mine = reference.decoder.state_dict(), ours.decoder.state_dict()
    assert set(theirs) == set(mine)
    different = [k for k in mine if not torch.equal(mine[k], theirs[k])]
    assert different and all(any(part in k for part in NEW_IN_DECODER) for k in different)


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_matches_the_reference_with_the_same_decoder_weights(tie: bool, tiny_model_dir: Path) -> None:
    ours_model, reference_model = _fresh(tiny_model_dir)
    ours = DenoisingAutoEncoderLoss(ours_model, tie_encoder_decoder=tie).eval()
    decoder_path = None if tie else str(tiny_model_dir)
    reference = st_losses.DenoisingAutoEncoderLoss(
        reference_model, decoder_name_or_path=decoder_path, tie_encoder_decoder=tie
    ).eval()
    reference.decoder.load_state_dict(ours.decoder.state_dict())
    value = assert_matches_reference(ours, reference, ours_model, reference_model, (DAMAGED, ANCHORS), None)
    assert 0 < value < 20


def test_a_few_steps_reduce_the_reconstruction_loss(tiny_encoder: SentenceEncoder) -> None:
    torch.manual_seed(0)
    model = tiny_encoder.eval()  # no dropout: the same batch gives the same loss until the weights change
    loss = DenoisingAutoEncoderLoss(model).eval()
    batch = features(model, (DAMAGED, ANCHORS))
    optimizer = torch.optim.AdamW(loss.parameters(), lr=1e-2)
    values = []
    for _ in range(6):
        value = loss(batch, None)
        values.append(value.item())
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert values[-1] < 0.8 * values[0], values


def test_reconstruction_needs_the_embedding(model: SentenceEncoder) -> None:
    """The decoder reads the sentence embedding: changing it changes the loss."""
    loss = DenoisingAutoEncoderLoss(model).eval()
    target = model.tokenize(ANCHORS)["input_ids"]
    embeddings = torch.randn(len(ANCHORS), 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        first = loss.reconstruction_loss(embeddings, target)
        second = loss.reconstruction_loss(embeddings * -3.0, target)
    assert first.item() != pytest.approx(second.item(), abs=1e-4)


def test_trainer_reduces_the_reconstruction_loss(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    rows = denoising_pairs(ANCHORS + POSITIVES + NEGATIVES, seed=0)
    loss = DenoisingAutoEncoderLoss(tiny_encoder)
    batch = features(tiny_encoder, ([r["damaged"] for r in rows], [r["original"] for r in rows]))

    def measure() -> float:
        tiny_encoder.eval()
        loss.eval()
        with torch.no_grad():
            return float(loss(batch, None).item())

    before = measure()
    config = TrainingConfig(
        output_dir=str(tmp_path / "out"), epochs=5, batch_size=8, learning_rate=3e-3, show_progress=False, seed=0
    )
    Trainer(tiny_encoder, loss=loss, train_data=rows, config=config).train()
    assert measure() < before
    saved = SentenceEncoder(tmp_path / "out", device="cpu")  # the encoder alone, no decoder weights
    assert saved.embedding_dim == 32


def test_errors(model: SentenceEncoder, tiny_model_dir: Path) -> None:
    loss = DenoisingAutoEncoderLoss(model)
    with pytest.raises(DataError, match="exactly 2 text column"):
        loss(features(model, (ANCHORS,)), None)
    with pytest.raises(DataError, match="same number of rows"):
        loss(features(model, (DAMAGED[:-1], ANCHORS)), None)
    with pytest.raises(DataError, match="at least 2 tokens"):
        loss.reconstruction_loss(torch.randn(2, 32), torch.ones(2, 1, dtype=torch.long))
    with pytest.raises(ConfigError, match="tie_encoder_decoder must be True or False"):
        DenoisingAutoEncoderLoss(model, tie_encoder_decoder="yes")  # type: ignore[arg-type]
    projected = SentenceEncoder(tiny_model_dir, device="cpu")
    projected.append(Dense(32, 16))
    with pytest.raises(ConfigError, match="16 dimensions but the decoder's cross-attention takes .* 32"):
        DenoisingAutoEncoderLoss(projected)


# ---- noise and rows ----------------------------------------------------------------------------


def test_delete_words() -> None:
    text = " ".join(f"w{i}" for i in range(1000))
    damaged = delete_words(text, rng=random.Random(0)).split()
    assert 0.35 < len(damaged) / 1000 < 0.45  # ratio 0.6 deletes about 60%
    assert damaged == [w for w in text.split() if w in set(damaged)]  # order kept, nothing added
    assert delete_words("one two three", ratio=0.0, rng=random.Random(0)) == "one two three"
    assert all(delete_words("one two", ratio=0.99, rng=random.Random(s)) in {"one", "two"} for s in range(20))
    assert delete_words("", rng=random.Random(0)) == ""
    with pytest.raises(ConfigError, match=r"ratio must be a number in \[0, 1\)"):
        delete_words("a b", ratio=1.0)


def test_denoising_pairs() -> None:
    rows = denoising_pairs(ANCHORS, seed=1)
    assert rows == denoising_pairs(ANCHORS, seed=1)
    assert [r["original"] for r in rows] == ANCHORS
    assert all(set(r["damaged"].split()) <= set(r["original"].split()) for r in rows)
    assert denoising_pairs(["a b c"], noise=lambda text, rng: text.upper()) == [
        {"damaged": "A B C", "original": "a b c"}
    ]
    with pytest.raises(DataError, match="sentence 1 must be a non-empty string"):
        denoising_pairs(["fine", "  "])
    with pytest.raises(DataError, match="no sentences"):
        denoising_pairs([])
