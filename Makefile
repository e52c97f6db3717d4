# The two commands of the README, and the ones around them. Each target
# installs what it is missing first, and only that: `make run` needs a
# compiler and libraries; `make test` also the real peers and a browser
# (scripts/install-deps build|run|test).
BUILD      ?= build
TEST_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= session address reply dsn config admin_request etcd_reply
JOBS       ?= $(shell nproc)
CONFIG     ?= examples/sluice.toml

.PHONY: deps deps-build deps-run build run test unit fuzz fuzz-build bench storm check-config clean

deps: deps-test
deps-build:
	@scripts/install-deps build
deps-run:
	@scripts/install-deps run
deps-test:
	@scripts/install-deps test

build: deps-build
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Starts Sluice on the embedded default: SQLite directory seeded from
# examples/directory.toml, Maildir delivery under var/mail, SMTP on 127.0.0.1:2525.
run: deps-run build
	@mkdir -p var
	@scripts/make-cert var/tls mx.sluice.test
	$(BUILD)/sluice serve --config $(CONFIG)

# The whole suite, on a sanitizer (ASan+UBSan) build, then a short
# libFuzzer run (about 30 s per target) over the protocol parsers.
test: deps-test fuzz-build
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS)

# Unit tests only (GoogleTest, sanitizer build): no peers needed.
unit: deps-build
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) -LE integration

fuzz-build: deps-test
	@CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DSLUICE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

# A long fuzzing run: FUZZ_SECONDS per target. Crashes land in $(FUZZ_BUILD)/crash-*;
# once fixed, copy them to fuzz/regressions/<target>/.
fuzz: fuzz-build
	@cd $(FUZZ_BUILD) && for t in $(FUZZ_TARGETS); do \
	  ./fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=crash-$$t- \
	    corpus/$$t ../fuzz/corpus/$$t || exit 1; done

# Sluice beside a tuned Postfix, same client and sink (bench/run --help).
bench: build
	bench/run $(BENCH_ARGS)

# A storm against a Sluice it starts (tools/storm/README.md).
SCENARIO ?= tools/storm/scenarios/ex1331830.toml
storm: build
	$(BUILD)/sluice-storm run $(SCENARIO) $(STORM_ARGS)

check-config: deps-run build
	@scripts/make-cert var/tls mx.sluice.test
	$(BUILD)/sluice check-config $(CONFIG)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
