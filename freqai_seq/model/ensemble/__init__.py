"""LightGBM + sequence-network stacking under FreqAI (`LSTMLightGBMEnsembleRegressor`)."""
