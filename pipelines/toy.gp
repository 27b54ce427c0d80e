# The spectra of the toy model: the smallest eigenvalues of the
# normalised Laplacian of each tokenization's augmentation graph.
#   gnuplot -e "in='spectra.tsv'; out='x.png'; c=2" toy.gp
# in: columns i, then one per tokenization, its name and bound in the
# header; c: the classes (lambda_{C+1} is marked)
set terminal pngcairo size 800,520 font ",11"
set output out
set datafile separator "\t"
set grid
set key bottom right
set title "Toy model (Figure 2): spectra of the augmentation graph's normalised Laplacian"
set xlabel "i"
set ylabel "lambda_i"
set yrange [-0.02:1.05]
set arrow from c + 1, graph 0 to c + 1, graph 1 nohead dt 2 lc rgb "#777777"
set label sprintf("lambda_{C+1}, C = %d", c) at c + 1.3, graph 0.06 tc rgb "#555555"
plot in using 1:2 with linespoints pt 7 lw 2 title columnheader(2), \
     in using 1:3 with linespoints pt 5 lw 2 title columnheader(3), \
     in using 1:4 with linespoints pt 9 lw 2 title columnheader(4)
