# The stages every experiment shares: the data (Fashion-MNIST unless
# the variables name other data, as imagenet100.mk does), the
# tokenizers, a training run, its probe.  Included by main.mk, tcas.mk,
# ablation.mk and curves.mk; paper.mk and demo.mk set the budget.
# Every stage writes its file through a temporary name (the tools' -o,
# or $@.tmp renamed) and is kept, so a second make redoes only what
# changed; make -j is safe: every file has one rule.  The settings that
# shape the stages' outputs are kept in $(W)/settings: when one of them
# changes, every stage is redone (names carry K, the seed and the run).
#
# Files, under $(W) = $(OUT)/work:
#
#   data/test.tsr                        unaugmented patches [n, L, P]
#   data/probe-train.tsr                 the probe's training images
#   data/features.tsr                    the teacher's patch features
#   tok/NAME.tsr                         a codebook (kmeans-fit)
#   tok/NAME.tcas                        tcas of tokenizer NAME, test set
#   BUDGET/sSEED/RUN.ckpt                a training run (mim-train)
#   BUDGET/sSEED/RUN.tsv, .time          its log; wall s, peak KiB
#   BUDGET/sSEED/RUN.probe               its linear probe and k-NN
#
# BUDGET is main or sweep, the number of passes over the training set
# in MAIN_EPOCHS or SWEEP_EPOCHS.  RUN is one of
#
#   untrained          the initialisation (one step at learning rate 0)
#   mae                pixel target
#   mae-normpix        pixel target, per-patch normalised (--norm-pix)
#   cm-TOK             token target from tokenizer TOK, one of
#     pixel-kK         K-means on pixel patches, K clusters
#     pixel-kK-eE      the same, fitted for E epochs (default KMEANS_EPOCHS)
#     feature-kK       K-means on the features of the teacher (TEACHER,
#                      the MAE of the main budget): ClusterMIM-Feature
#     class            the class-wise oracle (tokenize -R class)
#     random           uniform random tokens, RANDOM_K of them
#     position         the cross-class tokenizer (the patch's position)
#
# Every hyperparameter is a variable below; each output's metadata
# records it (the checkpoints their whole config, the tables a header
# made by $(call header)).

ifndef COMMON_MK
COMMON_MK = 1
SHELL = /bin/bash
.SHELLFLAGS = -eu -o pipefail -c
.DELETE_ON_ERROR:
.SECONDARY:
.SECONDEXPANSION:

FMNIST ?= /usr/share/datasets/fashion-mnist
BIN ?= bin
# the data: its name in titles, the training and test images (any
# input of patchify(1)), patchify's options that select them (e.g. -P
# train), the number of training images, and options for every read
# (e.g. -c 3 -N imagenet), for the training stream (with -a; e.g. -s
# 224) and for the others (e.g. -r 256 -s 224)
DATASET ?= Fashion-MNIST
TRAIN_FILE ?= $(FMNIST)/train-images-idx3-ubyte.gz
TEST_FILE ?= $(FMNIST)/t10k-images-idx3-ubyte.gz
TRAIN_SEL ?=
TEST_SEL ?=
TRAIN_N ?= 60000
IMAGE_FLAGS ?=
AUG_FLAGS ?=
EVAL_FLAGS ?=
OUT ?= results
W = $(OUT)/work
# the model and its training
PRESET ?= tiny
MODEL_FLAGS ?=
P ?= 4
BATCH ?= 256
# warmup in epochs (empty: mim-train's default, a twentieth of the run)
WARMUP_EPOCHS ?=
SEEDS ?= 0
JOBS ?= 2
MAIN_EPOCHS ?= 1
SWEEP_EPOCHS ?= 0.25
# the runs of the main comparison (main.mk, curves.mk)
MAIN_RUNS ?= untrained mae mae-normpix cm-pixel-k$(K) cm-feature-k$(FEATURE_K)
# the tokenizers: K-means on the patches of KMEANS_IMAGES training images
K ?= 64
FEATURE_K ?= 64
KMEANS_IMAGES ?= $(TRAIN_N)
KMEANS_EPOCHS ?= 10
FEATURE_IMAGES ?= 10000
RANDOM_K ?= 64
# the evaluation: linear probe trained on PROBE_TRAIN images, and k-NN
PROBE_TRAIN ?= 10000
PROBE_FLAGS ?=
# the sweeps: pixel K-means K, feature K-means K, K-means epochs
TCAS_KS ?= 16 32 64 128 256 512
FEATURE_KS ?= 16 64 256 1024
KMEANS_EPOCHS_LIST ?= 1 3 10 30

# patchify, unaugmented, on the training and the test set
PATCHIFY = $(BIN)/patchify -p $(P) $(IMAGE_FLAGS)
TRAIN_EVAL = $(PATCHIFY) $(EVAL_FLAGS) $(TRAIN_SEL)
TEST_EVAL = $(PATCHIFY) $(EVAL_FLAGS) $(TEST_SEL)
TEACHER = $(W)/main/s0/mae.ckpt
TIME = /usr/bin/time
TOOLS = $(addprefix $(BIN)/,patchify kmeans-fit tokenize tcas mim-train \
	encode probe)

# the settings that shape what the stages write, one per line; the
# file changes (and every stage with it) only when they do
SETTINGS = $(W)/settings
settings_text = BIN=$(BIN)\nTRAIN_FILE=$(TRAIN_FILE) $(TRAIN_SEL)\nTEST_FILE=$(TEST_FILE) $(TEST_SEL)\nTRAIN_N=$(TRAIN_N)\nIMAGE_FLAGS=$(IMAGE_FLAGS)\nAUG_FLAGS=$(AUG_FLAGS)\nEVAL_FLAGS=$(EVAL_FLAGS)\nPRESET=$(PRESET) $(MODEL_FLAGS)\nP=$(P)\nBATCH=$(BATCH)\nWARMUP_EPOCHS=$(WARMUP_EPOCHS)\nJOBS=$(JOBS)\nMAIN_EPOCHS=$(MAIN_EPOCHS)\nSWEEP_EPOCHS=$(SWEEP_EPOCHS)\nKMEANS_IMAGES=$(KMEANS_IMAGES)\nKMEANS_EPOCHS=$(KMEANS_EPOCHS)\nFEATURE_IMAGES=$(FEATURE_IMAGES)\nRANDOM_K=$(RANDOM_K)\nPROBE_TRAIN=$(PROBE_TRAIN)\nPROBE_FLAGS=$(PROBE_FLAGS)\n
$(shell mkdir -p $(W) && printf '%b' '$(subst ','\'',$(settings_text))' > $(SETTINGS).new && \
	{ cmp -s $(SETTINGS).new $(SETTINGS) && rm -f $(SETTINGS).new || \
	  mv $(SETTINGS).new $(SETTINGS); })

# ------------------------------------------------------------------ data

$(W)/data/test.tsr: $(TEST_FILE) $(BIN)/patchify $(SETTINGS)
	@mkdir -p $(@D)
	$(TEST_EVAL) -o $@ $<

$(W)/data/probe-train.tsr: $(TRAIN_FILE) $(BIN)/patchify $(SETTINGS)
	@mkdir -p $(@D)
	$(TRAIN_EVAL) -u -S 1 -n $(PROBE_TRAIN) -o $@ $<

# the teacher's features of FEATURE_IMAGES training images, to fit on
$(W)/data/features.tsr: $(TRAIN_FILE) $(TEACHER) $(BIN)/patchify $(BIN)/encode $(SETTINGS)
	$(TRAIN_EVAL) -u -S 2 -n $(FEATURE_IMAGES) $< | \
	    $(BIN)/encode -j $(JOBS) -m $(TEACHER) -e features -o $@

# ------------------------------------------------------------ tokenizers

# pixel-kK or pixel-kK-eE: mini-batch K-means on the patches of
# KMEANS_IMAGES training images (a shuffled subset), K clusters, E epochs
$(W)/tok/pixel-k%.tsr: $(TRAIN_FILE) $(BIN)/patchify $(BIN)/kmeans-fit $(SETTINGS)
	@mkdir -p $(@D)
	$(TRAIN_EVAL) -u -S 3 -n $(KMEANS_IMAGES) $< | \
	    $(BIN)/kmeans-fit -j $(JOBS) -S 0 -a minibatch \
	    -k $(word 1,$(subst -e, ,$*)) \
	    -e $(or $(word 2,$(subst -e, ,$*)),$(KMEANS_EPOCHS)) -o $@

# feature-kK: the same on the teacher's features
$(W)/tok/feature-k%.tsr: $(W)/data/features.tsr $(BIN)/kmeans-fit $(SETTINGS)
	@mkdir -p $(@D)
	$(BIN)/kmeans-fit -j $(JOBS) -S 0 -a minibatch -f features -k $* \
	    -e $(KMEANS_EPOCHS) -o $@ $<

# tokenize_cmd TOK: the command that adds TOK's tokens to a patch stream
tokenize_cmd = $(strip \
	$(if $(filter pixel-%,$1),$(BIN)/tokenize -j $(JOBS) -c $(W)/tok/$1.tsr,\
	$(if $(filter feature-%,$1),$(BIN)/encode -j $(JOBS) -m $(TEACHER) \
	    -e features | $(BIN)/tokenize -j $(JOBS) -f features \
	    -c $(W)/tok/$1.tsr,\
	$(if $(filter random,$1),$(BIN)/tokenize -R random -k $(RANDOM_K),\
	$(if $(filter class position,$1),$(BIN)/tokenize -R $1,\
	$(error unknown tokenizer '$1'))))))
# the files it needs
tokenize_deps = $(if $(filter pixel-% feature-%,$1),$(W)/tok/$1.tsr) \
	$(if $(filter feature-%,$1),$(TEACHER))

# TCAS and the other scores of a tokenizer, on the test set
$(W)/tok/%.tcas: $(W)/data/test.tsr $$(call tokenize_deps,$$*) $(TOOLS) $(SETTINGS)
	@mkdir -p $(@D)
	< $< $(call tokenize_cmd,$*) | $(BIN)/tcas > $@.tmp
	mv $@.tmp $@

# -------------------------------------------------------------- training

# a run's path BUDGET/sSEED/RUN: its budget, seed, name, tokenizer
run_budget = $(word 1,$(subst /, ,$1))
run_seed = $(patsubst s%,%,$(word 2,$(subst /, ,$1)))
run_name = $(word 3,$(subst /, ,$1))
run_tok = $(patsubst cm-%,%,$(call run_name,$1))
run_epochs = $(or $(if $(filter main,$(call run_budget,$1)),$(MAIN_EPOCHS)),\
	$(if $(filter sweep,$(call run_budget,$1)),$(SWEEP_EPOCHS)),\
	$(error $1: unknown budget, expected main or sweep))
# patchify's options for E epochs of the TRAIN_N training images: -e E
# for a whole number, -n for a fraction below 1
epoch_flags = $(shell awk -v e=$1 -v n=$(TRAIN_N) 'BEGIN { \
	if (e == int(e) && e >= 1) printf "-e %d", e; \
	else if (e > 0 && e < 1) printf "-n %d", e * n; \
	else print "bad" }')
# the training stream: augmented, reshuffled every epoch, the same
# images in the same order for every run of a seed
train_stream = $(PATCHIFY) -a $(AUG_FLAGS) $(TRAIN_SEL) -u \
	-S $(call run_seed,$1) $(call epoch_flags,$(call run_epochs,$1)) \
	$(if $(MPIRUN),-k $(MPI_RANK)/$(MPI_SIZE)) $(TRAIN_FILE)
# MPIRUN (e.g. srun, or mpirun -n 8): train on its ranks, each running
# the training pipeline on its shard of the images (patchify -k), with
# the trainer of MPIBIN (make MPI=1); the rank and size, for the shell
# of each rank, from Open MPI's, MPICH's or Slurm's variables
MPIRUN ?=
MPIBIN ?= build/mpi/bin
MPI_RANK = $${OMPI_COMM_WORLD_RANK:-$${PMI_RANK:-$${SLURM_PROCID:?no rank: is MPIRUN an MPI launcher?}}}
MPI_SIZE = $${OMPI_COMM_WORLD_SIZE:-$${PMI_SIZE:-$${SLURM_NTASKS:?no size: is MPIRUN an MPI launcher?}}}
# what a run trains on, and its options
run_input = $(strip \
	$(if $(filter untrained,$(call run_name,$1)),\
	    $(TRAIN_EVAL) -n $(BATCH) $(TRAIN_FILE),\
	$(if $(filter mae mae-normpix,$(call run_name,$1)),\
	    $(call train_stream,$1),\
	$(if $(filter cm-%,$(call run_name,$1)),\
	    $(call train_stream,$1) | $(call tokenize_cmd,$(call run_tok,$1)),\
	$(error $1: unknown run, expected untrained, mae, mae-normpix or cm-TOK)))))
run_flags = -q -j $(JOBS) -S $(call run_seed,$1) -b $(BATCH) \
	--preset $(PRESET) $(MODEL_FLAGS) $(call warmup_flag,$1) $(strip \
	$(if $(filter untrained,$(call run_name,$1)),-l 0 -s 1,\
	$(if $(filter mae,$(call run_name,$1)),-t pixel,\
	$(if $(filter mae-normpix,$(call run_name,$1)),-t pixel -n,\
	-t tokens))))
# -w: WARMUP_EPOCHS in steps, as mim-train counts them (batches never
# span two epochs)
warmup_flag = $(if $(WARMUP_EPOCHS),$(if $(filter untrained,$(call run_name,$1)),,\
	-w $(shell awk 'BEGIN { printf "%d", $(WARMUP_EPOCHS) * \
	    int(($(TRAIN_N) + $(BATCH) - 1) / $(BATCH)) }')))
run_deps = $(if $(filter cm-%,$(call run_name,$1)),\
	$(call tokenize_deps,$(call run_tok,$1)))

# a run, its trainer timed: wall seconds and peak KiB in RUN.time
$(W)/%.ckpt: $$(call run_deps,$$*) $(TOOLS) $(SETTINGS)
	@mkdir -p $(@D)
	rm -f $(W)/$*.tsv
ifeq ($(MPIRUN),)
	$(call run_input,$*) | \
	    $(TIME) -f '%e %M' -o $(W)/$*.time $(BIN)/mim-train \
	    $(call run_flags,$*) -L $(W)/$*.tsv -o $@
else
	$(TIME) -f '%e %M' -o $(W)/$*.time $(MPIRUN) bash -eu -o pipefail -c \
	    '$(call run_input,$*) | $(MPIBIN)/mim-train $(call run_flags,$*) \
	    -L $(W)/$*.tsv -o $@'
endif

# ------------------------------------------------------------ evaluation

$(W)/%.probe: $(W)/%.ckpt $(W)/data/probe-train.tsr $(W)/data/test.tsr \
    $(BIN)/probe $(SETTINGS)
	$(BIN)/probe -j $(JOBS) $(PROBE_FLAGS) -m $< \
	    $(W)/data/probe-train.tsr $(W)/data/test.tsr > $@.tmp
	mv $@.tmp $@

# the value of key $2 in the 'key value' file $1, for a shell command;
# where it is missing, a word that printf rejects, naming both
val = $$(awk -v k=$2 '$$1 == k { v = $$2 } \
	END { print v != "" ? v : "missing:" k ":" FILENAME }' $1)

# ---------------------------------------------------------------- sweeps

# the sweeps (tcas.mk, ablation.mk) train cm-TOK at the budget sweep,
# for the first seed only
SEED1 = $(firstword $(SEEDS))
# the table of sweep runs cm-TOK for the tokenizers $1: tokenizer, K,
# TCAS, NMI, linear and k-NN accuracy
sweep_table = { $(header); \
	printf 'tokenizer\tk\ttcas\tnmi\tlinear\tknn\n'; \
	for t in $1; do \
	  f=$(W)/tok/$$t.tcas p=$(W)/sweep/s$(SEED1)/cm-$$t.probe; \
	  printf '%s\t%s\t%.4f\t%.4f\t%.2f\t%.2f\n' $$t $(call val,$$f,k) \
	    $(call val,$$f,tcas) $(call val,$$f,nmi) \
	    $(call val,$$p,linear.test.acc) $(call val,$$p,knn.test.acc); \
	done; }
sweep_files = $(foreach t,$1,$(W)/tok/$t.tcas $(W)/sweep/s$(SEED1)/cm-$t.probe)

# a header of comment lines for a table: the commit and the variables
header = { echo "\# mimtools $$(git describe --always --dirty 2>/dev/null || echo unknown), $$(date -u +%Y-%m-%dT%H:%MZ), $$(uname -m), $$(nproc) cpus"; \
	echo "\# PRESET=$(PRESET) MODEL_FLAGS='$(MODEL_FLAGS)' WARMUP_EPOCHS=$(WARMUP_EPOCHS) P=$(P) BATCH=$(BATCH) SEEDS='$(SEEDS)' JOBS=$(JOBS) MAIN_EPOCHS=$(MAIN_EPOCHS) SWEEP_EPOCHS=$(SWEEP_EPOCHS) K=$(K) FEATURE_K=$(FEATURE_K) KMEANS_IMAGES=$(KMEANS_IMAGES) KMEANS_EPOCHS=$(KMEANS_EPOCHS) FEATURE_IMAGES=$(FEATURE_IMAGES) RANDOM_K=$(RANDOM_K) PROBE_TRAIN=$(PROBE_TRAIN) PROBE_FLAGS='$(PROBE_FLAGS)'"; \
	echo "\# TRAIN_FILE=$(TRAIN_FILE) TRAIN_SEL='$(TRAIN_SEL)' TEST_FILE=$(TEST_FILE) TEST_SEL='$(TEST_SEL)' TRAIN_N=$(TRAIN_N) IMAGE_FLAGS='$(IMAGE_FLAGS)' AUG_FLAGS='$(AUG_FLAGS)' EVAL_FLAGS='$(EVAL_FLAGS)'"; \
	echo "\# TCAS_KS='$(TCAS_KS)' FEATURE_KS='$(FEATURE_KS)' KMEANS_EPOCHS_LIST='$(KMEANS_EPOCHS_LIST)'"; }
endif
