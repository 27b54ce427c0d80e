# Linear-probe accuracy against K, pixel K-means and feature K-means on
# each teacher's features, with the untrained encoder as a dashed line;
# with ft=1 the fine-tuning accuracy of each in a second panel below,
# on its own scale (the untrained encoder fine-tuned is far below).
#   gnuplot -e "in='ablation-k.tsv'; out='x.png'; data='Fashion-MNIST'; budget='2'; seeds='0 1'; ft=0" ablation-k.gp
# in: the table of ablation.mk (columns tokenizer, k, tcas, nmi, alpha,
# lambda, bound, linear, linear_sd, knn, with ft=1 finetune and
# finetune_sd, seeds; its first row the untrained encoder)
if (!exists("ft")) ft = 0
set terminal pngcairo size 860,(ft ? 900 : 560) font ",11"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set grid
set logscale x 2
set key bottom right
set offsets graph 0.03, graph 0.03, 0, 0
head = sprintf("%s: ablation on K (ClusterMIM, %s epoch(s) of training, seeds %s)", data, budget, seeds)
set title head
set xlabel "K, the number of tokens"
set ylabel "linear-probe test accuracy (%)"
# the rows whose tokenizer name starts with p
is(p) = strstrt(strcol(1), p) == 1
sd = 'strcol(9) eq "-" ? 0 : $9'
fsd = 'strcol(12) eq "-" ? 0 : $12'
stats in using (is("untrained") ? $8 : NaN) skip 1 name "U" nooutput
# the linear probe; with ft=1, above the fine-tuning in a second panel
if (ft) {
	stats in using (is("untrained") ? $11 : NaN) skip 1 name "UF" nooutput
	set multiplot layout 2,1 title head
	unset title
}
plot in using 2:(is("pixel-") ? $8 : NaN):(@sd) skip 1 \
        with yerrorlines pt 7 lw 2 lc 1 title "pixel K-means", \
     in using 2:(is("feature-") ? $8 : NaN):(@sd) skip 1 \
        with yerrorlines pt 5 lw 2 lc 2 title "feature K-means, MAE teacher", \
     in using 2:(is("cmfeature-") ? $8 : NaN):(@sd) skip 1 \
        with yerrorlines pt 9 lw 2 lc 3 title "feature K-means, ClusterMIM teacher", \
     U_max with lines dt 2 lw 2 lc rgb "#d62728" title "untrained encoder"
if (ft) {
	set ylabel "fine-tuned test accuracy (%)"
	set key top center
	set title sprintf("fine-tuned with labels; the untrained encoder fine-tuned: %.2f", UF_max)
	plot in using 2:(is("pixel-") ? $11 : NaN):(@fsd) skip 1 \
	        with yerrorlines pt 6 lw 2 lc 1 title "pixel K-means", \
	     in using 2:(is("feature-") ? $11 : NaN):(@fsd) skip 1 \
	        with yerrorlines pt 4 lw 2 lc 2 title "feature K-means, MAE teacher", \
	     in using 2:(is("cmfeature-") ? $11 : NaN):(@fsd) skip 1 \
	        with yerrorlines pt 8 lw 2 lc 3 title "feature K-means, ClusterMIM teacher"
	unset multiplot
}
