"""HTTP(S) fetching for the web connector, with the SSRF guard applied to every hop.

Only the standard library is used, so that the address agentkit connects to is exactly the
one `connectors.web.url_safety` checked: each request resolves the host once, checks every
address, connects to a checked address itself, and sends the original host name in the
`Host` header and as the TLS server name. Redirects are followed here (at most
`MAX_REDIRECTS`, each hop checked again); no proxy from the environment is used. Responses are
capped at `max_bytes` (compressed and decompressed), and `timeout_s` bounds the connection
and every read, with a whole-response limit of `RESPONSE_TIME_FACTOR * timeout_s`: a watchdog
closes the socket when it passes, so a server that drips its headers or body a byte at a time
(slowloris) is cut off as surely as one that stops sending.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from connectors.web.url_safety import (
    UnsafeUrlError,
    check_url_allowed,
    parse_host_address,
    resolve_checked_addresses,
)
from connectors.web.urls import normalize_url

MAX_REDIRECTS = 10
RESPONSE_TIME_FACTOR = 6
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_READ_SIZE = 65536
_ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.1"


class FetchError(Exception):
    """One URL could not be fetched; `reason` says why in words a person can act on."""

    def __init__(self, url: str, reason: str, *, unsafe: bool = False) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.unsafe = unsafe


@dataclass
class FetchedResponse:
    """A final (non-redirect) response. `body` is decoded from gzip/deflate already."""

    url: str
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    body_skipped: bool = False
    redirects: list[str] = field(default_factory=list)

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for parameter in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to one already-checked address, whatever the host name says."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._pinned_address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._pinned_address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to one already-checked address, verified for the host name."""

    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._pinned_address = address
        self._tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._pinned_address, self.port), self.timeout)
        try:
            self.sock = self._tls_context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class PageFetcher:
    """Fetches URLs one at a time under the SSRF guard, a timeout and a size cap.

    `tls_context` replaces the default (system trust store, hostname checks) context.
    """

    def __init__(
        self,
        *,
        allow_private_network: bool,
        timeout_s: float,
        max_bytes: int,
        user_agent: str,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.allow_private_network = allow_private_network
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self._addresses: dict[tuple[str, int], list[str]] = {}
        self._tls_context = tls_context or ssl.create_default_context()

    def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        accept_media_type: Callable[[str], bool] | None = None,
    ) -> FetchedResponse:
        """GET `url`, following redirects; raise `FetchError` when no response comes back.

        `headers` (such as conditional ones) go with the first request only. When
        `accept_media_type` refuses a 200 response's media type, its body is not downloaded
        and the response comes back with `body_skipped` set.
        """
        current = url
        redirects: list[str] = []
        extra = dict(headers or {})
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                check_url_allowed(current, allow_private_network=self.allow_private_network)
            except UnsafeUrlError as error:
                raise FetchError(url, str(error), unsafe=True) from None
            response = self._request(current, extra, accept_media_type)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                response.redirects = redirects
                return response
            target = normalize_url(location, base=current)
            if target is None:
                raise FetchError(url, f"redirects to {location!r}, which is not an http(s) URL")
            redirects.append(target)
            current = target
            extra = {}
        raise FetchError(
            url,
            f"more than {MAX_REDIRECTS} redirects (a redirect loop?); last: {current}; link to the final page instead",
        )

    def _addresses_for(self, url: str, host: str, port: int) -> list[str]:
        key = (host, port)
        if key not in self._addresses:
            try:
                self._addresses[key] = resolve_checked_addresses(
                    host, port, allow_private_network=self.allow_private_network
                )
            except UnsafeUrlError as error:
                raise FetchError(url, str(error), unsafe=True) from None
            except (socket.gaierror, UnicodeError) as error:
                raise FetchError(
                    url, f"the host name {host} could not be resolved ({error}); check the URL"
                ) from None
        return self._addresses[key]

    def _connect(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        literal = parse_host_address(host)
        host_name = str(literal) if literal is not None else host
        errors: list[str] = []
        for address in self._addresses_for(url, host, port):
            connection: http.client.HTTPConnection
            if scheme == "https":
                connection = _PinnedHTTPSConnection(
                    host_name,
                    port,
                    address=address,
                    timeout=self.timeout_s,
                    context=self._tls_context,
                )
            else:
                connection = _PinnedHTTPConnection(host_name, port, address=address, timeout=self.timeout_s)
            try:
                connection.connect()
                return connection
            except ssl.SSLCertVerificationError as error:
                connection.close()
                raise FetchError(url, f"its TLS certificate was refused ({error.verify_message})") from None
            except TimeoutError:
                connection.close()
                errors.append(f"{address}: connection timed out after {self.timeout_s:g}s")
            except OSError as error:
                connection.close()
                errors.append(f"{address}: {error.strerror or error}")
        raise FetchError(url, "could not connect (" + "; ".join(errors) + ")")

    def _request(
        self,
        url: str,
        headers: Mapping[str, str],
        accept_media_type: Callable[[str], bool] | None,
    ) -> FetchedResponse:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_headers = {
            "User-Agent": self.user_agent,
            "Accept": _ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            "Connection": "close",
            **headers,
        }
        connection = self._connect(url)
        limit_s = RESPONSE_TIME_FACTOR * self.timeout_s
        watchdog = _Watchdog(connection, limit_s)
        try:
            connection.request("GET", target, headers=request_headers)
            response = connection.getresponse()
            fetched = self._read_response(url, response, accept_media_type)
            if watchdog.fired:  # the shutdown can look like a short, complete response
                raise FetchError(url, _too_slow(limit_s))
            return fetched
        except FetchError:
            if watchdog.fired:
                raise FetchError(url, _too_slow(limit_s)) from None
            raise
        except (http.client.HTTPException, OSError, ValueError) as error:
            if watchdog.fired:
                raise FetchError(url, _too_slow(limit_s)) from None
            if isinstance(error, TimeoutError):
                raise FetchError(
                    url,
                    f"timed out: no data from the server for {self.timeout_s:g}s (raise timeout_s to wait longer)",
                ) from None
            raise FetchError(url, f"the connection failed ({type(error).__name__}: {error})") from None
        finally:
            watchdog.cancel()
            connection.close()

    def _read_response(
        self,
        url: str,
        response: http.client.HTTPResponse,
        accept_media_type: Callable[[str], bool] | None,
    ) -> FetchedResponse:
        headers = {name.lower(): value for name, value in response.getheaders()}
        fetched = FetchedResponse(
            url=url, status=response.status, reason=response.reason, headers=headers, body=b""
        )
        if response.status in REDIRECT_STATUSES or response.status == 304:
            return fetched
        if response.status == 200 and accept_media_type is not None:
            if not accept_media_type(fetched.media_type):
                fetched.body_skipped = True
                return fetched
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(
                url,
                f"the response is {int(declared)} bytes, more than max_bytes={self.max_bytes}; raise max_bytes to read it",
            )
        deadline = time.monotonic() + RESPONSE_TIME_FACTOR * self.timeout_s
        received: list[bytes] = []
        size = 0
        while True:
            chunk = response.read1(_READ_SIZE)
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(
                    url,
                    f"the response is larger than max_bytes={self.max_bytes}; stopped reading (raise max_bytes to read it)",
                )
            received.append(chunk)
            if time.monotonic() > deadline:
                raise FetchError(url, _too_slow(RESPONSE_TIME_FACTOR * self.timeout_s))
        if declared.isdigit() and size < int(declared):
            raise FetchError(
                url,
                f"the server closed the connection after {size} of the {int(declared)} bytes its "
                "Content-Length announced; the page is incomplete (try again later)",
            )
        encoding = headers.get("content-encoding", "identity").strip().lower()
        fetched.body = self._decode_content(url, b"".join(received), encoding)
        return fetched

    def _decode_content(self, url: str, body: bytes, encoding: str) -> bytes:
        if encoding in ("", "identity"):
            return body
        if encoding in ("gzip", "x-gzip"):
            inflaters = [zlib.decompressobj(16 + zlib.MAX_WBITS)]
        elif encoding == "deflate":
            # "deflate" is zlib-wrapped by the standard, raw deflate by some servers.
            inflaters = [zlib.decompressobj(zlib.MAX_WBITS), zlib.decompressobj(-zlib.MAX_WBITS)]
        else:
            raise FetchError(url, f"the server used the unsupported content encoding {encoding!r}")
        for inflater in inflaters:
            try:
                output = inflater.decompress(body, self.max_bytes + 1)
            except zlib.error:
                continue
            if len(output) > self.max_bytes or inflater.unconsumed_tail:
                raise FetchError(
                    url,
                    f"the response decompresses to more than max_bytes={self.max_bytes}; raise max_bytes to read it",
                )
            return output
        raise FetchError(url, f"the {encoding} response body is corrupt")


def _too_slow(limit_s: float) -> str:
    return (
        f"the response took longer than {limit_s:g}s in all (a server sending too slowly); "
        "raise timeout_s to wait longer"
    )


class _Watchdog:
    """Shuts a connection's socket down once `limit_s` has passed, waking any blocked read."""

    def __init__(self, connection: http.client.HTTPConnection, limit_s: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(limit_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._connection.sock
        if sock is not None:
            try:
                # The plain socket's shutdown, also under TLS: it wakes a reader in another
                # thread without touching the TLS object that reader is using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()
