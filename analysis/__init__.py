"""Analysis of the pipeline's results: Parquet consolidation (consolidate, schema), statistics
(stats), the sync-vs-async table (tables) and the paper figures (figures, style)."""
