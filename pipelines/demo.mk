# The main job on the default data, Fashion-MNIST from the Debian package
# dataset-fashion-mnist, at a budget that runs in minutes on 2 cores:
#
#   patchify -> kmeans-fit -> tokenize -> tcas      (the tokenizer, scored)
#   patchify | mim-train -t pixel                   (MAE, a short run)
#   patchify | tokenize | mim-train -t tokens       (ClusterMIM-Pixel, same)
#   probe -m each encoder                          (linear probe and k-NN)
#
# and a summary of what came out in $(OUT)/summary.txt.  The paper's
# full comparisons (pipelines/ per experiment) build on these stages.
#
#   make -f pipelines/demo.mk [FMNIST=dir] [P=4] [K=64] [IMAGES=25600]
#                             [EPOCHS=1] [OUT=dir]
#
# Training reads IMAGES images of the training set EPOCHS times, in
# batches of BATCH: the step count follows from the stream, which the
# trainer reads to its end (so no stage of a pipe dies of SIGPIPE).
SHELL = /bin/bash
.SHELLFLAGS = -eu -o pipefail -c
.DELETE_ON_ERROR:

FMNIST ?= /usr/share/datasets/fashion-mnist
P ?= 4
K ?= 64
IMAGES ?= 25600
PROBE_TRAIN ?= 10000
EPOCHS ?= 1
BATCH ?= 256
SEED ?= 0
JOBS ?= 2
OUT ?= results/demo
BIN ?= bin

TRAIN = $(FMNIST)/train-images-idx3-ubyte.gz
TEST = $(FMNIST)/t10k-images-idx3-ubyte.gz
# the training stream: augmented, shuffled, reshuffled every epoch
AUGMENTED = $(BIN)/patchify -a -u -S $(SEED) -p $(P) -n $(IMAGES) \
	    -e $(EPOCHS) $(TRAIN)

all: $(OUT)/summary.txt
	@cat $<

$(OUT)/train-p$(P).tsr: $(TRAIN) $(BIN)/patchify
	@mkdir -p $(@D)
	$(BIN)/patchify -p $(P) -o $@ $<

$(OUT)/probe-train-p$(P).tsr: $(TRAIN) $(BIN)/patchify
	@mkdir -p $(@D)
	$(BIN)/patchify -p $(P) -n $(PROBE_TRAIN) -o $@ $<

$(OUT)/test-p$(P).tsr: $(TEST) $(BIN)/patchify
	@mkdir -p $(@D)
	$(BIN)/patchify -p $(P) -o $@ $<

# the tokenizer: K-means on the pixel patches of the training set
$(OUT)/centroids-k$(K).tsr: $(OUT)/train-p$(P).tsr $(BIN)/kmeans-fit
	$(BIN)/kmeans-fit -v -j $(JOBS) -k $(K) -S $(SEED) -o $@ $<

$(OUT)/tcas-k$(K).txt: $(OUT)/test-p$(P).tsr $(OUT)/centroids-k$(K).tsr $(BIN)/tokenize $(BIN)/tcas
	$(BIN)/tokenize -c $(OUT)/centroids-k$(K).tsr $< | $(BIN)/tcas > $@

$(OUT)/mae.ckpt: $(TRAIN) $(BIN)/patchify $(BIN)/mim-train
	$(AUGMENTED) | $(BIN)/mim-train -t pixel -n -j $(JOBS) -S $(SEED) \
	    -b $(BATCH) -L $(OUT)/mae.tsv -o $@

$(OUT)/clustermim.ckpt: $(TRAIN) $(OUT)/centroids-k$(K).tsr $(BIN)/patchify $(BIN)/tokenize $(BIN)/mim-train
	$(AUGMENTED) | $(BIN)/tokenize -c $(OUT)/centroids-k$(K).tsr | \
	    $(BIN)/mim-train -t tokens -j $(JOBS) -S $(SEED) -b $(BATCH) \
	    -L $(OUT)/clustermim.tsv -o $@

# a frozen encoder judged on the test set: linear probe and k-NN
$(OUT)/%.probe: $(OUT)/%.ckpt $(OUT)/probe-train-p$(P).tsr $(OUT)/test-p$(P).tsr $(BIN)/probe
	$(BIN)/probe -j $(JOBS) -m $< $(OUT)/probe-train-p$(P).tsr \
	    $(OUT)/test-p$(P).tsr > $@

$(OUT)/summary.txt: $(OUT)/tcas-k$(K).txt $(OUT)/mae.probe $(OUT)/clustermim.probe
	{ echo "== Fashion-MNIST test set, $(P)x$(P) patches, K-means K=$(K) tokenizer"; \
	  cat $(OUT)/tcas-k$(K).txt; \
	  for m in mae clustermim; do \
	    echo "== $$m: $(EPOCHS) x $(IMAGES) images in batches of $(BATCH): first and last steps"; \
	    sed -n '1p;2p;$$p' $(OUT)/$$m.tsv; \
	    echo "-- linear probe ($(PROBE_TRAIN) training images) and k-NN, test set:"; \
	    grep -E '^(linear|knn)\.test\.acc ' $(OUT)/$$m.probe; \
	  done; } > $@

clean:
	rm -rf $(OUT)

.PHONY: all clean
