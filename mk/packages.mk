# Distro packages built from this tree (docs/packaging.md). Included by
# the Makefile; `make -f mk/packages.mk TARGET` works too.
#
#   make deb       libapache2-mod-wsgi-py3 and python3-mod-wsgi .debs
#                  (dpkg-buildpackage -b in a copy of the tree) into dist/
#   make lintian   lintian over the .changes of `make deb`
#   make rpm       python3-mod_wsgi .rpm (rpmbuild -bb; RPMBUILD_MODE=-ba
#                  adds the .src.rpm) into dist/
#   make rpmlint   rpmlint over the spec and the newest python3-mod_wsgi .rpm
#   make stdeb     the quick, not lintian-clean .deb of the Python package
#                  alone made by stdeb (apt-get install python3-stdeb)
#   make variants  `make rpm` once more per venv in PKG_VENVS (default: the
#                  Makefile's build/venv-X.Y) whose X.Y is not the system
#                  python3's: the pythonX.Y-mod_wsgi flavours, built with
#                  that venv's Python (it has setuptools, from `make build`)
#
# PKG_DIST (default dist) is where the packages go; RPM_DEFINES passes
# extra rpmbuild --define options, e.g. RPM_DEFINES="--define 'python3_pkgversion 3.12'".

SHELL := /bin/bash
.SHELLFLAGS := -e -o pipefail -c
.ONESHELL:

PKG_DIST ?= dist
# The build tools run with the system PATH only (a pyenv shim or venv
# first on PATH would make pybuild and rpmbuild use that Python) and
# without this make's flags (debian/rules is a makefile too).
PKG_ENV = env -u PYENV_VERSION -u VIRTUAL_ENV -u MAKEFLAGS -u MFLAGS -u MAKELEVEL PATH=/usr/sbin:/usr/bin:/sbin:/bin
PKG_VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' mod_wsgi/__init__.py)
LINTIAN_ARGS ?= --fail-on error,warning --display-info
RPMLINT_ARGS ?= -c rpm/rpmlint.toml
RPM_DEFINES ?=
RPMBUILD_MODE ?= -bb

# Copies the tree's files (tracked ones and new ones not ignored by git,
# or everything but build output outside a git checkout) into $(1).
define copy_tree
	mkdir -p "$(1)"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	    git ls-files -z -co --exclude-standard \
	        | while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done \
	        | tar --null -T - -cf - | tar -xf - -C "$(1)"
	else
	    tar --exclude=./build --exclude=./dist --exclude='*.so' --exclude='*.egg-info' \
	        -cf - . | tar -xf - -C "$(1)"
	fi
endef

.PHONY: deb lintian rpm rpmlint variants stdeb

deb:
	@work=$$(mktemp -d "$${TMPDIR:-/tmp}/mod_wsgi-deb.XXXXXX")
	trap 'rm -rf "$$work"' EXIT
	src="$$work/mod-wsgi-$(PKG_VERSION)"
	$(call copy_tree,$$src)
	start=$$(date +%s)
	echo "== dpkg-buildpackage -us -uc -b in $$src"
	( cd "$$src" && $(PKG_ENV) dpkg-buildpackage -us -uc -b ) > "$$work/build.log" 2>&1 \
	    || { tail -n 60 "$$work/build.log" >&2; echo "make deb: dpkg-buildpackage failed" >&2; exit 1; }
	mkdir -p "$(PKG_DIST)"
	cp "$$work"/*.deb "$$work"/*.changes "$$work"/*.buildinfo "$(PKG_DIST)/"
	cp "$$work/build.log" "$(PKG_DIST)/mod-wsgi-deb-build.log"
	echo "== built in $$(( $$(date +%s) - start ))s:"
	cd "$(PKG_DIST)" && ls -1 *.deb

lintian:
	@changes=$$(ls -t "$(PKG_DIST)"/mod-wsgi_$(PKG_VERSION)_*.changes 2>/dev/null | head -n 1)
	[ -n "$$changes" ] || { echo "make lintian: no $(PKG_DIST)/mod-wsgi_$(PKG_VERSION)_*.changes; run make deb" >&2; exit 1; }
	lintian $(LINTIAN_ARGS) "$$changes"

# rpmbuild checks BuildRequires against the rpm database, which is empty
# on a machine that is not RPM-based: skip the check there.
RPM_NODEPS = $(if $(wildcard /etc/debian_version),--nodeps)

rpm:
	@work=$$(mktemp -d "$${TMPDIR:-/tmp}/mod_wsgi-rpm.XXXXXX")
	trap 'rm -rf "$$work"' EXIT
	src="$$work/mod_wsgi-$(PKG_VERSION)"
	$(call copy_tree,$$src)
	tar -C "$$work" -czf "$$work/mod_wsgi-$(PKG_VERSION).tar.gz" "mod_wsgi-$(PKG_VERSION)"
	start=$$(date +%s)
	echo "== rpmbuild $(RPMBUILD_MODE) $(RPM_NODEPS) rpm/python3-mod_wsgi.spec $(RPM_DEFINES)"
	$(PKG_ENV) rpmbuild $(RPMBUILD_MODE) $(RPM_NODEPS) --define "_topdir $$work/rpmbuild" \
	    --define "_sourcedir $$work" $(RPM_DEFINES) "$$src/rpm/python3-mod_wsgi.spec" \
	    > "$$work/build.log" 2>&1 \
	    || { tail -n 60 "$$work/build.log" >&2; echo "make rpm: rpmbuild failed" >&2; exit 1; }
	mkdir -p "$(PKG_DIST)"
	cd "$$work/rpmbuild"
	rpms=$$(find RPMS SRPMS -name '*.rpm' 2>/dev/null)
	cd - >/dev/null
	for r in $$rpms; do cp "$$work/rpmbuild/$$r" "$(PKG_DIST)/"; done
	cp "$$work/build.log" "$(PKG_DIST)/mod_wsgi-rpm-build.log"
	echo "== built in $$(( $$(date +%s) - start ))s:"
	printf '%s\n' $$rpms

rpmlint:
	@rpms=$$(ls -t "$(PKG_DIST)"/python3-mod_wsgi-*.rpm 2>/dev/null | head -n 1)
	[ -n "$$rpms" ] || { echo "make rpmlint: no $(PKG_DIST)/python3-mod_wsgi-*.rpm; run make rpm" >&2; exit 1; }
	rpmlint $(RPMLINT_ARGS) rpm/python3-mod_wsgi.spec $$rpms

PKG_VENVS ?= $(VENVS)
PKG_XY = import sys; print("%d.%d" % sys.version_info[:2])

variants:
	@[ -n "$(strip $(PKG_VENVS))" ] || { echo "make variants: no venvs; set PKG_VENVS or run make build" >&2; exit 1; }
	default=$$($(PKG_ENV) python3 -c '$(PKG_XY)')
	for v in $(PKG_VENVS); do
	    [ -x "$$v/bin/python" ] || { echo "make variants: no $$v/bin/python; run make build" >&2; exit 1; }
	    xy=$$("$$v/bin/python" -c '$(PKG_XY)')
	    if [ "$$xy" = "$$default" ]; then
	        echo "== $$v: Python $$xy is the system python3, built by make rpm"
	        continue
	    fi
	    $(MAKE) --no-print-directory rpm PKG_DIST="$(PKG_DIST)" \
	        RPM_DEFINES="--define 'python3_pkgversion $$xy' --define 'python3 $$v/bin/python'"
	done

# stdeb: a quick .deb of the Python package only (stdeb cannot build the
# Apache module, and its debian/ is not lintian-clean: docs/packaging.md).
# Not the distro route and not in CI. The copy's setup.py is replaced by a
# two-line shim without the module; the metadata still comes from setup.cfg.
STDEB_MAINTAINER ?= mod_wsgi maintainers <maintainers@users.noreply.r-seed-4de72a54.example>

stdeb:
	@command -v py2dsc-deb >/dev/null || { echo "make stdeb: py2dsc-deb missing; apt-get install python3-stdeb" >&2; exit 1; }
	work=$$(mktemp -d "$${TMPDIR:-/tmp}/mod_wsgi-stdeb.XXXXXX")
	trap 'rm -rf "$$work"' EXIT
	src="$$work/tree"
	$(call copy_tree,$$src)
	rm -rf "$$src/debian"
	printf 'from setuptools import setup\nsetup()\n' > "$$src/setup.py"
	( cd "$$src" && $(PKG_ENV) python3 setup.py -q sdist -d "$$work" ) > "$$work/build.log" 2>&1
	# Its own name: python3-mod-wsgi is the real package from debian/.
	printf '[DEFAULT]\nSource: mod-wsgi-stdeb\nPackage3: python3-mod-wsgi-stdeb\nConflicts3: python3-mod-wsgi\n' > "$$work/stdeb.cfg"
	( cd "$$work" && $(PKG_ENV) py2dsc-deb -d "$$work/deb_dist" -x "$$work/stdeb.cfg" \
	    --maintainer "$(STDEB_MAINTAINER)" mod_wsgi-$(PKG_VERSION).tar.gz ) >> "$$work/build.log" 2>&1 \
	    || { tail -n 60 "$$work/build.log" >&2; echo "make stdeb: py2dsc-deb failed" >&2; exit 1; }
	mkdir -p "$(PKG_DIST)"
	find "$$work/deb_dist" -maxdepth 1 -type f -exec cp {} "$(PKG_DIST)/" \;
	cd "$$work/deb_dist" && ls -1 *.deb *.changes
