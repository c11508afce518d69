"""Tests for the SSRF guard: hostile URLs and addresses are refused, public ones pass.

`allow_private_network` lifts the private-address rules, but never the refusal of cloud
metadata services (in any form, or behind a DNS name).
"""

from __future__ import annotations

import socket

import pytest

from connectors.base import ConnectorError
from connectors.web.url_safety import (
    UnsafeUrlError,
    check_address_allowed,
    check_url_allowed,
    parse_host_address,
    resolve_checked_addresses,
)

HOSTILE_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/admin",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://2130706433/",  # decimal 127.0.0.1
    "http://0177.0.0.1/",  # octal
    "http://0x7f.1/",  # hex, short form
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.0.1./",  # trailing dot
    "http://127.0.0.%31/",  # percent-encoded digit
    "http://\uff11\uff12\uff17.0.0.1/",  # full-width digits
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 around 10.0.0.1
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://169.254.1.1/",  # link-local
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://255.255.255.255/",  # broadcast
    "http://240.0.0.1/",  # reserved
]

# Cloud metadata services: refused even with allow_private_network.
METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254./latest/meta-data/",
    "http://2852039166/latest/meta-data/",  # decimal 169.254.169.254
    "http://0251.0376.0251.0376/",  # octal
    "http://0xa9fea9fe/",  # hex
    "http://169.254.43518/",  # short form
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[2002:a9fe:a9fe::]/",  # 6to4
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS over IPv6
    "http://[FD00:EC2:0:0:0:0:0:254]/",
    "http://169.254.170.2/v2/credentials/",  # AWS ECS
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud
    "http://168.63.129.16/machine/",  # Azure WireServer
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/",
    "http://metadata/",
    "http://metadata.goog/",
    "http://instance-data/latest/",
]

MALFORMED_OR_FORBIDDEN_URLS = [
    "ftp://example.com/file",
    "file:///etc/passwd",
    "gopher://example.com/",
    "javascript:alert(1)",
    "http://user:secret@example.com/",
    "http://user@example.com/",
    "http://example.com@127.0.0.1/",
    "http:///no-host",
    "http://example.com:99999/",
    "http://exa mple.com/",
    "http://127.0.0.1\\@example.com/",
    "http://1.2.3.4.5/",  # ends in a number but is no address
    "http://256.256.256.256/",
]

PUBLIC_URLS = [
    "http://93.184.216.34/",
    "https://example.com/docs/page.html?x=1",
    "http://[2606:2800:220:1:248:1893:25c8:1946]/",
    "http://[::ffff:93.184.216.34]/",
    "https://docs.python.org:443/3/",
    "http://1.1.1.1:8080/",
]


@pytest.mark.parametrize("url", HOSTILE_URLS + METADATA_URLS)
def test_hostile_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url_allowed(url, allow_private_network=False)


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_services_are_refused_even_on_private_networks(url: str) -> None:
    with pytest.raises(UnsafeUrlError, match="cloud metadata service") as caught:
        check_url_allowed(url, allow_private_network=True)
    assert str(caught.value).startswith(url)
    assert "even with allow_private_network" in str(caught.value)


@pytest.mark.parametrize("url", MALFORMED_OR_FORBIDDEN_URLS)
def test_forbidden_urls_are_refused_even_on_private_networks(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url_allowed(url, allow_private_network=True)


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_urls_are_allowed(url: str) -> None:
    check_url_allowed(url, allow_private_network=False)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_allow_private_network_lifts_the_address_rules(url: str) -> None:
    check_url_allowed(url, allow_private_network=True)


def test_unsafe_url_error_is_a_connector_error() -> None:
    assert issubclass(UnsafeUrlError, ConnectorError)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("1.256", "1.0.1.0"),
        ("0x", "0.0.0.0"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.com", None),
        ("1.2.3.example", None),
    ],
)
def test_hosts_are_read_like_a_browser_reads_them(host: str, address: str | None) -> None:
    parsed = parse_host_address(host)
    assert (str(parsed) if parsed is not None else None) == address


HOSTILE_ADDRESSES = [
    "127.0.0.1",
    "10.0.0.1",
    "172.31.255.255",
    "192.168.0.10",
    "100.64.1.1",
    "0.0.0.0",
    "224.1.1.1",
    "255.255.255.255",
    "198.18.0.1",
    "100.100.100.201",  # next to Alibaba's metadata address: plain carrier-grade NAT
    "169.254.169.253",  # link-local, but not a metadata service
    "::1",
    "::",
    "fe80::abcd",
    "fc00::1",
    "fd12:3456::1",
    "ff05::2",
    "::ffff:10.0.0.1",
    "2002:c0a8:101::1",
    "64:ff9b::c0a8:101",
    "fec0::1",
    "2001:db8::1",
]


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
def test_hostile_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_address_allowed(address, allow_private_network=False)
    check_address_allowed(address, allow_private_network=True)


METADATA_ADDRESSES = [
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "168.63.129.16",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
]


@pytest.mark.parametrize("address", METADATA_ADDRESSES)
def test_metadata_addresses_are_refused_even_on_private_networks(address: str) -> None:
    for allow_private_network in (False, True):
        with pytest.raises(UnsafeUrlError, match="cloud metadata service"):
            check_address_allowed(address, allow_private_network=allow_private_network)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    check_address_allowed(address, allow_private_network=False)


def test_refusal_message_says_how_to_allow_it() -> None:
    with pytest.raises(UnsafeUrlError, match="allow_private_network"):
        check_url_allowed("http://10.0.0.1/", allow_private_network=False)


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, **_: object) -> list[tuple]:
        assert host == "rebind.example"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrlError, match="127.0.0.1"):
        resolve_checked_addresses("rebind.example", 80, allow_private_network=False)
    assert resolve_checked_addresses("rebind.example", 80, allow_private_network=True) == [
        "93.184.216.34",
        "127.0.0.1",
    ]


def test_ip_literal_hosts_are_not_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*_: object, **__: object) -> None:
        raise AssertionError("an IP literal must not go to DNS")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert resolve_checked_addresses("0x5d.184.216.34", 80, allow_private_network=False) == ["93.184.216.34"]
    with pytest.raises(UnsafeUrlError):
        resolve_checked_addresses("0177.1", 80, allow_private_network=False)


def test_a_name_resolving_to_a_metadata_address_is_refused_even_on_private_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake_getaddrinfo(host: str, port: int, **_: object) -> list[tuple]:
        address = "169.254.169.254" if host == "sneaky.example" else "fd00:ec2::254"
        family = socket.AF_INET if "." in address else socket.AF_INET6
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    for host in ("sneaky.example", "sneaky6.example"):
        with pytest.raises(UnsafeUrlError, match=f"{host} resolves to .*cloud metadata service"):
            resolve_checked_addresses(host, 80, allow_private_network=True)
