"""The outbound guard: only public addresses, one DNS lookup, the checked address, no redirects."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.outbound import (
    HostUnresolved,
    OutboundRefused,
    address_is_public,
    outbound_address,
    outbound_session,
    request_may_have_arrived,
    url_check,
)
from lifelong.lib.tests.fake_dns import FakeDns

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "169.254.169.254",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104 - an address under test, not a bind
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a00:1",
    "2002:7f00:1::1",
    "2002:a00:1::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "::7f00:1",
]
PUBLIC = [
    "8.8.8.8",
    "93.184.216.34",
    "2a00:1450:4010:c0d::5f",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_special_addresses_are_not_public(address):
    assert not address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address):
    assert address_is_public(ipaddress.ip_address(address))


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_inside_ipv6_is_judged_by_itself(v4):
    wrapped = [
        ipaddress.IPv6Address(f"::ffff:{v4}"),
        ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80)),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(v4)),
    ]
    assert [address_is_public(a) for a in wrapped] == [address_is_public(v4)] * 3


@given(
    st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]).flatmap(
        lambda net: st.ip_addresses(network=net)
    )
)
def test_no_private_ipv4_address_is_public(address):
    assert not address_is_public(address)


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    return FakeDns(monkeypatch)


def test_a_name_is_refused_when_any_of_its_addresses_is_private(dns):
    dns.add("mixed.test", ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.7"):
        outbound_address("mixed.test", 443)
    dns.add("public.test", ["93.184.216.34", "2a00:1450:4010:c0d::5f"])
    assert outbound_address("public.test", 443) == "93.184.216.34"


def test_allowed_networks_and_the_owners_switch_let_private_addresses_through(dns, settings):
    dns.add("crm.test", ["10.0.0.7"])
    assert outbound_address("crm.test", 80, allow_private=True) == "10.0.0.7"
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("10.0.0.0/24"),)
    assert outbound_address("crm.test", 80) == "10.0.0.7"


def test_unresolved_names_say_so(dns):
    dns.add("gone.test", [])
    with pytest.raises(HostUnresolved):
        outbound_address("gone.test", 443)
    url_check("https://gone.test/push")  # checked again when something is sent


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/push",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.1.1/push",
        "https://[::1]/push",
        "https://[64:ff9b::7f00:1]/push",
        "https://localhost/push",
        "https:///no-host",
    ],
)
def test_url_check_refuses_private_hosts(url):
    with pytest.raises(OutboundRefused):
        url_check(url)


class Site(ThreadingHTTPServer):
    """Answers GET /hop with a redirect to /inside; records every request it sees."""

    daemon_threads = True

    def __init__(self, address: str, port: int = 0) -> None:
        super().__init__((address, port), SiteHandler)
        self.seen: list[tuple[str, str]] = []
        self.server_names: list[str | None] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


class SiteHandler(BaseHTTPRequestHandler):
    server: Site

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers["Host"]))
        self.send_response(302 if self.path == "/hop" else 200)
        self.send_header("Location", "/inside")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(site: Site) -> Iterator[Site]:
    thread = threading.Thread(target=site.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield site
    site.shutdown()
    site.server_close()
    thread.join()


@pytest.fixture
def loopback_allowed(settings) -> None:
    # The test servers listen on 127.0.0.1: the one private address these tests may reach.
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture
def site(loopback_allowed) -> Iterator[Site]:
    with serving(Site("127.0.0.1")) as served:
        yield served


def test_private_destinations_are_refused_before_connecting(site, dns):
    dns.add("evil.test", ["127.0.0.2"])
    with outbound_session() as session, pytest.raises(OutboundRefused):
        session.get(f"http://evil.test:{site.port}/")
    assert site.seen == []


def test_redirects_are_not_followed(site, dns):
    dns.add("shop.test", ["127.0.0.1"])
    with outbound_session() as session:
        response = session.get(f"http://shop.test:{site.port}/hop")
    assert response.status_code == 302
    assert site.seen == [("/hop", f"shop.test:{site.port}")]


def test_dns_rebinding_cannot_reach_a_second_address(site, dns):
    # The name answers the allowed address once and an internal one afterwards: a client
    # that looked it up again to connect would reach the internal server instead.
    with serving(Site("127.0.0.2", site.port)) as inside, outbound_session() as session:
        dns.add("rebind.test", ["127.0.0.1"], ["127.0.0.2"])
        assert session.get(f"http://rebind.test:{site.port}/a").status_code == 200
        assert dns.lookups["rebind.test"] == 1
        # The next request looks the name up afresh and checks that answer too.
        with pytest.raises(OutboundRefused):
            session.get(f"http://rebind.test:{site.port}/b")
    assert inside.seen == []
    assert site.seen == [("/a", f"rebind.test:{site.port}")]


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_site(loopback_allowed, tmp_path) -> Iterator[tuple[Site, Path]]:
    cert_path, key_path = _certificate(tmp_path, "push.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    site = Site("127.0.0.1")

    def remember_name(sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        site.server_names.append(name)

    context.sni_callback = remember_name
    site.socket = context.wrap_socket(site.socket, server_side=True)
    with serving(site):
        yield site, cert_path


def test_tls_names_the_host_and_checks_its_certificate(tls_site, dns, tmp_path):
    site, cert_path = tls_site
    dns.add("push.test", ["127.0.0.1"])
    with outbound_session() as session:
        session.verify = str(cert_path)
        response = session.get(f"https://push.test:{site.port}/a")
    assert response.status_code == 200
    assert site.server_names == ["push.test"]
    assert site.seen == [("/a", f"push.test:{site.port}")]

    dns.add("other.test", ["127.0.0.1"])
    with outbound_session() as session:
        session.verify = str(cert_path)
        with pytest.raises(requests.exceptions.SSLError) as failed:
            session.get(f"https://other.test:{site.port}/a")
    assert not request_may_have_arrived(failed.value)
    assert len(site.seen) == 1
