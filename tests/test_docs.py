"""The front page and the pages under docs/: short, linked, and their code examples run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages_with_readme():
    return [README, *PAGES]


def _code_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_readme_is_a_front_page_of_at_most_200_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail to a page in docs/"
    headings = [line for line in lines if line.startswith("## ")]
    for needed in ("## Start here", "## The notebooks", "## First example", "## For teachers"):
        assert needed in headings


def test_every_docs_page_says_what_it_answers_and_is_linked_from_the_readme():
    assert len(PAGES) >= 6
    text = README.read_text()
    for page in PAGES:
        if page.name == "index.md":
            continue
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# "), f"{page.name} opens without a title"
        assert lines[2].startswith("*What this page answers:*"), page.name
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("path", _pages_with_readme(), ids=lambda p: p.name)
def test_every_relative_link_resolves(path):
    for target in LINK.findall(path.read_text()):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        file = (path.parent / target.split("#")[0]).resolve()
        assert file.exists(), f"{path.name} links to {target}, which does not exist"


def test_the_readme_shows_figures_that_exist():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text())
    assert "figures/front.png" in images
    for image in images:
        assert (ROOT / image).stat().st_size > 10_000, image  # a picture, not an empty file


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", [p for p in _pages_with_readme() if _code_blocks(p)], ids=lambda p: p.name
)
def test_the_python_examples_run(path, tmp_path):
    """Each page's python blocks run in order in one fresh interpreter, from an empty folder."""
    code = "\n".join(_code_blocks(path))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in re.findall(r'"([\w.]+\.png)"', code):  # every image an example saves is there
        assert (tmp_path / name).stat().st_size > 0, name
