# The loss against the step, from mim-train -L logs RUN.tsv (columns
# step, loss, lr, img_s, grad_norm, with a header line).
#   gnuplot -e "data='Fashion-MNIST'; pix='d/mae'; tok='d/cm-pixel-k64'; out='x.png'; budget='1'" curves.gp
# pix and tok: the runs of each panel, paths without .tsv separated by
# spaces; each is titled by its last component.
set terminal pngcairo size 1100,460 font ",11"
set output out
set datafile separator "\t"
set grid
set key top right
set xlabel "step"
base(s) = strstrt(s, "/") ? base(s[strstrt(s, "/") + 1:]) : s
set multiplot layout 1,2 title sprintf("%s: training loss, %s epoch(s)", data, budget)
set title "pixel target: MSE on masked patches"
set ylabel "loss"
plot for [r in pix] r.".tsv" using 1:2 skip 1 with lines lw 2 title base(r)
set title "token target: cross-entropy on masked patches"
plot for [r in tok] r.".tsv" using 1:2 skip 1 with lines lw 2 title base(r)
unset multiplot
