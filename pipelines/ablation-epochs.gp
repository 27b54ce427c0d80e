# Linear-probe accuracy against the epochs of the K-means fit.
#   gnuplot -e "in='ablation-epochs.tsv'; out='x.png'; data='Fashion-MNIST'; budget='0.25'; k='64'" ablation-epochs.gp
# in: the table of ablation.mk (columns epochs, inertia, tcas, linear, knn)
set terminal pngcairo size 800,520 font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set grid
set logscale x
set key bottom right
set title sprintf("%s: ablation on K-means epochs (pixel, K=%s; ClusterMIM, %s epoch(s))", data, k, budget)
set xlabel "K-means epochs"
set ylabel "test accuracy (%)"
plot in using 1:4 skip 1 with linespoints pt 7 lw 2 title "linear probe", \
     in using 1:5 skip 1 with linespoints pt 5 lw 2 title "k-NN"
