# Ablations of the tokenizer, at the short budget SWEEP_EPOCHS (seed:
# the first of SEEDS):
#
#   K (the paper's Figure 4): pixel K-means for K in TCAS_KS, feature
#   K-means for K in FEATURE_KS; -> $(OUT)/ablation-k.{tsv,md,png}
#
#   K-means epochs (Figure 5): pixel K-means, K clusters, fitted for
#   each number of epochs in KMEANS_EPOCHS_LIST, with the inertia it
#   reached; -> $(OUT)/ablation-epochs.{tsv,md,png}
#
#   make -f pipelines/ablation.mk [OUT=results] [SWEEP_EPOCHS=0.25] ...
include pipelines/common.mk
.DEFAULT_GOAL = ablations

# the codebook of pixel K-means fitted for $1 epochs
epochs_tok = pixel-k$(K)$(if $(filter $(KMEANS_EPOCHS),$1),,-e$1)
EPOCH_TOKS = $(foreach e,$(KMEANS_EPOCHS_LIST),$(call epochs_tok,$e))
K_TOKS = $(TCAS_KS:%=pixel-k%) $(FEATURE_KS:%=feature-k%)

ablations: $(addprefix $(OUT)/ablation-,k.md k.png epochs.md epochs.png)
	@cat $(OUT)/ablation-k.md $(OUT)/ablation-epochs.md

$(OUT)/ablation-k.tsv: $(call sweep_files,$(K_TOKS))
	$(call sweep_table,$(K_TOKS)) > $@.tmp
	mv $@.tmp $@

$(OUT)/ablation-epochs.tsv: $(call sweep_files,$(EPOCH_TOKS))
	{ $(header); \
	  printf 'epochs\tinertia\ttcas\tlinear\tknn\n'; \
	  for et in $(foreach e,$(KMEANS_EPOCHS_LIST),$e:$(call epochs_tok,$e)); do \
	    e=$${et%%:*} t=$${et#*:}; \
	    f=$(W)/tok/$$t.tcas p=$(W)/sweep/s$(SEED1)/cm-$$t.probe; \
	    i=$$($(BIN)/tensorinfo $(W)/tok/$$t.tsr | \
	        sed -n 's/^[0-9]* centroids .* inertia=\([^ ]*\).*/\1/p'); \
	    i=$${i:-missing:inertia:$(W)/tok/$$t.tsr}; \
	    printf '%s\t%.1f\t%.4f\t%.2f\t%.2f\n' $$e $$i \
	      $(call val,$$f,tcas) $(call val,$$p,linear.test.acc) \
	      $(call val,$$p,knn.test.acc); \
	  done; } > $@.tmp
	mv $@.tmp $@

$(OUT)/ablation-k.md: $(OUT)/ablation-k.tsv pipelines/tsv2md
	{ echo '## Ablation on K: pixel and feature K-means tokenizers'; echo; \
	  echo 'ClusterMIM trained $(SWEEP_EPOCHS) epoch(s) on the tokens of each; $(DATASET) test accuracy (%).'; \
	  echo; pipelines/tsv2md $<; } > $@.tmp
	mv $@.tmp $@

$(OUT)/ablation-epochs.md: $(OUT)/ablation-epochs.tsv pipelines/tsv2md
	{ echo '## Ablation on K-means epochs: pixel K-means, K=$(K)'; echo; \
	  echo 'inertia: the K-means objective on its training patches; ClusterMIM trained $(SWEEP_EPOCHS) epoch(s) on the tokens of each.'; \
	  echo; pipelines/tsv2md $<; } > $@.tmp
	mv $@.tmp $@

$(OUT)/ablation-%.png: $(OUT)/ablation-%.tsv pipelines/ablation-%.gp
	gnuplot -e "in='$<'; out='$@.tmp'; data='$(DATASET)'; \
	    budget='$(SWEEP_EPOCHS)'; k='$(K)'" \
	    pipelines/ablation-$*.gp
	mv $@.tmp $@

.PHONY: ablations
