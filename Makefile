# cmlib — two commands for a newcomer: `make study` and `make test` (both set up .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PAPER ?= all
# the runner's default too (cmlib.runner.DEFAULT_PROFILE; tests/unit/test_profiles.py checks they agree)
PROFILE ?= study
JOBS ?= 1
# gensim word2vec is bit-reproducible only with a fixed hash seed; every kernel inherits it.
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup study smoke report site golden test unit lint benchmarks clean

## JupyterLab opens the jupytext notebooks (notebooks/*/*.py) as notebooks on double-click: a settings override
## installed into the venv (user settings, if any, still win). See README, "Working in JupyterLab".
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/cmlib.json
## The notebooks' kernel (their jupytext headers name it "cmlib"): this venv's python with PYTHONHASHSEED=0, which gensim
## word2vec needs to be reproducible and which a kernel started by `jupyter lab` would otherwise lack.
KERNEL_SPEC := $(VENV)/share/jupyter/kernels/cmlib/kernel.json

setup: $(STAMP) $(LAB_OVERRIDES) $(KERNEL_SPEC)

$(LAB_OVERRIDES): jupyter/lab-overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp $< $@

$(KERNEL_SPEC): $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name cmlib --display-name "cmlib (Python 3)" --env PYTHONHASHSEED 0

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	$(PY) -c "import cmlib, torch, torchvision, timm, papermill, nbval" 
	touch $(STAMP)

## every notebook of every paper on the embedded default (study profile) -> reports/; PAPER=clarel for one paper
study: setup
	$(PY) -m cmlib.runner $(PAPER) --profile study --jobs $(JOBS)

## every notebook on the smoke profile (seconds each); PAPER=clarel for one paper
smoke: setup
	$(PY) -m cmlib.runner $(PAPER) --profile smoke --jobs $(JOBS)

## one paper and profile: make report PAPER=clarel PROFILE=study
report: setup
	$(PY) -m cmlib.runner $(PAPER) --profile $(PROFILE) --jobs $(JOBS)

## rebuild reports/README.md, reports/index.html (the site: open it in a browser) and reports/study.png from the
## committed reports, without running anything
site: setup
	$(PY) -m cmlib.runner --index-only all

## re-execute the golden smoke notebooks after an intended change (PAPER=clarel for one paper), each also under
## the numeric perturbations of cmlib.execution.golden that measure its band (7 runs per notebook; JOBS=2 on 2 cores)
golden: setup
	$(PY) -m cmlib.runner $(PAPER) --golden --jobs $(JOBS)

## unit tests + nbval over the golden notebooks + the metrics tolerance test
## two pytest workers (pytest-xdist, one per core; --dist loadfile keeps each notebook's cells and each test file in
## one worker), then the band test over the metrics.json the golden notebooks just wrote (it needs them all first)
test: setup
	start=$$(date +%s); \
	$(PY) -m pytest -q -n 2 --dist loadfile tests/unit tests/notebooks/golden --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=900 --nbval-sanitize-with tests/notebooks/nbval_sanitize.cfg; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "make test: pytest collected no test (exit 5): the test tree is missing"; exit 1; fi; \
	CMLIB_TEST_SESSION_START=$$start $(PY) -m pytest -q tests/notebooks/test_golden_metrics.py; \
	rc2=$$?; if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$rc2

unit: setup
	$(PY) -m pytest -q tests/unit

lint: setup
	$(PY) -m ruff check cmlib tests benchmarks examples

## speed and memory figures against references timed in the same run
benchmarks: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build .cache reports/*/interactive
