# Linear-probe accuracy against K, pixel and feature K-means.
#   gnuplot -e "in='ablation-k.tsv'; out='x.png'; data='Fashion-MNIST'; budget='0.25'" ablation-k.gp
# in: the table of ablation.mk (columns tokenizer, k, tcas, nmi, linear, knn)
set terminal pngcairo size 800,520 font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set grid
set logscale x 2
set key bottom right
set title sprintf("%s: ablation on K (ClusterMIM, %s epoch(s) of training)", data, budget)
set xlabel "K, the number of tokens"
set ylabel "linear-probe test accuracy (%)"
plot in using ($2):(strstrt(strcol(1), "pixel") ? $5 : NaN) skip 1 \
        with linespoints pt 7 lw 2 title "pixel K-means", \
     in using ($2):(strstrt(strcol(1), "feature") ? $5 : NaN) skip 1 \
        with linespoints pt 5 lw 2 title "feature K-means"
