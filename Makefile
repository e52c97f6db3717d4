# The two commands of the README, and the ones around them.
# Every target installs what is missing first (scripts/install-deps).
BUILD      ?= build
TEST_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CONFIG     ?= examples/sluice.toml

.PHONY: deps build run test unit check-config clean

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Starts Sluice on the embedded default: SQLite directory seeded from
# examples/directory.toml, Maildir delivery under var/mail, SMTP on 127.0.0.1:2525.
run: build
	@mkdir -p var
	@scripts/make-cert var/tls mx.sluice.test
	$(BUILD)/sluice serve --config $(CONFIG)

# The whole suite, on a sanitizer (ASan+UBSan) build.
test: deps
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

unit: deps
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) --target sluice_unit_tests
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) -LE integration

check-config: build
	@scripts/make-cert var/tls mx.sluice.test
	$(BUILD)/sluice check-config $(CONFIG)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
