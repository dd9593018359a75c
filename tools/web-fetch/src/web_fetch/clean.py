"""From a fetched body to model-ready text: decode, strip, extract (trafilatura, then
readability-lxml), tidy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import trafilatura
from readability import Document
from selectolax.lexbor import LexborHTMLParser
from w3lib.encoding import html_to_unicode, http_content_type_encoding, read_bom

HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain", "text/markdown")
#: Elements that never hold a page's text: dropped before either extractor sees the page.
NOISE = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed")
#: A page's frame, dropped before the fallback extractor (trafilatura finds it by itself).
FRAME = (
    "header, nav, footer, aside, form, button, dialog, "
    '[role="banner"], [role="navigation"], [role="contentinfo"], [role="complementary"]'
)
BLOCKS = "p, h1, h2, h3, h4, h5, h6, li, pre, blockquote, tr, dt, dd, figcaption, br"
#: Least text the fallback must find to count (trafilatura's own MIN_EXTRACTED_SIZE): less is
#: a cookie banner or a caption, not a page's main text.
FALLBACK_MIN_CHARS = 250

Kind = Literal["html", "text"]


class NoContent(Exception):
    """A page from which neither extractor got any main text."""


@dataclass(frozen=True)
class Cleaned:
    title: str | None
    text: str
    extractor: Literal["trafilatura", "readability", "plain"]


def kind_of_content(content_type: str) -> Kind | None:
    """How a body of this content type is cleaned; ``None`` when it cannot be."""
    media = content_type.split(";")[0].strip().lower()
    if media in HTML_TYPES:
        return "html"
    if media in TEXT_TYPES:
        return "text"
    return None


def decode(body: bytes, content_type: str) -> str:
    """Text of a body: the BOM, else the header's charset, else (HTML) the page's own
    ``<meta>`` charset, else UTF-8; undecodable bytes become U+FFFD."""
    if kind_of_content(content_type) == "html":
        _encoding, text = html_to_unicode(content_type, body)
        return text
    encoding, bom = read_bom(body)
    if encoding is not None:
        return body[len(bom or b"") :].decode(encoding, errors="replace")
    declared = http_content_type_encoding(content_type) or "utf-8"
    return body.decode(declared, errors="replace")


def clean(body: bytes, content_type: str, url: str) -> Cleaned:
    text = decode(body, content_type)
    if kind_of_content(content_type) == "text":
        return Cleaned(title=None, text=tidy(text), extractor="plain")
    return extract(text, url)


def extract(html: str, url: str | None = None) -> Cleaned:
    tree = LexborHTMLParser(html)
    title = _title(tree)
    tree.strip_tags(list(NOISE))
    text = trafilatura.extract(
        tree.html or "",
        url=url,
        output_format="markdown",
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        include_links=False,
        include_images=False,
    )
    if text and text.strip():
        return Cleaned(title=title, text=tidy(text), extractor="trafilatura")
    for node in tree.css(FRAME):
        node.decompose()
    summary = Document(tree.html or "").summary(html_partial=True)
    text = tidy(_block_text(LexborHTMLParser(summary)))
    if len(text) >= FALLBACK_MIN_CHARS:
        return Cleaned(title=title, text=text, extractor="readability")
    raise NoContent("no main text found on the page")


def tidy(text: str) -> str:
    """Lines stripped (but inside code fences), runs of blank lines cut to one."""
    lines = []
    fenced = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append(line.strip())
        else:
            lines.append(line.rstrip() if fenced else line.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _block_text(tree: LexborHTMLParser) -> str:
    """Text of a tree with a blank line after each block and a space between table cells."""
    for node in tree.css(BLOCKS):
        node.insert_after("\n\n")
    for node in tree.css("td, th"):
        node.insert_after(" ")
    return tree.text(separator="")


def _title(tree: LexborHTMLParser) -> str | None:
    for selector, attribute in (
        ('meta[property="og:title"]', "content"),
        ("title", None),
        ("h1", None),
    ):
        node = tree.css_first(selector)
        if node is None:
            continue
        value = node.attributes.get(attribute) if attribute else node.text(strip=True)
        if value and value.strip():
            return " ".join(value.split())
    return None
