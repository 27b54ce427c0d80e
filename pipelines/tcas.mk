# TCAS against linear-probe accuracy (the paper's Figure 3): for each
# tokenizer, its TCAS on the test set and the linear-probe accuracy of
# ClusterMIM trained on its tokens for the short budget SWEEP_EPOCHS
# (seed: the first of SEEDS).  The tokenizers: pixel K-means for K in
# TCAS_KS, feature K-means (FEATURE_K), random tokens, the class-wise
# oracle and the cross-class tokenizer (tokenize(1) -R).
#
#   make -f pipelines/tcas.mk [OUT=results] [SWEEP_EPOCHS=0.25] ...
#
# writes $(OUT)/tcas-vs-lp.tsv, the scatter plot $(OUT)/tcas-vs-lp.png
# and the Pearson and Spearman correlations in $(OUT)/tcas-vs-lp.txt,
# which it prints.
include pipelines/common.mk
.DEFAULT_GOAL = tcas-vs-lp

TCAS_TOKS = $(TCAS_KS:%=pixel-k%) feature-k$(FEATURE_K) random class position

tcas-vs-lp: $(OUT)/tcas-vs-lp.txt $(OUT)/tcas-vs-lp.png
	@cat $<

$(OUT)/tcas-vs-lp.tsv: $(call sweep_files,$(TCAS_TOKS))
	$(call sweep_table,$(TCAS_TOKS)) > $@.tmp
	mv $@.tmp $@

$(OUT)/tcas-vs-lp.txt: $(OUT)/tcas-vs-lp.tsv pipelines/corr
	{ echo "TCAS against linear-probe accuracy, $(words $(TCAS_TOKS)) tokenizers, $(SWEEP_EPOCHS) epoch(s) of training each:"; \
	  pipelines/corr tcas linear $<; } > $@.tmp
	mv $@.tmp $@

$(OUT)/tcas-vs-lp.png: $(OUT)/tcas-vs-lp.tsv pipelines/tcas-vs-lp.gp
	gnuplot -e "in='$<'; out='$@.tmp'; data='$(DATASET)'; \
	    budget='$(SWEEP_EPOCHS)'" \
	    pipelines/tcas-vs-lp.gp
	mv $@.tmp $@

.PHONY: tcas-vs-lp
