# One-command set-up: every target installs into .venv when needed.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.grokscope-installed
WORKERS ?= 2

.PHONY: install test demo bench clean chromium

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch: the pinned local CPU build, only when torch is missing (an unpinned request pulls GBs of CUDA wheels)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray,data,export,interactive,neuro]'
	touch $(STAMP)

test: $(STAMP) chromium
	$(PY) -m pytest -q -n $(WORKERS) --dist loadfile

demo: $(STAMP)
	$(VENV)/bin/grokscope demo

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache

# Headless Chromium for the report tests (Debian's package); installed only when missing, as root with
# apt-get; any failure is tolerated and the browser tests then skip with the reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null 2>&1 || \
	        echo "chromium: install failed; browser tests will skip"; \
	    else echo "chromium: not found and cannot apt-get install (need root); browser tests will skip"; fi; }
