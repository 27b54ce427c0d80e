# The main comparison, the paper's main table on Fashion-MNIST: at an
# equal budget (MAIN_EPOCHS passes over the training set, the PRESET
# model, batch BATCH), for each seed in SEEDS,
#
#   untrained encoder    the floor: the initialisation, probed
#   MAE                  pixel target
#   MAE (norm-pix)       pixel target, per-patch normalised
#   ClusterMIM-Pixel     tokens of K-means on pixel patches, K
#   ClusterMIM-Feature   tokens of K-means on the MAE's patch features,
#                        FEATURE_K (the ClusterMIM-DINO recipe with the
#                        MAE of seed 0 as the teacher)
#
# each judged by a linear probe and k-NN on the test set, its tokenizer
# by TCAS; the training time is the trainer's wall time (its input
# stages run beside it in the same pipe).
#
#   make -f pipelines/main.mk [OUT=results] [MAIN_EPOCHS=1] [SEEDS=0] ...
#
# writes $(OUT)/main.tsv and $(OUT)/main.md (with more than one seed,
# also the mean over the seeds) and prints the latter.
include pipelines/common.mk
.DEFAULT_GOAL = main

MAIN_FILES = $(foreach s,$(SEEDS),$(foreach r,$(MAIN_RUNS),\
	$(W)/main/s$s/$r.probe)) \
	$(patsubst cm-%,$(W)/tok/%.tcas,$(filter cm-%,$(MAIN_RUNS)))

main: $(OUT)/main.md
	@cat $<

$(OUT)/main.tsv: $(MAIN_FILES) pipelines/row
	{ $(header); \
	  printf 'method\ttokenizer\tseed\tlinear\tknn\ttcas\ttrain_s\timg_s\tpeak_mib\n'; \
	  for s in $(SEEDS); do for r in $(MAIN_RUNS); do \
	    pipelines/row $(BIN) $(W)/main/s$$s/$$r $(W)/tok; \
	  done; done; } > $@.tmp
	mv $@.tmp $@

$(OUT)/main.md: $(OUT)/main.tsv pipelines/tsv2md pipelines/seedmean
	{ echo '## Main comparison: $(DATASET) test accuracy (%) of a linear probe and k-NN'; \
	  echo; \
	  echo 'Each run: $(MAIN_EPOCHS) epoch(s) of $(TRAIN_N) augmented images, $(PRESET) preset, batch $(BATCH), $(JOBS) thread(s).'; \
	  echo 'TCAS of the tokenizer on the test set (lower is better); train_s the wall time of training, img_s images per second, peak_mib the trainer'"'"'s peak memory.'; \
	  echo; \
	  pipelines/tsv2md $<; \
	  $(if $(word 2,$(SEEDS)),echo; echo 'Mean over the seeds $(SEEDS):'; \
	    echo; pipelines/seedmean $< | pipelines/tsv2md;) } > $@.tmp
	mv $@.tmp $@

.PHONY: main
