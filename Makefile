# mod_wsgi: build, serve the example, test.
#
#   make run    serve examples/hello.wsgi at http://127.0.0.1:8000
#   make test   build for every Python in PYTHONS and run the test suite
#
# PYTHONS defaults to Debian's python3 and the newest pyenv 3.13, each
# found at run time; override with e.g. make test PYTHONS="python3.12".

PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
PY313 := $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3)))
PYTHONS ?= $(wildcard /usr/bin/python3) $(PY313)
MPMS ?= event prefork
PORT ?= 8000

PYVERSION = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENVS := $(foreach p,$(PYTHONS),build/venv-$(call PYVERSION,$(p)))
FIRST_VENV := $(firstword $(VENVS))

.PHONY: all build run test asan clean

all: build

# One venv per Python, with our package (the module built by pip for that
# Python) and the test requirements.
build:
	@set -e; for py in $(PYTHONS); do \
	    v=build/venv-$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	    if [ ! -x $$v/bin/python ]; then \
	        echo "== creating $$v from $$py"; $$py -m venv $$v; \
	    fi; \
	    if [ ! -f $$v/.deps ] || [ tests/requirements.txt -nt $$v/.deps ]; then \
	        $$v/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt; \
	        touch $$v/.deps; \
	    fi; \
	    echo "== building the module for $$($$v/bin/python -V)"; \
	    rm -rf build/temp.* build/lib.* build/bdist.*; \
	    $$v/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir --force-reinstall --no-deps . ; \
	    $$v/bin/python -m pip install -q --disable-pip-version-check distro; \
	done

run: build
	$(FIRST_VENV)/bin/python examples/run.py --venv $(FIRST_VENV) --port $(PORT) examples/hello.wsgi

test: build
	MOD_WSGI_TEST_VENVS="$(abspath $(VENVS))" MOD_WSGI_TEST_MPMS="$(MPMS)" \
	    $(FIRST_VENV)/bin/python -m pytest -ra tests

# The suite against a module built with AddressSanitizer and UBSan
# (first Python only), Apache started with the sanitizer runtime preloaded.
ASAN_LIB := $(shell $(CC) -print-file-name=libasan.so 2>/dev/null)
asan:
	@set -e; py=$(firstword $(PYTHONS)); \
	v=build/asan-$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	[ -x $$v/bin/python ] || $$py -m venv $$v; \
	$$v/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt; \
	rm -rf build/temp.* build/lib.* build/bdist.*; \
	CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	LDFLAGS="-fsanitize=address,undefined" \
	    $$v/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir --force-reinstall --no-deps . ; \
	rm -rf build/temp.* build/lib.* build/bdist.*; \
	$$v/bin/python -m pip install -q --disable-pip-version-check distro; \
	MOD_WSGI_TEST_VENVS="$(abspath .)/$$v" MOD_WSGI_TEST_MPMS="$(MPMS)" \
	MOD_WSGI_TEST_PRELOAD="$(ASAN_LIB)" $$v/bin/python -m pytest -ra tests/test_embedded.py

clean:
	rm -rf build dist *.egg-info mod_wsgi/server/*.so mod_wsgi/server/apxs_config.py
