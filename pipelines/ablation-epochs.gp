# Linear-probe and k-NN accuracy against the epochs of the K-means fit.
#   gnuplot -e "in='ablation-epochs.tsv'; out='x.png'; data='Fashion-MNIST'; budget='2'; k='64'; seeds='0 1'" ablation-epochs.gp
# in: the table of ablation.mk (columns epochs, inertia, then those of
# the K table: tokenizer, k, tcas, nmi, alpha, lambda, bound, linear,
# linear_sd, knn, seeds; its first row the untrained encoder, with '-'
# for epochs)
set terminal pngcairo size 860,520 font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set grid
set logscale x
set key bottom right
set title sprintf("%s: ablation on K-means epochs (pixel, K=%s; ClusterMIM, %s epoch(s), seeds %s)", data, k, budget, seeds)
set xlabel "K-means epochs"
set ylabel "test accuracy (%)"
plot in using 1:10:(strcol(11) eq "-" ? 0 : $11) skip 1 with yerrorlines pt 7 lw 2 title "linear probe", \
     in using 1:12 skip 1 with linespoints pt 5 lw 2 title "k-NN"
