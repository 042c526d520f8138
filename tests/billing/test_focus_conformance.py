"""The FOCUS export against the FinOps Foundation's own validator, and its columns mapped from
what we hold: list prices, a team's own prices, the tokens of each meter, invoices.

The validator (focus-validator 2.2.1, the rules of FOCUS 1.2.0.1) needs Python 3.12: it gets a
virtual environment of its own, built once in ~/.cache/llm-spend/focus-validator-2.2.1 and
reused. Without a Python 3.12 its test is skipped; on CI (CI=true) a Python 3.12 that cannot
install it fails instead, so a broken install step never passes for a skip.
"""

import csv
import fcntl
import glob
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing.csv_output import csv_lines
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.ingest.store import usage_ingest
from billing.models import ProviderInvoice, TeamModelPrice
from billing.reports.focus import focus_decimal, focus_rows, shared
from billing.reports.invoices import PLACES, TAO, computed_by_provider
from routing.models import Model, Provider
from tests.factories import (
    ModelFactory,
    ModelPriceFactory,
    TaoPriceFactory,
    canonical_event,
    event_at,
)

NOW = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
NOVEMBER = date(2026, 11, 1)
MID_NOVEMBER = datetime(2026, 11, 10, 15, tzinfo=UTC)

VALIDATOR = "focus-validator==2.2.1"
# pyarrow, which the validator reads data with, needs numpy 2; the validator's own metadata
# still asks for numpy<2, so pip warns about that pin, and the validator works.
NUMPY = "numpy>=2,<3"
FOCUS_VERSION = "1.2.0.1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-spend"
VENV = CACHE / "focus-validator-2.2.1"
INSTALL_TIMEOUT = 900
# What the export's data supports, in the validator's words: the rules that then apply to it.
SUPPORTED = [
    "ACCOUNT_NAMING_SUPPORTED",
    "NEGOTIATED_PRICING_SUPPORTED",
    "PUBLIC_PRICE_LIST_SUPPORTED",
    "SUB_ACCOUNT_SUPPORTED",
    "TAGGING_SUPPORTED",
    "UNIT_PRICING_SUPPORTED",
    "USAGE_MEASUREMENT_SUPPORTED",
]
# focus-validator 2.2.1 checks both halves of InvoiceId's nullability on every row, without
# the condition it cannot see ("when the charge is (not) associated with an invoice"), so one
# of them fails on any month. Our month's charges all carry their invoice's id: this one.
VALIDATOR_DEFECTS = {"InvoiceId-C-004-C"}


pytestmark = pytest.mark.usefixtures("frozen_now")


# --- The validator -------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """What the validator said: how many rules, how many skipped, and each failed one's why."""

    rules: int
    skipped: int
    failures: dict[str, str]

    @property
    def passed(self) -> int:
        return self.rules - self.skipped - len(self.failures)

    def summary(self) -> str:
        return (
            f"{self.rules} rules: {self.passed} passed, {len(self.failures)} failed, "
            f"{self.skipped} skipped"
        )


@dataclass(frozen=True)
class FocusValidator:
    executable: Path
    currency_codes: Path

    def validate(self, data: Path, *, supported: list[str], workdir: Path) -> Validation:
        # It reads focus_validator/rules/currency_codes.csv from its working directory.
        rules = workdir / "focus_validator" / "rules"
        rules.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.currency_codes, rules)
        report = workdir / "focus-validation.xml"
        command = [
            str(self.executable),
            *("--data-file", str(data), "--validate-version", FOCUS_VERSION),
            "--block-download",
            *("--output-type", "unittest", "--output-destination", str(report)),
        ]
        if supported:
            command += ["--applicability-criteria", ",".join(supported)]
        done = subprocess.run(  # noqa: S603
            command, cwd=workdir, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"focus-validator failed:\n{done.stderr[-4000:]}"
        return validation_in(report)


def validation_in(report: Path) -> Validation:
    """The validator's JUnit report: a failed rule has a <failure> or an <error>."""
    root = ET.parse(report).getroot()  # noqa: S314 (our own validator's file)
    failures = {}
    for case in root.iter("testcase"):
        for problem in [*case.iter("failure"), *case.iter("error")]:
            failures[case.get("name", "").split(" :: ")[0]] = problem.get("message", "")
    return Validation(int(root.get("tests", 0)), int(root.get("skipped", 0)), failures)


def _python_312() -> str | None:
    """A Python 3.12 that runs (pyenv's shim on PATH may name one it then refuses to run)."""
    found = glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.12*" / "bin" / "python"))
    for candidate in filter(None, [shutil.which("python3.12"), *sorted(found, reverse=True)]):
        try:
            done = subprocess.run(  # noqa: S603
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.stdout.strip() == "(3, 12)":
            return candidate
    return None


def _installed_validator(python: str) -> FocusValidator:
    """The validator in VENV, installed there first unless a finished install is there
    already; test workers asking at once take turns, so only the first one installs it."""
    wanted = f"{VALIDATOR} {NUMPY} with {python}\n"
    marker = VENV / "installed.txt"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "focus-validator.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists() or marker.read_text() != wanted:
            shutil.rmtree(VENV, ignore_errors=True)
            _run([python, "-m", "venv", str(VENV)])
            pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            _run([*pip, "--disable-pip-version-check", VALIDATOR])
            _run([*pip, "--disable-pip-version-check", NUMPY])
            marker.write_text(wanted)
    codes = sorted(VENV.glob("lib/python3*/site-packages/focus_validator/rules/currency_codes.csv"))
    if not codes:
        raise FileNotFoundError(f"no currency_codes.csv in {VENV}")
    return FocusValidator(VENV / "bin" / "focus-validator", codes[0])


def _run(command: list[str]) -> None:
    subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=True
    )


def _why(error: Exception) -> str:
    if isinstance(error, subprocess.CalledProcessError):
        return f"{' '.join(error.cmd)} exited {error.returncode}: {error.stderr[-2000:]}"
    return str(error)


@pytest.fixture(scope="session")
def focus_validator() -> FocusValidator:
    python = _python_312()
    if python is None:
        pytest.skip(
            f"{VALIDATOR} needs Python 3.12: no python3.12 on PATH that runs, none in "
            "~/.pyenv/versions/3.12*"
        )
    try:
        return _installed_validator(python)
    except (OSError, subprocess.SubprocessError) as error:
        reason = f"{VALIDATOR} could not be installed with {python}: {_why(error)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def month_of_usage(team, catalog):
    """November of demo traffic for Maven: Claude Sonnet at its own negotiated price, TAO for
    the Chutes calls, a task type that reads as a formula, and every provider's invoice."""
    sonnet = Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5")
    TeamModelPrice.objects.create(
        team=team,
        model=sonnet,
        effective_from=date(2026, 10, 1),
        input_per_mtok=Decimal("2.4"),
        output_per_mtok=Decimal(12),
        reason="negotiated",
    )
    demo_tao_prices(NOW - timedelta(days=45), NOW)
    demo_usage_seed(team, DemoProfile(12), days=40, now=NOW)
    hostile = event_at("hostile", MID_NOVEMBER, task_type="=cmd|' /C calc'!A0")
    assert usage_ingest(team, [hostile], now=NOW).rejected == []
    computed = computed_by_provider(team, NOVEMBER)
    for provider in Provider.objects.filter(slug__in=computed):
        cost = computed[provider.slug]
        in_tao = provider.billing_currency == TAO
        ProviderInvoice.objects.create(
            team=team,
            month=NOVEMBER,
            provider=provider,
            amount=round(cost.tao if in_tao else cost.usd, PLACES[provider.billing_currency]),
            currency=provider.billing_currency,
            reference=f"{provider.slug.upper()}-2026-11",
        )
    return team


@pytest.mark.parametrize("supported", [[], SUPPORTED], ids=["default rules", "supported"])
def test_the_focus_export_of_a_month_passes_the_finops_validator(
    focus_validator, month_of_usage, tmp_path, supported
):
    data = tmp_path / "maven-2026-11.focus.csv"
    with open(data, "w", newline="", encoding="utf-8") as file:
        file.writelines(csv_lines(focus_rows([month_of_usage], NOVEMBER)))
    validation = focus_validator.validate(data, supported=supported, workdir=tmp_path)
    print(validation.summary())
    failed = {
        rule: why for rule, why in validation.failures.items() if rule not in VALIDATOR_DEFECTS
    }
    assert not failed, "\n".join(f"{rule}: {why}" for rule, why in sorted(failed.items()))
    assert validation.passed > 0


# --- The columns -----------------------------------------------------------------------------


def _charges(team) -> list[dict]:
    """The month's FOCUS rows as finance downloads them (text, made safe for spreadsheets)."""
    text = "".join(csv_lines(focus_rows([team], NOVEMBER)))
    return list(csv.DictReader(io.StringIO(text)))


def _meter(rows: list[dict], meter: str) -> dict:
    return next(row for row in rows if row["SkuMeter"] == meter)


def _sonnet_price(team, **rates) -> None:
    TeamModelPrice.objects.create(
        team=team,
        model=Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5"),
        effective_from=date(2026, 11, 1),
        reason="negotiated",
        **rates,
    )


def _ingest(team, *events) -> None:
    assert usage_ingest(team, list(events), now=NOW).rejected == []


def test_without_a_team_price_the_contracted_price_is_the_list_price(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER))
    output = _meter(_charges(team), "Output Tokens")
    # Claude Sonnet lists output at $15 per million tokens: 500 of them.
    assert (output["ListUnitPrice"], output["ListCost"]) == ("15.0", "0.0075")
    assert (output["ContractedUnitPrice"], output["ContractedCost"]) == ("15.0", "0.0075")


def test_with_a_team_price_the_contracted_cost_is_at_the_teams_price(team, catalog):
    _sonnet_price(team, input_per_mtok=Decimal("2.4"), output_per_mtok=Decimal(12))
    _ingest(team, event_at("a", MID_NOVEMBER))
    output = _meter(_charges(team), "Output Tokens")
    assert (output["ListUnitPrice"], output["ListCost"]) == ("15.0", "0.0075")
    assert (output["ContractedUnitPrice"], output["ContractedCost"]) == ("12.0", "0.006")
    assert output["BilledCost"] == "0.006"


def test_pricing_quantity_is_in_the_million_tokens_prices_are_quoted_in(team, catalog):
    at = MID_NOVEMBER.isoformat()
    _ingest(team, canonical_event(id="a", timestamp=at, input_tokens=2_500_000))
    charge = _meter(_charges(team), "Input Tokens")
    assert (charge["PricingQuantity"], charge["PricingUnit"]) == ("2.5", "1000000 Tokens")
    assert (charge["ConsumedQuantity"], charge["ConsumedUnit"]) == ("2500000.0", "Tokens")


def test_cached_and_cache_write_tokens_are_charges_at_their_own_rates(team, catalog):
    _ingest(
        team,
        event_at("a", MID_NOVEMBER, cached_input_tokens=600, cache_write_tokens=100),
    )
    rows = _charges(team)
    # Of 1,000 input tokens 300 are neither cached nor written to the cache.
    assert [(r["SkuMeter"], r["ConsumedQuantity"], r["ListUnitPrice"]) for r in rows] == [
        ("Input Tokens", "300.0", "3.0"),
        ("Cached Input Tokens", "600.0", "0.3"),
        ("Cache Write Tokens", "100.0", "3.75"),
        ("Output Tokens", "500.0", "15.0"),
    ]


def test_a_reported_cost_is_shared_by_the_meters_as_their_contracted_costs(team, catalog):
    # The proxy reported $1.05 where the list price makes it $0.0105: 100 times as much.
    _ingest(team, event_at("a", MID_NOVEMBER, cost_usd=Decimal("1.05")))
    rows = _charges(team)
    assert [(r["SkuMeter"], r["BilledCost"], r["ListCost"]) for r in rows] == [
        ("Input Tokens", "0.3", "0.003"),
        ("Output Tokens", "0.75", "0.0075"),
    ]


def test_shares_add_up_to_the_amount_exactly():
    shares = shared(Decimal("1"), [Decimal(1), Decimal(1), Decimal(1)])
    assert sum(shares) == 1
    assert shares[1:] == [Decimal("0.333333333333")] * 2


def test_the_tao_of_a_grain_is_shared_like_its_cost(team, catalog):
    TaoPriceFactory(at=MID_NOVEMBER, usd=Decimal(400))
    _ingest(team, event_at("a", MID_NOVEMBER, provider="chutes", model="deepseek-ai/DeepSeek-V3"))
    rows = _charges(team)
    # $0.00035 + $0.00075 at $400 a TAO.
    assert [r["x_TaoAmount"] for r in rows] == ["0.000000875", "0.000001875"]


def test_the_calls_are_counted_once_on_their_first_charge(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER), event_at("b", MID_NOVEMBER))
    assert [r["x_Requests"] for r in _charges(team)] == ["2", ""]


def test_a_model_without_a_price_is_one_charge_at_what_it_cost(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER, model="not-in-the-catalog", cost_usd=Decimal(2)))
    [charge] = _charges(team)
    assert (charge["SkuMeter"], charge["ConsumedQuantity"]) == ("Tokens", "1500.0")
    assert (charge["ListUnitPrice"], charge["ContractedUnitPrice"], charge["SkuPriceId"]) == (
        "",
        "",
        "",
    )
    assert charge["ListCost"] == charge["ContractedCost"] == charge["BilledCost"] == "2.0"


def test_the_sku_price_is_the_meters_list_price_and_the_day_it_took_effect(team, catalog):
    model = ModelFactory(provider=Provider.objects.get(slug="openai"), name="gpt-test")
    ModelPriceFactory(model=model, effective_from=date(2026, 11, 5))
    _ingest(team, event_at("a", MID_NOVEMBER, provider="openai", model="gpt-test"))
    rows = _charges(team)
    assert {r["SkuId"] for r in rows} == {"openai/gpt-test"}
    assert [r["SkuPriceId"] for r in rows] == [
        "openai/gpt-test/input-tokens@2026-11-05",
        "openai/gpt-test/output-tokens@2026-11-05",
    ]


def test_the_invoice_id_is_the_reference_of_the_providers_invoice_for_the_month(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER))
    ProviderInvoice.objects.create(
        team=team,
        month=NOVEMBER,
        provider=Provider.objects.get(slug="anthropic"),
        amount=Decimal("0.01"),
        reference="INV-2026-1142",
    )
    assert {r["InvoiceId"] for r in _charges(team)} == {"INV-2026-1142"}


@pytest.mark.parametrize("reference", [None, ""], ids=["no invoice", "no reference"])
def test_the_invoice_id_is_empty_without_an_invoice_reference(team, catalog, reference):
    _ingest(team, event_at("a", MID_NOVEMBER))
    if reference is not None:
        ProviderInvoice.objects.create(
            team=team,
            month=NOVEMBER,
            provider=Provider.objects.get(slug="anthropic"),
            amount=Decimal("0.01"),
            reference=reference,
        )
    assert {r["InvoiceId"] for r in _charges(team)} == {""}


def test_publisher_and_invoice_issuer_are_the_provider(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER))
    names = {
        (r["ProviderName"], r["PublisherName"], r["InvoiceIssuerName"]) for r in _charges(team)
    }
    assert names == {("Anthropic", "Anthropic", "Anthropic")}


def test_the_billing_account_is_the_team(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER))
    accounts = {(r["BillingAccountId"], r["BillingAccountName"]) for r in _charges(team)}
    assert accounts == {("maven", "Maven")}


def test_the_charge_description_says_what_was_used_where_and_for_what(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER, task_type="qa"))
    output = _meter(_charges(team), "Output Tokens")
    assert output["ChargeDescription"] == "Output tokens of claude-sonnet-4-5 at Anthropic, task qa"


def test_a_formula_in_a_task_type_stays_text_inside_the_description(team, catalog):
    _ingest(team, event_at("a", MID_NOVEMBER, task_type="=HYPERLINK(1)"))
    descriptions = {r["ChargeDescription"] for r in _charges(team)}
    assert "Input tokens of claude-sonnet-4-5 at Anthropic, task =HYPERLINK(1)" in descriptions


def test_a_whole_amount_keeps_a_decimal_point_so_readers_type_it_as_a_decimal():
    assert [focus_decimal(v) for v in [4, Decimal("2.50"), Decimal("1E+3"), None]] == [
        Decimal("4.0"),
        Decimal("2.5"),
        Decimal("1000.0"),
        None,
    ]
