"""Usage arriving from proxies and files: parsed, validated, priced, stored and rolled up."""
