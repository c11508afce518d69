"""The SSRF guard: which URLs and network addresses the web connector may connect to.

A URL typed by a user, or found in a crawled page or a redirect, must not make agentkit reach
into the machine it runs on or its private network (loopback, RFC 1918, link-local, cloud
metadata services, ...). Hosts are read the way a browser or `inet_aton` reads them, so that
`http://2130706433/`, `http://0177.1/` or `http://[::ffff:127.0.0.1]/` are seen as loopback,
and every address a host name resolves to is checked before any connection is made; the
fetcher then connects to exactly the checked address (see `connectors.web.fetch`).

`allow_private_network=True` lifts the address rules (for intranet sites and tests); the
scheme must still be http or https, URLs may still not carry credentials, and cloud metadata
services (169.254.169.254, fd00:ec2::254, 100.100.100.200, metadata.google.internal, ... in
every form, and names that resolve to them) stay refused: no intranet site lives there, and
a page that redirects to one is the classic SSRF attack on a cloud machine.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import unquote, urlsplit

from connectors.base import ConnectorError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrlError(ConnectorError):
    """A URL or address that agentkit refuses to fetch; the message says why."""


ALLOWED_SCHEMES = ("http", "https")

# Instance metadata and host-agent endpoints of cloud providers: refused always.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, Hetzner, ...
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS pod identity
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (host agent)
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
    )
)
_METADATA_HOSTNAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
    }
)
_ALLOW_FLAG = "--allow-private-network (option allow_private_network=true)"
_NEVER_FETCHED = "agentkit never fetches from it, even with allow_private_network=true"
_LOOPBACK_HOSTNAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localhost6"}
)
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_DOT_VARIANTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_UNSAFE_URL_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")
_HEX_PART = re.compile(r"0[xX][0-9a-fA-F]*")
_DECIMAL_PART = re.compile(r"[0-9]+")


def parse_host_address(host: str) -> IPAddress | None:
    """The address a host denotes when it is an IP literal in any browser-accepted form.

    Accepts decimal (`2130706433`), octal (`0177.0.0.1`), hex (`0x7f.1`), short (`127.1`),
    percent-encoded or full-width digits, a trailing dot, and bracketed or bare IPv6 (zone ids
    dropped). Returns None for a host name. Raises `UnsafeUrlError` for a host that looks
    like a number but is no valid address (a browser refuses it too).
    """
    text = unicodedata.normalize("NFKC", unquote(host)).translate(_DOT_VARIANTS).lower()
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            raise UnsafeUrlError(f"{host!r} is not a valid IPv6 address") from None
        return address
    parts = text.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not parts or not _looks_numeric(parts[-1]):
        return None
    numbers = [_ipv4_part(part) for part in parts]
    if len(numbers) > 4 or any(number is None for number in numbers):
        raise UnsafeUrlError(f"{host!r} looks like an IP address but is not a valid one")
    values = [number for number in numbers if number is not None]
    if any(value > 255 for value in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise UnsafeUrlError(f"{host!r} looks like an IP address but is out of range")
    packed = values[-1]
    for index, value in enumerate(values[:-1]):
        packed += value << (8 * (3 - index))
    return ipaddress.IPv4Address(packed)


def _looks_numeric(part: str) -> bool:
    return bool(_DECIMAL_PART.fullmatch(part) or _HEX_PART.fullmatch(part))


def _ipv4_part(part: str) -> int | None:
    if _HEX_PART.fullmatch(part):
        return int(part[2:] or "0", 16)
    if not _DECIMAL_PART.fullmatch(part):
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(digit in "01234567" for digit in part) else None
    return int(part)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv6 one (mapped, compatible, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _SIXTOFOUR:
        return address.sixtofour
    low_bits = int(address) & 0xFFFFFFFF
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        return ipaddress.IPv4Address(low_bits)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(low_bits)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why an address is not public (so it is refused by default), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal_reason(embedded)
            return f"{reason} (embedded in the IPv6 address {address})" if reason else None
        if address.teredo is not None:
            return "a Teredo tunnel address"
        if address.is_site_local:
            return "a site-local address"
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata service address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "a carrier-grade NAT (shared) address"
    if address.is_private:
        return "a private-network address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


def metadata_service_address(address: IPAddress) -> IPAddress | None:
    """The cloud metadata address `address` is, directly or embedded in an IPv6 form."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        if address in _METADATA_ADDRESSES:
            return address
        embedded = _embedded_ipv4(address)
        return embedded if embedded is not None and embedded in _METADATA_ADDRESSES else None
    return address if address in _METADATA_ADDRESSES else None


def is_metadata_host_name(host: str) -> bool:
    """Whether a host name (not an IP literal) names a cloud metadata service."""
    name = unicodedata.normalize("NFKC", unquote(host)).translate(_DOT_VARIANTS).lower()
    return name.rstrip(".") in _METADATA_HOSTNAMES


def _check_not_metadata(address: IPAddress, *, shown_as: str) -> None:
    metadata = metadata_service_address(address)
    if metadata is not None:
        written = "" if str(metadata) == shown_as else f" ({metadata})"
        raise UnsafeUrlError(
            f"{shown_as}{written} is a cloud metadata service address; {_NEVER_FETCHED}"
        )


def check_address_allowed(ip: str, *, allow_private_network: bool) -> None:
    """Refuse a connection to `ip` unless it is public (or private networks are allowed).

    Cloud metadata addresses are refused whatever `allow_private_network` says.
    """
    try:
        address = parse_host_address(ip)
    except UnsafeUrlError:
        address = None
    if address is None:
        raise UnsafeUrlError(f"{ip!r} is not an IP address")
    _check_not_metadata(address, shown_as=ip)
    if allow_private_network:
        return
    reason = refusal_reason(address)
    if reason is not None:
        raise UnsafeUrlError(
            f"{ip} is {reason}; agentkit does not fetch from it unless the source is added "
            f"with {_ALLOW_FLAG}"
        )


def check_url_allowed(url: str, *, allow_private_network: bool) -> None:
    """Refuse a URL that may not be fetched, without any network access.

    Checks the scheme (http/https), credentials, the port, IP-literal hosts in every form,
    and names that always mean this machine or a metadata service (`localhost`,
    `metadata.google.internal`). Host names are checked again after DNS resolution by
    `resolve_checked_addresses`. Metadata services are refused even with
    `allow_private_network`.
    """
    if _UNSAFE_URL_CHARACTERS.search(url):
        raise UnsafeUrlError(f"{url!r}: URLs with spaces, control characters or backslashes are refused")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrlError(f"{url}: not a valid URL ({error})") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UnsafeUrlError(f"{url}: only http:// and https:// URLs can be fetched")
    if "@" in parts.netloc:
        raise UnsafeUrlError(f"{url}: URLs with a user name or password are refused; remove the credentials")
    host = parts.hostname
    if not host:
        raise UnsafeUrlError(f"{url}: the URL has no host name")
    if port == 0:
        raise UnsafeUrlError(f"{url}: port 0 is not a valid port")
    try:
        address = parse_host_address(host)
    except UnsafeUrlError as error:
        raise UnsafeUrlError(f"{url}: {error}") from None
    if address is not None:
        try:
            _check_not_metadata(address, shown_as=host)
            if not allow_private_network:
                check_address_allowed(str(address), allow_private_network=False)
        except UnsafeUrlError as error:
            raise UnsafeUrlError(f"{url}: {error}") from None
        return
    if is_metadata_host_name(host):
        raise UnsafeUrlError(f"{url}: {host} is a cloud metadata service; {_NEVER_FETCHED}")
    if allow_private_network:
        return
    name = unicodedata.normalize("NFKC", unquote(host)).translate(_DOT_VARIANTS).lower()
    name = name.rstrip(".")
    if name in _LOOPBACK_HOSTNAMES or name.endswith(".localhost"):
        raise UnsafeUrlError(
            f"{url}: {host} is this machine; agentkit does not fetch from it unless the "
            f"source is added with {_ALLOW_FLAG}"
        )


def resolve_checked_addresses(host: str, port: int, *, allow_private_network: bool) -> list[str]:
    """Every address `host` resolves to, after checking each; the fetcher connects to these.

    Raises `UnsafeUrlError` when any address is refused (a name that resolves to both a
    public and a private address is refused; one resolving to a cloud metadata address is
    refused even with `allow_private_network`), and `socket.gaierror` when resolution fails.
    """
    literal = parse_host_address(host)
    if literal is not None:
        check_address_allowed(str(literal), allow_private_network=allow_private_network)
        return [str(literal)]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(f"{host} resolved to no address")
    for address in addresses:
        metadata = metadata_service_address(ipaddress.ip_address(address))
        if metadata is not None:
            raise UnsafeUrlError(
                f"{host} resolves to {address}, a cloud metadata service address; {_NEVER_FETCHED}"
            )
    if not allow_private_network:
        for address in addresses:
            reason = refusal_reason(ipaddress.ip_address(address))
            if reason is not None:
                raise UnsafeUrlError(
                    f"{host} resolves to {address}, {reason}; agentkit does not fetch from it "
                    f"unless the source is added with {_ALLOW_FLAG}"
                )
    return addresses
