# Top-level entry points: deps, build, demo, check, bench, install.
# The real work lives in scripts/ so that each step can be run on its own.

SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD_DIR ?= build

.PHONY: deps build demo check bench install clean examples

# Installs missing Debian packages when root; otherwise prints the exact
# apt-get line and fails.
deps:
	@scripts/deps.sh

build: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then meson setup $(BUILD_DIR); fi
	ninja -C $(BUILD_DIR)

demo: build
	@scripts/demo.sh

# Unit tests, end-to-end tests, the same under ASan+UBSan, a short fuzz run.
check: build
	@scripts/check.sh

bench: build
	bench/startup
	bench/bigtree
	bench/guard
	bench/rss
	bench/network
	bench/tls
	bench/bursts
	bench/soak --seconds 60
	bench/libexec --build $(BUILD_DIR)
	bench/libmany --build $(BUILD_DIR)

install: build
	meson install -C $(BUILD_DIR)

# examples/ built against the library of the build tree (see examples/README.md).
examples: build
	PKG_CONFIG_PATH=$(CURDIR)/$(BUILD_DIR)/meson-uninstalled \
		$(MAKE) -C examples LDFLAGS=-Wl,-rpath,$(CURDIR)/$(BUILD_DIR)

clean:
	rm -rf build build-asan build-fuzz
	$(MAKE) -C examples clean
