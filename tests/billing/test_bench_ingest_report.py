from billing.bench.ingest_report import Figure, report_lines


def _line(lines: list[str], label: str) -> str:
    [line] = [line for line in lines if line.startswith(label)]
    return line


def test_it_prints_the_ratio_to_the_base_figure_and_a_met_target():
    lines = report_lines(
        {
            "lean_copy": Figure("lean COPY limit", 100_000, "ev/s"),
            "http_live_2": Figure("HTTP canonical live, 2 senders", 40_000, "ev/s"),
        }
    )
    line = _line(lines, "HTTP canonical live, 2 senders")
    assert "40,000 ev/s" in line
    assert "0.40 x lean COPY" in line
    assert ">= 0.30 x lean COPY" in line
    assert line.endswith(" met")


def test_it_says_not_met_when_the_ratio_is_below_its_target():
    lines = report_lines(
        {
            "http_live_2": Figure("live", 10_000, "ev/s"),
            "http_spread_2": Figure("spread", 6_000, "ev/s"),
        }
    )
    assert _line(lines, "spread").endswith("NOT met")


def test_it_judges_a_bound_on_the_value_itself():
    lines = report_lines({"import_rss": Figure("import_usage peak RSS", 301, "MB")})
    line = _line(lines, "import_usage peak RSS")
    assert "< 300 MB" in line
    assert line.endswith("NOT met")


def test_it_shows_a_ratio_without_a_verdict_for_a_figure_with_no_target():
    lines = report_lines(
        {
            "lean_copy": Figure("lean COPY limit", 100_000, "ev/s"),
            "same_table_copy": Figure("same-table COPY limit", 25_000, "ev/s"),
        }
    )
    line = _line(lines, "same-table COPY limit")
    assert line.endswith("0.25 x lean COPY")


def test_it_says_why_the_target_of_a_phase_left_out_has_no_figure():
    lines = report_lines({"lean_copy": Figure("lean COPY limit", 100_000, "ev/s")})
    assert "prefilled_live_2: skipped (--prefill 0)" in lines
    assert "import_rate: skipped (--import-events 0)" in lines


def test_it_appends_a_figures_note():
    lines = report_lines(
        {"batch_rss": Figure("10 MB batch peak RSS", 120, "MB", note="idle 90 MB")}
    )
    assert _line(lines, "10 MB batch").endswith("met  (idle 90 MB)")
