"""HTTP requests to addresses that members type (alert webhooks) or staff keep in the catalog
(provider base URLs): only to public internet addresses, never into the server's own networks.

- Shape. http or https, a host, no user name or password, an optional port (`public_target`).
- Addresses. The host is resolved with getaddrinfo, which is also how numeric spellings such as
  2130706433, 0177.0.0.1, 0x7f.1 or 127.1 become 127.0.0.1, and every address it resolves to
  must be allowed (`address_allowed`): one private address among public ones refuses the lot.
  Refused: loopback, private, link-local (169.254.169.254, the cloud metadata service), shared
  (100.64/10), multicast, reserved, unspecified, documentation and benchmark ranges, IPv6
  site-local and unique-local, and IPv6 forms embedding a refused IPv4 address (mapped,
  compatible, 6to4, Teredo, NAT64). `ipaddress.is_global` alone calls multicast, fec0::/10 and
  several embeddings global, hence the explicit checks.
- Operator exception. Host names in settings.OUTBOUND_ALLOWED_PRIVATE_HOSTS (a self-hosted chat
  server, a provider in the same network) may resolve to private ranges (10/8, 172.16/12,
  192.168/16, 100.64/10, fc00::/7); loopback, link-local and the rest stay refused for them too.
- Sending. `public_request` connects to exactly the addresses it checked (a name that resolves
  elsewhere a moment later, DNS rebinding, changes nothing), while the Host header, TLS SNI and
  certificate check keep the host name. No redirects, no proxies from the environment, short
  timeouts and a deadline for the whole request, a bounded body.
"""

import ipaddress
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import httpcore
import httpx
from django.conf import settings

CONNECT_TIMEOUT_SECONDS = 3
LOOKUP_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 5
MAX_BODY_BYTES = 64 * 1024
# A name with many addresses could otherwise multiply the connect timeout.
MAX_ADDRESSES_TRIED = 3

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

PRIVATE_NETWORKS = [
    ipaddress.ip_network(network)
    for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
]
NAT64_NETWORKS = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48")]
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")


class AddressRefused(Exception):
    """The URL may not be requested; the message is safe to show whoever typed it."""


class LookupTimedOut(AddressRefused):
    """The host's name servers did not answer in time (they may be slow on purpose)."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str  # as the request will carry it: lower case, IDNA-encoded, no brackets
    port: int


def public_target(url: str) -> Target:
    """The URL's host and port, if its shape is acceptable; else AddressRefused."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise AddressRefused("Enter a valid http:// or https:// address.") from None
    if parsed.scheme not in ("http", "https"):
        raise AddressRefused("Enter an http:// or https:// address.")
    if parsed.userinfo:
        raise AddressRefused("Leave the user name and password out of the address.")
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise AddressRefused("Enter an address with a host name.")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise AddressRefused("Enter a port from 1 to 65535.")
    return Target(url=url, host=host, port=port)


def allowed_addresses(target: Target) -> list[str]:
    """Every address the host resolves to, if all of them are allowed; else AddressRefused."""
    # getaddrinfo has no timeout of its own: a lookup that hangs is left to finish in its thread.
    pool = ThreadPoolExecutor(max_workers=1)
    lookup = pool.submit(socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM)
    pool.shutdown(wait=False)
    try:
        answers = lookup.result(timeout=LOOKUP_TIMEOUT_SECONDS)
    except FutureTimeout:
        raise LookupTimedOut(f"Looking up {target.host} took too long; try again.") from None
    except (socket.gaierror, UnicodeError, OSError):
        raise AddressRefused(f"No such host: {target.host}. Check the address.") from None
    addresses = list(dict.fromkeys(answer[4][0] for answer in answers))
    private_ok = _private_allowed(target.host)
    if not addresses or not all(
        address_allowed(_parsed(address), private_ok=private_ok) for address in addresses
    ):
        raise AddressRefused(
            "This address is on a private or local network; only public internet addresses "
            "are allowed. An operator can allow a self-hosted server by name."
        )
    return addresses


def check_public_url(url: str) -> None:
    """Refuse (AddressRefused) a URL that public_request would refuse now."""
    allowed_addresses(public_target(url))


def address_allowed(address: Address, *, private_ok: bool = False) -> bool:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_allowed(embedded, private_ok=private_ok)
    if (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    ):
        return False
    if private_ok and any(address in network for network in PRIVATE_NETWORKS):
        return True
    return address.is_global


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if int(address) >> 32 == 0:  # IPv4-compatible ::a.b.c.d, and :: and ::1 themselves
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in SIX_TO_FOUR:
        return address.sixtofour
    if address in TEREDO:
        return address.teredo[1]
    if any(address in network for network in NAT64_NETWORKS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _parsed(address: str) -> Address:
    # getaddrinfo writes link-local IPv6 with a zone (fe80::1%eth0).
    return ipaddress.ip_address(address.split("%", 1)[0])


def _private_allowed(host: str) -> bool:
    return host.rstrip(".") in settings.OUTBOUND_ALLOWED_PRIVATE_HOSTS


def public_request(
    method: str,
    url: str,
    *,
    headers: dict | None = None,
    json=None,
    total_seconds: float = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> httpx.Response:
    """Send one request to a public address; the answer's body is read up to MAX_BODY_BYTES.

    Raises AddressRefused before connecting, or httpx.HTTPError (httpx.TimeoutException once
    `total_seconds` are spent, however slowly the server trickles its answer).
    """
    target = public_target(url)
    try:
        addresses = allowed_addresses(target)
    except LookupTimedOut as error:
        raise httpx.ConnectTimeout(str(error)) from None
    transport = PinnedTransport(
        target.host, addresses, deadline=clock() + total_seconds, clock=clock
    )
    timeout = httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    with (
        httpx.Client(
            transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
        ) as client,
        client.stream(method, url, headers=headers, json=json) as response,
    ):
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= MAX_BODY_BYTES:
                break
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        content=bytes(body[:MAX_BODY_BYTES]),
        request=response.request,
    )


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, whose connections go only to `addresses`, checked beforehand."""

    def __init__(
        self, host: str, addresses: list[str], *, deadline: float, clock: Callable[[], float]
    ):
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to pass a network backend: replace the pool.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=1,
            network_backend=PinnedBackend(host, addresses, deadline=deadline, clock=clock),
        )


class PinnedBackend(httpcore.SyncBackend):
    """Connects to the checked addresses instead of resolving the host again."""

    def __init__(
        self, host: str, addresses: list[str], *, deadline: float, clock: Callable[[], float]
    ):
        self.host, self.addresses = host, addresses
        self.deadline, self.clock = deadline, clock

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if host.lower() != self.host:
            raise httpcore.ConnectError(f"Not the checked host: {host}.")
        error: Exception = httpcore.ConnectError("No address to connect to.")
        for address in self.addresses[:MAX_ADDRESSES_TRIED]:
            try:
                stream = super().connect_tcp(
                    address,
                    port,
                    timeout=_within(timeout, self.deadline, self.clock, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as failure:
                error = failure
                continue
            return DeadlineStream(stream, deadline=self.deadline, clock=self.clock)
        raise error


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the request's deadline."""

    def __init__(
        self, stream: httpcore.NetworkStream, *, deadline: float, clock: Callable[[], float]
    ):
        self.stream, self.deadline, self.clock = stream, deadline, clock

    def read(self, max_bytes, timeout=None):
        timeout = _within(timeout, self.deadline, self.clock, httpcore.ReadTimeout)
        return self.stream.read(max_bytes, timeout)

    def write(self, buffer, timeout=None):
        timeout = _within(timeout, self.deadline, self.clock, httpcore.WriteTimeout)
        self.stream.write(buffer, timeout)

    def close(self):
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = _within(timeout, self.deadline, self.clock, httpcore.ConnectTimeout)
        tls = self.stream.start_tls(ssl_context, server_hostname, timeout)
        return DeadlineStream(tls, deadline=self.deadline, clock=self.clock)

    def get_extra_info(self, info):
        return self.stream.get_extra_info(info)


def _within(timeout: float | None, deadline: float, clock: Callable[[], float], error) -> float:
    """The timeout for one network step: what is left before the deadline, if that is less."""
    left = deadline - clock()
    if left <= 0:
        raise error("The time for this request is spent.")
    return left if timeout is None else min(timeout, left)
