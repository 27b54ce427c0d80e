# Ablations of the tokenizer, at the sweep budget SWEEP_EPOCHS, for
# each seed of SWEEP_SEEDS, at ClusterMIM's learning rate:
#
#   K (the paper's Figure 4): pixel K-means for K in TCAS_KS, feature
#   K-means for K in FEATURE_KS on the features of each teacher (the
#   main budget's MAE and ClusterMIM-Pixel);
#   -> $(OUT)/ablation-k.{tsv,md,png}
#
#   K-means epochs (Figure 5): pixel K-means, K clusters, fitted for
#   each number of epochs in KMEANS_EPOCHS_LIST, with the inertia it
#   reached; -> $(OUT)/ablation-epochs.{tsv,md,png}
#
# each judged by the linear probe and k-NN and, with FINETUNE=1, by
# fine-tuning as well (finetune(1), FT_EPOCHS; the columns finetune and
# finetune_sd, beside the linear probe in the plots), as the paper's
# figures give linear probing / fine-tuning in each box.
#
#   make -f pipelines/ablation.mk [OUT=results] [SWEEP_EPOCHS=2] ...
include pipelines/common.mk
.DEFAULT_GOAL = ablations

# the codebook of pixel K-means fitted for $1 epochs
epochs_tok = pixel-k$(K)$(if $(filter $(KMEANS_EPOCHS),$1),,-e$1)
EPOCH_TOKS = $(foreach e,$(KMEANS_EPOCHS_LIST),$(call epochs_tok,$e))
K_TOKS = $(TCAS_KS:%=pixel-k%) $(FEATURE_KS:%=feature-k%) \
	$(FEATURE_KS:%=cmfeature-k%)

ablations: $(addprefix $(OUT)/ablation-,k.md k.png epochs.md epochs.png)
	@cat $(OUT)/ablation-k.md $(OUT)/ablation-epochs.md

$(OUT)/ablation-k.tsv: $(call sweep_files,$(K_TOKS),$(FINETUNE))
	$(call sweep_table,$(K_TOKS),$(FINETUNE)) > $@.tmp
	mv $@.tmp $@

# the sweep table of the epochs' codebooks, each row led by its epochs
# and the inertia its fit reached
$(OUT)/ablation-epochs.tsv: $(call sweep_files,$(EPOCH_TOKS),$(FINETUNE))
	$(call sweep_table,$(EPOCH_TOKS),$(FINETUNE)) | \
	  awk -F '\t' -v OFS='\t' -v list='$(foreach e,$(KMEANS_EPOCHS_LIST),$e:$(call epochs_tok,$e))' \
	    -v bin='$(BIN)' -v tok='$(W)/tok' ' \
	    BEGIN { n = split(list, l, " "); for (i = 1; i <= n; i++) { \
	      split(l[i], p, ":"); ep[p[2]] = p[1] } } \
	    /^#/ { print; next } \
	    $$1 == "tokenizer" { print "epochs", "inertia", $$0; next } \
	    $$1 == "untrained" { print "-", "-", $$0; next } \
	    { c = bin "/tensorinfo " tok "/" $$1 ".tsr"; i = ""; \
	      while ((c | getline line) > 0) \
	        if (match(line, / inertia=[^ ]*/)) i = substr(line, RSTART + 9, RLENGTH - 9); \
	      close(c); \
	      if (i == "") { print "ablation: " tok "/" $$1 ".tsr: no inertia" > "/dev/stderr"; exit 1 } \
	      printf "%s\t%.1f\t%s\n", ep[$$1], i, $$0 }' > $@.tmp
	mv $@.tmp $@

$(OUT)/ablation-k.md: $(OUT)/ablation-k.tsv pipelines/tsv2md
	{ echo '## Ablation on K: pixel and feature K-means tokenizers'; echo; \
	  echo 'ClusterMIM trained $(SWEEP_EPOCHS) epoch(s) on the tokens of each, seeds $(SWEEP_SEEDS); $(DATASET) test accuracy (%), mean over the seeds, linear_sd their standard deviation$(if $(filter 1,$(FINETUNE)),; finetune: the encoder fine-tuned with labels for $(FT_EPOCHS) epoch(s)$(comma) finetune_sd its standard deviation). feature: the teacher is the MAE of the main budget; cmfeature: its ClusterMIM-Pixel.'; \
	  echo; pipelines/tsv2md $<; } > $@.tmp
	mv $@.tmp $@

$(OUT)/ablation-epochs.md: $(OUT)/ablation-epochs.tsv pipelines/tsv2md
	{ echo '## Ablation on K-means epochs: pixel K-means, K=$(K)'; echo; \
	  echo 'inertia: the K-means objective on its training patches; ClusterMIM trained $(SWEEP_EPOCHS) epoch(s) on the tokens of each, seeds $(SWEEP_SEEDS); test accuracy (%), mean over the seeds$(if $(filter 1,$(FINETUNE)),; finetune: the encoder fine-tuned with labels for $(FT_EPOCHS) epoch(s)).'; \
	  echo; pipelines/tsv2md $<; } > $@.tmp
	mv $@.tmp $@

$(OUT)/ablation-%.png: $(OUT)/ablation-%.tsv pipelines/ablation-%.gp
	gnuplot -e "in='$<'; out='$@.tmp'; data='$(DATASET)'; \
	    budget='$(SWEEP_EPOCHS)'; k='$(K)'; seeds='$(SWEEP_SEEDS)'; \
	    ft=$(if $(filter 1,$(FINETUNE)),1,0)" \
	    pipelines/ablation-$*.gp
	mv $@.tmp $@

.PHONY: ablations
