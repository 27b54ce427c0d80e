# TCAS against linear-probe accuracy (the paper's Figure 3): for each
# tokenizer, its TCAS on the test set and the linear-probe accuracy of
# ClusterMIM trained on its tokens for SWEEP_EPOCHS, at ClusterMIM's
# learning rate, for each seed of SWEEP_SEEDS.  The tokenizers: pixel
# K-means for K in TCAS_KS, feature K-means for K in FEATURE_KS on the
# features of two teachers (the main budget's MAE and ClusterMIM-Pixel)
# and, with FINETUNE=1, of a supervised teacher (ftfeature-kK: that MAE
# fine-tuned with labels for FT_EPOCHS, finetune(1): the realistic
# cousin of the class-wise oracle), random tokens, the class-wise
# oracle and the cross-class tokenizer (tokenize(1) -R); the untrained
# encoder is the floor they are judged against.  Beside TCAS, the other
# training-free score: the bound alpha / lambda_{C+1} of the
# augmentation graph the tokens induce (augraph(1), the paper's
# theory), to see which predicts accuracy.
#
#   make -f pipelines/tcas.mk [OUT=results] [SWEEP_EPOCHS=2] ...
#
# writes $(OUT)/tcas-vs-lp.tsv, the scatter plots of TCAS and of the
# bound against linear-probe accuracy $(OUT)/tcas-vs-lp.png and
# $(OUT)/bound-vs-lp.png, and the Pearson and Spearman correlations of
# each (Spearman with a bootstrap interval over the tokenizers) in
# $(OUT)/tcas-vs-lp.txt, which it prints.
include pipelines/common.mk
.DEFAULT_GOAL = tcas-vs-lp

TCAS_TOKS = $(TCAS_KS:%=pixel-k%) $(FEATURE_KS:%=feature-k%) \
	$(FEATURE_KS:%=cmfeature-k%) \
	$(if $(filter 1,$(FINETUNE)),$(FEATURE_KS:%=ftfeature-k%)) \
	random class position
# bootstrap resamples of the correlation's interval
BOOT ?= 2000

tcas-vs-lp: $(OUT)/tcas-vs-lp.txt $(OUT)/tcas-vs-lp.png $(OUT)/bound-vs-lp.png
	@cat $<

$(OUT)/tcas-vs-lp.tsv: $(call sweep_files,$(TCAS_TOKS))
	$(call sweep_table,$(TCAS_TOKS)) > $@.tmp
	mv $@.tmp $@

# 'key value' lines: each score's correlations with the linear probe,
# prefixed by the score, and the references' accuracies
$(OUT)/tcas-vs-lp.txt: $(OUT)/tcas-vs-lp.tsv pipelines/corr
	{ echo "TCAS and the augmentation graph's bound against linear-probe accuracy, $(words $(TCAS_TOKS)) tokenizers, $(SWEEP_EPOCHS) epoch(s) of training each, mean of seeds $(SWEEP_SEEDS):"; \
	  for x in tcas bound; do \
	    pipelines/corr -b $(BOOT) $$x linear $< | sed "s/^/$$x./"; \
	  done; \
	  awk -F '\t' '$$1 == "untrained" || $$1 == "class" || $$1 == "position" || $$1 == "random" { \
	    printf "%s.linear %s\n%s.linear_sd %s\n", $$1, $$8, $$1, $$9 }' $<; } > $@.tmp
	mv $@.tmp $@

# the scatter of score X (tcas, bound) against the linear probe
$(OUT)/%-vs-lp.png: $(OUT)/tcas-vs-lp.tsv $(OUT)/tcas-vs-lp.txt pipelines/tcas-vs-lp.gp
	gnuplot -e "in='$<'; out='$@.tmp'; data='$(DATASET)'; x='$*'; \
	    budget='$(SWEEP_EPOCHS)'; seeds='$(SWEEP_SEEDS)'; \
	    floor=$$(awk '$$1 == "untrained.linear" { print $$2 }' $(OUT)/tcas-vs-lp.txt); \
	    rho='$$(awk -v x=$* '$$1 ~ "^" x ".spearman" { v[$$1] = $$2 } END { \
	      printf "Spearman rho %s, 95%% bootstrap interval [%s, %s]", \
	      v[x ".spearman"], v[x ".spearman.lo"], v[x ".spearman.hi"] }' $(OUT)/tcas-vs-lp.txt)'" \
	    pipelines/tcas-vs-lp.gp
	mv $@.tmp $@

.PHONY: tcas-vs-lp
