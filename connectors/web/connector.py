"""The web connector: one page, or a polite breadth-first crawl of one site.

`WebConnector` fetches its start URL (and, with `crawl`, the pages it links to on the same
scheme, host and port, seeded from the site's sitemaps) and yields a `Document` per readable
page: HTML through `connectors.readers.html`, PDF through `connectors.readers.pdf`, Markdown
through `connectors.readers.markdown` (its headings become the blocks' heading paths), plain
text as paragraphs. Broken links, timeouts and unsupported content types become
`SkippedItem`s; only a start URL that cannot be fetched at all fails the source.

Re-syncs are conditional: a stored page's `etag`/`last_modified` go out as `If-None-Match`/
`If-Modified-Since`, and a `304` yields `UnchangedItem`. A crawled page stores its same-site
outgoing links as a JSON list in the `links` metadata entry, so the crawl continues through
unchanged pages without downloading them; a stored page without `links` is fetched in full.
A page that answers 404/410 and was stored before is not yielded at all, so that the ingest
removes it as vanished.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from connectors.base import (
    Connector,
    ConnectorError,
    Document,
    FetchedItem,
    MetadataValue,
    PreviousFetch,
    SkippedItem,
    UnchangedItem,
    UnreadableItemError,
    url_scheme,
)
from connectors.options import ConnectorOption
from connectors.web.fetch import FetchedResponse, FetchError, PageFetcher
from connectors.web.page import is_readable_type, read_page_content
from connectors.web.sitemap import UnreadableSitemapError, parse_sitemap
from connectors.web.url_safety import check_url_allowed
from connectors.web.urls import normalize_url, origin_of, page_key

if TYPE_CHECKING:
    from protego import Protego

DEFAULT_USER_AGENT = "agentkit/0.1 (+local retrieval chatbot builder)"
MAX_SITEMAP_FILES = 20
MAX_CRAWL_DELAY_S = 2.0


@dataclass(frozen=True)
class CrawlScope:
    """Which URLs a crawl may visit: one origin, an optional path prefix, path globs."""

    origin: tuple[str, str, int]
    path_prefix: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def contains(self, url: str) -> bool:
        if origin_of(url) != self.origin:
            return False
        path = urlsplit(url).path or "/"
        if self.path_prefix and not path.startswith(self.path_prefix):
            return False
        if self.include and not any(fnmatch.fnmatchcase(path, glob) for glob in self.include):
            return False
        return not any(fnmatch.fnmatchcase(path, glob) for glob in self.exclude)


@dataclass
class _PageOutcome:
    """What fetching one page gave: an item to yield (or none), its links, and a failure."""

    item: FetchedItem | None
    links: list[str] = field(default_factory=list)
    failure: str | None = None
    final_url: str | None = None


class WebConnector(Connector):
    """Reads a web page, or with `crawl=True` the pages of its site reachable from it.

    A crawl stays on the start page's scheme, host and port (after its redirects), under
    `path_prefix` when given, on paths matching an `include` glob (if any) and no `exclude`
    glob (`fnmatch` on the URL path; `*` crosses `/`). `depth` counts links from the start
    page or from a page listed in a sitemap; `max_pages` caps the pages requested. robots.txt
    is honoured when crawling (a single page the user named is fetched as asked).
    """

    kind = "web"
    options = (
        ConnectorOption("crawl", bool, "follow links to other pages of the same site", False),
        ConnectorOption("depth", int, "how many links away from the start page a crawl goes", 2),
        ConnectorOption("max_pages", int, "the most pages a crawl requests", 200),
        ConnectorOption("include", list, "URL path globs a crawl takes, such as /docs/* (all when none)", ()),
        ConnectorOption("exclude", list, "URL path globs a crawl leaves out, such as /blog/*", ()),
        ConnectorOption("path_prefix", str, "crawl only URLs whose path starts with this, such as /docs/"),
        ConnectorOption(
            "allow_private_network", bool, "allow intranet, loopback and link-local addresses", False
        ),
        ConnectorOption("use_sitemap", bool, "seed a crawl with the pages the site's sitemaps list", True),
        ConnectorOption("timeout_s", float, "seconds to wait for a server before giving up on a page", 10.0),
        ConnectorOption("max_bytes", int, "the largest response read, in bytes", 10_000_000),
        ConnectorOption(
            "user_agent", str, "the User-Agent header sent (and matched in robots.txt)", DEFAULT_USER_AGENT
        ),
    )

    def __init__(
        self,
        start_url: str,
        *,
        crawl: bool = False,
        depth: int = 2,
        max_pages: int = 200,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        path_prefix: str | None = None,
        allow_private_network: bool = False,
        use_sitemap: bool = True,
        timeout_s: float = 10.0,
        max_bytes: int = 10_000_000,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        check_url_allowed(start_url.strip(), allow_private_network=allow_private_network)
        normalized = normalize_url(start_url)
        if normalized is None:
            raise ConnectorError(f"{start_url}: not an http(s) URL with a host name")
        if depth < 0:
            raise ConnectorError(f"{start_url}: depth must be 0 or more, not {depth}")
        if max_pages < 1:
            raise ConnectorError(f"{start_url}: max_pages must be at least 1, not {max_pages}")
        if timeout_s <= 0:
            raise ConnectorError(f"{start_url}: timeout_s must be positive, not {timeout_s}")
        if max_bytes < 1:
            raise ConnectorError(f"{start_url}: max_bytes must be positive, not {max_bytes}")
        if path_prefix is not None and not path_prefix.startswith("/"):
            raise ConnectorError(
                f"{start_url}: path_prefix must start with '/', such as '/docs/'; got {path_prefix!r}"
            )
        if not user_agent.strip() or not user_agent.isascii() or not user_agent.isprintable():
            raise ConnectorError(f"{start_url}: user_agent must be a non-empty line of ASCII text")
        for name, globs in (("include", include), ("exclude", exclude)):
            if isinstance(globs, str) or not all(isinstance(glob, str) for glob in globs):
                raise ConnectorError(
                    f"{start_url}: {name} must be a list of glob strings such as ['/docs/*']"
                )
        self.start_url = normalized
        self.crawl = crawl
        self.depth = depth
        self.max_pages = max_pages
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.path_prefix = path_prefix
        self.allow_private_network = allow_private_network
        self.use_sitemap = use_sitemap
        self.timeout_s = float(timeout_s)
        self.max_bytes = max_bytes
        self.user_agent = user_agent

    @classmethod
    def recognizes(cls, location: str, options: Mapping[str, object]) -> int:
        """10 for an http(s) URL."""
        del options
        return 10 if url_scheme(location.strip()) in ("http", "https") else 0

    @classmethod
    def from_options(cls, location: str, options: Mapping[str, object]) -> WebConnector:
        """Build from stored options (JSON values); unknown names or bad values are errors."""
        values: dict[str, Any] = {option.name: option.default for option in cls.options}
        values.update(cls.check_options(location, options))
        return cls(location, **values)

    # -- fetching ----------------------------------------------------------------------

    def fetch(self, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        fetcher = PageFetcher(
            allow_private_network=self.allow_private_network,
            timeout_s=self.timeout_s,
            max_bytes=self.max_bytes,
            user_agent=self.user_agent,
        )
        if not self.crawl:
            outcome = self._fetch_page(fetcher, self.start_url, previous, referrer=None)
            if outcome.failure is not None:
                raise ConnectorError(self._start_failure(outcome.failure))
            if outcome.item is not None:
                yield outcome.item
            return
        yield from self._crawl(fetcher, previous)

    def _start_failure(self, reason: str) -> str:
        return (
            f"{self.start_url}: the start page could not be fetched: {reason}. Check the URL and "
            "that the site is reachable from this machine; nothing stored for this source was changed"
        )

    def _crawl(self, fetcher: PageFetcher, previous: Mapping[str, PreviousFetch]) -> Iterator[FetchedItem]:
        robots = self._robots(fetcher, self.start_url)
        if robots is not None and not robots.can_fetch(self.start_url, self.user_agent):
            raise ConnectorError(
                f"{self.start_url}: the site's robots.txt does not allow agentkit to crawl it; "
                "crawl a page it allows, or add this page without crawl"
            )
        start = self._fetch_page(fetcher, self.start_url, previous, referrer=None)
        if start.failure is not None:
            raise ConnectorError(self._start_failure(start.failure))
        start_url = start.final_url or self.start_url
        scope = CrawlScope(origin_of(start_url), self.path_prefix, self.include, self.exclude)
        if origin_of(start_url) != origin_of(self.start_url):
            robots = self._robots(fetcher, start_url)
        if start.item is not None:
            yield start.item
        seen = {page_key(self.start_url), page_key(start_url)}
        queue: deque[tuple[str, int, str | None]] = deque()
        if self.use_sitemap:
            sitemap_pages, sitemap_problems = self._sitemap_urls(fetcher, start_url, robots)
            yield from sitemap_problems
            for url in sitemap_pages:
                if scope.contains(url) and page_key(url) not in seen:
                    seen.add(page_key(url))
                    queue.append((url, 0, None))
        self._enqueue_links(queue, seen, scope, start.links, level=1, referrer=start_url)
        delay = min(robots.crawl_delay(self.user_agent) or 0.0, MAX_CRAWL_DELAY_S) if robots else 0.0
        fetched = 1
        while queue:
            if fetched >= self.max_pages:
                yield SkippedItem(
                    queue[0][0],
                    f"{queue[0][0]}: the crawl stopped at max_pages={self.max_pages} with "
                    f"{len(queue)} more pages found but not fetched; raise max_pages to include them",
                )
                return
            url, level, referrer = queue.popleft()
            if robots is not None and not robots.can_fetch(url, self.user_agent):
                yield SkippedItem(url, f"{url}: robots.txt does not allow agentkit to fetch it")
                continue
            if delay:
                time.sleep(float(delay))
            fetched += 1
            outcome = self._fetch_page(fetcher, url, previous, referrer=referrer, scope=scope, seen=seen)
            if outcome.item is not None:
                yield outcome.item
            self._enqueue_links(
                queue,
                seen,
                scope,
                outcome.links,
                level=level + 1,
                referrer=outcome.final_url or url,
            )

    def _enqueue_links(
        self,
        queue: deque[tuple[str, int, str | None]],
        seen: set[str],
        scope: CrawlScope,
        links: list[str],
        *,
        level: int,
        referrer: str,
    ) -> None:
        if level > self.depth:
            return
        for link in links:
            key = page_key(link)
            if key not in seen and scope.contains(link):
                seen.add(key)
                queue.append((link, level, referrer))

    def _robots(self, fetcher: PageFetcher, page_url: str) -> Protego | None:
        """The site's robots.txt rules, or None when it has none (everything is allowed).

        Protego reads them the way Google documents: the longest matching rule wins, `Allow`
        over `Disallow` on a tie, and `*` and a final `$` are wildcards (the standard
        library's parser ignores both, so `Disallow: /*.pdf$` would block nothing).
        """
        from protego import Protego

        robots_url = urljoin(page_url, "/robots.txt")
        try:
            response = fetcher.fetch(robots_url)
        except FetchError as error:
            raise ConnectorError(self._start_failure(f"{robots_url} failed: {error.reason}")) from None
        if 500 <= response.status < 600:
            raise ConnectorError(
                f"{robots_url}: the server answered {response.status} {response.reason}, so "
                "its crawling rules are unknown; try again later"
            )
        if response.status != 200:
            return None
        return Protego.parse(response.body.decode("utf-8", errors="replace"))

    def _sitemap_urls(
        self, fetcher: PageFetcher, start_url: str, robots: Protego | None
    ) -> tuple[list[str], list[SkippedItem]]:
        """Page URLs listed by the site's sitemaps (robots.txt `Sitemap:` lines, /sitemap.xml).

        A sitemap that cannot be fetched or read (too slow, too large, a compression bomb, a
        DTD, broken XML) and the sitemaps past `MAX_SITEMAP_FILES` (an index that keeps
        pointing to new ones) come back as skipped items; a missing sitemap is not a problem.
        """
        origin = origin_of(start_url)
        pending = [urljoin(start_url, "/sitemap.xml")]
        if robots is not None:
            pending = list(robots.sitemaps) + pending
        # robots.txt may list /sitemap.xml too; one read, and no false loop report.
        pending = list(dict.fromkeys(normalize_url(url) or url for url in pending))
        visited: set[str] = set()
        pages: list[str] = []
        problems: list[SkippedItem] = []
        looped: set[str] = set()
        while pending:
            sitemap_url = normalize_url(pending.pop(0))
            if sitemap_url is None or origin_of(sitemap_url) != origin:
                continue
            if sitemap_url in visited:
                if sitemap_url not in looped:
                    looped.add(sitemap_url)
                    reason = f"{sitemap_url}: a sitemap index lists it again (a loop); read once"
                    problems.append(SkippedItem(sitemap_url, reason))
                continue
            if len(visited) >= MAX_SITEMAP_FILES:
                problems.append(
                    SkippedItem(
                        sitemap_url,
                        f"{sitemap_url}: not read; the crawl reads at most {MAX_SITEMAP_FILES} sitemap "
                        "files (a sitemap index that loops or never ends?); its pages are found by links only",
                    )
                )
                break
            visited.add(sitemap_url)
            try:
                response = fetcher.fetch(sitemap_url)
                if response.status != 200:
                    continue  # a missing sitemap only means no seeds from it
                contents = parse_sitemap(response.body, name=sitemap_url, max_bytes=self.max_bytes)
            except FetchError as error:
                problems.append(SkippedItem(sitemap_url, f"{sitemap_url}: sitemap not read: {error.reason}"))
                continue
            except UnreadableSitemapError as error:
                problems.append(SkippedItem(sitemap_url, f"sitemap not read: {error}"))
                continue
            pending.extend(contents.sitemap_urls)
            for location in contents.page_urls:
                normalized = normalize_url(location)
                if normalized is not None:
                    pages.append(normalized)
        return pages, problems

    # -- one page ----------------------------------------------------------------------

    def _fetch_page(
        self,
        fetcher: PageFetcher,
        url: str,
        previous: Mapping[str, PreviousFetch],
        *,
        referrer: str | None,
        scope: CrawlScope | None = None,
        seen: set[str] | None = None,
    ) -> _PageOutcome:
        prior = previous.get(url)
        headers: dict[str, str] = {}
        if prior is not None and (not self.crawl or "links" in prior.metadata):
            etag = prior.metadata.get("etag")
            last_modified = prior.metadata.get("last_modified")
            if isinstance(etag, str) and etag:
                headers["If-None-Match"] = etag
            if isinstance(last_modified, str) and last_modified:
                headers["If-Modified-Since"] = last_modified
        found_on = f" (linked from {referrer})" if referrer else ""
        try:
            response = fetcher.fetch(url, headers=headers, accept_media_type=is_readable_type)
        except FetchError as error:
            return _PageOutcome(SkippedItem(url, f"{url}{found_on}: {error.reason}"), failure=error.reason)
        final_url = normalize_url(response.url) or url
        if final_url != url and scope is not None and seen is not None:
            if not scope.contains(final_url):
                return _PageOutcome(
                    SkippedItem(url, f"{url}{found_on}: redirects to {final_url}, outside the crawled site")
                )
            if page_key(final_url) in seen:
                return _PageOutcome(None)  # the page it redirects to is already crawled
            seen.add(page_key(final_url))
        if response.status == 304 and prior is not None:
            return _PageOutcome(UnchangedItem(url), links=_stored_links(prior), final_url=final_url)
        if response.status not in (200, 203):
            if response.status in (404, 410) and final_url in previous:
                return _PageOutcome(None, failure=f"HTTP {response.status}", final_url=final_url)
            reason = f"the server answered HTTP {response.status} {response.reason}".rstrip()
            if response.status in (404, 410) and referrer:
                reason += "; the link is broken"
            return _PageOutcome(SkippedItem(final_url, f"{final_url}{found_on}: {reason}"), failure=reason)
        if response.body_skipped:
            media_type = response.media_type
            textual = media_type.startswith("text/") or media_type.endswith(("xml", "json"))
            kind = "unsupported" if textual else "binary"
            reason = f"{kind} content type {media_type}; skipped (only HTML, PDF, Markdown and plain text are read)"
            return _PageOutcome(SkippedItem(final_url, f"{final_url}: {reason}"), final_url=final_url)
        return self._read_page(final_url, response)

    def _read_page(self, url: str, response: FetchedResponse) -> _PageOutcome:
        try:
            content = read_page_content(url, response)
        except UnreadableItemError as error:
            return _PageOutcome(SkippedItem(url, str(error)), final_url=url)
        if not content.blocks:
            return _PageOutcome(
                SkippedItem(url, f"{url}: the page has no readable text"), links=content.links, final_url=url
            )
        metadata: dict[str, MetadataValue] = {
            "url": url,
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "content_type": response.media_type or None,
            "status": response.status,
        }
        if self.crawl:
            metadata["links"] = json.dumps(content.links)
        document = Document(uri=url, title=content.title, blocks=content.blocks, metadata=metadata)
        return _PageOutcome(document, links=content.links, final_url=url)


def _stored_links(prior: PreviousFetch) -> list[str]:
    stored = prior.metadata.get("links")
    if not isinstance(stored, str):
        return []
    try:
        links = json.loads(stored)
    except ValueError:
        return []
    return [link for link in links if isinstance(link, str)] if isinstance(links, list) else []
