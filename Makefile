# ddim-edu: two commands on a new machine
#   make demo   create .venv, install the package, run python -m ddim_edu demo, write figures/
#   make test   install what the tests need, run the linter, the tests and the notebooks (nbval)
#   make test-fast  the linter and the fast unit tests (no processes, browser or notebooks)
#   make lab    JupyterLab on notebooks/
#   make site   the course as a static website that reads offline, in build/site/ (open index.html)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is installed first and pinned: an unpinned torch can pull a multi-GB CUDA build.
# With a GPU, choose your build: make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test test-fast lint format install clean lab notebooks chromium bench site

$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_SPEC)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PIP) install --quiet -e ".[dev]"
	touch $@

$(VENV)/.lab: $(VENV)/.core
	$(PIP) install --quiet -e ".[notebooks]"
	touch $@

$(VENV)/.site: $(VENV)/.core
	$(PIP) install --quiet -e ".[site]"
	touch $@

install: $(VENV)/.core

# the S x eta grid on the exact mixture, then notebooks 01-03 in full mode (they write figures/)
DEMO_NOTEBOOKS ?= 01_forward_process 02_non_markovian_process 03_training_a_denoiser
demo: $(VENV)/.dev
	$(PY) -m ddim_edu demo
	cd notebooks && for nb in $(DEMO_NOTEBOOKS); do \
	  ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --output-dir "$${TMPDIR:-/tmp}/ddim-edu-notebooks" "$$nb.ipynb" || exit 1; \
	done
	@echo "figures written to figures/"

lint: $(VENV)/.dev
	$(PY) -m ruff check ddim_edu tests benchmarks scripts
	$(PY) -m ruff format --check ddim_edu tests benchmarks scripts

format: $(VENV)/.dev
	$(PY) -m ruff format ddim_edu tests benchmarks scripts
	$(PY) -m ruff check --fix ddim_edu tests benchmarks scripts

# Debian's Chromium for the browser test (tests/test_browser.py); never a downloaded browser
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null); \
	  else echo "note: no /usr/bin/chromium and no root apt-get: the browser test will be skipped"; fi; \
	fi

# torch runs on TEST_THREADS threads in each test process (and the kernels it starts). With two,
# a process whose threads share a core with another busy process waits at every parallel region:
# beside a sampling run on 2 cores the solved notebook 05 took over 600 s with two threads and
# 97 s with one (70 s and 87 s on the idle machine). `make test TEST_THREADS=2` on an idle machine.
TEST_THREADS ?= 1

# unit tests, the browser tests (JupyterLab, the website), then every notebook under nbval in FAST mode
test: lint chromium site
	OMP_NUM_THREADS=$(TEST_THREADS) DDIM_EDU_FAST=1 DDIM_EDU_ARTIFACTS=test-artifacts DDIM_EDU_SITE=$(SITE) \
	DDIM_EDU_BROWSER=$$(test -x /usr/bin/chromium && echo 1 || echo 0) \
	$(PY) -m pytest -q tests --nbval-lax --nbval-current-env notebooks --ignore=notebooks/student \
	  --durations=15

# while developing: the unit tests without the slow ones (processes, browser, notebooks, long
# training runs), about two minutes on 2 CPU cores; `make test` runs everything
test-fast: lint
	OMP_NUM_THREADS=$(TEST_THREADS) DDIM_EDU_FAST=1 DDIM_EDU_ARTIFACTS=test-artifacts $(PY) -m pytest -q tests -m "not slow" --durations=10

# where the time goes (the README's numbers): sampler vs network vs diffusers, time vs S,
# training throughput, each notebook under nbval; diffusers is installed for this only
bench: $(VENV)/.dev
	$(PIP) install --quiet -e ".[bench]"
	$(PY) benchmarks/sampler_speed.py --notebooks

# the course as a static website: the README as home page, docs/, the notebooks 01-08 with their
# stored outputs (never executed) and download links to them and their student copies, every
# figure, search; MathJax and every asset served from the site itself, so it reads with no network.
# Rebuilds only what changed (a full build takes about 15 s on 2 CPU cores once installed);
# tests/test_site.py opens every page in Chromium
SITE ?= build/site
site: $(VENV)/.site
	$(PY) scripts/build_site.py --out $(SITE)

# JupyterLab on notebooks/ in the project's environment (ipywidgets included)
lab: $(VENV)/.lab
	$(VENV)/bin/jupyter lab notebooks

# re-run every notebook top to bottom in full mode and store its outputs (what is committed)
notebooks: $(VENV)/.lab
	cd notebooks && for nb in [0-9]*.ipynb; do ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(SITE) build/site-work
