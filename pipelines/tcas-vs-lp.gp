# TCAS against linear-probe accuracy, one labelled point per tokenizer
# (the mean over the seeds, with its standard deviation as an error
# bar), and the untrained encoder's accuracy as a dashed line.
#   gnuplot -e "in='tcas-vs-lp.tsv'; out='x.png'; data='Fashion-MNIST'; budget='2'; seeds='0 1'; floor=78.8; rho='...'" tcas-vs-lp.gp
# in: the table of tcas.mk (columns tokenizer, k, tcas, nmi, linear,
# linear_sd, knn, seeds; its first row the untrained encoder)
set terminal pngcairo size 860,600 font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key bottom left
set grid
set title sprintf("%s: TCAS of the tokenizer against linear probe\n(ClusterMIM, %s epoch(s) of training each, seeds %s)\n%s", data, budget, seeds, rho)
set xlabel "TCAS (lower: tokens better aligned with the classes)"
set ylabel "linear-probe test accuracy (%)"
set offsets graph 0.08, graph 0.12, graph 0.08, graph 0.08
plot in using 3:5:(strcol(6) eq "-" ? 0 : $6) skip 1 with yerrorbars pt 7 ps 1.2 lc rgb "#1f77b4" title "ClusterMIM on the tokenizer's tokens", \
     in using 3:5:1 skip 1 with labels offset char 1,char 0.6 left font ",9" notitle, \
     floor with lines dt 2 lw 2 lc rgb "#d62728" title "untrained encoder"
