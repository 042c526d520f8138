"""The overview page's charts, one module per subject; registry.py lists them for the views.

spend.py: the month against its budget and daily cost; routes.py: provider shares and the
value of each route; health.py: latency, time to first token, errors and quality; savings.py:
cost against the baseline model; tao.py: TAO used, its price and its value. Each chart's rows
are named tuples whose fields are its CSV columns.
"""
