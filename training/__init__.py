"""Training: the loop shared by all models (trainer, distributed) and each model's objective and curriculum."""
