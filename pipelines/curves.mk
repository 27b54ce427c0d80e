# Training curves: the loss against the step of every run of the main
# comparison (seed: the first of SEEDS), from mim-train's -L logs; the
# pixel targets (MSE) and the token targets (cross-entropy) in two
# panels, since their losses have different units.
#
#   make -f pipelines/curves.mk [OUT=results] ...
#
# writes $(OUT)/curves.png.
include pipelines/common.mk
.DEFAULT_GOAL = curves

CURVE_RUNS = $(filter-out untrained,$(MAIN_RUNS))
CURVE_DIR = $(W)/main/s$(SEED1)

curves: $(OUT)/curves.png

$(OUT)/curves.png: $(CURVE_RUNS:%=$(CURVE_DIR)/%.ckpt) pipelines/curves.gp
	gnuplot -e "dir='$(CURVE_DIR)'; pix='$(filter mae%,$(CURVE_RUNS))'; \
	    tok='$(filter cm-%,$(CURVE_RUNS))'; out='$@.tmp'; \
	    data='$(DATASET)'; budget='$(MAIN_EPOCHS)'" pipelines/curves.gp
	mv $@.tmp $@

.PHONY: curves
