# lp3d developer entry points. Everything bootstraps .venv from nothing on a fresh machine.
#   make demo      run the demo on embedded synthetic data
#   make test      C++ unit tests (ctest) + all Python tests
#   make eks       rebuild the lp3d-eks C++ extension after changing C++ code
#   make bench     run the benchmarks (prints tables; see bench/RESULTS.md)
#   make lint      ruff
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.lp3d-installed
JOBS ?= 2
TORCH_VERSION := 2.14.1
TORCHVISION_VERSION := 0.29.1

EKS_SOURCES := $(shell find packages/lp3d-eks/cpp packages/lp3d-eks/src -name '*.cpp' -o -name '*.hpp') \
               packages/lp3d-eks/CMakeLists.txt packages/lp3d-eks/cpp/CMakeLists.txt
PYPROJECTS := $(wildcard packages/*/pyproject.toml)

.PHONY: all venv test py-test cpp-test demo eks bench lint clean frontend frontend-test chromium app

all: test

venv: $(STAMP)

# Build tools and test tools go in first so lp3d-eks builds without isolation (incremental rebuilds
# in build/lp3d-eks); the packages are installed editable, lp3d-eks with its compiled _core.
$(STAMP): $(PYPROJECTS) requirements-dev.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	# torch first and pinned, so no resolver picks another build (lp3d-models pins the same versions)
	$(PIP) install -q torch==$(TORCH_VERSION) torchvision==$(TORCHVISION_VERSION)
	$(MAKE) --no-print-directory eks
	$(PIP) install -q -e "packages/lp3d-io[dask,hdf5,sleap]" -e packages/lp3d-models -e packages/lp3d-workflows \
	    -e "packages/lp3d-cli[app]" -e "packages/lp3d-app[test]"
	# bytecode of the editable sources now, as a wheel install has it (where PYTHONDONTWRITEBYTECODE is
	# set, every lp3d run would compile them again: ~30 ms of a 0.4 s lp3d smooth)
	$(PY) -m compileall -q packages/*/src > /dev/null
	touch $@

# Rebuild the C++ extension (incremental: CMake keeps its build tree in build/lp3d-eks).
eks:
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(PIP) install -q --no-build-isolation --no-deps \
	    -C build-dir=build/lp3d-eks -e packages/lp3d-eks

cpp-test: $(STAMP)
	cmake -S . -B build/cpp -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_PREFIX_PATH="$$($(PY) -c "import cmeel; print(cmeel.__path__[0] + '.prefix')")" > /dev/null
	cmake --build build/cpp -j $(JOBS)
	ctest --test-dir build/cpp --output-on-failure

# The app's front end (packages/lp3d-app/frontend): npm ci from the committed lockfile, built into the
# Python package (src/lp3d_app/static, ignored by git). Rebuilt when a source changes.
FRONTEND := packages/lp3d-app/frontend
FRONTEND_BUILD := packages/lp3d-app/src/lp3d_app/static/index.html
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src -type f 2>/dev/null) $(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(FRONTEND)/package-lock.json $(FRONTEND)/openapi.json

$(FRONTEND)/node_modules/.package-lock.json: $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && npm ci --no-audit --no-fund --loglevel=error

$(FRONTEND_BUILD): $(FRONTEND)/node_modules/.package-lock.json $(FRONTEND_SOURCES)
	cd $(FRONTEND) && npm run build --silent

frontend: $(FRONTEND_BUILD)

frontend-test: $(FRONTEND)/node_modules/.package-lock.json
	cd $(FRONTEND) && npx vitest run

# Chromium for the browser tests: Debian's package, installed when missing and we are root.
chromium:
	@if ! command -v chromium > /dev/null; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; \
	    else echo "chromium is missing (apt-get install chromium): the browser tests will skip (fail under CI=true)"; fi; \
	fi

py-test: $(STAMP) frontend chromium
	$(PY) -m pytest

test: cpp-test frontend-test py-test

demo: $(STAMP)
	$(VENV)/bin/lp3d demo
	@echo "Look at it in the browser: make app   (or: $(VENV)/bin/lp3d app demo-out)"

# The app on the demo's output (runs the demo first when there is none).
app: $(STAMP) frontend
	test -f demo-out/lp3d.yaml || $(VENV)/bin/lp3d demo
	$(VENV)/bin/lp3d app demo-out

bench: $(STAMP)
	$(PY) bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check packages tests bench

clean:
	rm -rf build $(VENV)
