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
#                        MAE of the first seed as the teacher)
#
# each at its method's base learning rate (BLR_*, or the validation
# sweep's choice with LR_SWEEP), judged by a linear probe and k-NN on
# the test set and, with FINETUNE=1, by fine-tuning (finetune(1),
# FT_EPOCHS passes with labels, the column finetune), its tokenizer by
# TCAS; the training time is the trainer's wall time (its input stages
# run beside it in the same pipe).
#
#   make -f pipelines/main.mk [OUT=results] [MAIN_EPOCHS=1] [SEEDS=0] ...
#
# writes $(OUT)/main.tsv and $(OUT)/main.md and prints the latter:
# with more than one seed, also the mean and standard deviation over
# the seeds (finetune and finetune_sd among them with FINETUNE=1), and
# the paired differences of ClusterMIM-Pixel and MAE (norm-pix), and of
# ClusterMIM-Pixel and MAE, with their 95% intervals; with LR_SWEEP,
# $(OUT)/lr.{tsv,md}, the validation accuracy of every learning rate
# tried.
include pipelines/common.mk
.DEFAULT_GOAL = main

# the path of run $1 of the main budget, seed $2
main_path = $(W)/$(call run_path,$1,$(MAIN_EPOCHS),$2)
MAIN_FILES = $(foreach s,$(SEEDS),$(foreach r,$(MAIN_RUNS),\
	$(call main_path,$r,$s).probe $(if $(filter 1,$(FINETUNE)),\
	$(call main_path,$r,$s).ft))) \
	$(patsubst cm-%,$(W)/tok/%.tcas,$(filter cm-%,$(MAIN_RUNS)))
main: $(OUT)/main.md $(if $(strip $(LR_SWEEP)),$(OUT)/lr.md)
	@cat $<

$(OUT)/main.tsv: $(MAIN_FILES) pipelines/row $(S_TABLE)
	{ $(header); \
	  printf 'method\ttokenizer\tblr\tseed\tlinear\tknn\ttcas\ttrain_s\timg_s\tpeak_mib$(if $(filter 1,$(FINETUNE)),\tfinetune)\n'; \
	  $(foreach s,$(SEEDS),$(foreach r,$(MAIN_RUNS),\
	    pipelines/row $(BIN) $(call main_path,$r,$s) $(W)/tok $(if $(filter 1,$(FINETUNE)),ft);)) } > $@.tmp
	mv $@.tmp $@

$(OUT)/main.md: $(OUT)/main.tsv pipelines/tsv2md pipelines/seedmean pipelines/paired
	{ echo '## Main comparison: $(DATASET) test accuracy (%) of a linear probe and k-NN$(if $(filter 1,$(FINETUNE)), and of fine-tuning)'; \
	  echo; \
	  echo 'Each run: $(MAIN_EPOCHS) epoch(s) of $(TRAIN_N) $(if $(filter 1,$(AUGMENT)),augmented ,)images, $(PRESET) preset, batch $(BATCH), its method'"'"'s base learning rate blr, $(JOBS) thread(s); probes trained on $(PROBE_TRAIN) training images.$(if $(filter 1,$(FINETUNE)), finetune: the encoder fine-tuned end to end with labels for $(FT_EPOCHS) epoch(s)$(if $(filter 1,$(FT_AUGMENT)), of augmented images) by MAE'"'"'s recipe$(if $(strip $(FT_FLAGS)), with finetune $(FT_FLAGS)).)'; \
	  echo 'TCAS of the tokenizer on the test set (lower is better); train_s the wall time of training, img_s images per second, peak_mib the trainer'"'"'s peak memory.'; \
	  echo; \
	  pipelines/tsv2md $<; \
	  $(if $(word 2,$(SEEDS)),echo; \
	    echo 'Mean and standard deviation over the seeds $(SEEDS):'; \
	    echo; pipelines/seedmean $< | pipelines/tsv2md; \
	    $(if $(filter cm-pixel-k$(K),$(MAIN_RUNS)),\
	      $(if $(filter mae-normpix,$(MAIN_RUNS)),\
	        echo; pipelines/paired ClusterMIM-Pixel 'MAE (norm-pix)' $<;)\
	      $(if $(filter mae,$(MAIN_RUNS)),\
	        echo; pipelines/paired ClusterMIM-Pixel MAE $<;))) } > $@.tmp
	mv $@.tmp $@

# the learning-rate sweep: validation accuracy of each method at each
# base learning rate, the chosen one marked
$(OUT)/lr.tsv: $(LR_FILES) $(W)/blr.mk
	{ $(header); \
	  printf 'run\tblr\tval_linear\tval_knn\tchosen\n'; \
	  $(foreach r,$(LR_RUNS),$(foreach b,$(LR_SWEEP),\
	    f=$(W)/e$(MAIN_EPOCHS)/s$(SEED1)/$b/$r.val; \
	    printf '%s\t%s\t%.2f\t%.2f\t%s\n' $r $b $(call val,$$f,linear.test.acc) \
	      $(call val,$$f,knn.test.acc) \
	      $(if $(filter $b,$(call blr,$r)),yes,-);)) } > $@.tmp
	mv $@.tmp $@

$(OUT)/lr.md: $(OUT)/lr.tsv pipelines/tsv2md
	{ echo '## Learning rates: $(DATASET) validation accuracy (%), seed $(SEED1), $(MAIN_EPOCHS) epoch(s)'; \
	  echo; \
	  echo 'Linear probe and k-NN trained on the training set less shard $(VAL_SPLIT) and judged on that shard; the best linear accuracy chooses each method'"'"'s base learning rate for every seed, every tokenizer of ClusterMIM taking ClusterMIM-Pixel'"'"'s.'; \
	  echo; pipelines/tsv2md $<; } > $@.tmp
	mv $@.tmp $@

.PHONY: main
