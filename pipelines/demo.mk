# make demo: the paper's main ordering on Fashion-MNIST in a quarter of
# an hour on 2 cores: the untrained encoder, MAE (norm-pix) and
# ClusterMIM-Pixel, each trained MAIN_EPOCHS passes over the 60000
# training images at the learning rates make paper's validation sweep
# chose, judged by a linear probe trained on all of them.  Prints the
# table, $(OUT)/main.md, and whether the ordering untrained < MAE
# (norm-pix) < ClusterMIM-Pixel holds, its gaps against the
# seed-to-seed spread of make paper (results/main.tsv, when there).
# No fine-tuning (FINETUNE=0): it would add about 4 minutes a run per
# fine-tuning epoch on 2 cores; FINETUNE=1 adds the column.
#
#   make -f pipelines/demo.mk [OUT=results/demo] [MAIN_EPOCHS=5] ...
#
# Any variable of pipelines/common.mk may be given; make paper runs the
# same stages for more seeds, and the sweeps, at the full budget.
OUT ?= results/demo
MAIN_EPOCHS ?= 5
MAIN_RUNS ?= untrained mae-normpix cm-pixel-k$(K)
FINETUNE ?= 0
# the table whose seeds measure the spread
SPREAD ?= results/main.tsv
include pipelines/main.mk
include pipelines/curves.mk
.DEFAULT_GOAL = demo

demo: $(OUT)/main.md $(OUT)/curves.png pipelines/ordering
	@cat $<
	@echo
	@pipelines/ordering $(OUT)/main.tsv $(SPREAD)
	@echo "(table in $<, training curves in $(OUT)/curves.png)"

.PHONY: demo
