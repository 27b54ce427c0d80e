# A training-free score of the tokenizer against linear-probe accuracy,
# one labelled point per tokenizer (the mean over the seeds, with its
# standard deviation as an error bar), and the untrained encoder's
# accuracy as a dashed line.
#   gnuplot -e "in='tcas-vs-lp.tsv'; out='x.png'; x='tcas'; data='Fashion-MNIST'; budget='2'; seeds='0 1'; floor=78.8; rho='...'" tcas-vs-lp.gp
# in: the table of tcas.mk (columns tokenizer, k, tcas, nmi, alpha,
# lambda, bound, linear, linear_sd, knn, seeds; its first row the
# untrained encoder); x: the score, tcas or bound
set terminal pngcairo size 860,600 font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key bottom left
set grid
col = x eq "tcas" ? 3 : 7
set title sprintf("%s: %s of the tokenizer against linear probe\n(ClusterMIM, %s epoch(s) of training each, seeds %s)\n%s", data, x eq "tcas" ? "TCAS" : "augmentation-graph bound", budget, seeds, rho)
set xlabel x eq "tcas" ? "TCAS (lower: tokens better aligned with the classes)" : "alpha / lambda_{C+1} of the tokens' augmentation graph (lower: a smaller error bound)"
set ylabel "linear-probe test accuracy (%)"
set offsets graph 0.08, graph 0.12, graph 0.08, graph 0.08
plot in using col:8:(strcol(9) eq "-" ? 0 : $9) skip 1 with yerrorbars pt 7 ps 1.2 lc rgb "#1f77b4" title "ClusterMIM on the tokenizer's tokens", \
     in using col:8:1 skip 1 with labels offset char 1,char 0.6 left font ",9" notitle, \
     floor with lines dt 2 lw 2 lc rgb "#d62728" title "untrained encoder"
