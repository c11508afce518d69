"""Tests for the HTML reader: main content, dropped boilerplate, headings, anchors, links."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.readers import html as html_reader
from connectors.readers.html import HtmlPage, decode_html, read_html

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DOC_SITE = SHARED_DATA / "html_sites" / "python-markdown-doc_3.4.1-2+deb12u1" / "docs"

PAGE = """<!DOCTYPE html>
<html><head>
  <title>  Widget
     Guide  </title>
  <link rel="stylesheet" href="/style.css">
  <link rel="next" href="/next.html">
  <script>var secret = "script text";</script>
  <style>body { color: red }</style>
</head><body>
  <header class="site-header"><a href="/">Home</a> Site banner text</header>
  <nav><a href="/docs/">Docs</a> Navigation text</nav>
  <div class="cookie-banner">We use cookies</div>
  <main>
    <h1 id="intro">Widget Guide<a class="headerlink" href="#intro">¶</a></h1>
    <p>Widgets   are
       <b>small</b> things.<!-- a comment --></p>
    <div hidden>Hidden text</div>
    <div style="display: none">Invisible text</div>
    <span aria-hidden="true">Decoration</span>
    <h2 id="setup">Setup</h2>
    <ul><li>First step</li><li>Second step<ul><li>Nested step</li></ul></li></ul>
    <pre>
def main():
    return 1
</pre>
    <h3>Details</h3>
    <table><caption>Sizes</caption>
      <tr><th>Name</th><th>Size</th></tr>
      <tr><td>Small</td><td>1 cm</td></tr>
    </table>
    <dl><dt>Bolt</dt><dd>A fastener.</dd></dl>
    <aside>Aside text</aside>
    <form><input value="form text"><a href="/search">Search</a></form>
    <a name="usage"></a>
    <h2>Usage</h2>
    Loose text<br>on two lines
    <div class="sidebar">Sidebar text</div>
    <template><a href="/template-link">Template</a></template>
  </main>
  <footer>Footer text <a href="mailto:x@example.com">mail</a></footer>
</body></html>
"""


@pytest.fixture(autouse=True, params=["lxml", "html.parser"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every test with both parsers the reader may use."""
    if request.param == "lxml":
        pytest.importorskip("lxml")
    monkeypatch.setattr(html_reader, "_parser_name", lambda: request.param)
    return str(request.param)


@pytest.fixture
def page() -> HtmlPage:
    return read_html(PAGE, name="widgets.html")


def all_text(page: HtmlPage) -> str:
    return "\n".join(block.text for block in page.blocks)


def test_title_is_whitespace_collapsed(page: HtmlPage) -> None:
    assert page.title == "Widget Guide"


def test_boilerplate_and_hidden_content_are_dropped(page: HtmlPage) -> None:
    text = all_text(page)
    for dropped in (
        "script text",
        "color: red",
        "Site banner",
        "Navigation text",
        "cookies",
        "Hidden text",
        "Invisible text",
        "Decoration",
        "Aside text",
        "form text",
        "Sidebar text",
        "Footer text",
        "Template",
        "a comment",
        "¶",
    ):
        assert dropped not in text, dropped


def test_blocks_carry_heading_paths_and_anchors(page: HtmlPage) -> None:
    by_text = {block.text: block for block in page.blocks}
    intro = by_text["Widgets are small things."]
    assert intro.heading_path == ("Widget Guide",)
    assert intro.anchor == "intro"
    steps = by_text["- First step\n- Second step\n  - Nested step"]
    assert steps.heading_path == ("Widget Guide", "Setup")
    assert steps.anchor == "setup"
    table = by_text["Sizes\nName | Size\nSmall | 1 cm"]
    assert table.heading_path == ("Widget Guide", "Setup", "Details")
    assert table.anchor is None  # the nearest heading has no id
    assert by_text["Bolt: A fastener."].heading_path[-1] == "Details"
    loose = by_text["Loose text\non two lines"]
    assert loose.heading_path == ("Widget Guide", "Usage")
    assert loose.anchor == "usage"  # from the <a name> just before the heading


def test_preformatted_text_keeps_its_whitespace(page: HtmlPage) -> None:
    assert "def main():\n    return 1" in [block.text for block in page.blocks]


def test_links_are_listed_as_written_in_document_order(page: HtmlPage) -> None:
    assert page.links == ["/next.html", "/", "/docs/", "#intro", "/search", "mailto:x@example.com"]


def test_title_falls_back_to_the_first_h1() -> None:
    page = read_html("<body><h1>Only <em>heading</em></h1><p>Text.</p></body>", name="x.html")
    assert page.title == "Only heading"
    assert read_html("<p>No title</p>", name="y.html").title is None


def test_article_is_preferred_over_the_body() -> None:
    markup = """<body><div>Teaser elsewhere</div>
    <article><h1 id="a">Story</h1><p>Body of the story.</p></article>
    <div class="related-posts">Other posts</div></body>"""
    page = read_html(markup, name="story.html")
    assert [block.text for block in page.blocks] == ["Body of the story."]


def test_article_header_is_kept_but_site_header_dropped() -> None:
    markup = """<body><header>Site name</header>
    <section><header><h1 id="t">Post title</h1><p>By someone</p></header>
    <p>Post text.</p></section></body>"""
    page = read_html(markup, name="post.html")
    texts = [block.text for block in page.blocks]
    assert texts == ["By someone", "Post text."]
    assert page.blocks[0].heading_path == ("Post title",)


def test_noise_classes_do_not_remove_the_main_content() -> None:
    markup = """<body><div class="content-with-sidebar"><h1>Real</h1><p>Kept text.</p>
    <div class="toc">Contents list</div></div></body>"""
    texts = [block.text for block in read_html(markup, name="x.html").blocks]
    assert texts == ["Kept text."]


def test_anchor_from_parent_section_id() -> None:
    markup = '<body><div class="section" id="install"><h2>Install</h2><p>Run it.</p></div></body>'
    assert read_html(markup, name="x.html").blocks[0].anchor == "install"


def test_base_href_is_reported() -> None:
    page = read_html('<head><base href="/docs/"></head><body><a href="a.html">a</a></body>', name="b")
    assert page.base_href == "/docs/"
    assert page.links == ["a.html"]


def test_bytes_honour_meta_charset_and_bom() -> None:
    latin = '<meta charset="iso-8859-1"><p>café</p>'.encode("latin-1")
    assert read_html(latin, name="l.html").blocks[0].text == "café"
    http_equiv = (
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><p>привет</p>'
    ).encode("cp1251")
    assert read_html(http_equiv, name="r.html").blocks[0].text == "привет"
    bom = b"\xef\xbb\xbf<meta charset='latin-1'><p>\xc3\xa9t\xc3\xa9</p>"
    assert read_html(bom, name="bom.html").blocks[0].text == "été"
    broken = b"<p>bad \xff byte</p>"
    assert read_html(broken, name="bad.html").blocks[0].text == "bad \ufffd byte"


def test_declared_encoding_wins_over_meta() -> None:
    markup = '<meta charset="utf-8"><p>ñ</p>'.encode("cp1252")
    assert decode_html(markup, declared_encoding="windows-1252").endswith("<p>ñ</p>")
    assert decode_html(markup, declared_encoding="no-such-charset").endswith("<p>\ufffd</p>")


def test_empty_and_junk_markup_give_no_blocks() -> None:
    assert read_html("", name="empty.html").blocks == []
    assert read_html("<script>only()</script>", name="s.html").blocks == []
    assert read_html(b"\x00\x01 not html", name="bin").title is None


def test_real_documentation_page() -> None:
    path = DOC_SITE / "extensions" / "toc.html"
    if not path.exists():
        pytest.skip(f"{SHARED_DATA} is not available")
    page = read_html(path.read_bytes(), name=str(path))
    assert page.title == "Table of Contents \u2014 Python-Markdown 3.4.1 documentation"
    text = all_text(page)
    assert "Navigation" not in text and "Quick search" not in text and "Copyright" not in text
    first = page.blocks[0]
    assert first.heading_path == ("Table of Contents", "Summary")
    assert first.anchor == "summary"
    assert first.text.startswith("The Table of Contents extension generates")
    assert "tables.html" in page.links and "../index.html" in page.links
    anchors = {block.anchor for block in page.blocks}
    assert {"syntax", "usage", "custom-labels"} <= anchors
