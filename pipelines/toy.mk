# The toy model of the paper's Figure 2 (Du, Wang and Wang, ICLR 2024):
# a synthetic data set (pipelines/toy: TOY_CLASSES classes, each of
# TOY_STYLES styles of TOY_VIEWS masked views; TOY_IMAGES images of
# TOY_PATCHES patches, a share TOY_FOREIGN of them views of another
# class and TOY_OTHER of another style) tokenized three ways,
#
#   mae          every masked view its own token (MAE-like)
#   classwise    one token per class
#   crossclass   each token one view of every class
#
# and augraph(1) on each, over all the images: the labelling error
# alpha, lambda_{C+1} and the bound alpha / lambda_{C+1}, and the
# smallest TOY_EIGS eigenvalues.  The paper states the ordering of the
# bounds: class-wise lowest, cross-class highest.
#
#   make -f pipelines/toy.mk [OUT=results] [TOY_IMAGES=2000] ...
#
# writes $(OUT)/toy.tsv, $(OUT)/toy.md (which it prints, with whether
# the ordering holds) and the spectra $(OUT)/toy.png.  Seconds.
SHELL = /bin/bash
.SHELLFLAGS = -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL = toy

BIN ?= bin
OUT ?= results
TOY_IMAGES ?= 2000
TOY_CLASSES ?= 2
TOY_STYLES ?= 4
TOY_VIEWS ?= 8
TOY_PATCHES ?= 16
TOY_FOREIGN ?= 0.05
TOY_OTHER ?= 0.2
TOY_SEED ?= 0
TOY_EIGS ?= 24

TW = $(OUT)/work/toy
TOY_TOKS = mae classwise crossclass
TOY_FLAGS = -n $(TOY_IMAGES) -c $(TOY_CLASSES) -g $(TOY_STYLES) \
	-v $(TOY_VIEWS) -l $(TOY_PATCHES) -f $(TOY_FOREIGN) -r $(TOY_OTHER) \
	-S $(TOY_SEED)
# the data's settings: the file changes (and every stage with it) only
# when they do
$(shell mkdir -p $(TW) && echo '$(TOY_FLAGS)' > $(TW)/settings.new && \
	{ cmp -s $(TW)/settings.new $(TW)/settings && rm $(TW)/settings.new || \
	  mv $(TW)/settings.new $(TW)/settings; })

toy: $(OUT)/toy.md $(OUT)/toy.png
	@cat $<

$(TW)/toy.tsr: pipelines/toy $(TW)/settings
	pipelines/toy $(TOY_FLAGS) -o $@

# augraph of one tokenization, all images
$(TW)/%.augraph: $(TW)/toy.tsr $(BIN)/augraph
	$(BIN)/augraph -n 0 -e $(TOY_EIGS) -t $* $< > $@.tmp
	mv $@.tmp $@

$(OUT)/toy.tsv: $(TOY_TOKS:%=$(TW)/%.augraph)
	{ echo "# mimtools $$(git describe --always --dirty 2>/dev/null || echo unknown), $$(date -u +%Y-%m-%dT%H:%MZ), $$(uname -m), $$(nproc) cpus"; \
	  echo "# pipelines/toy $(TOY_FLAGS); augraph -n 0"; \
	  printf 'tokenization\tk\talpha\tlambda\tbound\n'; \
	  for t in $(TOY_TOKS); do \
	    awk -v t=$$t '{ v[$$1] = $$2 } END { \
	      if (!("bound" in v)) { print "toy.mk: " FILENAME ": no bound" > "/dev/stderr"; exit 1 } \
	      printf "%s\t%d\t%.4f\t%.4f\t%.4f\n", t, v["used"], v["alpha"], v["lambda"], v["bound"] }' \
	      $(TW)/$$t.augraph; \
	  done; } > $@.tmp
	mv $@.tmp $@

# the spectra, one column per tokenization, its bound in the header
$(TW)/spectra.tsv: $(TOY_TOKS:%=$(TW)/%.augraph)
	awk 'FNR == 1 { f++; n = FILENAME; sub(/.*\//, "", n); \
	    sub(/\.augraph$$/, "", n); name[f] = n } \
	  $$1 == "bound" { b[f] = $$2 } \
	  $$1 ~ /^eig\./ { i = substr($$1, 5) + 0; v[i, f] = $$2; if (i > m) m = i } \
	  END { printf "i"; for (j = 1; j <= f; j++) printf "\t%s (bound %.3f)", name[j], b[j]; \
	    print ""; for (i = 1; i <= m; i++) { printf "%d", i; \
	      for (j = 1; j <= f; j++) printf "\t%s", v[i, j]; print "" } }' \
	  $^ > $@.tmp
	mv $@.tmp $@

$(OUT)/toy.md: $(OUT)/toy.tsv pipelines/tsv2md
	{ echo "## The toy model of Figure 2: the augmentation graph of three tokenizations"; echo; \
	  echo "$(TOY_IMAGES) images of $(TOY_CLASSES) classes, $(TOY_PATCHES) masked views each (pipelines/toy), tokenized MAE-like (mae: every view its own token), class-wise (one token per class) and cross-class (each token one view of every class).  alpha: the share of the graph weight between classes; lambda: lambda_{C+1} of its normalised Laplacian (intra-class connectivity); bound: alpha / lambda (augraph(1)); k: the tokens."; \
	  echo; pipelines/tsv2md $<; echo; \
	  awk -F '\t' '!/^#/ && $$1 != "tokenization" { b[$$1] = $$5 } END { \
	    ok = b["classwise"] < b["mae"] && b["mae"] < b["crossclass"]; \
	    printf "The ordering the paper states, class-wise lowest bound and cross-class highest (classwise < mae < crossclass): %s.\n", \
	      ok ? "reproduced" : "NOT reproduced" }' $<; } > $@.tmp
	mv $@.tmp $@

$(OUT)/toy.png: $(TW)/spectra.tsv pipelines/toy.gp
	gnuplot -e "in='$<'; out='$@.tmp'; c=$(TOY_CLASSES)" pipelines/toy.gp
	mv $@.tmp $@

.PHONY: toy
