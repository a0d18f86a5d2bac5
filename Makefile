# mod_wsgi: build, serve the example, test.
#
#   make run     install what is missing (mk/deps.sh), build, then serve
#                examples/hello.wsgi at http://127.0.0.1:8000 through a real
#                Apache with our module (Ctrl-C stops it)
#   make test    the same for the suite's needs, build for every Python in
#                PYTHONS, then run the test suite
#   make fresh-check  ./dev.sh run and ./dev.sh test in a fresh debootstrap
#                Debian 12 root (root only, on demand, ~15 minutes)
#   make build   one venv per Python, build/venv-X.Y, holding the package as
#                `pip install .` builds it plus tests/requirements.txt; the
#                module is rebuilt only when a source file (or APXS) changed
#   make dev     fast C iteration: recompile the module with setup.py (no pip,
#                no build isolation) and drop it into the existing venvs
#   make check   run the test suite against what is built, without building
#   make info    show the Pythons, venvs and apxs that would be used
#   make asan    the suite against an ASan/UBSan build (first Python only)
#   make fuzz    libFuzzer on the wire codec and the validators (mk/fuzz.mk)
#   make clean
#
# PYTHONS defaults to Debian's /usr/bin/python3 and the newest pyenv 3.13,
# each found at run time and skipped if absent; override it with e.g.
#   make test PYTHONS="/usr/bin/python3 $HOME/.pyenv/versions/3.12.1/bin/python3"
# (one Python per X.Y). The tests get the venvs in MOD_WSGI_TEST_VENVS and the
# MPMs in MOD_WSGI_TEST_MPMS (MPMS, default "event prefork"); TESTS and
# PYTEST_ARGS narrow the run: make check TESTS=tests/test_environ.py

SHELL := /bin/bash
.SHELLFLAGS := -e -o pipefail -c
.ONESHELL:

PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo "$(HOME)/.pyenv")
PY313 := $(shell ls -d $(PYENV_ROOT)/versions/3.13.*/bin/python3 2>/dev/null \
	| grep -E '/versions/3\.13\.[0-9]+/bin/' | sort -V | tail -n 1)
PYTHONS ?= $(wildcard /usr/bin/python3) $(PY313)
# The newest pyenv 3.12: make test builds build/venv-3.12 for the tests of
# Python-version features (tests/test_gil_modes.py find it there) without
# running the whole suite on it. GIL_PYTHONS= (empty) skips it.
PY312 := $(shell ls -d $(PYENV_ROOT)/versions/3.12.*/bin/python3 2>/dev/null \
	| grep -E '/versions/3\.12\.[0-9]+/bin/' | sort -V | tail -n 1)
GIL_PYTHONS ?= $(filter-out $(PYTHONS),$(PY312))
MPMS ?= $(if $(MOD_WSGI_TEST_MPMS),$(MOD_WSGI_TEST_MPMS),event prefork)
PORT ?= 8000
TESTS ?= tests
PYTEST_ARGS ?= -q -ra

XY = import sys; print("%d.%d" % sys.version_info[:2])
VENVS := $(foreach p,$(PYTHONS),$(abspath build/venv-$(shell $(p) -c '$(XY)' 2>/dev/null)))
FIRST_VENV := $(firstword $(VENVS))
PIP = -m pip --disable-pip-version-check -q

# Files whose change means the installed package must be rebuilt.
SOURCES = find mod_wsgi setup.py setup.cfg pyproject.toml MANIFEST.in \
	\( -name '*.c' -o -name '*.h' -o -name '*.py' -o -name '*.cfg' \
	   -o -name '*.toml' -o -name '*.in' \) ! -name apxs_config.py

.PHONY: all build venvs dev run serve test check info asan clean fresh-check

all: build

# The system packages come first (mk/deps.sh installs what is missing, as
# root, or says which command to run), then a make of its own: which
# Pythons and venvs there are is known only once Python is installed.
build:
	@sh mk/deps.sh run
	$(MAKE) --no-print-directory venvs

venvs:
	@[ -n "$(strip $(PYTHONS))" ] || { echo "make: no Python found; set PYTHONS" >&2; exit 1; }
	seen=" "
	for py in $(PYTHONS); do
	    xy=$$("$$py" -c '$(XY)') || { echo "make: cannot run $$py" >&2; exit 1; }
	    case "$$seen" in *" $$xy "*)
	        echo "make: PYTHONS holds two Python $$xy; the venv is build/venv-X.Y, keep one" >&2
	        exit 1;;
	    esac
	    seen="$$seen$$xy "
	    v=build/venv-$$xy
	    base=$$("$$py" -c 'import sys; print(sys.base_prefix)')
	    if [ "$$("$$v/bin/python" -c 'import sys; print(sys.base_prefix)' 2>/dev/null)" != "$$base" ]; then
	        echo "== creating $$v from $$py"
	        rm -rf "$$v"
	        "$$py" -m venv "$$v"
	    fi
	    # pip before 21.3 copies the tree to a temp dir and cannot build it in place.
	    if ! "$$v/bin/python" -c 'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (21, 3))'; then
	        "$$v/bin/python" $(PIP) install --upgrade pip
	    fi
	    deps=--no-deps
	    if [ ! -f "$$v/.deps" ] || [ tests/requirements.txt -nt "$$v/.deps" ] || [ setup.cfg -nt "$$v/.deps" ]; then
	        echo "== installing tests/requirements.txt into $$v"
	        "$$v/bin/python" $(PIP) install -r tests/requirements.txt
	        deps=
	    fi
	    want="$$py APXS=$${APXS:-}"
	    if [ -n "$$deps" ] && [ -f "$$v/.built" ] && [ "$$(cat "$$v/.built")" = "$$want" ] \
	        && [ -z "$$($(SOURCES) -newer "$$v/.built" -print -quit)" ] \
	        && "$$v/bin/mod_wsgi-express" module-location >/dev/null 2>&1; then
	        echo "== $$v is up to date"
	        continue
	    fi
	    echo "== building the module for $$("$$v/bin/python" -V) into $$v"
	    touch "$$v/.built.start"      # a source edited during the build stays newer
	    rm -rf build/temp.* build/lib.* build/bdist.*    # setuptools would reuse them
	    # --no-cache-dir: a changed .c must never come back as a cached wheel.
	    "$$v/bin/python" $(PIP) install --no-cache-dir --force-reinstall $$deps .
	    [ -n "$$deps" ] || touch "$$v/.deps"
	    echo "$$want" > "$$v/.built"
	    touch -r "$$v/.built.start" "$$v/.built"
	    rm -f "$$v/.built.start"
	done

# Recompiles only the C module for each existing venv and replaces its
# installed .so (atomically: a running Apache keeps the old mapping).
dev:
	@for v in $(VENVS); do
	    if ! so=$$("$$v/bin/mod_wsgi-express" module-location 2>/dev/null); then
	        echo "make dev: $$v has no built module yet; run 'make build' first" >&2
	        exit 1
	    fi
	    xy=$$(basename "$$v"); xy=$${xy#venv-}
	    echo "== compiling the module for Python $$xy"
	    mkdir -p build/dev-$$xy
	    touch build/dev-$$xy/start
	    "$$v/bin/python" setup.py -q build_ext --force \
	        --build-lib build/dev-$$xy --build-temp build/dev-$$xy/temp
	    cp "build/dev-$$xy/mod_wsgi/server/$$(basename "$$so")" "$$so.new"
	    mv "$$so.new" "$$so"
	    echo "== installed $$so"
	    # If only C files changed, the venv is now current: `make test` will
	    # not rebuild it with pip.
	    if [ -f "$$v/.built" ] && [ -z "$$($(SOURCES) ! -name '*.c' ! -name '*.h' -newer "$$v/.built" -print -quit)" ]; then
	        touch -r build/dev-$$xy/start "$$v/.built"
	    fi
	done

run:
	@sh mk/deps.sh run
	$(MAKE) --no-print-directory serve

serve:
	@$(MAKE) --no-print-directory venvs PYTHONS="$(firstword $(PYTHONS))"
	echo "== serving examples/hello.wsgi at http://127.0.0.1:$(PORT)/ -- press Ctrl-C to stop"
	# mod_wsgi-express: a private Apache in the foreground, the app in a
	# daemon process group; as root the children run as www-data.
	exec "$(FIRST_VENV)/bin/mod_wsgi-express" start-server examples/hello.wsgi \
	    --host 127.0.0.1 --port $(PORT) --log-to-terminal --access-log \
	    $$( [ "$$(id -u)" = 0 ] && echo --user www-data --group www-data )

test:
	@sh mk/deps.sh test
	$(MAKE) --no-print-directory venvs
	if [ -n "$(strip $(GIL_PYTHONS))" ]; then
	    $(MAKE) --no-print-directory venvs PYTHONS="$(GIL_PYTHONS)"
	fi
	if ! ls tests/test_*.py >/dev/null 2>&1; then
	    echo "make test: no tests/test_*.py yet, nothing to run"
	    exit 0
	fi
	$(MAKE) --no-print-directory check

check:
	@echo "== pytest with MOD_WSGI_TEST_VENVS=\"$(VENVS)\" MOD_WSGI_TEST_MPMS=\"$(MPMS)\""
	MOD_WSGI_TEST_VENVS="$(VENVS)" MOD_WSGI_TEST_MPMS="$(MPMS)" \
	    "$(FIRST_VENV)/bin/python" -m pytest $(PYTEST_ARGS) $(TESTS)

info:
	@echo "PYENV_ROOT: $(PYENV_ROOT)"
	for py in $(PYTHONS); do echo "python:     $$py ($$("$$py" -V 2>&1))"; done
	echo "venvs:      $(VENVS)"
	echo "MPMs:       $(MPMS)"
	apxs=$${APXS:-$$(command -v apxs2 || command -v apxs || echo none)}
	echo "apxs:       $$apxs"

# The suite against a module built with AddressSanitizer and UBSan
# (first Python only), Apache started with the sanitizer runtime preloaded.
ASAN_LIB := $(shell $(CC) -print-file-name=libasan.so 2>/dev/null)
ASAN_TESTS ?= tests
asan:
	@py=$(firstword $(PYTHONS))
	v=build/asan-$$("$$py" -c '$(XY)')
	[ -x "$$v/bin/python" ] || "$$py" -m venv "$$v"
	"$$v/bin/python" $(PIP) install -r tests/requirements.txt
	rm -rf build/temp.* build/lib.* build/bdist.*
	CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	LDFLAGS="-fsanitize=address,undefined" \
	    "$$v/bin/python" $(PIP) install --no-cache-dir --force-reinstall .
	rm -rf build/temp.* build/lib.* build/bdist.*
	MOD_WSGI_TEST_VENVS="$(abspath .)/$$v" MOD_WSGI_TEST_MPMS="$(MPMS)" \
	MOD_WSGI_TEST_PRELOAD="$(ASAN_LIB)" "$$v/bin/python" -m pytest $(PYTEST_ARGS) $(ASAN_TESTS)

clean:
	rm -rf build dist *.egg-info mod_wsgi/server/*.so mod_wsgi/server/apxs_config.py
	find mod_wsgi examples -name __pycache__ -type d -prune -exec rm -rf {} +
fresh-check:
	@sh mk/fresh-check.sh

include mk/packages.mk
include mk/bench.mk
include mk/fuzz.mk
