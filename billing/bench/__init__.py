"""Benchmarks: ingest, the overview page, and the LiteLLM companion."""
