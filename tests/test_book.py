"""The book: it builds from the committed data with warnings as errors, every figure page shows its
glued figures, every page is readable offline (no script or stylesheet from outside the build, math
rendered by the MathJax copy in the build), its tables show every row and column, no page shows a
warning, a path of the build machine or a reference the reader cannot follow, the committed tables
validate, and the generated pages are up to date.

The build executes every page (``execute_notebooks: force``): about a minute here with data/ nearly
empty (the figure functions draw placeholders), so it stays in the default run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from docutils.nodes import make_id

from gradsub import results, tasks
from gradsub.report import task_pages

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
DATA = REPO / "data"
FIGURE_PAGES = ["figure1_spectrum", "figure2_fraction", "figure3_overlap", "beyond"] + sorted(
    f"tasks/{p.stem}" for p in (BOOK / "tasks").glob("*.md"))
_GLUE_FIGURE = re.compile(r"^```\{glue:figure\}\s+(\S+)\s*\n(?::name:\s*(\S+))?", re.MULTILINE)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the book once into a temporary folder; return (html folder, build log, exit code)."""
    out = tmp_path_factory.mktemp("book")
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", "book", "--warningiserror",
               "--keep-going", "--path-output", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    return out / "_build" / "html", done.stdout + done.stderr, done.returncode


def _problems(html: Path, log: str) -> str:
    """The build's warnings and the tails of the saved notebook tracebacks, for the failure message."""
    lines = [line for line in log.splitlines() if "WARNING" in line and "IPKernelApp" not in line]
    for report_file in sorted((html / "reports").glob("*.err.log")):
        tail = report_file.read_text(errors="replace").strip().splitlines()[-3:]
        lines.append(f"{report_file.name}: " + " | ".join(tail))
    return "\n".join(lines) or log[-3000:]


def test_book_builds_with_warnings_as_errors(built):
    html, log, code = built
    assert code == 0, "jupyter-book build failed:\n" + _problems(html, log)
    assert (html / "index.html").exists() or (html / "intro.html").exists()


@pytest.mark.parametrize("page", FIGURE_PAGES)
def test_figure_page_shows_every_glued_figure(built, page):
    html_dir, log, _ = built
    source = (BOOK / f"{page}.md").read_text()
    figures = _GLUE_FIGURE.findall(source)
    assert figures, f"{page}.md has no glue:figure directive"
    page_html = html_dir / f"{page}.html"
    assert page_html.exists(), f"{page}.html was not built:\n" + _problems(html_dir, log)
    text = page_html.read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(images) >= len(figures), f"{page}: {len(images)} images for {len(figures)} glued figures"
    for src in images:
        assert (page_html.parent / src).exists(), f"{page}: image {src} missing from the build"
    for key, name in figures:
        if not name:
            continue
        anchor = make_id(name)  # the HTML id docutils makes of the :name: (fig-finger_spin -> fig-finger-spin)
        block = re.search(rf'<figure[^>]*id="{re.escape(anchor)}"[^>]*>(.*?)</figure>', text, re.DOTALL)
        assert block, f"{page}: no figure {name} (glue key {key})"
        assert "<img " in block.group(1), f"{page}: figure {name} (glue key {key}) has no image"


def test_no_glue_reference_is_left_unresolved(built):
    html_dir, log, _ = built
    glue_warnings = [line for line in log.splitlines() if "WARNING" in line and "glue" in line.lower()]
    assert not glue_warnings, "\n".join(glue_warnings)
    pages = sorted(html_dir.glob("**/*.html"))
    assert pages
    for page in pages:
        if "_sources" in page.parts or "reports" in page.parts:
            continue
        text = page.read_text()
        assert "{glue:" not in text and "{glue}" not in text, f"{page.relative_to(html_dir)}: literal glue role"
        assert "Traceback (most recent call last)" not in text, f"{page.relative_to(html_dir)}: error output"


def _pages(html_dir: Path) -> list[Path]:
    """The book's own pages (not the search, index, sources or execution reports)."""
    return [p for p in sorted(html_dir.glob("**/*.html"))
            if not {"_sources", "reports", "_static"} & set(p.relative_to(html_dir).parts)
            and p.name not in ("genindex.html", "search.html")]


_LOADS = re.compile(r'<script\b[^>]*\bsrc="([^"]+)"|<link\b[^>]*\bhref="([^"]+)"[^>]*>')


def test_no_page_loads_a_script_or_stylesheet_from_outside_the_build(built):
    html_dir, _, _ = built
    pages = _pages(html_dir)
    assert pages
    for page in pages:
        for match in _LOADS.finditer(page.read_text()):
            url = match.group(1) or match.group(2)
            tag = match.group(0)
            if match.group(2) and "stylesheet" not in tag and "preload" not in tag:
                continue  # a link to another page, not a resource
            where = f"{page.relative_to(html_dir)}: {tag[:120]}"
            assert not re.match(r"^([a-z]+:)?//", url), f"loads from outside the build: {where}"
            assert (page.parent / url.split("?")[0].split("#")[0]).exists(), f"missing from the build: {where}"
    method = (html_dir / "method.html").read_text()
    assert 'src="_static/mathjax/tex-chtml.js"' in method, "MathJax is not served from the build"
    assert (html_dir / "_static" / "mathjax" / "output" / "chtml" / "fonts").is_dir()


_TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL)
_CELL = re.compile(r"<t([dh])\b[^>]*>(.*?)</t[dh]>", re.DOTALL)


def test_every_table_shows_every_row_and_column_without_index_or_missing_values(built):
    html_dir, _, _ = built
    for page in _pages(html_dir):
        text = page.read_text()
        where = page.relative_to(html_dir)
        assert not re.search(r"\d+ rows × \d+ columns", text), f"{where}: a table was cut"
        for table in _TABLE.findall(text):
            body = re.search(r"<tbody>(.*?)</tbody>", table, re.DOTALL)
            if body is None:
                continue
            assert "<th" not in body.group(1), f"{where}: a table shows its index"
            cells = [re.sub(r"<[^>]+>", "", c).strip() for _, c in _CELL.findall(table)]
            for bad in ("...", "…", "nan", "NaN", "None", "<NA>"):
                assert bad not in cells, f"{where}: a table cell reads {bad!r}"


def test_math_renders_offline_in_a_headless_browser(built):
    """The method page's formulas typeset by MathJax in Chromium with every request outside the build
    sent to a closed port (file:// pages use no proxy)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    html_dir, _, _ = built
    profile = html_dir.parent / "chromium-profile"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
               "--virtual-time-budget=20000", "--dump-dom", (html_dir / "method.html").as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=180).stdout
    assert "<mjx-container" in dom, "the method page's formulas were not typeset offline"


def test_no_page_shows_a_warning_a_machine_path_or_an_unfollowable_reference(built):
    html_dir, _, _ = built
    pages = _pages(html_dir)
    for page in pages:
        text = re.sub(r"<script\b.*?</script>", "", page.read_text(), flags=re.DOTALL)
        where = page.relative_to(html_dir)
        assert "output stderr" not in text, f"{where}: stderr output on the page"
        for needle in (str(REPO), "site-packages", "Warning:", "it/s]", "FACTS", "issue #", "shared/"):
            assert needle not in text, f"{where}: shows {needle!r}"
        assert not re.search(r"\bissue \d+", text), f"{where}: cites an issue number"


@pytest.mark.parametrize("page", ["intro", "claims", "scale"] + FIGURE_PAGES)
def test_page_opens_with_what_it_rests_on(built, page):
    """The coverage line comes before the page's first figure and its first section."""
    source = (BOOK / f"{page}.md").read_text()
    opening = source.split("```{glue:figure}")[0].split("\n## ")[0]
    assert re.search(r"\{glue:text\}`\w+_coverage`", opening), f"{page}.md does not open with its coverage line"
    html_dir, _, _ = built
    text = re.sub(r"<[^>]+>", "", (html_dir / f"{page}.html").read_text())
    assert "rests on" in text or "No analysed runs yet" in text


# --- the committed data -----------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(results.SCHEMAS))
def test_committed_table_validates(table):
    results.read_table(DATA, table)  # raises ValueError naming the file and column


def test_committed_manifest_validates_and_covers_every_result_file():
    manifest = results.read_manifest(DATA)
    assert not manifest["run_id"].duplicated().any()
    status = dict(zip(manifest["run_id"], manifest["status"]))
    orphans, failed = [], []
    for path in sorted((DATA / "results").glob("*/*.csv")):
        assert path.parent.name in results.SCHEMAS, f"{path}: not a known table"
        if path.stem not in status:
            orphans.append(str(path.relative_to(REPO)))
        elif status[path.stem] != "ok":
            failed.append(str(path.relative_to(REPO)))
    assert not orphans, f"result files without a manifest row: {orphans}"
    assert not failed, f"result files of runs whose manifest status is not ok: {failed}"
    for row in manifest.itertuples():
        assert row.run_id == results.RunKey(row.task, row.algo, int(row.seed), row.profile).run_id


# --- generated pages and the table of contents -------------------------------------------------------


@pytest.mark.parametrize("name", list(tasks.TASKS))
def test_task_page_is_up_to_date(name):
    path = BOOK / "tasks" / f"{task_pages.task_slug(name)}.md"
    assert path.exists(), f"{path} missing: run python -m gradsub.report"
    assert path.read_text() == task_pages.task_page(name), f"{path} is stale: run python -m gradsub.report"


def test_no_task_page_without_a_task():
    expected = {f"{task_pages.task_slug(name)}.md" for name in tasks.TASKS}
    assert {p.name for p in (BOOK / "tasks").glob("*.md")} == expected


def _toc_files(node) -> list[str]:
    files = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                files.append(node[key])
        for value in node.values():
            files += _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            files += _toc_files(item)
    return files


def test_toc_lists_every_book_page_once():
    assert (BOOK / "_toc.yml").resolve() == (REPO / "_toc.yml").resolve()
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    listed = [str(Path(f).with_suffix("")) for f in _toc_files(toc)]
    assert len(listed) == len(set(listed)), "a page is listed twice"
    pages = sorted(str(p.relative_to(BOOK).with_suffix("")) for p in BOOK.glob("**/*.md")
                   if "_build" not in p.parts)
    assert sorted(listed) == pages
