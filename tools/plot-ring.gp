# SPDX-License-Identifier: MIT
# tools/plot-ring.gp — blocking queue throughput per thread mix, one bar per queue.
# Run by tools/bench-plot, which writes ring-throughput.dat (mix, then one column per
# queue, in millions of items per second):
#   gnuplot -e "dir='bench-results'" tools/plot-ring.gp
if (!exists("dir")) dir = "bench-results"
if (!exists("out")) out = dir . "/ring.png"
if (!exists("subtitle")) subtitle = ""
file = dir . "/ring-throughput.dat"
columns = system("head -1 '" . file . "' | wc -w") + 0
header = system("head -1 '" . file . "'")
rows = system("tail -n +2 '" . file . "' | wc -l") + 0

# How each queue waits, in its key entry: which spin, which park, which never sleep.
how(q) = q eq "fev" ? "fev (spins up to fev::spin_limit(), then parks)" : \
         q eq "mutex_condvar" ? "mutex_condvar (parks at once)" : \
         q eq "tbb" ? "tbb (spins briefly, then parks)" : \
         q eq "moodycamel" ? "moodycamel (UNBOUNDED; spins, then parks)" : \
         q eq "moodycamel_bounded" ? "moodycamel_bounded (spins, then parks)" : \
         q eq "boost_lockfree" ? "boost_lockfree (spins, then yields; never parks)" : q

set terminal pngcairo size 1200,700 font ",10" noenhanced
set output out
set title "Queue throughput, blocking push/pop, capacity 1024 (higher is better)" . (subtitle eq "" ? "" : "\n" . subtitle)
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set ylabel "million items / s"
set xlabel "producers P, consumers C"
set yrange [0:*]
set xrange [0.4:rows + 0.6]  # the clusters sit at x = 1, 2, ... (one per mix); no empty margin
set grid ytics
set key outside right top
plot for [c=2:columns] file using c:xtic(1) title how(word(header, c))
