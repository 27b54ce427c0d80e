# Linear-probe and k-NN accuracy against the epochs of the K-means fit;
# with ft=1 also the fine-tuning accuracy.
#   gnuplot -e "in='ablation-epochs.tsv'; out='x.png'; data='Fashion-MNIST'; budget='2'; k='64'; seeds='0 1'; ft=0" ablation-epochs.gp
# in: the table of ablation.mk (columns epochs, inertia, then those of
# the K table: tokenizer, k, tcas, nmi, alpha, lambda, bound, linear,
# linear_sd, knn, with ft=1 finetune and finetune_sd, seeds; its first
# row the untrained encoder, with '-' for epochs)
if (!exists("ft")) ft = 0
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
if (ft) {
	plot in using 1:10:(strcol(11) eq "-" ? 0 : $11) skip 1 with yerrorlines pt 7 lw 2 title "linear probe", \
	     in using 1:12 skip 1 with linespoints pt 5 lw 2 title "k-NN", \
	     in using 1:13:(strcol(14) eq "-" ? 0 : $14) skip 1 with yerrorlines pt 9 lw 2 title "fine-tuning"
} else {
	plot in using 1:10:(strcol(11) eq "-" ? 0 : $11) skip 1 with yerrorlines pt 7 lw 2 title "linear probe", \
	     in using 1:12 skip 1 with linespoints pt 5 lw 2 title "k-NN"
}
