"""Canonical forms of web page URLs, so that one page is fetched and stored once.

`normalize_url` resolves a link against its page and returns the form agentkit fetches and
stores as a document uri: lowercase scheme and host (IDNA for non-ASCII names), no default
port, no credentials, no fragment, no tracking parameters (`utm_*`, `fbclid`, `gclid`, ...),
remaining query parameters in a stable order, `.`/`..` resolved, percent-escapes in one
form, an empty path as `/`, and `dir/index.html` written as `dir/`.
`page_key` additionally ignores a trailing slash, for recognising pages already seen.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_enc_id",
        "oly_anon_id",
        "vero_id",
        "spm",
    }
)
_INDEX_PAGES = ("index.html", "index.htm")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters left as they are in a path or query; everything else is percent-encoded.
_KEPT = _UNRESERVED | frozenset("!$&'()*+,;=:@/?%")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalize_escapes(component: str) -> str:
    """Uppercase escapes, decode escaped unreserved characters, encode what must be encoded."""

    def unescape_if_unreserved(match: re.Match[str]) -> str:
        character = chr(int(match.group(1), 16))
        return character if character in _UNRESERVED else "%" + match.group(1).upper()

    component = _ESCAPE.sub(unescape_if_unreserved, component)
    encoded: list[str] = []
    for index, character in enumerate(component):
        if character == "%" and not _ESCAPE.match(component, index):
            encoded.append("%25")
        elif character in _KEPT:
            encoded.append(character)
        else:
            encoded.extend(f"%{byte:02X}" for byte in character.encode("utf-8"))
    return "".join(encoded)


def remove_dot_segments(path: str) -> str:
    """Resolve `.` and `..` segments of an absolute path (RFC 3986, section 5.2.4)."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    return result if result.startswith("/") else "/" + result


def _is_tracking_parameter(name: str) -> bool:
    lowered = unquote(name).lower()
    return lowered.startswith("utm_") or lowered in _TRACKING_PARAMETERS


def _normalize_query(query: str) -> str:
    pairs = [pair for pair in query.split("&") if pair]
    kept = [pair for pair in pairs if not _is_tracking_parameter(pair.split("=", 1)[0])]
    kept.sort(key=lambda pair: pair.split("=", 1)[0])  # stable: repeated names keep order
    return "&".join(_normalize_escapes(pair) for pair in kept)


def _ascii_host(host: str) -> str | None:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def normalize_url(url: str, *, base: str | None = None) -> str | None:
    """The canonical absolute form of `url` (resolved against `base`), or None.

    None means it is no http(s) page link: another scheme (`mailto:`, `javascript:`), a
    fragment-only or malformed link, or a URL without a host.
    """
    link = url.strip()
    try:
        absolute = urljoin(base, link) if base is not None else link
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = _ascii_host(parts.hostname.lower().rstrip("."))
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = remove_dot_segments(_normalize_escapes(parts.path or "/"))
    head, _, last = path.rpartition("/")
    if last.lower() in _INDEX_PAGES:
        path = head + "/"
    return urlunsplit((scheme, netloc, path, _normalize_query(parts.query), ""))


def page_key(url: str) -> str:
    """An identity for deduplication: the normalized URL without a trailing path slash."""
    normalized = normalize_url(url) or url
    parts = urlsplit(normalized)
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def origin_of(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an absolute URL, for same-site checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)
