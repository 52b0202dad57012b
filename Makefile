# Two commands a newcomer runs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: FORCE demo test lint proto bench bench-quick bench-matching mutation clean check-libsodium chromium

# editable_mode=strict installs a tree of links (build/__editable__.*) that mypy, editors and
# mutmut can read, instead of an import hook they cannot follow. The links are made at install
# time: a new module needs a re-install, so the stamp depends on the list of package files.
PKG_FILES := $(sort $(wildcard crypto/*.py node/*.py node/web/*.py coordinator/*.py proto/*.py \
               coordinator/keyholder/*.py coordinator/keyholder/py.typed \
               proto/samenloop/*.py proto/samenloop/v1/*.py proto/samenloop/v1/*.pyi proto/samenloop/v1/*.proto \
               node/web/templates/*.html node/web/static/*.css */py.typed))
PKG_LIST  := $(VENV)/.package-files

# Rewritten only when the list of files changes, so the install reruns only then.
$(PKG_LIST): FORCE
	@mkdir -p $(VENV)
	@echo '$(PKG_FILES)' | cmp -s - $@ || echo '$(PKG_FILES)' > $@

$(STAMP): pyproject.toml $(PKG_LIST) | check-libsodium
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' --config-settings editable_mode=strict
	touch $(STAMP)

FORCE:

# pysodium loads the system libsodium (Debian's libsodium23): security updates come with the OS.
check-libsodium:
	@$(PYTHON) -c "import ctypes.util,sys; sys.exit(0 if ctypes.util.find_library('sodium') else 1)" || { \
	  echo "libsodium is missing. Install it with: apt-get install libsodium23  (Debian/Ubuntu)" >&2; \
	  echo "                                  or: dnf install libsodium   /  brew install libsodium" >&2; \
	  exit 1; }

demo: $(STAMP)
	$(VENV)/bin/samenloop demo

# The browser tests drive Debian's Chromium; never a browser downloaded by `playwright install`.
chromium:
	@test -x /usr/bin/chromium || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests" >&2; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update && $$SUDO apt-get install -y chromium; \
	  else \
	    echo "/usr/bin/chromium is missing and apt-get is not available; the browser tests will fail" >&2; \
	  fi; }

test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Regenerates the committed gRPC code; tests/test_proto.py fails when it is stale.
proto: $(STAMP)
	$(PY) -m samenloop.proto.generate

bench-matching: $(STAMP)
	$(PY) bench/matching.py

# Mutation testing of the refusal-heavy modules against their own tests; bounded per module
# (MUTATION_ARGS="crypto/voprf.py --timeout 600" to choose). Scores: bench/README.md.
MUTATION_STAMP := $(VENV)/.mutation-stamp
$(MUTATION_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,mutation]' --config-settings editable_mode=strict
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	$(PY) bench/mutation.py $(MUTATION_ARGS)

# OpenMined PSI for bench/scale.py's comparison. Not a pyproject extra: openmined-psi 2.0.6
# (the newest) pins protobuf==6.30.2, our generated code needs protobuf 7, and pip refuses
# the pair (ResolutionImpossible). Its C++ core does not use Python's protobuf for what the
# bench calls, so it is installed without its pin; the bench checks its answers.
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --no-deps 'openmined-psi>=2.0.6'
	touch $(BENCH_STAMP)

# QUICK=1 (or `make bench-quick`): smaller sizes, a few minutes instead of an hour.
bench: $(BENCH_STAMP)
	$(PY) bench/matching.py
	$(PY) bench/threshold.py
	$(PY) bench/check.py $(if $(QUICK),--quick)
	$(PY) bench/scale.py $(if $(QUICK),--quick)

bench-quick:
	$(MAKE) bench QUICK=1

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
