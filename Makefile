# Front door to the CMake build. `make check` is what CI runs (through scripts/test.sh).
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS ?= $(shell nproc)

.PHONY: all build test asan fuzz check demo bench bench-hnsw bench-quant bench-text bench-server bench-project clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j 2

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHK_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

fuzz:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHK_FUZZ=ON -DHK_TESTS=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

check: fuzz asan test

demo: build
	bash scripts/demo.sh

bench: build
	/usr/bin/python3 bench/bench.py
	/usr/bin/python3 bench/bench_hnsw.py
	/usr/bin/python3 bench/bench_quant.py

bench-hnsw: build
	/usr/bin/python3 bench/bench_hnsw.py

bench-quant: build
	/usr/bin/python3 bench/bench_quant.py

bench-text: build
	/usr/bin/python3 bench/bench_text.py

bench-server: build
	/usr/bin/python3 bench/bench_server.py

bench-project: build
	/usr/bin/python3 bench/bench_project.py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
