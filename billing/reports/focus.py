"""The monthly report's usage in the FinOps FOCUS 1.2 layout (served by billing.reports.exports).

A charge is one team day, provider, model and task type (the report's grain, billing.reports.
day_rows) and one token meter of it: input, cached input, cache-write and output tokens each
have their own rate in the catalog, so each is a charge of its own whose unit prices are the
catalog's per-million-token rates and whose costs are those rates times its tokens. The
grain's cost (what the report shows: our price, or what the proxy reported) is shared among
its charges in proportion to their contracted cost, so BilledCost still adds up to the report
to the last digit. A grain whose model has no price at all stays one charge of all its tokens,
without unit prices, its list and contracted cost being what it cost.

Prices are those in force on the charge's day (the team's day; a call is priced on its UTC
date, so on the day a price changes a late call may have been priced at the other one).
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext

from billing.costing import PriceBook
from billing.models import ModelPrice, ProviderInvoice, TeamModelPrice
from billing.months import last_day_of, next_month
from billing.reports.day_rows import DayRow, day_row, day_rows_query
from billing.reports.figures import Figures
from dashboard.display_money import exact
from routing.models import Provider

# FOCUS 1.2 column names; x_ columns are our own, as the specification allows.
FOCUS_COLUMNS = [
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ChargeDescription",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "CommitmentDiscountStatus",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "PricingCurrency",
    "PricingCurrencyListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "InvoiceId",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "ResourceId",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "SkuPriceDetails",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_Requests",
    "x_TaoAmount",
]
# The columns holding amounts (typed again when a closed month's frozen rows are served).
FOCUS_NUMERIC_COLUMNS = {
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingQuantity",
    "PricingCurrencyListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "ConsumedQuantity",
    "x_Requests",
    "x_TaoAmount",
}
# Added when asked for a display currency; FOCUS's own are x_ columns, BillingCurrency stays USD.
FOCUS_DISPLAY_COLUMNS = [
    "x_DisplayCurrency",
    "x_DisplayRate",
    "x_DisplayRateDate",
    "x_BilledCostInDisplayCurrency",
]
SERVICE_NAME = "LLM inference"
SERVICE_CATEGORY = "AI and Machine Learning"
SERVICE_SUBCATEGORY = "Generative AI"
USAGE_BASED = "Usage-Based"
# The catalog quotes USD per million tokens; FOCUS's unit format says so as "1000000 Tokens".
PRICING_UNIT = "1000000 Tokens"
CONSUMED_UNIT = "Tokens"
INPUT, CACHED_INPUT, CACHE_WRITE, OUTPUT = (
    "Input Tokens",
    "Cached Input Tokens",
    "Cache Write Tokens",
    "Output Tokens",
)
# Costs are kept to 12 decimals (billing.models.USD_DIGITS); so are the shares of one.
COST_QUANTUM = Decimal("1e-12")
EXPORT_CHUNK = 2_000

Price = ModelPrice | TeamModelPrice


@dataclass(frozen=True)
class Charge:
    """One FOCUS row: a meter of a grain, its tokens, its unit prices (USD per million tokens,
    None without a price) and its share of the grain's cost and TAO."""

    meter: str
    tokens: int
    list_unit_price: Decimal | None
    contracted_unit_price: Decimal | None
    billed: Decimal
    tao: Decimal

    @property
    def pricing_quantity(self) -> Decimal:
        return pricing_quantity(self.tokens)

    @property
    def list_cost(self) -> Decimal:
        return self._cost(self.list_unit_price)

    @property
    def contracted_cost(self) -> Decimal:
        return self._cost(self.contracted_unit_price)

    def _cost(self, unit_price: Decimal | None) -> Decimal:
        # FOCUS: without a unit price, a charge's list or contracted cost is what it cost.
        if unit_price is None:
            return self.billed
        with localcontext(prec=48):
            return unit_price * self.pricing_quantity


def pricing_quantity(tokens: int) -> Decimal:
    """Tokens in the pricing unit, millions: exact, 1500 tokens are 0.0015."""
    return Decimal(tokens).scaleb(-6)


def metered_tokens(figures: Figures) -> list[tuple[str, int]]:
    """The tokens of each meter: input_tokens counts the cached and cache-write ones, so the
    input meter has what remains of it (as billing.costing.cost_of prices them)."""
    uncached = figures.input_tokens - figures.cached_input_tokens - figures.cache_write_tokens
    return [
        (INPUT, uncached),
        (CACHED_INPUT, figures.cached_input_tokens),
        (CACHE_WRITE, figures.cache_write_tokens),
        (OUTPUT, figures.output_tokens),
    ]


def unit_price(price: Price, meter: str) -> Decimal:
    """The price's USD per million tokens of the meter; an empty cache rate is the input rate."""
    rate = {
        INPUT: price.input_per_mtok,
        CACHED_INPUT: price.cached_input_per_mtok,
        CACHE_WRITE: price.cache_write_per_mtok,
        OUTPUT: price.output_per_mtok,
    }[meter]
    return price.input_per_mtok if rate is None else rate


def shared(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`amount` shared in proportion to `weights` (all to the first when they are all 0), to
    12 decimals; the largest share takes what rounding leaves, so the shares add up exactly."""
    total = sum(weights, Decimal(0))
    with localcontext(prec=48):
        shares = (
            [(amount * weight / total).quantize(COST_QUANTUM) for weight in weights]
            if total
            else [Decimal(0)] * len(weights)
        )
        largest = max(range(len(weights)), key=weights.__getitem__)
        shares[largest] = amount - (sum(shares, Decimal(0)) - shares[largest])
    return shares


def charges_of(
    figures: Figures, list_price: Price | None, contracted_price: Price | None
) -> list[Charge]:
    """A grain's charges: one per meter with tokens (the input meter when none has any); or,
    without a contracted price (so without a list price either), one of all its tokens."""
    if contracted_price is None:
        return [
            Charge(
                meter=CONSUMED_UNIT,
                tokens=figures.tokens,
                list_unit_price=None,
                contracted_unit_price=None,
                billed=figures.cost_usd,
                tao=figures.tao_amount,
            )
        ]
    meters = [(meter, tokens) for meter, tokens in metered_tokens(figures) if tokens]
    meters = meters or [(INPUT, 0)]
    contracted = [unit_price(contracted_price, meter) for meter, _ in meters]
    with localcontext(prec=48):
        weights = [
            rate * pricing_quantity(tokens)
            for rate, (_, tokens) in zip(contracted, meters, strict=True)
        ]
    billed = shared(figures.cost_usd, weights)
    tao = shared(figures.tao_amount, weights)
    return [
        Charge(
            meter=meter,
            tokens=tokens,
            list_unit_price=None if list_price is None else unit_price(list_price, meter),
            contracted_unit_price=contracted[index],
            billed=billed[index],
            tao=tao[index],
        )
        for index, (meter, tokens) in enumerate(meters)
    ]


class Prices:
    """The catalog's list price and a team's contracted price (its own, else the list price)
    in force on a day, for a provider and model as the rollups name them."""

    def __init__(self):
        self.book = PriceBook()

    def on(
        self, team_id: int, provider: str, model: str, day: date
    ) -> tuple[Price | None, Price | None]:
        resolved = self.book.resolve(provider, model)
        # PriceBook looks a price up by the date of the moment it is given.
        moment = datetime.combine(day, time())
        listed = self.book.price_on(resolved.model, moment)
        return listed, self.book.price_on(resolved.model, moment, team_id=team_id)


def invoice_ids(teams, month: date) -> dict[tuple[int, str], str]:
    """The reference of each provider's invoice recorded for the month, by team id and
    provider slug; an invoice recorded without one gives none."""
    invoices = (
        ProviderInvoice.objects.filter(team__in=teams, month=month)
        .exclude(reference="")
        .values_list("team_id", "provider__slug", "reference")
    )
    return {(team_id, slug): reference for team_id, slug, reference in invoices}


def charge_description(charge: Charge, row: DayRow, provider: str) -> str:
    """What a person reads: "Output tokens of claude-sonnet-4-5 at Anthropic, task qa"."""
    text = f"{charge.meter.capitalize()} of {row.model} at {provider}"
    if charge.contracted_unit_price is None:
        text += ", not in the price catalog"
    return f"{text}, task {row.task_type}" if row.task_type else text


def focus_rows(teams, month: date) -> Iterator[list]:
    """The header, then each grain's charges: the day's charge period in the team's zone."""
    by_id = {team.id: team for team in teams}
    provider_names = dict(Provider.objects.values_list("slug", "name"))
    invoices = invoice_ids(teams, month)
    prices = Prices()
    yield FOCUS_COLUMNS
    query = day_rows_query(teams, month, last_day_of(month), by_who=True)
    for row in (day_row(each) for each in query.iterator(chunk_size=EXPORT_CHUNK)):
        team = by_id[row.team_id]
        provider = provider_names.get(row.provider, row.provider)
        listed, contracted = prices.on(team.id, row.provider, row.model, row.day)
        sku_id = f"{row.provider}/{row.model}"
        for index, charge in enumerate(charges_of(row.figures, listed, contracted)):
            billed = focus_decimal(charge.billed)
            list_unit_price = focus_decimal(charge.list_unit_price)
            contracted_unit_price = focus_decimal(charge.contracted_unit_price)
            yield [
                team.slug,
                team.name,
                _moment(team, month),
                _moment(team, next_month(month)),
                _moment(team, row.day),
                _moment(team, row.day + timedelta(days=1)),
                "Usage",
                None,
                USAGE_BASED,
                charge_description(charge, row, provider),
                billed,
                billed,
                focus_decimal(charge.list_cost),
                focus_decimal(charge.contracted_cost),
                "USD",
                # No commitment discounts: empty, present because FOCUS's rules on
                # ConsumedQuantity read it (the validator fails them without the column).
                None,
                list_unit_price,
                contracted_unit_price,
                focus_decimal(charge.pricing_quantity),
                PRICING_UNIT,
                # Prices are in USD, the billing currency, so FOCUS's pricing-currency columns
                # repeat them (the validator asks for them whenever a price list is published).
                "USD",
                list_unit_price,
                contracted_unit_price,
                billed,
                focus_decimal(charge.tokens),
                CONSUMED_UNIT,
                provider,
                provider,
                provider,
                invoices.get((team.id, row.provider)),
                SERVICE_CATEGORY,
                SERVICE_SUBCATEGORY,
                SERVICE_NAME,
                row.model,
                sku_id,
                sku_price_id(sku_id, charge.meter, listed) if listed else None,
                charge.meter,
                None,
                team.slug,
                team.name,
                json.dumps(_tags(team, row), sort_keys=True),
                # The calls are counted once, on their grain's first charge.
                row.figures.requests if index == 0 else None,
                exact(charge.tao),
            ]


def sku_price_id(sku_id: str, meter: str, listed: Price) -> str:
    """A meter's list price in the catalog: "anthropic/claude-sonnet-4-5/output-tokens@2025-09-29"
    (the SKU, the meter, and the day the price took effect)."""
    return f"{sku_id}/{meter.lower().replace(' ', '-')}@{listed.effective_from.isoformat()}"


def focus_decimal(value: Decimal | int | None) -> Decimal | None:
    """An amount for one of FOCUS's Decimal columns: exact, with a decimal point even when whole
    (1500.0), as readers that type a column from its text take whole numbers for integers (the
    FinOps Foundation's validator does, and then fails a month whose values are all whole)."""
    if value is None:
        return None
    amount = Decimal(exact(value))
    return amount if int(amount.as_tuple().exponent) < 0 else amount.quantize(Decimal("0.1"))


def _moment(team, day: date) -> str:
    """The team's midnight starting that day, as FOCUS wants date-times: UTC, ISO 8601, "Z"."""
    moment = datetime.combine(day, time(), tzinfo=team.zone).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def focus_row_day(zones: dict) -> Callable[[list, list], date]:
    """A FOCUS row's day: its charge period's start (UTC) in its team's zone (SubAccountId)."""

    def day_of(row: list, header: list) -> date:
        start = datetime.fromisoformat(
            row[header.index("ChargePeriodStart")].replace("Z", "+00:00")
        )
        return start.astimezone(zones[row[header.index("SubAccountId")]]).date()

    return day_of


def _tags(team, row: DayRow) -> dict[str, str]:
    """The charge's tags: the team and task type, and the end user and API key alias when the
    proxy sent them."""
    tags = {"team": team.slug, "task_type": row.task_type}
    if row.end_user:
        tags["end_user"] = row.end_user
    if row.api_key_alias:
        tags["api_key_alias"] = row.api_key_alias
    return tags
