"""Companions that run outside the dashboard (beside a proxy) and talk to it over HTTP."""
