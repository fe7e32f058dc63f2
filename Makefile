# The README's two commands: `make demo` and `make test`. Both install what is missing, configure
# and build Release into build/. `make bench` writes build/bench.jsonl.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all bootstrap configure build test demo bench format clean

all: build

bootstrap:
	@scripts/bootstrap

configure: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 1200

demo: build
	scripts/demo $(BUILD)

bench: build
	scripts/bench $(BUILD)

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp' '*.cu' '*.cuh')

clean:
	rm -rf $(BUILD)
