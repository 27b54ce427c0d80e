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
# the run $1 of the main budget, first seed, without extension
curve_path = $(W)/$(call run_path,$1,$(MAIN_EPOCHS),$(SEED1))

curves: $(OUT)/curves.png

$(OUT)/curves.png: $(foreach r,$(CURVE_RUNS),$(call curve_path,$r).ckpt) \
    pipelines/curves.gp
	gnuplot -e "data='$(DATASET)'; budget='$(MAIN_EPOCHS)'; out='$@.tmp'; \
	    pix='$(foreach r,$(filter mae%,$(CURVE_RUNS)),$(call curve_path,$r))'; \
	    tok='$(foreach r,$(filter cm-%,$(CURVE_RUNS)),$(call curve_path,$r))'" \
	    pipelines/curves.gp
	mv $@.tmp $@

.PHONY: curves
