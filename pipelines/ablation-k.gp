# Linear-probe accuracy against K, pixel K-means and feature K-means on
# each teacher's features, with the untrained encoder as a dashed line.
#   gnuplot -e "in='ablation-k.tsv'; out='x.png'; data='Fashion-MNIST'; budget='2'; seeds='0 1'" ablation-k.gp
# in: the table of ablation.mk (columns tokenizer, k, tcas, nmi, alpha,
# lambda, bound, linear, linear_sd, knn, seeds; its first row the
# untrained encoder)
set terminal pngcairo size 860,560 font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set grid
set logscale x 2
set key bottom right
set title sprintf("%s: ablation on K (ClusterMIM, %s epoch(s) of training, seeds %s)", data, budget, seeds)
set xlabel "K, the number of tokens"
set ylabel "linear-probe test accuracy (%)"
# the rows whose tokenizer name starts with p
is(p) = strstrt(strcol(1), p) == 1
sd = 'strcol(9) eq "-" ? 0 : $9'
stats in using (is("untrained") ? $8 : NaN) skip 1 name "U" nooutput
plot in using 2:(is("pixel-") ? $8 : NaN):(@sd) skip 1 \
        with yerrorlines pt 7 lw 2 title "pixel K-means", \
     in using 2:(is("feature-") ? $8 : NaN):(@sd) skip 1 \
        with yerrorlines pt 5 lw 2 title "feature K-means, MAE teacher", \
     in using 2:(is("cmfeature-") ? $8 : NaN):(@sd) skip 1 \
        with yerrorlines pt 9 lw 2 title "feature K-means, ClusterMIM teacher", \
     U_max with lines dt 2 lw 2 lc rgb "#d62728" title "untrained encoder"
