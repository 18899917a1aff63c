"""Training for sbert-plugins models: a readable trainer, its config, data loading and the loss suite.

Quick start::

    from sbert_plugins import SentenceEncoder
    from trainers import Trainer, TrainingConfig, losses

    model = SentenceEncoder("sentence-transformers/all-MiniLM-L6-v2")
    train = [{"sentence1": "A man plays guitar.", "sentence2": "A man is playing a guitar.", "label": 0.9}, ...]
    trainer = Trainer(model, loss=losses.CosineSimilarityLoss(model), train_data=train,
                      config=TrainingConfig(epochs=1, batch_size=16, output_dir="out"))
    trainer.train()   # the trained model is `model`; it is also saved in out/ with a model card
"""

from __future__ import annotations

from trainers import losses
from trainers.config import TrainingConfig
from trainers.data import TrainingDataset, load_dataset, load_datasets
from trainers.samplers import GroupByLabelBatchSampler, NoDuplicatesBatchSampler, RandomBatchSampler
from trainers.state import Callback, Evaluator, TrainerState
from trainers.trainer import Trainer

__all__ = [
    "Callback",
    "Evaluator",
    "GroupByLabelBatchSampler",
    "NoDuplicatesBatchSampler",
    "RandomBatchSampler",
    "Trainer",
    "TrainerState",
    "TrainingConfig",
    "TrainingDataset",
    "load_dataset",
    "load_datasets",
    "losses",
]
