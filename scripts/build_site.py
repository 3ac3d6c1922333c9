"""Build the course as a static website that reads offline: `make site` (or run this file).

The sources are laid out first in a folder of their own (default build/site-work/src), with the
repository's relative paths kept, so the links between README, pages, notebooks and figures work
as they are:

    index.md                docs/index.md: the home page (the README) and the navigation
    _readme.md              README.md
    docs/*.md               the pages of docs/
    notebooks/NN_*.ipynb    the notebooks with their stored outputs (never executed here), each with
                            download links to itself and to its student copy added under its title
    notebooks/index.md      a generated overview of the notebooks, with both downloads
    figures/*.png           every figure, and a generated gallery (figures/index.md)
    _files/                 what the pages offer as downloads (the notebooks as committed, ...)

Links are rewritten only where the layout differs (README.md is the home page; a folder becomes
its overview page; any other file of the repository becomes a download). A file is rewritten only
when its content changes, so Sphinx rebuilds only what changed. Then Sphinx (docs/conf.py) writes
the HTML into build/site.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
DOC_SUFFIXES = (".md", ".ipynb")
MAX_DOWNLOAD_BYTES = 5 * 2**20  # larger files of the repository are not copied into the site
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
INLINE_LINK = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\])\(\s*<?([^)\s>]+)>?(\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^(\s{0,3}\[[^\]]+\]:\s*)(\S+)(.*)$")
INLINE_MATH_REST = re.compile(r"(?:[^$\\]|\\.)*?\$", re.DOTALL)  # after an opening $
HTML_SRC = re.compile(r"(<img\b[^>]*?\bsrc=[\"'])([^\"']+)([\"'])", re.IGNORECASE)


def _code_fence(line: str, fence: str | None) -> tuple[str | None, bool]:
    """Follow fenced code blocks line by line: (the fence still open after `line`, whether `line`
    belongs to a fenced block, its fences included)."""
    opening = FENCE.match(line)
    if fence is not None:
        mark = opening.group(1) if opening else ""
        closes = mark[:1] == fence[0] and len(mark) >= len(fence)
        return (None if closes else fence), True
    if opening:
        return opening.group(1), True
    return None, False


class Stage:
    """The site's sources: what is written, under which name, and where each repository file went."""

    def __init__(self, src: Path):
        self.src = src
        self.written: set[Path] = set()
        self.placed: dict[str, str] = {}  # repository path -> staged path (both posix, relative)
        self.notes: list[str] = []
        self.removed: list[Path] = []

    def write(self, rel: str, data: bytes | str) -> None:
        path = self.src / rel
        if isinstance(data, str):
            data = data.encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        self.written.add(path)

    def remove_stale(self) -> list[Path]:
        """Delete what an earlier build staged and this one did not; return the deleted files."""
        removed = []
        for path in sorted(self.src.rglob("*"), reverse=True):
            if path.is_file() and path not in self.written:
                path.unlink()
                removed.append(path)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return removed

    # --- links
    def target(self, repo_rel: str) -> tuple[str, bool] | None:
        """Where a repository path lives in the site: (staged path, is a download) or None."""
        if repo_rel in self.placed:
            staged = self.placed[repo_rel]
            return staged, not staged.endswith(DOC_SUFFIXES) or staged.startswith("_files/")
        path = ROOT / repo_rel
        if path.is_dir():
            for folder in (repo_rel, *(str(p) for p in Path(repo_rel).parents if str(p) != ".")):
                if (self.src / folder / "index.md").exists() or f"{folder}/index.md" in self.placed:
                    return f"{folder}/index.md", False
            return None
        if path.is_file() and path.stat().st_size <= MAX_DOWNLOAD_BYTES:
            staged = f"_files/{repo_rel}"
            self.write(staged, path.read_bytes())
            self.placed[repo_rel] = staged
            return staged, True
        return None

    def rewrite_target(
        self, link: str, repo_dir: str, staged_dir: str, image: bool = False
    ) -> str | None:
        """The link as it must read in the staged file; None when it leads nowhere in the site.

        An image is shown from where it was staged; a link to a file that is not a page becomes a
        download (MyST's `path:` links).
        """
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link) or link.startswith(("#", "/")):
            return link  # a URL, an anchor of the same page, or already site-absolute
        path, _, anchor = link.partition("#")
        repo_rel = os.path.normpath(os.path.join(repo_dir, path)).replace(os.sep, "/")
        if repo_rel.startswith(".."):
            return link
        found = self.target(repo_rel)
        if found is None:
            return None
        staged, download = found
        rel = os.path.relpath(staged, staged_dir or ".").replace(os.sep, "/")
        if download and not image:
            return f"path:{rel}"
        return rel + (f"#{anchor}" if anchor else "")

    def rewrite_markdown(self, text: str, repo_file: str, staged_file: str) -> str:
        repo_dir = os.path.dirname(repo_file)
        staged_dir = os.path.dirname(staged_file)

        def inline(match: re.Match) -> str:
            label, link, title = match.group(1), match.group(2), match.group(3) or ""
            new = self.rewrite_target(link, repo_dir, staged_dir, image=label.startswith("!"))
            if new is None:
                path = os.path.normpath(os.path.join(ROOT, repo_dir, link.partition("#")[0]))
                if label.startswith("!") or not os.path.exists(path):
                    # missing: left as it is, so that Sphinx warns and tests/test_site.py fails
                    self.notes.append(f"{repo_file}: {link!r} is missing")
                    return match.group(0)
                # there, but nothing in the site shows it (a folder, a very large file): the text
                self.notes.append(f"{repo_file}: {link!r} is not in the site: its text is kept")
                return label[1:-1]
            return f"{label}({new}{title})"

        def html_src(match: re.Match) -> str:
            new = self.rewrite_target(match.group(2), repo_dir, staged_dir, image=True)
            if new is None:
                self.notes.append(f"{repo_file}: {match.group(2)!r} is missing")
                return match.group(0)
            return match.group(1) + new + match.group(3)

        out, fence = [], None
        for line in text.splitlines(keepends=True):
            fence, code = _code_fence(line, fence)
            if code:
                out.append(line)
                continue
            ref = REFERENCE_LINK.match(line)
            if ref and not ref.group(1).lstrip().startswith("[^"):  # not a footnote
                new = self.rewrite_target(ref.group(2), repo_dir, staged_dir)
                if new is not None:
                    line = ref.group(1) + new + line[len(ref.group(1)) + len(ref.group(2)) :]
            else:
                line = INLINE_LINK.sub(inline, line)
                line = HTML_SRC.sub(html_src, line)
            out.append(line)
        return "".join(out)


def join_math_lines(text: str) -> str:
    r"""Put each inline `$...$` on one line, as Jupyter reads it.

    JupyterLab takes the mathematics out before it parses the Markdown; the site's parser does not,
    so `$a\n+ b$` would become the end of a paragraph and a list. Fenced code, `code` spans,
    `$$...$$` and `\$` are left as they are, and no formula is joined across a blank line.
    """
    kept, prose, fence = [], [], None

    def flush() -> None:
        if prose:
            kept.append(_join_in_prose("".join(prose)))
            prose.clear()

    for line in text.splitlines(keepends=True):
        fence, code = _code_fence(line, fence)
        if code:
            flush()
            kept.append(line)
        else:
            prose.append(line)
    flush()
    return "".join(kept)


def _join_in_prose(text: str) -> str:
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            out.append(text[i : i + 2])
            i += 2
        elif ch == "`":
            ticks = re.match(r"`+", text[i:]).group(0)
            end = text.find(ticks, i + len(ticks))
            end = n if end < 0 else end + len(ticks)
            out.append(text[i:end])
            i = end
        elif text.startswith("$$", i):
            end = text.find("$$", i + 2)
            end = n if end < 0 else end + 2
            out.append(text[i:end])
            i = end
        elif ch == "$":
            match = INLINE_MATH_REST.match(text, i + 1)
            if match and "\n\n" not in match.group(0):
                out.append("$" + match.group(0).replace("\n", " "))
                i = match.end()
            else:
                out.append(ch)
                i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _title(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _widget_outputs(state: dict, model_id: str, seen: set[str] | None = None) -> list[dict]:
    """The outputs stored inside a widget and its children (an Output widget's figure, say)."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    model = state[model_id]
    found = list(model["state"].get("outputs", [])) if model["model_name"] == "OutputModel" else []
    refs = re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(model["state"]))
    for ref in refs:
        found += _widget_outputs(state, ref, seen)
    return found


def _freeze_widgets(nb: dict) -> None:
    """Replace each interactive widget by a note and the outputs it held when the notebook was saved.

    A static page has no kernel to drive the widget, and the widget manager would come from a CDN.
    """
    state = nb["metadata"].pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb["cells"]:
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(out)
                continue
            note = (
                "*An interactive widget: open this notebook in JupyterLab (`make lab`) to use it."
                " Below is what it showed when the notebook was saved.*"
            )
            outputs.append(
                {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": note}}
            )
            outputs += _widget_outputs(state, view["model_id"])
        if "outputs" in cell:
            cell["outputs"] = outputs


def _with_downloads(nb: dict, name: str, has_student: bool) -> None:
    """Add the two download links under the notebook's title (in the site's copy only)."""
    links = f"**Download** [this notebook, with its outputs](path:../_files/notebooks/{name})"
    if has_student:
        links += (
            f" · [its student copy](path:../_files/notebooks/student/{name})"
            " (the exercises without their model answers)"
        )
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = "".join(cell["source"]).splitlines(keepends=True)
        if lines and lines[0].startswith("# "):
            cell["source"] = [lines[0], "\n", links + "\n", "\n", *lines[1:]]
        else:
            cell["source"] = [links + "\n\n", *lines]
        return


def stage(src: Path) -> Stage:
    st = Stage(src)
    notebooks = sorted((ROOT / "notebooks").glob(NOTEBOOK_GLOB))
    pages = sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "index.md")
    pages = [p for p in pages if not p.name.startswith("_")]
    figures = sorted((ROOT / "figures").glob("*.png"))

    # where each repository file goes (known before any link is rewritten)
    st.placed["README.md"] = "index.md"
    for page in pages:
        st.placed[f"docs/{page.name}"] = f"docs/{page.name}"
    for nb in notebooks:
        st.placed[f"notebooks/{nb.name}"] = f"notebooks/{nb.name}"
        st.placed[f"notebooks/student/{nb.name}"] = f"_files/notebooks/student/{nb.name}"
    for fig in figures:
        st.placed[f"figures/{fig.name}"] = f"figures/{fig.name}"
    st.placed["notebooks"] = st.placed["notebooks/student"] = "notebooks/index.md"
    st.placed["figures"] = "figures/index.md"
    st.placed["docs"] = "index.md"  # the home page, whose navigation lists every page

    st.write("index.md", (ROOT / "docs" / "index.md").read_bytes())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    st.write("_readme.md", st.rewrite_markdown(join_math_lines(readme), "README.md", "index.md"))
    for page in pages:
        rel = f"docs/{page.name}"
        text = join_math_lines(page.read_text(encoding="utf-8"))
        st.write(rel, st.rewrite_markdown(text, rel, rel))
    for fig in figures:
        st.write(f"figures/{fig.name}", fig.read_bytes())

    rows = []
    for path in notebooks:
        raw = path.read_bytes()
        student = ROOT / "notebooks" / "student" / path.name
        st.write(f"_files/notebooks/{path.name}", raw)  # the download: the notebook as committed
        if student.exists():
            st.write(f"_files/notebooks/student/{path.name}", student.read_bytes())
        nb = json.loads(raw)
        title = _title(nb, path.stem)
        _freeze_widgets(nb)
        _with_downloads(nb, path.name, student.exists())
        rel = f"notebooks/{path.name}"
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                text = join_math_lines("".join(cell["source"]))
                text = st.rewrite_markdown(text, rel, rel)
                cell["source"] = text.splitlines(keepends=True)
        st.write(rel, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        student_link = f"[student copy](path:../_files/notebooks/student/{path.name})"
        rows.append(
            f"| [{title}]({path.name}) | [notebook](path:../_files/notebooks/{path.name}) | "
            + (student_link if student.exists() else "")
            + " |"
        )
    st.write(
        "notebooks/index.md",
        "# The notebooks\n\n"
        "The course, in order. Each notebook is shown with the outputs it was saved with; download"
        " it to run it in JupyterLab (`make lab`). The student copies leave out the model answers"
        " of the exercises; their checkers still run.\n\n"
        "| notebook | with its outputs | for students |\n|---|---|---|\n" + "\n".join(rows) + "\n",
    )
    gallery = ["# All figures\n", "Every figure in `figures/`, by file name.\n"]
    gallery += [f"## {fig.name}\n\n![{fig.stem}]({fig.name})\n" for fig in figures]
    st.write("figures/index.md", "\n".join(gallery))
    st.removed = st.remove_stale()
    return st


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "site-work")
    parser.add_argument("-j", "--jobs", default="1", help="Sphinx's parallel jobs (or auto)")
    parser.add_argument("--fresh", action="store_true", help="rebuild every page")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    # Sphinx rebuilds the pages whose sources changed; a change of the configuration or of this
    # script (which Sphinx cannot see) rebuilds every page
    recipe = hashlib.sha256(
        b"".join(p.read_bytes() for p in (ROOT / "docs" / "conf.py", Path(__file__)))
    ).hexdigest()
    stamp = args.work / "recipe.sha256"
    fresh = args.fresh or not stamp.exists() or stamp.read_text() != recipe
    st = stage(args.work / "src")
    for note in st.notes:
        print(f"note: {note}")
    if any(path.suffix in DOC_SUFFIXES for path in st.removed):
        # a page is gone: Sphinx would leave its old HTML behind, so start the output afresh
        if (args.out / "objects.inv").exists():  # only ever a folder Sphinx wrote
            shutil.rmtree(args.out)
        fresh = True
    cmd = [
        sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", str(args.jobs),
        "-c", str(ROOT / "docs"), "-d", str(args.work / "doctrees"),
        *(["-E", "-a"] if fresh else []), str(args.work / "src"), str(args.out),
    ]  # fmt: skip
    done = subprocess.run(cmd, check=False)
    if done.returncode:
        return done.returncode
    stamp.write_text(recipe)
    print(f"site written to {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
