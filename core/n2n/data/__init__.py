"""Data for training and evaluation: the feature cache, training-data streams per kind of strategy,
the builders that make them from datasets, and the user's own files."""
