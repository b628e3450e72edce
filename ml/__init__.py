"""Model training, inference and evaluation for the enrichment tasks.

The warehouse and its KPIs do not depend on this package; enrichment assets built on it read
the staged, PII-masked text and write their results keyed by (record id, model version).
Device choice comes from the settings (``SI_DEVICE``: ``auto`` picks CUDA when present).
"""
