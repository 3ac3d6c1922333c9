"""Sphinx configuration of the course website (`make site`).

`scripts/build_site.py` lays out the sources (this folder's pages, the README as the home page, the
notebooks with their stored outputs, the figures) in a folder of its own and runs Sphinx on it with
this file. Everything a page needs is served by the site itself, MathJax included: no page loads
anything from another host, so the site reads the same with no network.
"""

import logging

project = "ddim-edu"
author = "the ddim-edu authors"
copyright = "the ddim-edu authors, MIT licence"

extensions = [
    "myst_nb",  # Markdown (MyST) and notebooks
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 from the site itself, never a CDN
]

root_doc = "index"
exclude_patterns = ["_*", "**/_*", "**/.ipynb_checkpoints"]

# --- notebooks: shown with the outputs they were saved with, never executed here
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}  # no RequireJS / widget manager from a CDN (the build script freezes widgets)
nb_render_markdown_format = "myst"

# --- Markdown
myst_enable_extensions = [
    "dollarmath",  # $...$ and $$...$$
    "amsmath",
    "html_image",  # <img src=...> in the README is copied like a Markdown image
    "colon_fence",
]
myst_dmath_double_inline = True
myst_heading_anchors = 4  # GitHub-style #anchors in links between pages

# --- MathJax: sphinx-mathjax-offline copies MathJax 3 into _static/mathjax and points mathjax_path
# there; its fonts and extensions load from beside that script, inside the site

# --- HTML
html_theme = "sphinx_book_theme"
html_title = "ddim-edu: DDIM, taught with small exact experiments"
html_static_path = ["_static"]
html_js_files = ["typeset-search.js"]
html_copy_source = False  # the notebooks are offered as downloads, not as _sources text
html_show_sourcelink = False
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,  # the notebook pages carry their own download links
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "navbar_persistent": [],  # the search box is in the sidebar already: no top bar
    "navbar_end": [],
    # no icon links, version switcher, analytics or launch buttons: each would point elsewhere
    "icon_links": [],
    "launch_buttons": {},
}
html_context = {"default_mode": "light"}

suppress_warnings = ["myst.header"]  # pages may skip a heading level


class _QuietEmptyGlob(logging.Filter):
    """docs/index.md ends its list of pages with a glob for pages not listed yet; while every page
    is listed it matches nothing, which is expected, not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "didn't match any documents" not in record.getMessage()


def setup(app):
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_QuietEmptyGlob())
    # MathJax on every page, not only on pages with equations: the navigation shows the notebooks'
    # titles, and some hold mathematics
    app.set_html_assets_policy("always")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
