"""The LiteLLM companion (llm_spend.py): no Django import, copied beside a proxy config."""
