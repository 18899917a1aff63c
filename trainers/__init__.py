"""Training for sbert-plugins: the trainer, its configuration, data handling and the losses (``trainers.losses``)."""
