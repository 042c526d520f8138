"""The sections of a team's pages, in the order the navigation shows them."""

from dataclasses import dataclass

from django.urls import reverse

from dashboard.access import role_may


@dataclass(frozen=True)
class Section:
    url_name: str
    label: str
    permission: str
    blurb: str


TEAM_SECTIONS = [
    Section("overview", "Overview", "team.view", ""),
    Section(
        "routing",
        "Routing",
        "team.view",
        "Routing rules per task type: providers and models with traffic weights and "
        "fallbacks, edited as a draft, published as numbered versions the proxy reads, "
        "and a what-if simulator on your real traffic.",
    ),
    Section(
        "keys",
        "Keys",
        "keys.view",
        "Your team's provider API keys (Chutes, Anthropic, OpenAI, OpenRouter), encrypted "
        "at rest, masked, rotated and tested, served to the proxy and audited.",
    ),
    Section(
        "usage",
        "Usage",
        "team.view",
        "Every call the proxy logs, priced in USD and TAO: filter by provider, model, "
        "task type and status.",
    ),
    Section(
        "budgets",
        "Budgets & alerts",
        "team.view",
        "Monthly budgets in USD and TAO with thresholds and forecasts, and alerts for TAO "
        "price spikes, errors, latency and quality drops, sent by email exactly once.",
    ),
    Section(
        "reports",
        "Reports",
        "reports.view",
        "The monthly spend review: totals against budget, breakdowns by provider, model and "
        "task type, month close, invoice reconciliation and CSV / FOCUS exports.",
    ),
    Section(
        "treasury",
        "Treasury",
        "team.view",
        "The TAO you hold and have on the Chutes account: lots bought, transfers, what each "
        "month's Chutes usage cost at the lots' prices against spot, and how long it lasts.",
    ),
    Section(
        "audit",
        "Audit",
        "audit.view",
        "Who changed what and when: keys, tokens, members, routing publishes and budgets.",
    ),
]

ADMIN_SECTIONS = [
    Section("members", "Members", "team.view", ""),
    Section(
        "tokens",
        "Proxy tokens",
        "tokens.manage",
        "Tokens your proxy uses to post usage and read routes and keys: created here, "
        "shown once, stored hashed, revocable.",
    ),
    Section(
        "team_prices",
        "Team prices",
        "team.view",
        "Prices your team negotiated for catalog models: they price only your usage.",
    ),
    Section("team_settings", "Settings", "team.manage", ""),
]

SECTIONS_BY_NAME = {section.url_name: section for section in TEAM_SECTIONS + ADMIN_SECTIONS}


def sections_for_role(role: str, sections=TEAM_SECTIONS) -> list[Section]:
    return [section for section in sections if role_may(role, section.permission)]


# Sub-pages (a month's report, a budget's form...) switch to their list on the other team.
LIST_OF_SUBPAGE = {
    "report": "reports",
    "budget": "budgets",
    "alert": "alerts",
    "routing": "routing",
    "usage": "usage",
    "team": "team_prices",
    "treasury": "treasury",
}


def switch_url(url_name: str | None, team_slug: str) -> str:
    """The same section on another team, or its overview when that section has no page there."""
    if url_name not in SECTIONS_BY_NAME:
        prefix = (url_name or "").split("_", 1)[0]
        url_name = LIST_OF_SUBPAGE.get(prefix, "overview")
    return reverse(url_name, kwargs={"team": team_slug})
