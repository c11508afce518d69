"""Benchmark: time and peak memory of the web connector on each hostile web input.

Each attack of `tests/hostile_site.py` is served on 127.0.0.1 (a 50 MB page, 100,000 nested
elements, a 10 MB page of 1.24 million elements, 10 million entities, a billion-laughs sitemap,
a looping and an endless sitemap index, a redirect loop, slowloris drips of body and headers at one byte per second, lying
Content-Lengths, gzip bombs in a page and in sitemap.xml.gz). For each, a fresh process crawls a
start page that links to the attack only (sitemap attacks: the start page with the attack as
the site's sitemap), with `timeout_s` (default 2 s, so the whole-response limit is 12 s) and the
default `max_bytes` of 10 MB. The table gives what the crawl reported, its time, and the
process's peak resident memory (and its growth over the process before the crawl).

    python benchmarks/hostile_inputs_web.py                 # all cases, table rows on stdout
    python benchmarks/hostile_inputs_web.py --timeout-s 10  # the connector's default timeout
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

# (label, path linked from the start page, or the sitemap served as /sitemap.xml)
PAGE_CASES = [
    ("50 MB page, streamed without Content-Length", "/huge.html"),
    ("50 MB page, Content-Length declared", "/huge-declared.html"),
    ("100,000 nested elements", "/nested.html"),
    ("10 MB page of 1,240,000 elements (43 s and 1.4 GB before the cap)", "/many-elements.html"),
    ("10 million entities (50 MB)", "/entities.html"),
    ("10 million entities, deflated (50 KB on the wire)", "/entities-gzip.html"),
    ("redirect loop", "/loop/0"),
    ("slowloris: body at 1 byte/s", "/slow-body.html"),
    ("slowloris: headers at 1 byte/s", "/slow-headers.html"),
    ("Content-Length 10,000, 16 bytes sent, then close", "/short-body.html"),
    ("Content-Length 10,000, 18 bytes sent, then silence", "/short-body-hang.html"),
    ("Content-Length of 1 TB", "/huge-length.html"),
    ("gzip bomb page (1 GB of zeros, 1 MB compressed)", "/gzip-bomb.html"),
]
SITEMAP_CASES = [
    ("sitemap with entity expansion (billion laughs)", "/maps/laughs.xml"),
    ("sitemap.xml.gz bomb (1 GB of zeros)", "/maps/bomb.xml.gz"),
    ("sitemap index that lists itself and is listed back", "/sitemap.xml"),
    ("sitemap index that never ends", "/maps/endless-0.xml"),
]


def child(start_url: str, timeout_s: float) -> None:
    """Crawl `start_url` (depth 1) and print what happened as one JSON line."""
    from connectors.base import Document, SkippedItem
    from connectors.web.connector import WebConnector

    base_mb = _peak_mb()
    started = time.perf_counter()
    connector = WebConnector(start_url, crawl=True, depth=1, allow_private_network=True, timeout_s=timeout_s)
    items = list(connector.fetch({}))
    seconds = time.perf_counter() - started
    peak_mb = _peak_mb()
    skipped = [item.reason for item in items if isinstance(item, SkippedItem)]
    documents = [item.uri for item in items if isinstance(item, Document) and item.uri != start_url]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_mb,
                "base_mb": base_mb,
                "skipped": skipped,
                "documents": documents,
            }
        )
    )


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, it restarts at exec, so
    the parent's size does not count)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(timeout_s: float) -> None:
    from tests.hostile_site import hostile_site, sitemap_index
    from tests.web_test_site import SiteServer, serving, static

    print("| input | bound | what happened | time s | peak MB (growth) |")
    print("|---|---|---|---|---|")
    for label, path, is_sitemap in [(*case, False) for case in PAGE_CASES] + [
        (*case, True) for case in SITEMAP_CASES
    ]:
        server = SiteServer()
        hostile_site(server, drip_interval_s=1.0)
        if is_sitemap:
            server.routes["/"] = static("<title>Start</title><p>The start page.</p>")
            if path == "/sitemap.xml":
                server.routes["/sitemap.xml"] = static(
                    sitemap_index(f"{server.url}/sitemap.xml", f"{server.url}/maps/back.xml"),
                    content_type="application/xml",
                )
                server.routes["/maps/back.xml"] = static(
                    sitemap_index(f"{server.url}/sitemap.xml"), content_type="application/xml"
                )
            elif path.startswith("/maps/endless-"):
                server.routes["/sitemap.xml"] = static(
                    sitemap_index(f"{server.url}{path}"), content_type="application/xml"
                )
            else:
                server.routes["/sitemap.xml"] = server.routes[path]
        else:
            server.routes["/"] = static(f'<title>Start</title><p>The start page.</p><a href="{path}">x</a>')
            del server.routes["/sitemap.xml"]
        with serving(server):
            output = subprocess.run(
                [sys.executable, __file__, "child", server.url + "/", str(timeout_s)],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            )
        result = json.loads(output.stdout.strip().splitlines()[-1])
        outcome = "; ".join(
            _short(reason, server.url) for reason in result["skipped"]
        ) or "ingested: " + ", ".join(_short(uri, server.url) for uri in result["documents"])
        bound = (
            f"{6 * timeout_s:g} s per response, 10 MB" if not is_sitemap else "20 sitemap files, 10 MB each"
        )
        growth = result["peak_mb"] - result["base_mb"]
        print(
            f"| {label} | {bound} | {outcome} | {result['seconds']:.1f} | {result['peak_mb']:.0f} (+{growth:.0f}) |"
        )


def _short(text: str, base: str) -> str:
    text = text.replace(base, "")
    return text if len(text) <= 150 else text[:147] + "..."


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "child":
        child(argv[1], float(argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timeout-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    measure(args.timeout_s)


if __name__ == "__main__":
    main()
