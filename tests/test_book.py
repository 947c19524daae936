"""The book (issue #5): it builds from the committed data with warnings as errors, every figure page
shows its glued figures, the committed tables validate, and the generated pages are up to date.

The build executes every page (``execute_notebooks: force``): about a minute here with data/ nearly
empty (the figure functions draw placeholders), so it stays in the default run.
"""

from __future__ import annotations

import re
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
