"""Training loops shared by all models: checkpoints, resume, curricula, logs, DDP (built by the DRMM issue)."""
