"""Training: the one trainer, its checkpoints, the metrics, and the pipeline that `needs` drives."""
