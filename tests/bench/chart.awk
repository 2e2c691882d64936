# tests/bench/chart.awk: the bench CSV -> an SVG bar chart (awk only, no other dependency).
#
# One panel per thread count; per layer, one bar per implementation giving its fraction of the
# measured peak on a log scale (0.1% to 100%), so weft's scalar kernels and oneDNN's 90% both
# show. Hover a bar for its numbers; a red cross marks a result that failed the check.
# usage: awk -f chart.awk results.csv > results.svg

BEGIN {
	FS = ","
	nimpl = split("weft weft_tuned onednn_best onednn_plain openblas", impls, " ")
	split("weft|weft tuned|oneDNN best layout|oneDNN plain (NCHW)|OpenBLAS", label, "|")
	split("#1f77b4 #17becf #ff7f0e #fdbf6f #2ca02c", color, " ")
	for (i = 1; i <= nimpl; i++) slot[impls[i]] = i
	lo = 0.001 # bottom of the log axis: 0.1% of peak
	bw = 9; gap = 10; left = 70; top = 60; ph = 240; below = 110
}
NR == 1 { next }
$4 == "peak" { if (!($1 in seen_t)) { seen_t[$1] = 1; tlist[++nt] = $1 }; peak[$1] = $11; next }
$4 == "e2e" { next }
{
	t = $1; l = $2
	if (!($1 in seen_t)) { seen_t[$1] = 1; tlist[++nt] = $1 }
	if (!((t, l) in seen_l)) { seen_l[t, l] = 1; layers[t, ++nl[t]] = l; shape[l] = $5 }
	if ($8 == "ok") {
		frac[t, l, $7] = $12 + 0; gf[t, l, $7] = $11; ms[t, l, $7] = $10
		used[$7] = 1
		if ($14 == "WRONG") wrong[t, l, $7] = 1
	}
}
function y_of(f) {
	if (f < lo) f = lo
	if (f > 1) f = 1
	return ph * (1 - (log(f) - log(lo)) / (0 - log(lo)))
}
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
END {
	nused = 0
	for (i = 1; i <= nimpl; i++) if (impls[i] in used) col[impls[i]] = nused++
	if (nused == 0) nused = 1
	gw = nused * bw + gap
	maxl = 1
	for (k = 1; k <= nt; k++) if (nl[tlist[k]] > maxl) maxl = nl[tlist[k]]
	W = left + maxl * gw + 40; if (W < 640) W = 640
	H = top + nt * (ph + below + 40)
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H
	printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
	printf "<text x=\"%d\" y=\"20\" font-size=\"15\" font-weight=\"bold\">weft vs peers per layer: fraction of measured peak (log scale)</text>\n", left
	x = left
	for (i = 1; i <= nimpl; i++) {
		if (!(impls[i] in used)) continue
		printf "<rect x=\"%d\" y=\"32\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"42\">%s</text>\n", x, color[i], x + 16, label[i]
		x += 30 + 7 * length(label[i])
	}
	for (k = 1; k <= nt; k++) {
		t = tlist[k]
		y0 = top + (k - 1) * (ph + below + 40) + 20
		printf "<g transform=\"translate(0,%d)\">\n", y0
		printf "<text x=\"%d\" y=\"-6\" font-weight=\"bold\">%d thread%s, peak %.1f GFLOP/s</text>\n", left, t, (t > 1 ? "s" : ""), peak[t]
		for (f = lo; f <= 1.0001; f *= 10) { # decades
			y = y_of(f)
			printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>", left, left + nl[t] * gw, y, y
			printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g%%</text>\n", left - 4, y + 4, f * 100
		}
		for (j = 1; j <= nl[t]; j++) {
			l = layers[t, j]
			gx = left + (j - 1) * gw + gap / 2
			for (i = 1; i <= nimpl; i++) {
				m = impls[i]
				if (!((t, l, m) in frac)) continue
				bx = gx + col[m] * bw; y = y_of(frac[t, l, m])
				printf "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %s GFLOP/s, %.2f%% of peak, %s ms</title></rect>\n", bx, y, bw - 1, ph - y, color[i], esc(l), label[i], gf[t, l, m], 100 * frac[t, l, m], ms[t, l, m]
				if ((t, l, m) in wrong)
					printf "<text x=\"%d\" y=\"%.1f\" fill=\"red\" font-weight=\"bold\">x<title>wrong result</title></text>\n", bx, y - 2
			}
			lx = gx + nused * bw / 2
			printf "<text transform=\"translate(%d,%d) rotate(-50)\" text-anchor=\"end\">%s<title>%s</title></text>\n", lx, ph + 12, esc(l), esc(shape[l])
		}
		printf "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"black\"/>\n</g>\n", left, left + nl[t] * gw, ph, ph
	}
	print "</svg>"
}
