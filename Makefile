# mimtools: masked image modeling with discrete tokens, as small C tools.
#
#   make              build bin/* (objects in build/)
#   make check        the Bats suite, on the normal and on the ASan+UBSan build
#   make check-fast   the suite without tests tagged slow, normal build only
#   make bench        speed and memory against peers, printed as ratios
#   make demo         the main comparison on Fashion-MNIST, reduced budget
#   make paper        every experiment at the full budget (README.md)
#   make deps         install the Debian packages the build and tests need
#   make install      into $(DESTDIR)$(PREFIX) (make MPI=1 install: the
#                     MPI build's tools)
#   make SAN=1        the sanitizer build, into build/san/
#   make fuzz         each fuzz harness under libFuzzer for FUZZTIME seconds
#                     (clang; build/fuzz/), see tests/fuzz/run
#   make MPI=1        every tool, mim-train and kmeans-fit able to run as
#                     the ranks of an MPI job (mpirun, srun), into
#                     build/mpi/ (with SAN=1, build/san-mpi/)
include config.mk

TOOLS = $(sort $(basename $(notdir $(wildcard tools/*.c))))
TESTBIN = $(sort $(basename $(notdir $(wildcard tests/unit/*.c))))
FUZZERS = $(sort $(basename $(notdir $(wildcard tests/fuzz/fuzz-*.c))))

LIBSRC = $(wildcard lib/*.c)
MAN1 = $(TOOLS:%=man/man1/%.1)
MAN5 = man/man5/tensor-stream.5
MAN7 = man/man7/mimtools.7

ifeq ($(MPI),1)
ifeq ($(SAN),1)
O ?= build/san-mpi
else
O ?= build/mpi
endif
BIN ?= $(O)/bin
endif

ifeq ($(FUZZ),1)
# libFuzzer: clang, the library instrumented for coverage
CC = $(FUZZCC)
O ?= build/fuzz
BIN ?= $(O)/bin
CFLAGS += -O1 -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-pass-failed
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),1)
O ?= build/san
BIN ?= $(O)/bin
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
O ?= build
BIN ?= bin
endif

LIB = $(O)/libmim.a
LIBOBJ = $(LIBSRC:lib/%.c=$(O)/lib/%.o)

# per-tool external libraries
LDLIBS_patchify = $(LIBARCHIVE) $(LIBPNG) $(LIBJPEG) $(LIBZ) $(LIBM)
LDLIBS_tensorinfo = $(LIBZ) $(LIBM)
LDLIBS_kmeans-fit = $(LIBBLAS) $(LIBZ) $(LIBM)
LDLIBS_tokenize = $(LIBBLAS) $(LIBZ) $(LIBM)
LDLIBS_tcas = $(LIBZ) $(LIBM)
LDLIBS_augraph = $(LIBLAPACK) $(LIBZ) $(LIBM)
LDLIBS_mim-train = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_encode = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_probe = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_finetune = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_mkfixture = $(LIBPNG) $(LIBJPEG) $(LIBZ) $(LIBM)
LDLIBS_unit-tensor = $(LIBZ) $(LIBM)
LDLIBS_unit-image = $(LIBARCHIVE) $(LIBPNG) $(LIBJPEG) $(LIBZ) $(LIBM)
LDLIBS_unit-input = $(LIBARCHIVE) $(LIBZ) $(LIBM)
LDLIBS_unit-crc = $(LIBZ) $(LIBM)
LDLIBS_unit-kmeans = $(LIBBLAS) $(LIBZ) $(LIBM)
LDLIBS_unit-metrics = $(LIBZ) $(LIBM)
LDLIBS_unit-augraph = $(LIBLAPACK) $(LIBZ) $(LIBM)
LDLIBS_unit-layers = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_unit-vit = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_unit-classifier = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_vitdump = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_ftdump = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_unit-probe = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_unit-util = $(LIBM)
LDLIBS_fuzz-tsr = $(LIBZ) $(LIBM)
LDLIBS_fuzz-idx = $(LIBZ) $(LIBM)
LDLIBS_fuzz-image = $(LIBPNG) $(LIBJPEG) $(LIBZ) $(LIBM)
LDLIBS_fuzz-archive = $(LIBARCHIVE) $(LIBZ) $(LIBM)
LDLIBS_fuzz-safetensors = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp
LDLIBS_fuzz-ckpt = $(LIBBLAS) $(LIBZ) $(LIBM) -fopenmp

# MPI: lib/dist.c is the only file that includes mpi.h; every program
# of the MPI build links the library
ifeq ($(MPI),1)
ifeq ($(strip $(MPI_LIBS)),)
$(error MPI=1: pkg-config knows no mpi-c (apt-get install libopenmpi-dev), or give MPI_CFLAGS and MPI_LIBS)
endif
$(O)/lib/dist.o: CPPFLAGS += -DMIM_MPI
$(O)/lib/dist.o: CFLAGS += $(MPI_CFLAGS)
LDLIBS_MPI = $(MPI_LIBS)
endif

# the training kernels (simd.h): OpenMP loops, and -O3 vectorises
# attention, GELU and AdamW (its sqrtf without errno)
$(O)/lib/layers.o $(O)/lib/vit.o $(O)/lib/optim.o: CFLAGS += -O3 -fopenmp -fno-math-errno
# unit-layers and unit-vit check what every OpenMP thread of the layers
# and of AdamW does
$(O)/tests/unit-layers.o $(O)/tests/unit-vit.o: CFLAGS += -fopenmp
LDLIBS_mktsr = $(LIBZ) $(LIBM)

all: $(TOOLS:%=$(BIN)/%) $(TESTBIN:%=$(O)/tests/%) $(FUZZERS:%=$(O)/tests/%)

$(O)/lib/%.o: lib/%.c lib/*.h config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Ilib -c -o $@ $<

$(O)/tools/%.o: tools/%.c lib/*.h config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Ilib -c -o $@ $<

$(O)/tests/%.o: tests/unit/%.c tests/unit/*.h lib/*.h config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Ilib -c -o $@ $<

$(LIB): $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(BIN)/%: $(O)/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_$*) $(LDLIBS_MPI)

$(O)/tests/%: $(O)/tests/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS_$*) $(LDLIBS_MPI)

# fuzz harnesses: with replay.c for the tests, with libFuzzer for make fuzz
$(O)/fuzz/%.o: tests/fuzz/%.c tests/fuzz/fuzz.h lib/*.h config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Ilib -c -o $@ $<

$(O)/tests/fuzz-%: $(O)/fuzz/fuzz-%.o $(O)/fuzz/replay.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(O)/fuzz/replay.o $(LIB) $(LDLIBS_fuzz-$*)

$(O)/bin/fuzz-%: $(O)/fuzz/fuzz-%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS_fuzz-$*)

# ---------------------------------------------------------------- tests
BATS = bats
# the MPI builds too where MPI is installed (tests/99-mpi.bats skips
# without them, which CI counts as a failure)
MPI_TOOLS = mim-train kmeans-fit
HAVE_MPI = $(shell pkg-config --exists mpi-c 2>/dev/null && command -v mpirun >/dev/null && echo 1)
check: all
	$(MAKE) SAN=1 all
	$(if $(HAVE_MPI),$(MAKE) MPI=1 $(MPI_TOOLS:%=build/mpi/bin/%) && \
	    $(MAKE) MPI=1 SAN=1 $(MPI_TOOLS:%=build/san-mpi/bin/%))
	tests/run
	MIM_BIN=$(CURDIR)/build/san/bin MIM_TESTBIN=$(CURDIR)/build/san/tests \
	    MIM_MPIBIN=$(CURDIR)/build/san-mpi/bin tests/run

check-fast: all
	tests/run --filter-tags '!slow'

# make fuzz FUZZTIME=600: every harness that long, one after another
FUZZTIME = 60
FUZZCC = clang
fuzz:
	$(MAKE) FUZZ=1 fuzzers
	tests/fuzz/run $(FUZZTIME) build/fuzz/bin

fuzzers: $(FUZZERS:%=$(O)/bin/%)

lint-man:
	mandoc -Tlint -W warning $(MAN1) $(MAN5) $(MAN7)

bench: all
	$(if $(HAVE_MPI),$(MAKE) MPI=1 $(MPI_TOOLS:%=build/mpi/bin/%))
	bench/run

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    $$(grep -v '^#' .ci/packages)

demo: all
	$(MAKE) -f pipelines/demo.mk

paper: all
	$(MAKE) -f pipelines/paper.mk

# ---------------------------------------------------------------- install
install: $(TOOLS:%=$(BIN)/%)
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7
	cp -f $(TOOLS:%=$(BIN)/%) $(DESTDIR)$(PREFIX)/bin/
	cd $(DESTDIR)$(PREFIX)/bin && chmod 755 $(TOOLS)
	cp -f $(MAN1) $(DESTDIR)$(MANPREFIX)/man1/
	cp -f $(MAN5) $(DESTDIR)$(MANPREFIX)/man5/
	cp -f $(MAN7) $(DESTDIR)$(MANPREFIX)/man7/
	cd $(DESTDIR)$(MANPREFIX) && chmod 644 $(MAN1:man/%=%) $(MAN5:man/%=%) $(MAN7:man/%=%)

uninstall:
	cd $(DESTDIR)$(PREFIX)/bin && rm -f $(TOOLS)
	cd $(DESTDIR)$(MANPREFIX) && rm -f $(MAN1:man/%=%) $(MAN5:man/%=%) $(MAN7:man/%=%)

clean:
	rm -rf build bin

.PHONY: all check check-fast fuzz fuzzers lint-man bench deps demo paper install uninstall clean
.SECONDARY:
