# Fuzzing of the pure C parts (tests/c/fuzz_*.c) with clang's libFuzzer,
# AddressSanitizer and UBSan. Called from .ci/run.
#
#   make fuzz     build each target with coverage, run it FUZZ_SECONDS
#                 (default 60) from an empty corpus, then print the line
#                 coverage of the file it fuzzes; fails on any crash or
#                 sanitizer report, or when a file's line coverage is
#                 below FUZZ_MIN_COVERAGE percent (default 95)
#
# Each target has a dictionary (tests/c/fuzz_NAME.dict): the frame magic
# and the protocol's names, which random mutation would take long to hit.
# Targets: fuzz_proto (the daemon wire codec, wsgi_proto.c) and
# fuzz_validate (status and header checks, wsgi_validate.c). Both files
# include nothing but the C library, so each builds alone. Needs clang
# and llvm (llvm-profdata, llvm-cov): `sh mk/deps.sh ci` installs them.

FUZZ_SECONDS ?= 60
FUZZ_MIN_COVERAGE ?= 95
FUZZ_DIR := build/fuzz
FUZZ_TARGETS := proto:wsgi_proto.c validate:wsgi_validate.c

.PHONY: fuzz

fuzz:
	@for tool in clang llvm-profdata llvm-cov; do
	    command -v $$tool >/dev/null || { echo "make fuzz: $$tool is missing: sh mk/deps.sh ci (as root) installs it" >&2; exit 1; }
	done
	mkdir -p $(FUZZ_DIR)
	for t in $(FUZZ_TARGETS); do
	    name=$${t%%:*}; src=mod_wsgi/server/$${t#*:}
	    exe=$(FUZZ_DIR)/fuzz_$$name
	    echo "== fuzz_$$name: $(FUZZ_SECONDS) s on $$src"
	    clang -g -O1 -fsanitize=fuzzer,address,undefined \
	        -fno-sanitize-recover=undefined \
	        -fprofile-instr-generate -fcoverage-mapping \
	        -Imod_wsgi/server tests/c/fuzz_$$name.c $$src -o $$exe
	    rm -rf $(FUZZ_DIR)/corpus_$$name $(FUZZ_DIR)/$$name.prof*
	    mkdir -p $(FUZZ_DIR)/corpus_$$name
	    LLVM_PROFILE_FILE=$(FUZZ_DIR)/$$name.profraw $$exe \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -dict=tests/c/fuzz_$$name.dict \
	        -artifact_prefix=$(FUZZ_DIR)/crash_$$name- \
	        $(FUZZ_DIR)/corpus_$$name 2>$(FUZZ_DIR)/$$name.log || {
	        tail -n 40 $(FUZZ_DIR)/$$name.log
	        echo "make fuzz: fuzz_$$name failed; the input is in $(FUZZ_DIR)/crash_$$name-*" >&2
	        exit 1
	    }
	    grep -E '^stat::number_of_executed_units' $(FUZZ_DIR)/$$name.log || true
	    llvm-profdata merge -sparse $(FUZZ_DIR)/$$name.profraw -o $(FUZZ_DIR)/$$name.profdata
	    cov=$$(llvm-cov report $$exe -instr-profile=$(FUZZ_DIR)/$$name.profdata $$src \
	        | awk '/^TOTAL/ { print $$(NF-3) }' | tr -d '%')
	    echo "== fuzz_$$name: line coverage of $$src: $$cov %"
	    if awk -v c="$$cov" -v m=$(FUZZ_MIN_COVERAGE) 'BEGIN { exit !(c + 0 < m + 0) }'; then
	        llvm-cov show $$exe -instr-profile=$(FUZZ_DIR)/$$name.profdata $$src | grep -E '^ +[0-9]+\| +0\|' || true
	        echo "make fuzz: line coverage of $$src is $$cov %, below $(FUZZ_MIN_COVERAGE) %: extend tests/c/fuzz_$$name.c to reach the lines above" >&2
	        exit 1
	    fi
	done
