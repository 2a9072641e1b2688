"""`freqai-seq tune`: Optuna search over a sequence model's network and training
hyperparameters, scored walk-forward with FreqAI's own data kitchen and the model's own
train/predict (space.py: search spaces; objective.py: the walk-forward score; study.py:
storage, workers, report)."""
