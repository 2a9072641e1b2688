"""What scores the results: validation, the benchmark, skill and interval reports, model
tuning."""
