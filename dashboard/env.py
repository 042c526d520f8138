"""Strict parsers for settings read from the environment.

Each helper returns the default when the variable is unset or empty, and raises
ImproperlyConfigured, naming the variable, when the value is nonsense: a typo in a
deployment should stop the app at start-up, not surface as odd behaviour later.
"""

import base64
import binascii
import ipaddress
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def env_str(name: str, default: str = "") -> str:
    return _raw(name) or default


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_decimal(name: str, default: str, *, minimum: Decimal = Decimal(0)) -> Decimal:
    value = _raw(name)
    try:
        number = Decimal(value if value is not None else default)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if not number.is_finite() or number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} must be a number of at least {minimum}.")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(
            f"{name}={value!r} has an empty item: separate with single commas."
        )
    return items


def env_host_names(name: str) -> list[str]:
    """Comma-separated host names (or IP addresses), lower case, without a trailing dot."""
    names = [item.lower().rstrip(".") for item in env_list(name)]
    for host in names:
        if not host or any(mark in host for mark in ("/", "@", " ")) or host.startswith("["):
            raise ImproperlyConfigured(
                f"{name}: {host!r} is not a host name; give bare names such as chat.internal, "
                "without scheme, port or path."
            )
        if ":" in host and not _is_ipv6(host):
            raise ImproperlyConfigured(f"{name}: {host!r} has a port; give the host name alone.")
    return names


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def env_url(name: str, default: str) -> str:
    """An absolute http(s) URL without a trailing slash, e.g. SITE_URL."""
    value = _raw(name) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(f"{name}={value!r} must be an absolute http:// or https:// URL.")
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name}={value!r} must not have a query or fragment.")
    return value.rstrip("/")


def env_fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys (32 url-safe base64 bytes each); the first one encrypts."""
    keys = env_list(name)
    for position, key in enumerate(keys, start=1):
        try:
            decoded = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes). "
                "Make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            )
    return keys


def database_from_url(url: str, *, base_dir: Path) -> dict:
    """Django DATABASES['default'] from sqlite:///path or postgres://user:pass@host:port/name."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or path == "/":
            raise ImproperlyConfigured(
                f"DATABASE_URL={url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db."
            )
        name = path[1:]
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name if name == ":memory:" else str(base_dir / name),
        }
    if parts.scheme in ("postgres", "postgresql"):
        name = unquote(parts.path.lstrip("/"))
        if not name or "/" in name:
            raise ImproperlyConfigured("DATABASE_URL must name one database after the host.")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured("DATABASE_URL has an invalid port.") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported: use postgresql:// or sqlite:///."
    )


def env_group_roles(name: str, roles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """`group=team:role` pairs separated by semicolons (group names such as LDAP DNs hold
    commas), as (group, team slug, role) in the order given. A group may appear more than once to
    grant several teams."""
    grants = []
    for item in (part.strip() for part in (_raw(name) or "").split(";")):
        if not item:
            continue
        group, equals, grant = item.rpartition("=")
        team, colon, role = grant.partition(":")
        if not (equals and colon and group.strip() and team.strip()):
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not group=team:role, "
                "e.g. llm-finance=maven:finance;llm-ops=maven:ops."
            )
        if role.strip() not in roles:
            raise ImproperlyConfigured(
                f"{name}: {item!r} names the role {role.strip()!r}; use one of {', '.join(roles)}."
            )
        grants.append((group.strip(), team.strip(), role.strip()))
    return grants


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or networks in CIDR form, e.g. 10.0.0.0/8,127.0.0.1."""
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an address or a network such as 10.0.0.0/8."
            ) from None
    return networks
