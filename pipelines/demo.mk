# make demo: the main comparison (main.mk) and its training curves
# (curves.mk) at a budget that runs in well under 30 minutes on 2 cores:
# one pass over the 60000 training images per run, the probe trained on
# 10000 of them.  Prints the main table, $(OUT)/main.md.
#
#   make -f pipelines/demo.mk [OUT=results/demo] [MAIN_EPOCHS=1] ...
#
# Any variable of pipelines/common.mk may be given; make paper runs the
# same stages, and the sweeps, at the full budget.
OUT ?= results/demo
MAIN_EPOCHS ?= 1
include pipelines/main.mk
include pipelines/curves.mk
.DEFAULT_GOAL = demo

demo: $(OUT)/main.md $(OUT)/curves.png
	@cat $<
	@echo "(table in $<, training curves in $(OUT)/curves.png)"

.PHONY: demo
