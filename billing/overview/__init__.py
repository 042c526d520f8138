"""The overview page's numbers, read from the hourly rollups (or, for the benchmark, raw events).

One grouped query turns the chosen days into a "cube" (cube.py): one row per team day,
provider, model, task type and routing version, with every sum the page needs. Every KPI and
chart is then derived from that cube in Python: totals.py sums and groups it, month.py draws
the month against its budget, savings.py prices it at the baseline model, histograms.py adds
latency and time to first token, tao.py the TAO price, and bundle.py gathers all of it into the
`Overview` the page and its charts read; teams.py is the all-teams month summary. So the page
reads a fixed handful of queries whatever the data size, and the figures from rollups and from
raw events can be compared exactly. Days and months are the team's (its time zone); a rollup
hour belongs to the day its start falls on. Money stays unrounded Decimal until display.
"""
