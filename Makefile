# The course's commands. Run them from the repository root, in the environment where
# `pip install -r requirements.txt` went (a virtual environment is recommended).
PYTHON ?= python3
JUPYTER_BOOK ?= jupyter-book
PROFILE ?= quick
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb)) $(sort $(wildcard solutions/*.ipynb))
TWINS := $(NOTEBOOKS:.ipynb=.py)
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install programs course notebooks book test lint reproduce demo clean

install:  ## everything a learner or CI needs
	$(PYTHON) -m pip install -r requirements.txt
	@$(MAKE) --no-print-directory programs

programs:  ## nginx, Prometheus and h2load for chapter 04b, where no password prompt is needed
	@PATH="$$PATH:/usr/sbin:/usr/local/sbin"; \
	if command -v nginx >/dev/null && command -v prometheus >/dev/null \
	    && command -v h2load >/dev/null; then \
	  echo "nginx, prometheus and h2load: installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends nginx prometheus nghttp2-client; \
	elif command -v brew >/dev/null; then \
	  brew install nginx prometheus nghttp2; \
	else \
	  echo "nginx, prometheus or h2load is missing; chapter 04b skips the cells that need them."; \
	  echo "To run them: sudo apt-get install nginx prometheus nghttp2-client"; \
	  echo "(or: brew install nginx prometheus nghttp2)"; \
	fi

course: notebooks book  ## run every notebook (quick; PROFILE=full for the real thing), build the book

notebooks:  ## execute every notebook with papermill into build/course/$(PROFILE)/
	$(PYTHON) -m mnist_course notebooks run --profile $(PROFILE) --output-dir build/course/$(PROFILE) $(NOTEBOOKS)

book:  ## the Jupyter Book, from the committed (full-profile) outputs, warnings as errors
	$(JUPYTER_BOOK) build . --config book/_config.yml --toc book/_toc.yml --path-output book \
		--warningiserror --nitpick --keep-going
	@echo "Open book/_build/html/index.html"

test:  ## unit tests, then every notebook re-run and compared in the quick profile (nbval)
	$(PYTHON) -m pytest tests chapters solutions --nbval $(PYTEST_ARGS)

lint:  ## ruff over the package, the tests and the notebooks' py:percent twins
	$(PYTHON) -m ruff check mnist_course tests conftest.py $(TWINS)

reproduce:  ## re-run every notebook in place in the full profile, stamp it, sync its twin
	$(PYTHON) -m mnist_course notebooks run --profile full --in-place $(NOTEBOOKS)
	$(PYTHON) -m jupytext --sync $(NOTEBOOKS)

demo:  ## the draw-a-digit page on the course's model (models/mnist), through nginx
	$(PYTHON) -m mnist_course demo

clean:
	rm -rf build book/_build
