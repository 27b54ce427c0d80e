# make paper: every experiment at the full budget, into results/ (the
# numbers of README.md's results section):
#
#   main.mk       the main comparison: MAIN_EPOCHS passes a run, the
#                 seeds SEEDS, each method's learning rate chosen on the
#                 validation split among LR_SWEEP (lr.md)
#   tcas.mk       TCAS against linear-probe accuracy (Figure 3)
#   ablation.mk   K and K-means epochs (Figures 4 and 5)
#   curves.mk     the training curves of the main comparison
#   toy.mk        the toy model of Figure 2 (augraph(1); seconds)
#
# The sweeps train SWEEP_EPOCHS passes a run for each of SWEEP_SEEDS.
# About four hours on 2 cores (issue 10's budget).  make paper
# FINETUNE=1 adds the fine-tuning columns: every run of the main table
# and of the ablations is also fine-tuned with labels for FT_EPOCHS
# (finetune(1)), and the TCAS sweep gains the supervised-teacher
# tokenizers ftfeature-kK, at about four more hours on 2 cores.  Every
# stage is kept, so an interrupted make paper continues where it
# stopped.
#
#   make -f pipelines/paper.mk [OUT=results] [MAIN_EPOCHS=8] ...
OUT ?= results
MAIN_EPOCHS ?= 8
SWEEP_EPOCHS ?= 2
SEEDS ?= 0 1 2
SWEEP_SEEDS ?= 0 1
LR_SWEEP ?= 3e-4 1e-3 3e-3 1e-2
TCAS_KS ?= 16 64 256 1024
FINETUNE ?= 0
FT_EPOCHS ?= 1
include pipelines/main.mk
include pipelines/tcas.mk
include pipelines/ablation.mk
include pipelines/curves.mk
include pipelines/toy.mk
.DEFAULT_GOAL = paper

paper: main tcas-vs-lp ablations curves toy

.PHONY: paper
