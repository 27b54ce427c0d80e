# The stages every experiment shares: the data (Fashion-MNIST unless
# the variables name other data, as imagenet100.mk does), the
# tokenizers, a training run, its probes.  Included by main.mk, tcas.mk,
# ablation.mk and curves.mk; paper.mk and demo.mk set the budget.  The
# protocol these stages implement (learning rates, validation split,
# probe, augmentation, seeds) is written down in pipelines/README.
#
# Every stage writes its file through a temporary name (the tools' -o,
# or $@.tmp renamed) and is kept, so a second make redoes only what
# changed; make -j is safe: every file has one rule.  The settings that
# shape the stages' outputs are kept in $(W)/settings.*, one file per
# kind of stage: when one changes, the stages of that kind and those
# after them are redone (file names carry K, the epochs, the seed, the
# learning rate and the run).
#
# Files, under $(W) = $(OUT)/work:
#
#   data/test.tsr               the test images, unaugmented [n, L, P]
#   data/probe-train.tsr        the probe's training images (all of them)
#   data/val-train.tsr          the validation split's probe training
#   data/val.tsr                  images, and its held-out images
#   data/features-T.tsr         the patch features of teacher T
#   tok/NAME.tsr                a codebook (kmeans-fit)
#   tok/NAME.tcas               tcas of tokenizer NAME, on the test set
#   tok/NAME.augraph            augraph of tokenizer NAME, on the test set
#   eE/sS/BLR/RUN.ckpt          a training run: E passes over the
#                               training set, seed S, base learning
#                               rate BLR (mim-train); RUN.ckpt.part
#                               while it runs, to resume from
#   eE/sS/BLR/RUN.tsv, .time    its log; its wall s and peak KiB
#   eE/sS/BLR/RUN.probe         its linear probe and k-NN, test set
#   eE/sS/BLR/RUN.val           the same on the validation split
#   eE/sS/BLR/RUN.ft            its encoder fine-tuned with labels
#                               (finetune, with FINETUNE=1), judged on
#                               the test set; RUN.ft.tsr the fine-tuned
#                               model (RUN.ft.tsr.part while it runs)
#   eE/sS/BLR/RUN.ft.tsv, .time its log; its wall s and peak KiB
#   blr.mk                      the learning rates the validation split
#                               chose (with LR_SWEEP)
#
# RUN is one of
#
#   untrained          the initialisation (one step at learning rate 0;
#                      its path is e0/sS/0/untrained)
#   mae                pixel target
#   mae-normpix        pixel target, per-patch normalised (--norm-pix)
#   cm-TOK             token target from tokenizer TOK, one of
#     pixel-kK         K-means on pixel patches, K clusters
#     pixel-kK-eE      the same, fitted for E epochs (default KMEANS_EPOCHS)
#     feature-kK       K-means on the patch features of the main budget's
#                      MAE (TEACHER_feature): ClusterMIM-Feature
#     cmfeature-kK     the same with the main budget's ClusterMIM-Pixel
#                      as the teacher (TEACHER_cmfeature)
#     ftfeature-kK     the same with a supervised teacher: that MAE
#                      fine-tuned with labels (TEACHER_ftfeature, its
#                      RUN.ft.tsr), the realistic cousin of the
#                      class-wise oracle
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
comma = ,
.SHELLFLAGS = -eu -o pipefail -c
.DELETE_ON_ERROR:
.SECONDEXPANSION:

FMNIST ?= /usr/share/datasets/fashion-mnist
BIN ?= bin
# the data: its name in titles, the training and test images (any
# input of patchify(1)), patchify's options that select them (e.g. -P
# train), the number of training images, and options for every read
# (here the Fashion-MNIST training set's pixel mean and standard
# deviation; e.g. -c 3 -N imagenet for ImageNet), for the training
# stream (e.g. -s 224) and for the others (e.g. -r 256 -s 224)
DATASET ?= Fashion-MNIST
TRAIN_FILE ?= $(FMNIST)/train-images-idx3-ubyte.gz
TEST_FILE ?= $(FMNIST)/t10k-images-idx3-ubyte.gz
TRAIN_SEL ?=
TEST_SEL ?=
TRAIN_N ?= 60000
IMAGE_FLAGS ?= -N 0.286/0.353
AUG_FLAGS ?=
EVAL_FLAGS ?=
# 1: train on random resized crops and flips (patchify -a), for long
# budgets; 0: on the images as they are
AUGMENT ?= 0
OUT ?= results
W = $(OUT)/work
# the model and its training
PRESET ?= tiny
MODEL_FLAGS ?=
P ?= 4
BATCH ?= 256
# warmup in epochs (empty: mim-train's default, a twentieth of the run)
WARMUP_EPOCHS ?= 1
JOBS ?= 2
# the seeds of the main comparison, and of the sweeps
SEEDS ?= 0
SWEEP_SEEDS ?= $(firstword $(SEEDS))
MAIN_EPOCHS ?= 1
SWEEP_EPOCHS ?= 0.25
# base learning rates (mim-train -l: times BATCH/256) of each method,
# the ones the validation sweep of make paper chose (pipelines/README);
# every token target (cm-TOK) takes ClusterMIM's.  With LR_SWEEP set,
# each method is trained at each of these for the main budget and the
# first seed, and the one with the best validation accuracy is used.
BLR_MAE ?= 3e-3
BLR_MAE_NORMPIX ?= 3e-3
BLR_CM ?= 3e-3
LR_SWEEP ?=
# the runs of the main comparison (main.mk, curves.mk)
MAIN_RUNS ?= untrained mae mae-normpix cm-pixel-k$(K) cm-feature-k$(FEATURE_K)
# the tokenizers: K-means on the patches of KMEANS_IMAGES training images
K ?= 64
FEATURE_K ?= 64
KMEANS_IMAGES ?= $(TRAIN_N)
KMEANS_EPOCHS ?= 10
FEATURE_IMAGES ?= 10000
RANDOM_K ?= 64
# the evaluation: linear probe and k-NN trained on PROBE_TRAIN training
# images (all by default); the validation split: shard VAL_SPLIT of
# them held out (patchify -k), the probe trained on the rest (-x)
PROBE_TRAIN ?= $(TRAIN_N)
PROBE_FLAGS ?=
VAL_SPLIT ?= 0/6
# fine-tuning (finetune(1)), with FINETUNE=1: each run's encoder
# trained end to end with labels and a linear head for FT_EPOCHS passes
# over the training set, on random resized crops and flips with
# FT_AUGMENT=1 (patchify -a), MAE's recipe (finetune's defaults) unless
# FT_FLAGS says otherwise, batch BATCH; judged on the test set.  The
# main table and the ablations then report it beside the linear probe
FINETUNE ?= 0
FT_EPOCHS ?= 1
FT_AUGMENT ?= 1
FT_FLAGS ?=
# the sweeps: pixel K-means K, feature K-means K, K-means epochs
TCAS_KS ?= 16 32 64 128 256 512
FEATURE_KS ?= 16 64 256 1024
KMEANS_EPOCHS_LIST ?= 1 3 10 30

# every file a stage makes is kept, also those make reaches only
# through other stages' patterns; a file a table names and that is
# missing is made again (.SECONDARY would let make skip it)
.PRECIOUS: $(W)/data/features-%.tsr $(W)/tok/pixel-k%.tsr $(W)/tok/%.tsr \
	$(W)/tok/%.tcas $(W)/tok/%.augraph $(W)/e%.ckpt $(W)/%.probe $(W)/%.val \
	$(W)/%.ft $(W)/%.ft.tsr

# patchify, unaugmented, on the training and the test set
PATCHIFY = $(BIN)/patchify -p $(P) $(IMAGE_FLAGS)
TRAIN_EVAL = $(PATCHIFY) $(EVAL_FLAGS) $(TRAIN_SEL)
TEST_EVAL = $(PATCHIFY) $(EVAL_FLAGS) $(TEST_SEL)
SEED1 = $(firstword $(SEEDS))
# the teachers of the feature tokenizers: the main budget's MAE and
# ClusterMIM-Pixel of the first seed
TEACHER_feature = $(W)/e$(MAIN_EPOCHS)/s$(SEED1)/$(BLR_MAE)/mae.ckpt
TEACHER_cmfeature = $(W)/e$(MAIN_EPOCHS)/s$(SEED1)/$(BLR_CM)/cm-pixel-k$(K).ckpt
# and the supervised teacher: that MAE fine-tuned (FT_EPOCHS, FT_FLAGS),
# so that ftfeature against feature is the labels' doing alone
TEACHER_ftfeature = $(W)/e$(MAIN_EPOCHS)/s$(SEED1)/$(BLR_MAE)/mae.ft.tsr
TIME = /usr/bin/time
TOOLS = $(addprefix $(BIN)/,patchify kmeans-fit tokenize tcas mim-train \
	encode probe)

# the settings that shape what the stages write, one file per kind of
# stage, one setting per line; a file changes (and the stages that
# depend on it with it) only when its settings do
keep = $(shell mkdir -p $(W) && printf '%b' '$(subst ','\'',$2)' > $1.new && \
	{ cmp -s $1.new $1 && rm -f $1.new || mv $1.new $1; })
S_DATA = $(W)/settings.data
S_TOK = $(W)/settings.tok
S_TRAIN = $(W)/settings.train
S_PROBE = $(W)/settings.probe
S_FT = $(W)/settings.ft
# and what shapes the tables themselves (their columns), not a stage
S_TABLE = $(W)/settings.table
$(call keep,$(S_DATA),BIN=$(BIN)\nTRAIN_FILE=$(TRAIN_FILE) $(TRAIN_SEL)\nTEST_FILE=$(TEST_FILE) $(TEST_SEL)\nTRAIN_N=$(TRAIN_N)\nIMAGE_FLAGS=$(IMAGE_FLAGS)\nEVAL_FLAGS=$(EVAL_FLAGS)\nP=$(P)\n)
$(call keep,$(S_TOK),KMEANS_IMAGES=$(KMEANS_IMAGES)\nKMEANS_EPOCHS=$(KMEANS_EPOCHS)\nFEATURE_IMAGES=$(FEATURE_IMAGES)\nRANDOM_K=$(RANDOM_K)\nJOBS=$(JOBS)\n)
$(call keep,$(S_TRAIN),AUGMENT=$(AUGMENT)\nAUG_FLAGS=$(AUG_FLAGS)\nPRESET=$(PRESET) $(MODEL_FLAGS)\nBATCH=$(BATCH)\nWARMUP_EPOCHS=$(WARMUP_EPOCHS)\nJOBS=$(JOBS)\n)
$(call keep,$(S_PROBE),PROBE_TRAIN=$(PROBE_TRAIN)\nPROBE_FLAGS=$(PROBE_FLAGS)\nVAL_SPLIT=$(VAL_SPLIT)\nJOBS=$(JOBS)\n)
$(call keep,$(S_TABLE),FINETUNE=$(FINETUNE)\n)
$(call keep,$(S_FT),FT_EPOCHS=$(FT_EPOCHS)\nFT_AUGMENT=$(FT_AUGMENT)\nFT_FLAGS=$(FT_FLAGS)\nAUG_FLAGS=$(AUG_FLAGS)\nBATCH=$(BATCH)\nJOBS=$(JOBS)\n)

# ------------------------------------------------------------------ data

$(W)/data/test.tsr: $(TEST_FILE) $(BIN)/patchify $(S_DATA)
	@mkdir -p $(@D)
	$(TEST_EVAL) -o $@ $<

# the probe's training images, and the validation split's two parts
$(W)/data/probe-train.tsr: $(TRAIN_FILE) $(BIN)/patchify $(S_DATA) $(S_PROBE)
	@mkdir -p $(@D)
	$(TRAIN_EVAL) -u -S 1 -n $(PROBE_TRAIN) -o $@ $<

$(W)/data/val-train.tsr: $(TRAIN_FILE) $(BIN)/patchify $(S_DATA) $(S_PROBE)
	@mkdir -p $(@D)
	$(TRAIN_EVAL) -u -S 1 -n $(PROBE_TRAIN) -x $(VAL_SPLIT) -o $@ $<

$(W)/data/val.tsr: $(TRAIN_FILE) $(BIN)/patchify $(S_DATA) $(S_PROBE)
	@mkdir -p $(@D)
	$(TRAIN_EVAL) -n $(PROBE_TRAIN) -k $(VAL_SPLIT) -o $@ $<

# the features of teacher T (feature, cmfeature, ftfeature) of
# FEATURE_IMAGES training images, to fit on
$(W)/data/features-%.tsr: $(TRAIN_FILE) $$(TEACHER_$$*) $(BIN)/patchify \
    $(BIN)/encode $(S_DATA) $(S_TOK)
	$(TRAIN_EVAL) -u -S 2 -n $(FEATURE_IMAGES) $< | \
	    $(BIN)/encode -j $(JOBS) -m $(TEACHER_$*) -e features -o $@

# ------------------------------------------------------------ tokenizers

# pixel-kK or pixel-kK-eE: mini-batch K-means on the patches of
# KMEANS_IMAGES training images (a shuffled subset), K clusters, E epochs
$(W)/tok/pixel-k%.tsr: $(TRAIN_FILE) $(BIN)/patchify $(BIN)/kmeans-fit \
    $(S_DATA) $(S_TOK)
	@mkdir -p $(@D)
	$(TRAIN_EVAL) -u -S 3 -n $(KMEANS_IMAGES) $< | \
	    $(BIN)/kmeans-fit -j $(JOBS) -S 0 -a minibatch \
	    -k $(word 1,$(subst -e, ,$*)) \
	    -e $(or $(word 2,$(subst -e, ,$*)),$(KMEANS_EPOCHS)) -o $@

# TEACHER-kK (feature, cmfeature, ftfeature): the same on the teacher's
# features
tok_teacher = $(firstword $(subst -k, ,$1))
$(W)/tok/%.tsr: $(W)/data/features-$$(call tok_teacher,$$*).tsr \
    $(BIN)/kmeans-fit $(S_TOK)
	@mkdir -p $(@D)
	$(BIN)/kmeans-fit -j $(JOBS) -S 0 -a minibatch -f features \
	    -k $(word 2,$(subst -k, ,$*)) -e $(KMEANS_EPOCHS) -o $@ $<

# tokenize_cmd TOK: the command that adds TOK's tokens to a patch stream
tokenize_cmd = $(strip \
	$(if $(filter pixel-%,$1),$(BIN)/tokenize -j $(JOBS) -c $(W)/tok/$1.tsr,\
	$(if $(filter feature-% cmfeature-% ftfeature-%,$1),$(BIN)/encode -j $(JOBS) \
	    -m $(TEACHER_$(call tok_teacher,$1)) -e features | \
	    $(BIN)/tokenize -j $(JOBS) -f features -c $(W)/tok/$1.tsr,\
	$(if $(filter random,$1),$(BIN)/tokenize -R random -k $(RANDOM_K),\
	$(if $(filter class position,$1),$(BIN)/tokenize -R $1,\
	$(error unknown tokenizer '$1'))))))
# the files it needs
tokenize_deps = $(if $(filter pixel-% feature-% cmfeature-% ftfeature-%,$1),$(W)/tok/$1.tsr) \
	$(if $(filter feature-% cmfeature-% ftfeature-%,$1),$(TEACHER_$(call tok_teacher,$1)))

# TCAS and the other scores of a tokenizer, on the test set
$(W)/tok/%.tcas: $(W)/data/test.tsr $$(call tokenize_deps,$$*) $(TOOLS) \
    $(S_TOK)
	@mkdir -p $(@D)
	< $< $(call tokenize_cmd,$*) | $(BIN)/tcas > $@.tmp
	mv $@.tmp $@

# the augmentation graph the tokens induce on the test images, and the
# bound of the paper's theory on it (augraph(1))
$(W)/tok/%.augraph: $(W)/data/test.tsr $$(call tokenize_deps,$$*) $(TOOLS) \
    $(BIN)/augraph $(S_TOK)
	@mkdir -p $(@D)
	< $< $(call tokenize_cmd,$*) | $(BIN)/augraph -n 0 > $@.tmp
	mv $@.tmp $@

# -------------------------------------------------------------- training

# a run's path eE/sS/BLR/RUN: its epochs, seed, learning rate, name,
# tokenizer
run_epochs = $(patsubst e%,%,$(word 1,$(subst /, ,$1)))
run_seed = $(patsubst s%,%,$(word 2,$(subst /, ,$1)))
run_blr = $(word 3,$(subst /, ,$1))
run_name = $(word 4,$(subst /, ,$1))
run_tok = $(patsubst cm-%,%,$(call run_name,$1))
# the base learning rate of run NAME $1, and the path of NAME trained E
# epochs ($2) with seed S ($3)
blr = $(strip $(if $(filter untrained,$1),0,$(if $(filter mae,$1),$(BLR_MAE),\
	$(if $(filter mae-normpix,$1),$(BLR_MAE_NORMPIX),$(BLR_CM)))))
run_path = $(if $(filter untrained,$1),e0/s$3/0/untrained,e$2/s$3/$(call blr,$1)/$1)
# patchify's options for E epochs of the TRAIN_N training images: -e E
# for a whole number, -n for a fraction below 1
epoch_flags = $(shell awk -v e=$1 -v n=$(TRAIN_N) 'BEGIN { \
	if (e == int(e) && e >= 1) printf "-e %d", e; \
	else if (e > 0 && e < 1) printf "-n %d", e * n; \
	else print "bad" }')
# a training stream of seed $1, $2 epochs, augmented if $3 is 1,
# reshuffled every epoch: the same images in the same order for every
# run of a seed; $4 more patchify options (a shard)
stream = $(PATCHIFY) $(if $(filter 1,$3),-a) $(AUG_FLAGS) $(TRAIN_SEL) \
	-u -S $1 $(call epoch_flags,$2) $4 $(TRAIN_FILE)
# pretraining's (AUGMENT; under MPIRUN each rank's shard of it), and
# fine-tuning's (FT_EPOCHS, FT_AUGMENT)
train_stream = $(call stream,$(call run_seed,$1),$(call run_epochs,$1),$(AUGMENT),$(if $(MPIRUN),-k $(MPI_RANK)/$(MPI_SIZE)))
ft_stream = $(call stream,$(call run_seed,$1),$(FT_EPOCHS),$(FT_AUGMENT))
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
	--preset $(PRESET) $(MODEL_FLAGS) -l $(call run_blr,$1) $(strip \
	$(if $(filter untrained,$(call run_name,$1)),-s 1,\
	$(call warmup_flag) \
	$(if $(filter mae,$(call run_name,$1)),-t pixel,\
	$(if $(filter mae-normpix,$(call run_name,$1)),-t pixel -n,\
	-t tokens))))
# -w: WARMUP_EPOCHS in steps, as mim-train counts them (batches never
# span two epochs)
warmup_flag = $(if $(WARMUP_EPOCHS),-w $(shell awk 'BEGIN { printf "%d", \
	$(WARMUP_EPOCHS) * int(($(TRAIN_N) + $(BATCH) - 1) / $(BATCH)) }'))
run_deps = $(if $(filter cm-%,$(call run_name,$1)),\
	$(call tokenize_deps,$(call run_tok,$1)) $(S_TOK))

# a run, its trainer timed: wall seconds and peak KiB in RUN.time.  The
# trainer writes RUN.ckpt.part (every CKPT_EVERY steps, and when it is
# stopped by a signal), renamed RUN.ckpt once the run is complete; a
# later make resumes from a RUN.ckpt.part newer than everything the run
# depends on (the time is then the last part's), and starts afresh
# otherwise.
CKPT_EVERY ?= 500
# (in a recipe of $(W)/e%.ckpt) the trainer's flags: resume or start
resume_or_start = if [ -e $@.part ] && [ -z "$$(find $^ -newer $@.part)" ]; then \
	  echo "resuming $@ from its part" >&2; flags="-q -j $(JOBS) -r $@.part"; \
	else \
	  rm -f $@.part $(W)/e$*.tsv; flags="$(call run_flags,e$*) -k $(CKPT_EVERY)"; \
	fi
# (in that recipe) the trainer on run $1's input, here or on MPIRUN
ifeq ($(MPIRUN),)
train_cmd = $(call run_input,$1) | \
	$(TIME) -f '%e %M' -o $(W)/$1.time $(BIN)/mim-train $$flags \
	-L $(W)/$1.tsv -o $@.part
else
train_cmd = $(TIME) -f '%e %M' -o $(W)/$1.time $(MPIRUN) bash -eu -o pipefail -c \
	'$(call run_input,$1) | $(MPIBIN)/mim-train '"$$flags"' \
	-L $(W)/$1.tsv -o $@.part'
endif
$(W)/e%.ckpt: $$(call run_deps,e$$*) $(TOOLS) $(S_DATA) $(S_TRAIN)
	@mkdir -p $(@D)
	$(resume_or_start); \
	$(call train_cmd,e$*)
	mv $@.part $@

# ------------------------------------------------------------ evaluation

# a run's linear probe and k-NN: trained on the training set and
# judged on the test set (.probe), or trained on the validation split's
# training part and judged on its held-out part (.val)
$(W)/%.probe: $(W)/%.ckpt $(W)/data/probe-train.tsr $(W)/data/test.tsr \
    $(BIN)/probe $(S_PROBE)
	$(BIN)/probe -j $(JOBS) $(PROBE_FLAGS) -m $< \
	    $(W)/data/probe-train.tsr $(W)/data/test.tsr > $@.tmp
	mv $@.tmp $@

$(W)/%.val: $(W)/%.ckpt $(W)/data/val-train.tsr $(W)/data/val.tsr \
    $(BIN)/probe $(S_PROBE)
	$(BIN)/probe -j $(JOBS) $(PROBE_FLAGS) -m $< \
	    $(W)/data/val-train.tsr $(W)/data/val.tsr > $@.tmp
	mv $@.tmp $@

# a run's encoder fine-tuned end to end with labels (finetune(1)):
# its results on the test set ('key value' lines, test.acc among them)
# in RUN.ft, the fine-tuned model (a teacher, or for encode and probe)
# in RUN.ft.tsr, its log in RUN.ft.tsv, its wall s and peak KiB in
# RUN.ft.time.  Like a run, it writes RUN.ft.tsr.part and resumes from
# a part newer than everything it depends on.
$(W)/%.ft $(W)/%.ft.tsr: $(W)/%.ckpt $(W)/data/test.tsr $(BIN)/patchify \
    $(BIN)/finetune $(S_DATA) $(S_FT)
	if [ -e $(W)/$*.ft.tsr.part ] && \
	   [ -z "$$(find $^ -newer $(W)/$*.ft.tsr.part)" ]; then \
	  echo "resuming $(W)/$*.ft.tsr from its part" >&2; \
	  flags="-r $(W)/$*.ft.tsr.part"; \
	else \
	  rm -f $(W)/$*.ft.tsr.part $(W)/$*.ft.tsv; \
	  flags="-S $(call run_seed,$*) -b $(BATCH) $(FT_FLAGS) -m $<"; \
	fi; \
	$(call ft_stream,$*) | \
	    $(TIME) -f '%e %M' -o $(W)/$*.ft.time $(BIN)/finetune -q -j $(JOBS) \
	    $$flags -k $(CKPT_EVERY) -L $(W)/$*.ft.tsv -t $(W)/data/test.tsr \
	    -o $(W)/$*.ft.tsr.part > $(W)/$*.ft.tmp
	mv $(W)/$*.ft.tsr.part $(W)/$*.ft.tsr
	mv $(W)/$*.ft.tmp $(W)/$*.ft

# the value of key $2 in the 'key value' file $1, for a shell command;
# where it is missing, a word that printf rejects, naming both
val = $$(awk -v k=$2 '$$1 == k { v = $$2 } \
	END { print v != "" ? v : "missing:" k ":" FILENAME }' $1)

# ------------------------------------------------------- learning rates

# With LR_SWEEP: the methods MAE, MAE (norm-pix) and ClusterMIM
# (pixel tokens) trained for the main budget, first seed, at each base
# learning rate of LR_SWEEP, judged by the linear probe on the
# validation split; $(W)/blr.mk sets BLR_MAE, BLR_MAE_NORMPIX and
# BLR_CM to the best of each (overriding the command line: LR_SWEEP
# asks for the choice to be made).  make remakes an included makefile
# before anything else and then starts again, so every later stage
# sees the chosen rates.
LR_RUNS = mae mae-normpix cm-pixel-k$(K)
LR_FILES = $(foreach r,$(LR_RUNS),$(foreach b,$(LR_SWEEP),\
	$(W)/e$(MAIN_EPOCHS)/s$(SEED1)/$b/$r.val))
ifneq ($(strip $(LR_SWEEP)),)
$(call keep,$(W)/settings.lr,LR_SWEEP=$(LR_SWEEP)\nMAIN_EPOCHS=$(MAIN_EPOCHS)\nSEED1=$(SEED1)\n)
$(W)/blr.mk: $(LR_FILES) $(W)/settings.lr
	{ echo '# the base learning rates the validation split chose;'; \
	  echo '# run, base learning rate, validation linear-probe accuracy:'; \
	  for r in $(LR_RUNS); do \
	    for b in $(LR_SWEEP); do \
	      echo "$$r $$b $(call val,$(W)/e$(MAIN_EPOCHS)/s$(SEED1)/$$b/$$r.val,linear.test.acc)"; \
	    done; \
	  done | awk '$$3 !~ /^[0-9.]+$$/ { print "blr.mk: " $$3 > "/dev/stderr"; exit 1 } \
	    { print "# " $$0 } \
	    !($$1 in best) || $$3 + 0 > best[$$1] + 0 { best[$$1] = $$3; blr[$$1] = $$2 } \
	    END { print "override BLR_MAE = " blr["mae"]; \
	          print "override BLR_MAE_NORMPIX = " blr["mae-normpix"]; \
	          for (r in blr) if (r ~ /^cm-/) print "override BLR_CM = " blr[r] }'; \
	} > $@.tmp
	mv $@.tmp $@
-include $(W)/blr.mk
endif

# ---------------------------------------------------------------- tables

# the sweeps (tcas.mk, ablation.mk) train cm-TOK for SWEEP_EPOCHS at
# ClusterMIM's learning rate, for each seed of SWEEP_SEEDS; the
# untrained encoder is their floor
sweep_path = $(W)/$(call run_path,$1,$(SWEEP_EPOCHS),$2)
# the table of sweep runs cm-TOK for the tokenizers $1: tokenizer, K,
# its TCAS and NMI (tcas(1)), the labelling error alpha, lambda_{C+1}
# and the bound alpha / lambda_{C+1} of its augmentation graph
# (augraph(1)), linear and k-NN accuracy (means over the seeds), the
# linear accuracy's standard deviation over them, with $2 = 1 the
# fine-tuning accuracy and its standard deviation (RUN.ft), the seeds;
# first the untrained encoder's row
sweep_table = { $(header); \
	printf 'tokenizer\tk\ttcas\tnmi\talpha\tlambda\tbound\tlinear\tlinear_sd\tknn\t$(if $(filter 1,$2),finetune\tfinetune_sd\t)seeds\n'; \
	for s in $(SWEEP_SEEDS); do \
	  p=$(call sweep_path,untrained,$$s); \
	  echo "untrained - - - - - - $(call sweep_accs,$$p,$2)"; \
	done | pipelines/seedstat $(if $(filter 1,$2),-f); \
	for t in $1; do \
	  f=$(W)/tok/$$t.tcas g=$(W)/tok/$$t.augraph; \
	  for s in $(SWEEP_SEEDS); do \
	    p=$(call sweep_path,cm-$$t,$$s); \
	    echo "$$t $(call val,$$f,k) $(call val,$$f,tcas) $(call val,$$f,nmi) $(call val,$$g,alpha) $(call val,$$g,lambda) $(call val,$$g,bound) $(call sweep_accs,$$p,$2)"; \
	  done | pipelines/seedstat $(if $(filter 1,$2),-f); \
	done; }
# the accuracies of run $1 (a shell word, the path without extension):
# linear, k-NN and with $2 = 1 fine-tuning
sweep_accs = $(call val,$1.probe,linear.test.acc) $(call val,$1.probe,knn.test.acc)$(if \
	$(filter 1,$2), $(call val,$1.ft,test.acc))
# and the files it reads, each tokenizer's scores before its runs (make
# finds a teacher's run through a tokenizer's scores: a chain of rules
# may not use the run's rule twice)
sweep_files = $(foreach s,$(SWEEP_SEEDS),$(call sweep_run_files,untrained,$s,$2) \
	$(foreach t,$1,$(W)/tok/$t.tcas $(W)/tok/$t.augraph \
	$(call sweep_run_files,cm-$t,$s,$2))) pipelines/seedstat $(S_TABLE)
sweep_run_files = $(call sweep_path,$1,$2).probe $(if $(filter 1,$3),\
	$(call sweep_path,$1,$2).ft)

# a header of comment lines for a table: the commit and the variables
header = { echo "\# mimtools $$(git describe --always --dirty 2>/dev/null || echo unknown), $$(date -u +%Y-%m-%dT%H:%MZ), $$(uname -m), $$(nproc) cpus, BIN=$(BIN)"; \
	echo "\# PRESET=$(PRESET) MODEL_FLAGS='$(MODEL_FLAGS)' P=$(P) BATCH=$(BATCH) WARMUP_EPOCHS=$(WARMUP_EPOCHS) AUGMENT=$(AUGMENT) JOBS=$(JOBS) SEEDS='$(SEEDS)' SWEEP_SEEDS='$(SWEEP_SEEDS)' MAIN_EPOCHS=$(MAIN_EPOCHS) SWEEP_EPOCHS=$(SWEEP_EPOCHS)"; \
	echo "\# BLR_MAE=$(BLR_MAE) BLR_MAE_NORMPIX=$(BLR_MAE_NORMPIX) BLR_CM=$(BLR_CM) LR_SWEEP='$(LR_SWEEP)' VAL_SPLIT=$(VAL_SPLIT) PROBE_TRAIN=$(PROBE_TRAIN) PROBE_FLAGS='$(PROBE_FLAGS)'"; \
	echo "\# K=$(K) FEATURE_K=$(FEATURE_K) KMEANS_IMAGES=$(KMEANS_IMAGES) KMEANS_EPOCHS=$(KMEANS_EPOCHS) FEATURE_IMAGES=$(FEATURE_IMAGES) RANDOM_K=$(RANDOM_K) TCAS_KS='$(TCAS_KS)' FEATURE_KS='$(FEATURE_KS)' KMEANS_EPOCHS_LIST='$(KMEANS_EPOCHS_LIST)'"; \
	echo "\# TRAIN_FILE=$(TRAIN_FILE) TRAIN_SEL='$(TRAIN_SEL)' TEST_FILE=$(TEST_FILE) TEST_SEL='$(TEST_SEL)' TRAIN_N=$(TRAIN_N) IMAGE_FLAGS='$(IMAGE_FLAGS)' AUG_FLAGS='$(AUG_FLAGS)' EVAL_FLAGS='$(EVAL_FLAGS)'"; \
	echo "\# FINETUNE=$(FINETUNE) FT_EPOCHS=$(FT_EPOCHS) FT_AUGMENT=$(FT_AUGMENT) FT_FLAGS='$(FT_FLAGS)'"; }
endif
