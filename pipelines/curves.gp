# The loss against the step, from mim-train -L logs DIR/RUN.tsv
# (columns step, loss, lr, img_s, grad_norm, with a header line).
#   gnuplot -e "dir='d'; data='Fashion-MNIST'; pix='mae'; tok='cm-pixel-k64'; out='x.png'; budget='1'" curves.gp
# pix and tok: the runs of each panel, separated by spaces.
set terminal pngcairo size 1100,460 font ",11"
set output out
set datafile separator "\t"
set grid
set key top right
set xlabel "step"
set multiplot layout 1,2 title sprintf("%s: training loss, %s epoch(s)", data, budget)
set title "pixel target: MSE on masked patches"
set ylabel "loss"
plot for [r in pix] sprintf("%s/%s.tsv", dir, r) using 1:2 skip 1 \
    with lines lw 2 title r
set title "token target: cross-entropy on masked patches"
plot for [r in tok] sprintf("%s/%s.tsv", dir, r) using 1:2 skip 1 \
    with lines lw 2 title r
unset multiplot
