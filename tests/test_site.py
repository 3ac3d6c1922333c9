"""The course website (`make site`) in a real browser, with no network: headless Chromium (Debian's),
driven by Playwright, opens every page of the built site served from 127.0.0.1.

Checked on every page: no console error or uncaught exception; every image loaded; the mathematics
typeset by the site's own MathJax (no raw `$$`, `\\(` or `$...\\macro` left in the text); every
link into the site leads to a file that is there (and, for a link with #anchor, to an element with
that id); every request the page makes stays on 127.0.0.1 (any other is aborted and fails the
test). Then: the navigation lists the notebooks in course order and every page of docs/; each
notebook page shows its code cells and stored figures and offers the notebook and its student copy
for download, byte for byte; the search page finds a notebook. Screenshots of the home page and of
a notebook page go to $DDIM_EDU_ARTIFACTS (default: the test's temporary folder); with
DDIM_EDU_FIGURES=1 the home page's also replaces figures/site_home.png, the README's picture (a
plain run leaves the tracked figure alone).

The site comes from $DDIM_EDU_SITE when set (`make test` builds it first with `make site`);
otherwise the test builds it into build/site with scripts/build_site.py (about 20 s once
installed). `make test` sets DDIM_EDU_BROWSER=1, which turns a missing browser into a failure;
elsewhere the test is skipped when no browser is installed.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
from helpers import BROWSER_REQUIRED as REQUIRED
from helpers import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_SHOT = "04_ddpm_vs_ddim_trajectories"
# a limit on waiting, not a claim about speed: the machine may be busy with other work
WAIT_MS = 180_000
# TeX that MathJax should have replaced: display or inline delimiters, or a $ before a TeX macro
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\$[^$\n]{0,120}?\\[A-Za-z]{2,}")

PAGE_REPORT_JS = """
async () => {
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = "eager"; });
  const settled = (img) => img.complete ? Promise.resolve() : new Promise((done) => {
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
  });
  await Promise.race([
    Promise.all(images.map(settled)),
    new Promise((done) => setTimeout(done, 60000)),
  ]);
  const text = document.body.cloneNode(true);
  text.querySelectorAll("pre, code, script, style, textarea, mjx-container, .highlight")
      .forEach((el) => el.remove());
  return {
    images: images.map((img) => ({
      src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0,
    })),
    links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href),
    ids: Array.from(document.querySelectorAll("[id], a[name]")).map((el) => el.id || el.name),
    math: document.querySelectorAll("span.math, div.math").length,
    mathjax: document.querySelectorAll("mjx-container").length,
    text: text.textContent,
    downloads: Array.from(document.querySelectorAll("a.download")).map((a) => a.href),
    code_cells: document.querySelectorAll("div.cell .cell_input").length,
    output_images: document.querySelectorAll("div.cell .cell_output img").length,
    nav: Array.from(document.querySelectorAll("nav.bd-docs-nav a.reference"))
        .map((a) => a.href),
  };
}
"""


def _missing(building: bool) -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no browser at {CHROMIUM} (Debian: apt-get install -y chromium)"
    modules = ["playwright"] + (["sphinx", "myst_nb", "sphinx_book_theme"] if building else [])
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            hint = " (pip install -e '.[site]')" if module != "playwright" else ""
            return f"the Python package {module!r} is not installed{hint}"
    return None


@pytest.fixture(scope="module")
def site() -> Path:
    given = os.environ.get("DDIM_EDU_SITE")
    reason = _missing(building=not given)
    if reason:
        if REQUIRED:
            pytest.fail(f"browser test required (DDIM_EDU_BROWSER=1) but {reason}")
        pytest.skip(reason)
    if given:
        path = Path(given)
        if not path.is_absolute():
            path = ROOT / path
        assert (path / "index.html").exists(), f"DDIM_EDU_SITE={given} holds no built site"
        return path
    path = ROOT / "build" / "site"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_site.py"), "--out", str(path)],
                   check=True, cwd=ROOT, timeout=1800)  # fmt: skip
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _pages(site: Path) -> list[str]:
    pages = sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not p.relative_to(site).parts[0].startswith(("_", "."))
    )
    pages.remove("index.html")
    return ["index.html", *pages]


@pytest.fixture(scope="module")
def crawl(site, server, tmp_path_factory):
    """Visit every page once; what each showed, and every request made, for the tests below."""
    from playwright.sync_api import sync_playwright

    artifacts = Path(os.environ.get("DDIM_EDU_ARTIFACTS", tmp_path_factory.mktemp("site")))
    artifacts.mkdir(parents=True, exist_ok=True)
    origin = urlsplit(server).netloc
    current = {"page": ""}
    out = {
        "pages": {}, "requests": [], "outside": [], "errors": [], "bad": [], "failed": [],
        "artifacts": artifacts,
    }  # fmt: skip

    def local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.netloc == origin

    def route(r):
        if local(r.request.url):
            r.continue_()
        else:
            out["outside"].append((current["page"], r.request.url))
            r.abort()

    def console(message):
        if message.type == "error":
            out["errors"].append((current["page"], message.text))

    def failed(request):
        if local(request.url):
            out["failed"].append((current["page"], request.url, request.failure))

    def response(resp):
        if resp.status >= 400:
            out["bad"].append((current["page"], resp.url, resp.status))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(WAIT_MS)
        context.route("**/*", route)
        page = context.new_page()
        page.on("request", lambda r: out["requests"].append((current["page"], r.url)))
        page.on("console", console)
        page.on("pageerror", lambda e: out["errors"].append((current["page"], str(e))))
        page.on("requestfailed", failed)
        page.on("response", response)
        try:
            for name in _pages(site):
                current["page"] = name
                page.goto(f"{server}/{name}", wait_until="load")
                if page.locator("script[src*='mathjax']").count():
                    page.wait_for_function("() => window.MathJax && MathJax.startup")
                    page.evaluate("() => MathJax.startup.promise.then(() => true)")
                out["pages"][name] = page.evaluate(PAGE_REPORT_JS)
                if name == "index.html":
                    page.screenshot(path=str(artifacts / "site_home.png"))
                    if os.environ.get("DDIM_EDU_FIGURES") == "1":
                        page.screenshot(path=str(ROOT / "figures" / "site_home.png"))
                if name == f"notebooks/{NOTEBOOK_SHOT}.html":
                    page.locator("div.cell .cell_output img").first.scroll_into_view_if_needed()
                    page.screenshot(path=str(artifacts / "site_notebook.png"))
            # full-text search, on the page the theme's search box leads to
            current["page"] = "search.html?q=inversion"
            page.goto(f"{server}/search.html?q=inversion", wait_until="load")
            page.wait_for_function(
                "() => (document.querySelector('.search-summary') || {}).textContent"
                " && document.querySelector('.search-summary').textContent.includes('finished')"
            )
            out["search"] = page.eval_on_selector_all(
                "#search-results ul.search li a", "els => els.map((a) => a.href)"
            )
            # the summaries quote TeX; the site typesets them once the list is complete
            page.wait_for_timeout(1000)
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
            out["search_text"] = page.eval_on_selector(
                "#search-results",
                "el => { const c = el.cloneNode(true);"
                " c.querySelectorAll('mjx-container').forEach((m) => m.remove());"
                " return c.textContent; }",
            )
            page.screenshot(path=str(artifacts / "site_search.png"))
        finally:
            browser.close()
    return out


def test_every_page_is_visited(site, crawl):
    pages = crawl["pages"]
    assert "index.html" in pages and "search.html" in pages
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for nb in notebooks:
        assert f"notebooks/{nb.replace('.ipynb', '.html')}" in pages, nb
    for doc in (ROOT / "docs").glob("*.md"):
        if doc.name != "index.md" and not doc.name.startswith("_"):
            assert f"docs/{doc.stem}.html" in pages, doc.name
    print(f"{len(pages)} pages, {len(crawl['requests'])} requests")


def test_no_console_errors(crawl):
    assert not crawl["errors"], crawl["errors"][:10]


def test_no_request_leaves_the_machine(crawl, server):
    assert crawl["requests"], "no request was recorded"
    assert not crawl["outside"], crawl["outside"][:10]
    origin = urlsplit(server).netloc
    elsewhere = [
        (page, url)
        for page, url in crawl["requests"]
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != origin
    ]
    assert not elsewhere, elsewhere[:10]
    assert not crawl["bad"], crawl["bad"][:10]
    assert not crawl["failed"], crawl["failed"][:10]


def test_every_image_loaded(crawl):
    broken = [
        (page, img["src"])
        for page, seen in crawl["pages"].items()
        for img in seen["images"]
        if not img["ok"]
    ]
    assert not broken, broken[:10]
    shown = sum(len(seen["images"]) for seen in crawl["pages"].values())
    assert shown > 50
    print(f"{shown} images loaded")


def test_mathematics_is_typeset(crawl):
    with_math = [page for page, seen in crawl["pages"].items() if seen["math"]]
    assert "docs/notation.html" in with_math
    assert all(f"notebooks/0{i}" in " ".join(with_math) for i in range(1, 9)), with_math
    for page, seen in crawl["pages"].items():
        if seen["math"]:
            assert seen["mathjax"] >= seen["math"], (page, seen["mathjax"], seen["math"])
        raw = RAW_TEX.search(seen["text"])
        assert raw is None, (page, seen["text"][max(0, raw.start() - 80) : raw.end() + 80])


def test_every_internal_link_resolves(site, server, crawl):
    origin = urlsplit(server).netloc
    checked: dict[str, int] = {}
    missing_anchors = []
    for page, seen in crawl["pages"].items():
        for href in seen["links"]:
            url, anchor = urldefrag(href)
            parts = urlsplit(url)
            if parts.netloc != origin:
                continue
            path = unquote(parts.path).lstrip("/")
            target = site / path
            if url not in checked:
                try:
                    with urllib.request.urlopen(url, timeout=30) as r:
                        checked[url] = r.status
                except urllib.error.HTTPError as e:
                    checked[url] = e.code
                if target.is_dir() and not (target / "index.html").exists():
                    checked[url] = -1  # a folder listing, not a page of the site
            shown = crawl["pages"].get(
                path + "index.html" if path.endswith("/") or not path else path
            )
            if anchor and shown is not None and unquote(anchor) not in shown["ids"]:
                missing_anchors.append((page, href))
    broken = {url: status for url, status in checked.items() if status != 200}
    assert not broken, broken
    assert not missing_anchors, missing_anchors[:10]
    assert len(checked) > 30
    links = sum(len(seen["links"]) for seen in crawl["pages"].values())
    print(f"{links} links on the pages, {len(checked)} distinct internal targets checked")


def test_navigation_in_course_order(crawl):
    nav = [urlsplit(href).path for href in crawl["pages"]["index.html"]["nav"]]
    notebooks = [p for p in nav if re.search(r"/notebooks/\d\d_", p)]
    names = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [Path(p).stem for p in notebooks] == names
    for doc in (ROOT / "docs").glob("*.md"):
        if doc.name != "index.md" and not doc.name.startswith("_"):
            assert f"/docs/{doc.stem}.html" in nav, doc.name


def test_notebook_pages_show_code_outputs_and_downloads(crawl, server):
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        seen = crawl["pages"][f"notebooks/{path.stem}.html"]
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        figures = sum(
            "image/png" in out.get("data", {}) for c in code for out in c.get("outputs", [])
        )
        assert seen["code_cells"] >= len(code), (path.name, seen["code_cells"], len(code))
        assert seen["output_images"] >= figures, (path.name, seen["output_images"], figures)
        downloads = [href for href in seen["downloads"] if href.endswith("/" + path.name)]
        wanted = {path.read_bytes()}
        student = ROOT / "notebooks" / "student" / path.name
        if student.exists():
            wanted.add(student.read_bytes())
        got = set()
        for href in downloads:
            with urllib.request.urlopen(href, timeout=30) as r:
                got.add(r.read())
        assert got == wanted, (path.name, downloads)


def test_search_finds_a_notebook(crawl):
    hits = crawl["search"]
    assert any("06_inversion_and_interpolation" in href for href in hits), hits
    # every complete formula in the summaries is typeset (a summary may cut one short: left as is)
    raw = re.search(r"\\\(.{0,200}?\\\)", crawl["search_text"])
    assert raw is None, crawl["search_text"][max(0, raw.start() - 80) : raw.end() + 80]


def test_screenshots_written(crawl):
    for name in ("site_home.png", "site_notebook.png"):
        assert (crawl["artifacts"] / name).stat().st_size > 10_000, name
    assert (ROOT / "figures" / "site_home.png").stat().st_size > 10_000
