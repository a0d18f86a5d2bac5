#!/bin/sh
# ./dev.sh run | test [make arguments...]
#
# The entry point for a machine that has only git: installs what the
# target needs (mk/deps.sh: Apache and its apxs, Python with headers and
# venv, a compiler, make itself; for `test` the suite's tools too), then
# hands over to make. Where everything is there already it costs a few
# package queries, and `./dev.sh run` is `make run`.
set -e
cd "$(dirname "$0")"
[ $# -gt 0 ] || set -- run
case "$1" in
test|check) kind=test ;;
*) kind=run ;;
esac
sh mk/deps.sh "$kind"
exec make --no-print-directory "$@"
