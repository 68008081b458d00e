package sim

// saturate masks the pixels of out (g, r, i, each S x S) that saturate in
// any band, with the bleed trails their excess charge makes along columns
// (bleed, with levels the per-band saturation levels), marking them in mask,
// and replaces every band's masked pixels by interpolation across rows
// (interpolateRows). The mask is thus the same in all bands and the masked
// region takes the colour of its surroundings, as the HSC pipeline masks
// saturated and bleed pixels and interpolates over them (Bosch et al. 2018,
// PASJ 70, S5). It returns the number of masked pixels.
func saturate(out [3][]float64, S int, levels [3]float64, mask []bool) int {
	for c := range out {
		bleed(out[c], S, levels[c], mask)
	}
	masked := 0
	for _, m := range mask {
		if m {
			masked++
		}
	}
	if masked > 0 {
		for c := range out {
			interpolateRows(out[c], S, mask)
		}
	}
	return masked
}

// bleed clips img (S x S) at level and spills the excess charge of each
// saturated run half up and half down its column, filling pixels to the
// level, as a CCD's full wells overflow along the readout direction. It
// marks in mask the clipped pixels and those the charge reaches.
func bleed(img []float64, S int, level float64, mask []bool) {
	for x := 0; x < S; x++ {
		for y := 0; y < S; {
			if img[y*S+x] <= level {
				y++
				continue
			}
			start, excess := y, 0.0
			for ; y < S && img[y*S+x] > level; y++ {
				excess += img[y*S+x] - level
				img[y*S+x] = level
				mask[y*S+x] = true
			}
			up, down := excess/2, excess/2
			for k := start - 1; k >= 0 && up > 0; k-- {
				add := max(min(level-img[k*S+x], up), 0)
				img[k*S+x] += add
				mask[k*S+x] = true
				up -= add
			}
			for k := y; k < S && down > 0; k++ {
				add := max(min(level-img[k*S+x], down), 0)
				img[k*S+x] += add
				mask[k*S+x] = true
				down -= add
			}
		}
	}
}

// interpolateRows replaces each run of masked pixels in a row of img
// (S x S) by the straight line between the nearest unmasked pixels on its
// left and right, or by the one of them that exists where the run reaches
// the stamp's edge. A row masked from edge to edge is left as it is.
func interpolateRows(img []float64, S int, mask []bool) {
	for y := 0; y < S; y++ {
		row, m := img[y*S:(y+1)*S], mask[y*S:(y+1)*S]
		for x := 0; x < S; {
			if !m[x] {
				x++
				continue
			}
			l := x - 1 // last unmasked pixel before the run, or -1
			for x < S && m[x] {
				x++
			}
			r := x // first unmasked pixel after the run, or S
			for k := l + 1; k < r; k++ {
				switch {
				case l >= 0 && r < S:
					t := float64(k-l) / float64(r-l)
					row[k] = (1-t)*row[l] + t*row[r]
				case l >= 0:
					row[k] = row[l]
				case r < S:
					row[k] = row[r]
				}
			}
		}
	}
}
