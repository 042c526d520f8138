import http.server
import ipaddress
import itertools
import json
import socket
import threading
import time

import httpcore
import httpx
import pytest

from dashboard import outbound
from dashboard.outbound import (
    AddressRefused,
    DeadlineStream,
    PinnedBackend,
    PinnedTransport,
    address_allowed,
    check_public_url,
    public_request,
)
from tests.conftest import PUBLIC_ADDRESS

HOOK = "https://chat.example.com/hooks/abc"


# Which addresses


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fec0::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::7f00:1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo for client 127.0.0.1
        "2001:db8::1",
    ],
)
def test_it_refuses_addresses_outside_the_public_internet(address):
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "1.1.1.1", "2606:4700::1111", "::ffff:1.1.1.1", "2002:0101:0101::"]
)
def test_it_allows_public_addresses(address):
    assert address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "172.20.0.5", "192.168.1.1", "100.64.1.1", "fd00::5"]
)
def test_an_allowed_host_may_be_private(address):
    assert address_allowed(ipaddress.ip_address(address), private_ok=True)


UNSPECIFIED = "0.0.0.0"  # noqa: S104 - an address refused, not bound


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "169.254.169.254", "fe80::1", UNSPECIFIED, "::ffff:127.0.0.1", "::1"]
)
def test_an_allowed_host_still_may_not_be_loopback_or_link_local(address):
    assert not address_allowed(ipaddress.ip_address(address), private_ok=True)


# Which URLs


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost:5432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://[::1]:6379/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
    ],
)
def test_it_refuses_local_urls_in_every_spelling(dns, url):
    with pytest.raises(AddressRefused):
        check_public_url(url)


def test_it_refuses_a_name_resolving_to_a_private_address(dns):
    dns["internal.example.com"] = ["10.0.0.7"]
    with pytest.raises(AddressRefused, match="private or local network"):
        check_public_url("https://internal.example.com/hook")


def test_one_private_address_among_public_ones_refuses_the_name(dns):
    dns["mixed.example.com"] = [PUBLIC_ADDRESS, "127.0.0.1"]
    with pytest.raises(AddressRefused):
        check_public_url("https://mixed.example.com/hook")


def test_an_operator_allowed_name_may_resolve_to_a_private_address(dns, settings):
    settings.OUTBOUND_ALLOWED_PRIVATE_HOSTS = ["chat.internal.example"]
    dns["chat.internal.example"] = ["10.0.0.7"]
    check_public_url("https://Chat.Internal.Example./hooks/abc")


def test_an_operator_allowed_name_still_may_not_resolve_to_loopback(dns, settings):
    settings.OUTBOUND_ALLOWED_PRIVATE_HOSTS = ["chat.internal.example"]
    dns["chat.internal.example"] = ["127.0.0.1"]
    with pytest.raises(AddressRefused):
        check_public_url("https://chat.internal.example/hooks/abc")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://chat.example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://user:pw@chat.example.com/", "user name and password"),
        ("https://chat.example.com@127.0.0.1/", "user name and password"),
        ("http:///path", "host name"),
        ("https://chat.example.com:0/", "port"),
        ("https://chat.example.com:70000/", "port"),
    ],
)
def test_it_refuses_urls_of_the_wrong_shape(dns, url, message):
    with pytest.raises(AddressRefused, match=message):
        check_public_url(url)


def test_it_refuses_a_host_that_does_not_resolve(dns):
    with pytest.raises(AddressRefused, match="No such host"):
        check_public_url("https://nosuchhost/hook")


def test_it_accepts_a_public_url_with_a_port(dns):
    check_public_url("https://chat.example.com:8443/hooks/abc")


# Sending


def test_it_posts_to_a_public_address(dns, respx_mock):
    route = respx_mock.post(HOOK).respond(200, text="ok")
    response = public_request("POST", HOOK, json={"text": "hi"})
    assert response.status_code == 200
    assert json.loads(route.calls.last.request.content) == {"text": "hi"}


def test_it_refuses_before_connecting(dns, respx_mock):
    dns["chat.example.com"] = ["169.254.169.254"]
    route = respx_mock.post(HOOK).respond(200)
    with pytest.raises(AddressRefused):
        public_request("POST", HOOK, json={})
    assert not route.called


def test_it_does_not_follow_redirects(dns, respx_mock):
    respx_mock.post(HOOK).respond(302, headers={"Location": "http://127.0.0.1/"})
    inner = respx_mock.get("http://127.0.0.1/").respond(200)
    assert public_request("POST", HOOK, json={}).status_code == 302
    assert not inner.called


def test_it_reads_at_most_a_bounded_body(dns, respx_mock):
    respx_mock.get(HOOK).respond(200, content=b"x" * 1_000_000)
    assert len(public_request("GET", HOOK).content) == 64 * 1024


def test_it_connects_to_the_checked_address_not_a_fresh_lookup(monkeypatch):
    connected = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        connected.append((host, port))
        return FakeStream()

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    backend = PinnedBackend("chat.example.com", [PUBLIC_ADDRESS], deadline=100, clock=lambda: 0)
    backend.connect_tcp("chat.example.com", 443, timeout=3)
    assert connected == [(PUBLIC_ADDRESS, 443)]


def test_a_pinned_connection_goes_to_no_other_host():
    backend = PinnedBackend("chat.example.com", [PUBLIC_ADDRESS], deadline=100, clock=lambda: 0)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("127.0.0.1", 80, timeout=3)


class FakeStream(httpcore.NetworkStream):
    def __init__(self):
        self.timeouts = []

    def read(self, max_bytes, timeout=None):
        self.timeouts.append(timeout)
        return b"x"


def test_a_server_trickling_its_answer_is_cut_off_at_the_deadline():
    ticks = itertools.count(start=0, step=4)
    stream = DeadlineStream(FakeStream(), deadline=10, clock=lambda: next(ticks))
    stream.read(1, timeout=5)  # at 0 s: up to 5 s allowed
    stream.read(1, timeout=5)  # at 4 s: still 5 s
    stream.read(1, timeout=5)  # at 8 s: only 2 s left
    with pytest.raises(httpcore.ReadTimeout):
        stream.read(1, timeout=5)  # at 12 s: over
    assert stream.stream.timeouts == [5, 5, 2]


def test_the_deadline_surfaces_as_an_httpx_timeout(dns):
    ticks = itertools.count(start=0, step=100)
    with pytest.raises(httpx.TimeoutException):
        public_request("POST", HOOK, json={}, total_seconds=8, clock=lambda: next(ticks))


@pytest.fixture
def local_server():
    """A plain HTTP server on loopback that records the Host header of each request."""
    hosts = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hosts
    server.shutdown()
    server.server_close()


def test_the_pinned_transport_connects_to_the_address_and_keeps_the_host_name(local_server):
    port, hosts = local_server
    transport = PinnedTransport(
        "chat.example.com", ["127.0.0.1"], deadline=time.monotonic() + 5, clock=time.monotonic
    )
    with httpx.Client(transport=transport) as client:
        response = client.get(f"http://chat.example.com:{port}/")
    assert response.status_code == 204
    assert hosts == [f"chat.example.com:{port}"]


def test_a_lookup_that_hangs_is_given_up(monkeypatch):
    released = threading.Event()

    def hanging_getaddrinfo(*args, **kwargs):
        released.wait()
        raise socket.gaierror(socket.EAI_AGAIN, "gave up")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    monkeypatch.setattr(outbound, "LOOKUP_TIMEOUT_SECONDS", 0.05)
    try:
        with pytest.raises(httpx.TimeoutException):
            public_request("POST", HOOK, json={})
    finally:
        released.set()
