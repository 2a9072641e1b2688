"""`freqai-seq validate`: re-checks a FreqAI run from what it exported (prediction files, saved
models, OHLCV), with truth recomputed from the candles and nothing taken on trust."""
