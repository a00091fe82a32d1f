# gnuplot -e "dir='perf/results/…'" perf/soak.gp: the perf/soak curve, DIR/soak.csv → DIR/soak.png
set terminal pngcairo size 1200,900 font ",10"
set output dir.'/soak.png'
set datafile separator ','
set key autotitle columnhead top left
set multiplot layout 2,2 title 'ringress soak: 9,000 TLS conns, 50 reconnects/s, 200 QoS 1 publishers (workers = 1)'
set xlabel 'minute'
set grid
set ylabel 'MiB'; set title 'ringress VmRSS'; set yrange [0:*]
plot dir.'/soak.csv' using 1:($2/1024) with linespoints title 'VmRSS'
set ylabel 'fds'; set title 'ringress open fds'
plot dir.'/soak.csv' using 1:3 with linespoints title 'fds', '' using 1:6 with lines title 'client conns', '' using 1:7 with lines title 'broker conns'
set ylabel 'CPU-s per minute'; set title 'ringress CPU (utime+stime)'
prev = NaN; pm = NaN
plot dir.'/soak.csv' using 1:(d = ($4 - prev) / ($1 - pm), prev = $4, pm = $1, d) with linespoints title 'CPU-s/min'
set ylabel 'MiB'; set title 'host Slab (/proc/meminfo)'
plot dir.'/soak.csv' using 1:($5/1024) with linespoints title 'Slab'
unset multiplot
