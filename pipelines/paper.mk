# make paper: every experiment at the full budget, into results/ (the
# numbers of README.md's results section):
#
#   main.mk       the main comparison, MAIN_EPOCHS passes per run
#   tcas.mk       TCAS against linear-probe accuracy (Figure 3)
#   ablation.mk   K and K-means epochs (Figures 4 and 5)
#   curves.mk     the training curves of the main comparison
#
# The main comparison runs for two seeds, the sweeps train SWEEP_EPOCHS
# passes per run for the first, the same for each.
#
#   make -f pipelines/paper.mk [OUT=results] [MAIN_EPOCHS=2] ...
OUT ?= results
MAIN_EPOCHS ?= 2
SWEEP_EPOCHS ?= 0.25
SEEDS ?= 0 1
include pipelines/main.mk
include pipelines/tcas.mk
include pipelines/ablation.mk
include pipelines/curves.mk
.DEFAULT_GOAL = paper

paper: main tcas-vs-lp ablations curves

.PHONY: paper
