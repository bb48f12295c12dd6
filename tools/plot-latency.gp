# SPDX-License-Identifier: MIT
# tools/plot-latency.gp — latency percentiles per implementation, one panel per
# measurement and regime. Run by tools/bench-plot, which writes the latency-*.dat files:
#   gnuplot -e "dir='bench-results'" tools/plot-latency.gp
if (!exists("dir")) dir = "bench-results"
if (!exists("out")) out = dir . "/latency.png"
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1400,1000 font ",10" noenhanced
set output out
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%.0s%cs"
set ylabel "wake latency (log scale)"
set grid ytics mytics
set key top left
set xtics nomirror

panels = "oneway-parked oneway-spinning roundtrip-parked roundtrip-spinning"
titles = "'one-way, waiter parked' 'one-way, waiter spinning' 'round trip, waiter parked' 'round trip, waiter spinning'"
set multiplot layout 2,2 title "Event wake latency percentiles" . (subtitle eq "" ? "" : "\n" . subtitle)
do for [i=1:4] {
  file = dir . "/latency-" . word(panels, i) . ".dat"
  set title word(titles, i)
  if (system("test $(wc -l < '" . file . "' 2>/dev/null || echo 0) -gt 1 && echo 1 || echo 0") + 0) {
    # The .dat files hold seconds, so the axis can print ns/us/ms with %c.
    plot file using 2:xtic(1) title columnhead(2), '' using 3 title columnhead(3), \
         '' using 4 title columnhead(4), '' using 5 title columnhead(5)
  } else {
    unset logscale y
    plot [0:1][0:1] 2 notitle
    set logscale y
  }
}
unset multiplot
