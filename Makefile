# tde: every target works on a fresh Debian machine with Go 1.26, as root
# for the arm64 tests: what a target needs and lacks it installs (qemu-user-static
# through scripts/ensure-qemu; staticcheck and benchstat are tools of the module,
# run with go tool at the versions go.mod pins).

GO          ?= go
QEMU        ?= qemu-aarch64-static
STATICCHECK ?= $(GO) tool staticcheck
FUZZTIME    ?= 2m
CI_FUZZTIME ?= 100000x
BENCHCOUNT  ?= 10
# tdebench records the tde revision from the build: go run stamps it only
# when asked, and asking fails outside a git checkout.
BUILDVCS    := $(shell git rev-parse --is-inside-work-tree >/dev/null 2>&1 && echo true || echo auto)
TDEBENCH    := $(GO) run -buildvcs=$(BUILDVCS) ./cmd/tdebench
# local-kms, the KMS server the KMS tests run against (a tool of the module):
# built once here, so the tests neither build it nor skip (internal/kmstest).
LOCAL_KMS   := $(CURDIR)/bin/local-kms
TESTENV     := TDE_LOCAL_KMS=$(LOCAL_KMS)

# Fuzz targets, one per kernel, as package:target.
AMD64_FUZZ := ctr:FuzzGeneric ctr:FuzzAESNI ctr:FuzzVAESYMM ctr:FuzzVAESZMM \
              sm4:FuzzGeneric sm4:FuzzAESNIAVX2 sm4:FuzzGFNIYMM sm4:FuzzGFNIZMM \
              keys:FuzzParseHexKey keys:FuzzParseRawKey keys:FuzzRegistryFile keys:FuzzRegistryBody \
              engine:FuzzDictionaryDecode
ARM64_FUZZ := ctr:FuzzARM64 sm4:FuzzARM64SM4E sm4:FuzzARM64NEON

.PHONY: all test need-qemu need-local-kms test-unit test-race test-purego test-arm64 test-fips fuzz-short fuzz crash metamorphic \
        gate gate-power baseline publish publish-fips bench-kernels bench-pagecache \
        bench bench-full lint generate check-generate

all: lint test

## test: the whole CI suite. What it needs beyond Go comes first, so a
## machine that cannot have it fails in seconds, not after the unit tests.
test: need-qemu need-local-kms test-unit test-race test-purego test-arm64 test-fips fuzz-short

# need-qemu: qemu-aarch64-static for the arm64 tests, installed with apt-get
# when missing and root (scripts/ensure-qemu says what it installs, or why
# it cannot).
need-qemu:
	@QEMU=$(QEMU) scripts/ensure-qemu

# need-local-kms: build local-kms at the version go.mod pins.
need-local-kms:
	$(GO) build -o $(LOCAL_KMS) github.com/nsmithuk/local-kms

test-unit: need-local-kms
	$(TESTENV) $(GO) test -count=1 ./...

# The race detector where goroutines share state: concurrent keystreams.
test-race: need-local-kms
	$(TESTENV) $(GO) test -race -count=1 -short ./...

test-purego: need-local-kms
	$(TESTENV) $(GO) test -count=1 -short -tags purego ./...

# Go's FIPS 140-3 mode (GODEBUG=fips140=on): AES-CTR from the standard
# library's module, sm4-ctr refused. The ctr and keys suites whole, and the
# engine and tdectl tests of the canary scan, reopen, rotation, moving a
# store between modes and the SM4 refusal (SM4 subtests left out: FIPS mode
# refuses them). keys and ctr also under fips140=only, where the standard
# library refuses any non-approved use.
FIPS_ENGINE := '^(TestPebbleEndToEnd|TestRotation|TestFileIsCTR|TestMetrics|TestEncryptExistingPlaintextStore|TestFIPS.*)$$/^(aes.*|plaintext)?$$'
FIPS_TDECTL := '^(TestStatusRotateReencrypt|TestDump|TestRotateMasterKey|TestReencryptToPlaintext|TestLostDictionaryRefused|TestFIPS)$$'
test-fips: need-local-kms
	$(TESTENV) GODEBUG=fips140=on $(GO) test -count=1 ./ctr/ ./keys/
	$(TESTENV) GODEBUG=fips140=on $(GO) test -count=1 -run $(FIPS_ENGINE) ./engine/
	$(TESTENV) GODEBUG=fips140=on $(GO) test -count=1 -run $(FIPS_TDECTL) ./cmd/tdectl/
	$(TESTENV) GODEBUG=fips140=only $(GO) test -count=1 -short ./ctr/ ./keys/
	$(TESTENV) GODEBUG=fips140=only $(GO) test -count=1 -short -run $(FIPS_ENGINE) ./engine/

# arm64 under user-mode qemu: the ARMv8 AES kernel and the portable build.
# Tests that run the test binary again in a child process need the kernel
# to exec arm64 binaries (binfmt-arm64); qemu does not pass madvise on, so
# TDE_EMULATED tells the key-memory tests not to look for MADV_DONTDUMP.
test-arm64: need-qemu need-local-kms
	@scripts/binfmt-arm64
	$(TESTENV) TDE_EMULATED=qemu-user GOARCH=arm64 $(GO) test -count=1 -short -exec $(QEMU) ./...
	$(TESTENV) TDE_EMULATED=qemu-user GOARCH=arm64 $(GO) test -count=1 -short -tags purego -exec $(QEMU) ./...

# A fixed number of executions of each fuzz target (CI): a count, not a
# duration, because a -fuzztime deadline can expire while a worker is mid-call
# and go test then fails with a bare "context deadline exceeded" (golang/go#51484,
# #75804), a flake that failed CI once. `make fuzz` runs minutes.
fuzz-short:
	@$(MAKE) --no-print-directory run-fuzz T="$(AMD64_FUZZ)" FT=$(CI_FUZZTIME)

fuzz:
	@$(MAKE) --no-print-directory run-fuzz T="$(AMD64_FUZZ)" FT=$(FUZZTIME)
	@$(MAKE) --no-print-directory need-qemu
	@scripts/binfmt-arm64
	@for t in $(ARM64_FUZZ); do \
		echo "fuzz $$t (arm64, qemu) for $(FUZZTIME)"; \
		GOARCH=arm64 $(GO) test -exec $(QEMU) -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) ./$${t%%:*}/ || exit 1; \
	done

## crash: the engine's crash tests at full size (CI runs a few hundred points).
CRASH_POINTS ?= 2000
crash:
	TDE_CRASH_POINTS=$(CRASH_POINTS) $(GO) test -count=1 -timeout=60m -run='Crash' ./engine/

## metamorphic: Pebble's metamorphic test through the engine (bare FS vs
## aes128-ctr and sm4-ctr, same histories), new seeds for METAMORPHIC_TIME.
## METAMORPHIC_SEED=s METAMORPHIC_RUNS=1 replays one; the short run is in test-unit.
METAMORPHIC_TIME ?= 5m
METAMORPHIC_OPS  ?= 10000
METAMORPHIC_SEED ?=
METAMORPHIC_RUNS ?=
metamorphic:
	TDE_METAMORPHIC_TIME=$(METAMORPHIC_TIME) TDE_METAMORPHIC_OPS=$(METAMORPHIC_OPS) \
	TDE_METAMORPHIC_SEED=$(METAMORPHIC_SEED) TDE_METAMORPHIC_RUNS=$(METAMORPHIC_RUNS) \
		$(GO) test -count=1 -timeout=60m -v -run='^TestMetamorphic$$' ./engine/

run-fuzz:
	@for t in $(T); do \
		echo "fuzz $$t for $(FT)"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FT) ./$${t%%:*}/ || exit 1; \
	done

## bench: the README's first command: a short tdebench comparison (about a
## minute on a quiet machine, two under load) of Pebble on plaintext and
## every tde method, in interleaved 100 ms slices, printing the table.
bench:
	$(TDEBENCH) run --short

# The gate's runs. Reads (readrandom, scan) on Pebble's MemFS, where the
# disk's page-cache and syscall noise is left out and tde's code is what
# is measured: 256 rounds of 25 ms slices on 8 builds of the stores,
# about 90 s. A build (its stores, its minutes) can put a method's
# overhead a few points off, so the gate's units are the builds, and one
# that is off moves a run by an eighth of that. Writes (fillrandom) on the disk,
# where a MemFS fill's flush and compactions scatter it by tens of
# points: 32 rounds of 100 ms, about 65 s. Each is compared with a
# baseline of the same run made four times (make baseline), at alpha
# 0.025, so that the gate as a whole keeps 0.05; a run where a pair rose
# past the threshold without significance runs once more, pooled
# (--extend 1). bench/README.md ("Gate power") measures what it catches.
# GATE_FLAGS adds run flags (make gate-power injects a delay).
GATE_READS := --short --memfs --duration 25ms --workloads readrandom,scan --rounds 256 --builds 8
GATE_FILLS := --short --workloads fillrandom --rounds 32
GATE       := $(TDEBENCH) gate --metric time,cpu --threshold 2% --alpha 0.025 --extend 1
GATE_FLAGS ?=

## gate: the gate's runs compared with the committed baselines' overheads
## (results/baseline.txt for reads, results/baseline-fill.txt for fills),
## on time and on CPU; fails where either rose significantly and by more
## than 2 points (CI runs it; about 2.5 minutes).
gate:
	$(GATE) --baseline results/baseline.txt --run $(GATE_READS) $(GATE_FLAGS)
	$(GATE) --baseline results/baseline-fill.txt --run $(GATE_FILLS) $(GATE_FLAGS)

## gate-power: how often make gate fails with aes128-ctr slowed by about
## 3% on readrandom and scan (GATE_POWER_DELAY busy-waits in each file
## read), and how often it fails unchanged, over GATE_POWER_RUNS runs of
## each (about 35 minutes with 10); the table goes to bench/README.md by
## hand.
GATE_POWER_RUNS  ?= 10
GATE_POWER_DELAY ?= 55ns
gate-power:
	@sh bench/gate-power.sh $(GATE_POWER_RUNS) aes128-ctr=$(GATE_POWER_DELAY)

## baseline: re-record results/baseline.txt and results/baseline-fill.txt
## (on a quiet machine): the gate's two runs, each made BASELINE_RUNS
## times in a process of its own and joined (1024 rounds of the reads on
## 32 builds, 128 of fillrandom; about 7.5 minutes), so that the baselines
## add little noise of their own and their builds show how far a build
## strays (bench/README.md, "Gate power").
BASELINE_RUNS ?= 4
baseline:
	$(GO) build -buildvcs=$(BUILDVCS) -o bin/tdebench ./cmd/tdebench
	@tmp=$$(mktemp -d); \
	for i in $$(seq $(BASELINE_RUNS)); do \
		echo "baseline: run $$i of $(BASELINE_RUNS)"; \
		bin/tdebench run $(GATE_READS) --benchfmt $$tmp/reads-$$i.txt >/dev/null || exit 1; \
		bin/tdebench run $(GATE_FILLS) --benchfmt $$tmp/fills-$$i.txt >/dev/null || exit 1; \
	done; \
	cat $$tmp/reads-*.txt > results/baseline.txt && cat $$tmp/fills-*.txt > results/baseline-fill.txt && rm -r $$tmp

## publish: the full benchmark, written to results/<date>-<cpu>/ (~53 min):
## 200 ms slices, 300 rounds of fillrandom, 250 of readrandom and scan, 50 of
## the rest, the preloaded stores made 18 times, gocryptfs included where it
## can mount.
publish:
	$(TDEBENCH) run --out results

## publish-fips: the README table's workloads (fillrandom, readrandom,
## scan) in Go's FIPS 140-3 mode (AES-CTR from the standard library's
## validated module), AES-128 and AES-256 against plaintext, 80 rounds,
## into results/<date>-<cpu>-fips/ (~5 min). The binary is built first so
## that only tdebench, not the go command, runs with GODEBUG=fips140=on.
publish-fips:
	$(GO) build -buildvcs=$(BUILDVCS) -o bin/tdebench ./cmd/tdebench
	GODEBUG=fips140=on bin/tdebench run --out results --methods aes128-ctr,aes256-ctr --workloads fillrandom,readrandom,scan --rounds 80

## bench-kernels: the assembly kernels of ctr beside crypto/cipher and of
## sm4 beside gmsm, throughput only (about 40 s; the sm4 half again with DISABLE_GFNI=1, as a CPU without GFNI runs it).
bench-kernels:
	@out=$$(mktemp); \
	echo "ctr: AES-CTR kernels against crypto/cipher (benchstat over 6 runs; backend here: $$($(GO) run ./ctr/internal/backend))"; \
	$(GO) test -run='^$$' -bench='BenchmarkCTR/.*/size=(64B|16KiB)/impl=[^g]' -count=6 -benchtime=0.1s ./ctr/ > $$out && \
	$(GO) tool benchstat -col /impl $$out | awk '/B\/s/ { print prev; on = 1 } on { print } { prev = $$0 }'; \
	echo; echo "sm4: SM4-CTR kernels against gmsm v0.44.1 (same; gmsm uses GFNI where the CPU has it)"; \
	$(GO) test -run='^$$' -bench='BenchmarkCTR/size=(64B|16KiB)/impl=([^g]|gm|gf)' -count=6 -benchtime=0.1s ./sm4/ > $$out && \
	$(GO) tool benchstat -col /impl $$out | awk '/B\/s/ { print prev; on = 1 } on { print } { prev = $$0 }'; \
	echo; echo "sm4 as a CPU without GFNI runs it (DISABLE_GFNI=1: gmsm's AES-NI path too); +stream is the cipher.Stream view"; \
	DISABLE_GFNI=1 $(GO) test -run='^$$' -bench='BenchmarkCTR/size=(16B|64B|16KiB)/impl=([^g]|gm)' -count=6 -benchtime=0.1s ./sm4/ > $$out && \
	$(GO) tool benchstat -col /impl $$out | awk '/B\/s/ { print prev; on = 1 } on { print } { prev = $$0 }'

## bench-pagecache: why tdebench drops a store's tables from the page cache
## before reading them back: random reads of files cached as they were
## written, against the same files read back (Linux, about 40 s).
bench-pagecache:
	$(GO) run ./bench/pagecache

## bench-full: every size and key, count=10, as quoted in closing notes.
bench-full:
	@out=$$(mktemp); \
	$(GO) test -run='^$$' -bench=. -count=$(BENCHCOUNT) ./ctr/ ./sm4/ | tee $$out && \
	echo && $(GO) tool benchstat -col /impl $$out

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags purego ./...
	GOARCH=arm64 $(GO) vet ./...
	$(STATICCHECK) ./...
	cd ctr/_asm && $(GO) vet ./...
	cd sm4/_asm && $(GO) vet ./...

## generate: regenerate the avo assembly; check-generate fails if it differs.
generate:
	$(GO) generate ./ctr/ ./sm4/

check-generate: generate
	@git diff --exit-code -- '*.s' || { echo "committed assembly differs from its avo generator: run make generate and commit"; exit 1; }
