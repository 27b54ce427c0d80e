# The main job on the default data, Fashion-MNIST from the Debian package
# dataset-fashion-mnist: for now, patchify both splits into 4x4 patches
# and summarise them with tensorinfo.  Later stages (kmeans-fit, tokenize,
# mim-train, probe, tcas) join here as they land.
#
#   make -f pipelines/demo.mk [FMNIST=dir] [P=4] [OUT=results/demo]
SHELL = /bin/bash
.SHELLFLAGS = -eu -o pipefail -c
.DELETE_ON_ERROR:

FMNIST ?= /usr/share/datasets/fashion-mnist
P ?= 4
OUT ?= results/demo
BIN ?= bin

all: $(OUT)/summary.txt
	@cat $<

$(OUT)/train-p$(P).tsr: $(FMNIST)/train-images-idx3-ubyte.gz $(BIN)/patchify
	@mkdir -p $(@D)
	$(BIN)/patchify -v -p $(P) -o $@ $<

$(OUT)/test-p$(P).tsr: $(FMNIST)/t10k-images-idx3-ubyte.gz $(BIN)/patchify
	@mkdir -p $(@D)
	$(BIN)/patchify -v -p $(P) -o $@ $<

$(OUT)/summary.txt: $(OUT)/train-p$(P).tsr $(OUT)/test-p$(P).tsr $(BIN)/tensorinfo
	{ for s in train test; do \
	    f=$(OUT)/$$s-p$(P).tsr; \
	    echo "== $$s: $$f"; \
	    $(BIN)/tensorinfo $$f | awk '$$2 == "patches" { n += substr($$4, 4) + 0; g++ } \
	        END { print "groups", g; print "images", n }'; \
	    $(BIN)/tensorinfo $$f | head -n 2; \
	    $(BIN)/tensorinfo -x patches -o $(OUT)/$$s.npy $$f; \
	    echo "npy $(OUT)/$$s.npy"; \
	  done; } > $@

.PHONY: all
