"""Cross-pair training: one network per training window learns from every whitelisted pair.

FreqAI still sees one model per pair (its folders, metadata and pipelines keep their meaning);
each pair's model is the window's shared network bound to that pair's column order and id.
"""
