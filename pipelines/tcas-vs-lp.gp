# TCAS against linear-probe accuracy, one labelled point per tokenizer.
#   gnuplot -e "in='tcas-vs-lp.tsv'; out='x.png'; data='Fashion-MNIST'; budget='0.25'" tcas-vs-lp.gp
# in: the table of tcas.mk (columns tokenizer, k, tcas, nmi, linear, knn)
set terminal pngcairo size 800,560 font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key off
set grid
set title sprintf("%s: TCAS of the tokenizer against linear probe\n(ClusterMIM, %s epoch(s) of training each)", data, budget)
set xlabel "TCAS (lower: tokens better aligned with the classes)"
set ylabel "linear-probe test accuracy (%)"
set offsets graph 0.08, graph 0.08, graph 0.08, graph 0.08
plot in using 3:5 skip 1 with points pt 7 ps 1.5 lc rgb "#1f77b4", \
     in using 3:5:1 skip 1 with labels offset char 1,char 0.6 left font ",9"
