"""Old path of the ensemble's model loader (see freqai_seq.ensemble.model)."""
