"""Reads one HTML page into its title, its main text as structural blocks, and its links.

`read_html` is shared by every connector that meets HTML (web pages, HTML files, HTML Notion
exports). It keeps the page's main content (`<main>`, `[role=main]`, a lone `<article>`, else
`<body>`), drops what is not content (scripts, navigation, site headers and footers, sidebars,
cookie banners, hidden elements), and turns headings into each block's `heading_path` and
`anchor`. Text a browser would not show is not content: comments, elements hidden by attribute
or style (`display:none`, zero font size or opacity, white or transparent text on no background,
far off-screen) and screen-reader-only classes, the places where a page hides instructions
meant for a language model. Pages are untrusted: one with more than `MAX_ELEMENTS` elements is
refused before parsing, and elements nested deeper than `MAX_DEPTH` are read as plain text, so
neither a huge nor a deeply nested page can exhaust memory, time or the stack. `links` lists every `<a href>`/`<area href>` of the whole page, navigation included,
and the `<link href>`s that lead to pages (`rel` next, prev, search, ...), as written, so that
a crawler can resolve them against the page URL (or `base_href`).
BeautifulSoup is imported inside the functions that need it.
"""

from __future__ import annotations

import codecs
import importlib.util
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from connectors.base import Block, ConnectorError, UnreadableItemError

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag


@dataclass
class HtmlPage:
    """What a page holds: its title, its content blocks, and its links as written."""

    title: str | None
    blocks: list[Block]
    links: list[str]
    base_href: str | None = None


_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_DROPPED_TAGS = tuple(
    "script style noscript template iframe svg form object embed canvas button select input "
    "textarea dialog link meta".split()
)
_NOISE_TAGS = ("nav", "aside", "footer")
_NOISE_ROLES = frozenset(
    "navigation banner contentinfo complementary search menu menubar toolbar dialog alertdialog".split()
)
# Class or id words of navigation, sidebars and banners: substrings for words that are
# distinctive anywhere ("sphinxsidebar"), whole dash/underscore tokens for short ones ("toc").
_NOISE_SUBSTRING = re.compile(r"sidebar|breadcrumb|cookie|navbar|gdpr", re.IGNORECASE)
_NOISE_TOKEN = re.compile(
    r"(?:^|[-_])(?:toc|nav|navigation|menu|pagination|pager|skip-?link|share|social|"
    r"masthead|footer|related|consent|advert|ads)(?:$|[-_])",
    re.IGNORECASE,
)
MAX_ELEMENTS = 250_000
MAX_DEPTH = 256
_TAG_START = re.compile(rb"<[A-Za-z]")
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|"
    r"(?<![-\w])font-size\s*:\s*0(?:\.0*)?(?:px|pt|em|rem|%)?\s*(?:;|!|$)|"
    r"(?<![-\w])opacity\s*:\s*0(?:\.0*)?\s*(?:;|!|$)|"
    r"(?<![-\w])color\s*:\s*transparent|"
    r"(?:left|top|text-indent)\s*:\s*-\d{4,}",
    re.IGNORECASE,
)
_WHITE_TEXT = re.compile(
    r"(?<![-\w])color\s*:\s*(?:white|#fff(?:fff)?\b|rgba?\(\s*255\s*,\s*255\s*,\s*255\s*[,)])",
    re.IGNORECASE,
)
_BACKGROUND = re.compile(r"background", re.IGNORECASE)
_HIDDEN_CLASSES = frozenset({"sr-only", "visually-hidden", "screen-reader-text", "visuallyhidden"})
_HEADERLINK_CLASSES = frozenset(
    {"headerlink", "anchor-link", "anchorjs-link", "header-anchor", "heading-anchor"}
)
_HEADING_MARKS = "¶§#🔗 \u00a0"
_BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption center dd details dir div dl dt fieldset "
    "figcaption figure footer header hgroup hr html legend li main menu nav ol p pre section "
    "summary table tbody td tfoot th thead tr ul".split()
) | frozenset(_HEADING_TAGS)
# `<link rel>` values that point to other pages a reader can navigate to.
_PAGE_LINK_RELATIONS = frozenset(
    "next prev previous search index contents start first last up help glossary chapter "
    "section subsection appendix canonical".split()
)
_LIST_TAGS = ("ul", "ol", "menu", "dir")
_SPACES = re.compile(r"[^\S\n]+")
_WHITESPACE = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
# Labels that browsers read as windows-1252 (a superset of Latin-1 for printable bytes).
_WINDOWS_1252_ALIASES = frozenset(
    "iso-8859-1 iso8859-1 latin-1 latin1 ascii us-ascii l1 cp819 latin_1 iso_8859_1".split()
)


def decode_html(markup: bytes, *, declared_encoding: str | None = None) -> str:
    """Decode page bytes: a BOM wins, then the HTTP charset, then `<meta charset>`, else UTF-8.

    Undecodable bytes become U+FFFD instead of failing the page.
    """
    for bom, bom_encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if markup.startswith(bom):
            return markup[len(bom) :].decode(bom_encoding, errors="replace")
    encoding = _known_encoding(declared_encoding)
    if encoding is None:
        found = _META_CHARSET.search(markup[:4096])
        if found:
            encoding = _known_encoding(found.group(1).decode("ascii", errors="replace"))
            if encoding is not None and encoding.startswith("utf-16"):
                encoding = "utf-8"  # a page that can declare itself in ASCII is not UTF-16
    return markup.decode(encoding or "utf-8", errors="replace")


def _known_encoding(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _WINDOWS_1252_ALIASES:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def read_html(markup: str | bytes, *, name: str, declared_encoding: str | None = None) -> HtmlPage:
    """Read an HTML page (`name` is its path or URL, used in error messages).

    `declared_encoding` is the charset a server declared for `markup` given as bytes.
    """
    _check_element_count(markup, name=name)
    text = markup if isinstance(markup, str) else decode_html(markup, declared_encoding=declared_encoding)
    soup = _parse(text, name=name)
    _flatten_deep_elements(soup)
    title = _document_title(soup)
    base = _as_tag(soup.find("base", href=True))
    base_href = str(base["href"]).strip() if base is not None else None
    _remove(soup.find_all("template"))
    links = [
        str(element["href"]).strip()
        for element in _elements(soup)
        if element.name in ("a", "area", "link") and element.has_attr("href") and _is_page_link(element)
    ]
    _remove([element for element in _elements(soup) if element.name in _DROPPED_TAGS])
    _remove([element for element in _elements(soup) if _is_hidden(element)])
    root = _main_content(soup)
    _prune_noise(root)
    if title is None:
        first_heading = root.find("h1") or soup.find("h1")
        if first_heading is not None:
            title = _collapse(first_heading.get_text(" ")).strip(_HEADING_MARKS) or None
    collector = _BlockCollector()
    collector.collect(root)
    return HtmlPage(title=title, blocks=collector.blocks, links=links, base_href=base_href)


def _check_element_count(markup: str | bytes, *, name: str) -> None:
    """Refuse a page with more tags than `MAX_ELEMENTS` before it is parsed (memory grows per element)."""
    raw = markup.encode("utf-8", errors="replace") if isinstance(markup, str) else markup
    count = 0
    for _match in _TAG_START.finditer(raw):
        count += 1
        if count > MAX_ELEMENTS:
            raise UnreadableItemError(
                f"{name}: the page has more than {MAX_ELEMENTS:,} HTML elements; skipped "
                "(a page that large is generated or hostile, not readable text)"
            )


def _flatten_deep_elements(soup: BeautifulSoup) -> None:
    """Replace each element at depth `MAX_DEPTH` with its text, without recursion."""
    too_deep: list[Tag] = []
    stack: list[tuple[Tag, int]] = [(soup, 0)]
    while stack:
        element, depth = stack.pop()
        for child in element.contents:
            tag = _as_tag(child)
            if tag is None:
                continue
            if depth + 1 >= MAX_DEPTH:
                too_deep.append(tag)
            else:
                stack.append((tag, depth + 1))
    for tag in too_deep:
        tag.replace_with(tag.get_text(" "))


def _is_page_link(element: Tag) -> bool:
    """`<a>`/`<area>` links, and `<link>`s to pages (next, prev, search, ...), not to assets."""
    if element.name != "link":
        return True
    rel = element.get("rel") or []
    words = {rel.lower()} if isinstance(rel, str) else {word.lower() for word in rel}
    return bool(words & _PAGE_LINK_RELATIONS)


def _parse(text: str, *, name: str) -> BeautifulSoup:
    try:
        from bs4 import BeautifulSoup
    except ImportError:
        raise ConnectorError(
            f"{name}: reading HTML needs the beautifulsoup4 package; install it with "
            "`pip install beautifulsoup4`"
        ) from None
    return BeautifulSoup(text, _parser_name())


def _parser_name() -> str:
    """lxml when installed (faster), else the standard library's parser."""
    return "lxml" if importlib.util.find_spec("lxml") is not None else "html.parser"


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _document_title(soup: BeautifulSoup) -> str | None:
    for candidate in soup.find_all("title"):
        if candidate.find_parent("svg") is None:
            title = _collapse(candidate.get_text())
            return title or None
    return None


def _remove(elements: list[Tag]) -> None:
    for element in elements:
        if not element.decomposed:
            element.decompose()


def _is_hidden(element: Tag) -> bool:
    if element.has_attr("hidden"):
        return True
    if str(element.get("aria-hidden", "")).strip().lower() == "true":
        return True
    if any(word.lower() in _HIDDEN_CLASSES for word in _class_words(element)):
        return True
    style = str(element.get("style", ""))
    if _HIDDEN_STYLE.search(style):
        return True
    return bool(_WHITE_TEXT.search(style)) and not _BACKGROUND.search(style)


def _main_content(soup: BeautifulSoup) -> Tag:
    main = _as_tag(soup.find("main")) or _as_tag(soup.find(attrs={"role": "main"}))
    if main is not None:
        return main
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


def _class_words(element: Tag) -> list[str]:
    classes = element.get("class") or []
    words = [classes] if isinstance(classes, str) else list(classes)
    element_id = element.get("id")
    if isinstance(element_id, str):
        words.append(element_id)
    return words


def _holds_main_content(element: Tag) -> bool:
    return (
        element.find(["h1", "main", "article"]) is not None
        or element.find(attrs={"role": "main"}) is not None
    )


def _is_noise(element: Tag, root: Tag) -> bool:
    name = element.name
    if name in _NOISE_TAGS:
        return True
    if name == "header":
        # A site header sits outside the content; an article's own header holds its title.
        for ancestor in element.parents:
            if ancestor.name in ("article", "section", "main") or ancestor.get("role") == "main":
                return False
            if ancestor is root:
                break
        return True
    role = str(element.get("role", "")).strip().lower()
    if role in _NOISE_ROLES:
        return True
    for word in _class_words(element):
        if _NOISE_SUBSTRING.search(word) or _NOISE_TOKEN.search(word):
            return not _holds_main_content(element)
    return False


def _prune_noise(root: Tag) -> None:
    _remove([element for element in _elements(root) if _is_noise(element, root)])
    for heading in root.find_all(_HEADING_TAGS):
        for anchor in heading.find_all("a"):
            classes = set(_class_words(anchor))
            text = anchor.get_text().strip()
            is_permalink = str(anchor.get("href", "")).startswith("#") and len(text) <= 1
            if classes & _HEADERLINK_CLASSES or is_permalink:
                anchor.decompose()


def _heading_anchor(heading: Tag) -> str | None:
    """The fragment that lands on a heading: its id, an id inside it, or one just before it."""
    own = heading.get("id")
    if isinstance(own, str) and own.strip():
        return own.strip()
    for inner in heading.find_all(True):
        for attribute in ("id", "name"):
            value = inner.get(attribute)
            if isinstance(value, str) and value.strip():
                return value.strip()
    sibling = heading.previous_sibling
    while sibling is not None and not getattr(sibling, "name", None) and not str(sibling).strip():
        sibling = sibling.previous_sibling
    marker = _as_tag(sibling)
    if marker is not None and marker.name in ("a", "span") and not marker.get_text().strip():
        for attribute in ("id", "name"):
            value = marker.get(attribute)
            if isinstance(value, str) and value.strip():
                return value.strip()
    parent = heading.parent
    if parent is not None and parent.find(True) is heading:
        value = parent.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class _BlockCollector:
    """Walks the content in document order and emits one block per structural unit."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._headings: list[tuple[int, str]] = []
        self._anchor: str | None = None
        self._inline: list[str] = []

    def collect(self, root: Tag) -> None:
        self._walk(root)
        self._flush()

    def _walk(self, element: Tag) -> None:
        for child in element.children:
            tag = _as_tag(child)
            if tag is not None:
                self._element(tag)
            elif _is_text(child):
                self._inline.append(_WHITESPACE.sub(" ", str(child)))

    def _element(self, element: Tag) -> None:
        name = element.name
        if name == "td" and any("lineno" in word for word in _class_words(element)):
            return  # the line-number column of a highlighted code table
        if name in _HEADING_TAGS:
            self._flush()
            self._heading(element)
        elif name == "br":
            self._inline.append("\n")
        elif name == "hr":
            self._flush()
        elif name == "pre":
            self._flush()
            self._emit(_preformatted_text(element))
        elif name in _LIST_TAGS and element.find("li", recursive=False) is not None:
            self._flush()
            self._emit("\n".join(_list_lines(element, depth=0)))
        elif name == "dl":
            self._flush()
            self._emit("\n".join(_definition_lines(element)))
        elif name == "table" and not _is_layout_table(element):
            self._flush()
            self._emit("\n".join(_table_lines(element)))
        elif name == "p" and not _has_block_descendant(element):
            self._flush()
            self._emit(_inline_text(element))
        elif name in _BLOCK_TAGS:
            self._flush()
            self._walk(element)
            self._flush()
        elif _has_block_descendant(element):
            self._walk(element)
        else:
            self._inline.append(_inline_text(element, collapse=False))

    def _heading(self, heading: Tag) -> None:
        text = _inline_text(heading).replace("\n", " ").strip(_HEADING_MARKS)
        if not text:
            return
        level = int(heading.name[1])
        self._headings = [entry for entry in self._headings if entry[0] < level]
        self._headings.append((level, text))
        self._anchor = _heading_anchor(heading)

    def _flush(self) -> None:
        if self._inline:
            self._emit(_tidy_inline("".join(self._inline)))
            self._inline = []

    def _emit(self, text: str) -> None:
        if text.strip():
            self.blocks.append(
                Block(
                    text=text,
                    heading_path=tuple(title for _, title in self._headings),
                    anchor=self._anchor,
                )
            )


def _elements(root: Tag) -> list[Tag]:
    """Every element under `root`, in document order (faster than a bs4 `find_all(True)`)."""
    return [tag for tag in map(_as_tag, root.descendants) if tag is not None]


def _as_tag(node: object) -> Tag | None:
    """`node` as an element, or None for text, comments and missing nodes."""
    return cast("Tag", node) if getattr(node, "name", None) is not None else None


def _is_text(node: object) -> bool:
    """Page text: a plain string or CDATA, not a comment, doctype or processing instruction."""
    return type(node).__name__ in ("NavigableString", "CData")


def _tidy_inline(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{2,}", "\n", text).strip()


def _inline_text(element: Tag, *, collapse: bool = True) -> str:
    """The running text of an element: whitespace collapsed, `<br>` as a line break."""
    parts: list[str] = []
    for node in element.descendants:
        name = getattr(node, "name", None)
        if name == "br":
            parts.append("\n")
        elif name in _BLOCK_TAGS:
            parts.append(" ")
        elif name is None and _is_text(node):
            parts.append(_WHITESPACE.sub(" ", str(node)))
    joined = "".join(parts)
    return _tidy_inline(joined) if collapse else joined


def _has_block_descendant(element: Tag) -> bool:
    return any(getattr(node, "name", None) in _BLOCK_TAGS for node in element.descendants)


def _preformatted_text(element: Tag) -> str:
    parts: list[str] = []
    for node in element.descendants:
        if getattr(node, "name", None) == "br":
            parts.append("\n")
        elif getattr(node, "name", None) is None and _is_text(node):
            parts.append(str(node))
    return "".join(parts).strip("\r\n").rstrip()


def _list_lines(element: Tag, *, depth: int) -> list[str]:
    ordered = element.name == "ol"
    try:
        number = int(str(element.get("start", "1")))
    except ValueError:
        number = 1
    indent = "  " * depth
    lines: list[str] = []
    for item in element.find_all("li", recursive=False):
        marker = f"{number}." if ordered else "-"
        number += 1
        own: list[str] = []
        nested: list[str] = []
        for child in item.children:
            child_name = getattr(child, "name", None)
            if child_name in _LIST_TAGS:
                nested.extend(_list_lines(child, depth=depth + 1))
            elif child_name == "pre":
                code = _preformatted_text(child)
                nested.extend(f"{indent}    {line}" for line in code.splitlines())
            elif child_name is not None:
                own.append(" " + _inline_text(child).replace("\n", " ") + " ")
            elif _is_text(child):
                own.append(str(child))
        text = _collapse("".join(own))
        if text or nested:
            lines.append(f"{indent}{marker} {text}".rstrip())
            lines.extend(nested)
    return lines


def _definition_lines(element: Tag) -> list[str]:
    entries: list[tuple[str, str]] = []
    for child in element.find_all(["dt", "dd"]):
        if child.find_parent("dl") is element:
            entries.append((child.name, _inline_text(child).replace("\n", " ")))
    lines: list[str] = []
    terms: list[str] = []
    last_terms: list[str] = []
    for kind, text in entries:
        if kind == "dt":
            terms.append(text)
            continue
        if terms:
            last_terms, terms = terms, []
        label = " / ".join(term for term in last_terms if term)
        lines.append(f"{label}: {text}" if label else text)
    lines.extend(term for term in terms if term)
    return [line for line in lines if line.strip()]


def _is_layout_table(table: Tag) -> bool:
    return table.find(["table", "pre", *_HEADING_TAGS]) is not None


def _table_lines(table: Tag) -> list[str]:
    lines: list[str] = []
    caption = _as_tag(table.find("caption"))
    if caption is not None:
        caption_text = _inline_text(caption).replace("\n", " ")
        if caption_text:
            lines.append(caption_text)
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue
        cells = [
            _inline_text(cell).replace("\n", " ") for cell in row.find_all(["td", "th"], recursive=False)
        ]
        if any(cells):
            lines.append(" | ".join(cells))
    return lines
