"""Benchmarks: ingest, the overview page, and the LiteLLM companion; and the processes they
start (a LiteLLM proxy, a fake upstream, a sink, this project under gunicorn), which the tests
in tests/litellm_proxy start too."""
