# Benchmark: our module against Apache static files, Debian's mod_wsgi and
# gunicorn (bench/README.md).  Not part of `make test` or CI.
#
#   make bench         build the module for BENCH_PYTHON (incremental), then
#                      the full run: every workload x concurrency x connection
#                      mode, 3 interleaved rounds (about 35 minutes)
#   make bench-quick   hello, 1 MiB file, 1 MiB POST; c=16; keep-alive (~1.5 min)
#   make bench-smoke   every contender answers every workload (~40 s)
#   make bench-run     like `make bench`, without building first
#   make bench-chart FILE=bench/results/bench-STAMP.json
#                      one PNG per workload next to it (matplotlib, in
#                      bench/.cache/venv-chart)
#
# BENCH_ARGS passes options to bench/run.py, e.g.
#   make bench-run BENCH_ARGS="--workloads hello,post --concurrency 16 --rounds 5"
# Needs wrk (installed with apt-get when missing and we are root); Debian's
# module and gunicorn are fetched into bench/.cache on first use.

BENCH_PYTHON ?= /usr/bin/python3
BENCH_ARGS ?=

.PHONY: bench bench-run bench-quick bench-smoke bench-deps bench-chart

bench-deps:
	@if ! command -v wrk >/dev/null 2>&1; then
	    if [ "$$(id -u)" = 0 ]; then
	        apt-get install -y -q wrk || { apt-get update -qq && apt-get install -y -q wrk; }
	    else
	        echo "make bench: wrk is missing: sudo apt-get install wrk" >&2
	        exit 1
	    fi
	fi

bench: bench-deps
	@$(MAKE) --no-print-directory build PYTHONS="$(BENCH_PYTHON)"
	"$(BENCH_PYTHON)" bench/run.py $(BENCH_ARGS)

bench-run: bench-deps
	@"$(BENCH_PYTHON)" bench/run.py $(BENCH_ARGS)

bench-quick: bench-deps
	@"$(BENCH_PYTHON)" bench/run.py --quick $(BENCH_ARGS)

bench-smoke: bench-deps
	@"$(BENCH_PYTHON)" bench/run.py --smoke $(BENCH_ARGS)

bench-chart:
	@if [ -z "$(FILE)" ]; then echo "usage: make bench-chart FILE=bench/results/bench-STAMP.json" >&2; exit 2; fi
	@f="$(FILE)"; [ -e "$$f" ] || [ ! -e "bench/$$f" ] || f="bench/$$f"; "$(BENCH_PYTHON)" bench/chart.py "$$f"
