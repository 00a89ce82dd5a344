# Two commands for a newcomer: `make book` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2
# The book's build package, _ext/gbml_build (a Sphinx extension): its commands run as `python -m gbml_build.X`.
export PYTHONPATH := $(CURDIR)/_ext$(if $(PYTHONPATH),:$(PYTHONPATH))
# numpy's BLAS on one thread: the book's matrices are small, and builds, kernels and test workers run side
# by side, where a second BLAS thread in each process only spins (a chapter takes a fifth less CPU).
export OPENBLAS_NUM_THREADS ?= 1
# Python's default, compiled modules cached in __pycache__, even where the environment turns it off: the
# test workers, kernels and builds of one run then compile gbml, _ext and the tests once, not each.
unexport PYTHONDONTWRITEBYTECODE
# The site's address (make site BASEURL=https://OWNER.github.io/REPO/; also make problem-set, make notebooks):
# every absolute address of what is built comes from it.  Unset, html.baseurl of _config.yml is used.
ifdef BASEURL
export GBML_BASEURL := $(BASEURL)
endif

.PHONY: book check test bench student notebooks problem-set reproduce pdf site clean venv

venv: $(STAMP)

# Create the virtual environment and install the pinned stack plus gbml (editable), with uv (pinned here):
# the same packages as pip installs, about 20 s instead of 40 s on 2 cores.  Compiled to bytecode at install,
# as pip does: otherwise the first processes of a build or a test run each compile what they import.
UV := uv==0.13.9
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(UV)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

# Build the HTML book from a clean _build, warnings are errors, then the notebook edition from the same
# execution (each chapter runs once): the book's download buttons serve its notebooks and the landing page
# links its course packs (_ext/gbml_build/build.py).
book: $(STAMP)
	$(PY) -m gbml_build.build

# The quick tier: every test that needs no build, kernel or browser (under a minute; tests/conftest.py).
check: $(STAMP)
	GBML_QUICK=1 $(PY) -m pytest -q -m "not build"

# On pytest-xdist's workers (JOBS of them), tests grouped by module; builds shared (tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadscope --no-loadscope-reorder

bench: $(STAMP)
	$(PY) benchmarks/bench.py
	$(PY) benchmarks/bench_widgets.py

# Every figure of chapter 10 (the paper's experiments) as PNG/PDF, plus the numbers, under _build/reproduce/.
reproduce: $(STAMP)
	$(PY) tools/reproduce.py

# Student edition (book + notebooks, every cell tagged `solution` removed) under _build/student/; builds the
# book first if it is missing or older than the sources (the student book serves its notebook edition).
student: $(STAMP)
	$(PY) -m gbml_build.student

# PDF edition: Chromium prints the built pages of both editions (README, "PDF edition") into
# _build/pdf/book.pdf and _build/pdf/book-student.pdf; rebuilds only what is older than its sources.
pdf: $(STAMP)
	$(PY) -m gbml_build.pdf

# Notebook edition (from the book's build with sphinx-tojupyter): _build/notebooks/{full,student}/*.ipynb and
# the course packs _build/notebooks/course-pack.zip (full) and course-pack-student.zip; builds the book
# (which writes them) only when it is older than its sources.
notebooks: $(STAMP)
	$(PY) -m gbml_build.build --if-stale

# A problem set from exercise labels, in order (the exercise index lists them), under _build/problem-sets/NAME/:
# the sheet, the key, their PDFs and the nbgrader source and course folder (the book is rebuilt first only
# when stale).  make problem-set EXERCISES="ex-lr-code ex-td-proof" NAME=hw1, or SPEC=hw1.yml (a YAML file:
# title, due, seed, local, exercises with points); also TITLE=, DUE=, SEED=7 (other numbers than the
# book's), LOCAL=/path/to/course-exercises (exercises of your own, outside the repository).
problem-set: $(STAMP)
	$(PY) -m gbml_build.problem_set --name "$(NAME)" $(if $(SPEC),--spec "$(SPEC)") \
	  $(if $(SEED),--seed "$(SEED)") $(if $(TITLE),--title "$(TITLE)") $(if $(DUE),--due "$(DUE)") \
	  $(foreach d,$(LOCAL),--local "$(d)") -- $(EXERCISES)

# One folder to publish, _build/site/ (README, "Publishing"): the book, student/, the packs and the gbml
# wheel (packs/), the PDFs (pdf/).  Stops at once without BASEURL or html.baseurl.
site: $(STAMP)
	$(PY) -m gbml_build.site --check
	$(MAKE) pdf
	$(PY) -m gbml_build.site

clean:
	rm -rf _build .pytest_cache
