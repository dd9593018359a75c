"""Time and peak memory for the web-fetch tool to clean a 1 MB page.

    uv run python bench/web_fetch.py [--size BYTES] [--runs N]

Generates an article page of the given size (a header, navigation, a sidebar and a footer
around many paragraphs), cleans it as ``web.fetch`` does after fetching (decode, strip,
trafilatura, readability-lxml if needed) and prints ``name: value unit`` lines: the median and
best time over the runs, the peak of Python's allocations during one clean (tracemalloc: the
parsers' C allocations are not in it) and the process's peak resident set (ru_maxrss), whole
and above what it was before the first clean.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
# Run as a script, this file's folder comes first on the path, and this file would shadow the
# tool's own package (also named web_fetch): the project's root instead.
sys.path[:] = [str(PROJECT_ROOT), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from web_fetch.clean import clean  # noqa: E402

from bench.stats import Figure  # noqa: E402

CONTENT_TYPE = "text/html; charset=utf-8"
URL = "http://bench.invalid/long-read"
FRAME_TOP = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>A long read | Harbour Gazette</title>
<style>body { font-family: serif; }</style><script>var tracking = [];</script></head>
<body><header><a href="/">Harbour Gazette</a><nav><ul><li><a href="/news">News</a></li>
<li><a href="/subscribe">Subscribe to the newsletter</a></li></ul></nav></header>
<main><article><h1>A long read about lighthouses</h1>
"""
FRAME_BOTTOM = """</article></main>
<aside><h3>Most read this week</h3><ul><li><a href="/a">Ferry timetable changes</a></li></ul>
</aside><footer><p>Copyright 2026 Harbour Gazette Ltd. All rights reserved.</p></footer>
</body></html>
"""
PARAGRAPH = (
    "<p>Entry {n}: the keepers wound the clockwork that turned the lens, trimmed the wicks and "
    "wrote the state of the sea into the log, watch {n} of a winter when the relief boat stayed "
    "away for weeks and the spray reached the lantern on the worst nights.</p>\n"
)
SECTION_EVERY = 40


def page_of(size: int) -> bytes:
    """An article page of at least ``size`` bytes (UTF-8), every paragraph distinct."""
    parts = [FRAME_TOP]
    length = len(FRAME_TOP) + len(FRAME_BOTTOM)
    n = 0
    while length < size:
        if n % SECTION_EVERY == 0:
            heading = f"<h2>Part {n // SECTION_EVERY + 1}</h2>\n"
            parts.append(heading)
            length += len(heading)
        paragraph = PARAGRAPH.format(n=n)
        parts.append(paragraph)
        length += len(paragraph)
        n += 1
    parts.append(FRAME_BOTTOM)
    return "".join(parts).encode()


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="page size in bytes")
    parser.add_argument("--runs", type=int, default=5, help="timed cleans (after one warm-up)")
    args = parser.parse_args()

    body = page_of(args.size)
    rss_before = max_rss_mb()
    tracemalloc.start()
    cleaned = clean(body, CONTENT_TYPE, URL)  # the warm-up, measured for memory
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        clean(body, CONTENT_TYPE, URL)
        times.append(time.perf_counter() - start)

    note = f"{cleaned.extractor}, {len(cleaned.text)} characters of text"
    size_mb = len(body) / 1e6
    figures = [
        Figure("web-fetch page size", size_mb, "MB"),
        Figure(
            f"web-fetch clean time (median of {args.runs})",
            statistics.median(times) * 1000,
            "ms",
            note=note,
        ),
        Figure(f"web-fetch clean time (best of {args.runs})", min(times) * 1000, "ms"),
        Figure("web-fetch clean peak Python memory (tracemalloc)", peak / 1e6, "MB"),
        Figure("web-fetch process peak RSS (ru_maxrss)", max_rss_mb(), "MB"),
        Figure("web-fetch peak RSS above the pre-clean peak", max_rss_mb() - rss_before, "MB"),
    ]
    for figure in figures:
        print(figure.line(), flush=True)


if __name__ == "__main__":
    main()
