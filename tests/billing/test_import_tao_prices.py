from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import TaoPrice

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _import(tmp_path, text: str, *args) -> str:
    path = tmp_path / "tao.csv"
    path.write_text(text)
    out = StringIO()
    call_command("import_tao_prices", str(path), *args, stdout=out)
    return out.getvalue()


def _points() -> list[tuple]:
    return list(TaoPrice.objects.order_by("at").values_list("at", "usd", "source"))


@pytest.mark.parametrize(
    "header",
    ["at,usd", "timestamp,price", "time,close", "Date,Close", "snapped_at,price,market_cap"],
)
def test_it_accepts_the_usual_column_names(db, tmp_path, header):
    _import(tmp_path, f"{header}\n2025-03-01T12:00:00Z,412.5,1\n")
    assert _points() == [(AT, Decimal("412.5"), "import")]


@pytest.mark.parametrize("stamp", ["1740830400", "1740830400000", "1740830400.0"])
def test_it_reads_epoch_seconds_and_milliseconds(db, tmp_path, stamp):
    _import(tmp_path, f"at,usd\n{stamp},412.5\n")
    assert _points()[0][0] == AT


def test_it_converts_a_time_with_an_offset_to_utc(db, tmp_path):
    _import(tmp_path, "at,usd\n2025-03-01T13:00:00+01:00,412.5\n")
    assert _points()[0][0] == AT


def test_it_reads_a_date_alone_as_midnight_utc(db, tmp_path):
    _import(tmp_path, "date,price\n2025-03-01,412.5\n")
    assert _points()[0][0] == datetime(2025, 3, 1, tzinfo=UTC)


def test_it_reads_coingeckos_csv_export(db, tmp_path):
    _import(
        tmp_path, "snapped_at,price,market_cap,total_volume\n2025-03-01 12:00:00 UTC,412.5,1,2\n"
    )
    assert _points()[0][0] == AT


def test_it_stores_points_under_the_source_given(db, tmp_path):
    _import(tmp_path, "at,usd\n2025-03-01T12:00:00Z,412.5\n", "--source", "kaiko")
    assert _points()[0][2] == "kaiko"


def test_it_reports_bad_rows_by_line_and_keeps_the_good_ones(db, tmp_path):
    output = _import(
        tmp_path,
        "at,usd\n"
        "2025-03-01T12:00:00Z,412.5\n"
        "yesterday,400\n"
        "\n"
        "2025-03-01T13:00:00,400\n"
        "2025-03-01T14:00:00Z,-1\n"
        "2025-03-01T15:00:00Z,NaN\n"
        "2025-03-01T16:00:00Z\n",
    )
    assert len(_points()) == 1
    assert "line 3: time 'yesterday' is not ISO 8601" in output
    assert "line 5: time '2025-03-01T13:00:00' has no UTC offset" in output
    assert "line 6: price is not positive: -1" in output
    assert "line 7: price is not a number: 'NaN'" in output
    assert "line 8: has 1 cells" in output
    assert "1 added, 0 already there, 5 rejected" in output


def test_it_rejects_a_time_in_the_future(db, tmp_path):
    output = _import(tmp_path, "at,usd\n2999-01-01T00:00:00Z,412.5\n")
    assert "line 2: time '2999-01-01T00:00:00Z' is in the future" in output


def test_it_keeps_history_that_moves_more_than_five_times(db, tmp_path):
    _import(tmp_path, "at,usd\n2024-01-01,40\n2025-01-01,400\n")
    assert [usd for _, usd, _ in _points()] == [Decimal(40), Decimal(400)]


def test_a_second_import_leaves_existing_points_unchanged(db, tmp_path):
    _import(tmp_path, "at,usd\n2025-03-01T12:00:00Z,412.5\n")
    output = _import(tmp_path, "at,usd\n2025-03-01T12:00:00Z,999\n2025-03-02,420\n")
    assert [usd for _, usd, _ in _points()] == [Decimal("412.5"), Decimal(420)]
    assert "1 added, 1 already there, 0 rejected" in output


def test_a_time_repeated_in_the_file_is_stored_once(db, tmp_path):
    output = _import(tmp_path, "at,usd\n2025-03-01,412.5\n2025-03-01,413\n")
    assert [usd for _, usd, _ in _points()] == [Decimal("412.5")]
    assert "1 added, 1 already there" in output


def test_it_shows_a_progress_bar(db, tmp_path):
    output = _import(tmp_path, "at,usd\n2025-03-01,412.5\n")
    assert "Importing [##############################] 100%" in output


def test_it_refuses_a_missing_file(db, tmp_path):
    with pytest.raises(CommandError, match="No file at"):
        call_command("import_tao_prices", str(tmp_path / "missing.csv"))


def test_it_refuses_a_csv_without_a_price_column(db, tmp_path):
    with pytest.raises(CommandError, match="has no price column: name one usd, price, close"):
        _import(tmp_path, "at,volume\n2025-03-01,10\n")


def test_it_refuses_an_empty_file(db, tmp_path):
    with pytest.raises(CommandError, match="is empty"):
        _import(tmp_path, "")


def test_it_imports_a_file_larger_than_a_batch_once(db, tmp_path):
    rows = "".join(f"{1740830400 + hour * 3600},{400 + hour % 7}\n" for hour in range(1_000))
    _import(tmp_path, f"at,usd\n{rows}")
    output = _import(tmp_path, f"at,usd\n{rows}")
    assert TaoPrice.objects.count() == 1_000
    assert "0 added, 1,000 already there, 0 rejected" in output
