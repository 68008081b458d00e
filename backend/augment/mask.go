package augment

import (
	"math"
	"math/rand/v2"
)

// BlockMask draws iBOT's blockwise mask on an h x w patch grid (row-major,
// true = masked). The masked fraction r is ratio, or uniform in
// [ratio-ratioVar, ratio+ratioVar] when ratioVar > 0, clamped to [0, 1];
// the mask then holds exactly round(r*h*w) patches, rounded up with
// probability equal to the fraction so the mean ratio is r even on a 4x4 grid.
//
// Blocks are placed as BEiT's MaskingGenerator does: up to 10 attempts per
// block at an area uniform in [min(minBlock, left), left] patches (left =
// patches still to mask) and a log-uniform height/width ratio in aspect;
// a block must be smaller than the grid and add between 1 and left new
// patches. BEiT stops short when no block fits; here the remaining patches
// are then added one at a time next to the mask, so the count is exact and
// the mask stays in blocks. minBlock <= 0 picks iBOT's (min(h, w)/3)^2, at
// least 1.
func BlockMask(h, w int, ratio, ratioVar float64, aspect [2]float64, minBlock int, rng *rand.Rand) []bool {
	if h <= 0 || w <= 0 {
		return nil
	}
	mask := make([]bool, h*w)
	blockMask(mask, h, w, maskCount(h*w, ratio, ratioVar, rng), aspect, minBlock, nil, rng)
	return mask
}

// RandMask masks the same number of patches as BlockMask, chosen uniformly
// (iBOT's pred_shape "rand").
func RandMask(h, w int, ratio, ratioVar float64, rng *rand.Rand) []bool {
	if h <= 0 || w <= 0 {
		return nil
	}
	mask := make([]bool, h*w)
	randMask(mask, maskCount(h*w, ratio, ratioVar, rng), nil, rng)
	return mask
}

// maskCount draws the number of patches to mask out of n.
func maskCount(n int, ratio, ratioVar float64, rng *rand.Rand) int {
	r := ratio
	if ratioVar > 0 {
		r = ratio - ratioVar + 2*ratioVar*rng.Float64()
	}
	t := min(max(r, 0), 1) * float64(n)
	k := math.Floor(t)
	if rng.Float64() < t-k {
		k++
	}
	return int(k)
}

// blockMask sets target patches of the cleared mask in blocks; cand is
// scratch for the top-up and is returned grown.
func blockMask(mask []bool, h, w, target int, aspect [2]float64, minBlock int, cand []int, rng *rand.Rand) []int {
	if minBlock <= 0 {
		minBlock = max(1, (min(h, w)/3)*(min(h, w)/3))
	}
	logLo, logHi := math.Log(aspect[0]), math.Log(aspect[1])
	count := 0
	for count < target {
		left := target - count
		lo := min(minBlock, left)
		added := 0
		for attempt := 0; attempt < 10 && added == 0; attempt++ {
			area := float64(lo) + float64(left-lo)*rng.Float64()
			ar := math.Exp(logLo + (logHi-logLo)*rng.Float64())
			bh := int(math.RoundToEven(math.Sqrt(area * ar)))
			bw := int(math.RoundToEven(math.Sqrt(area / ar)))
			if bh >= h || bw >= w {
				continue
			}
			top, lft := rng.IntN(h-bh+1), rng.IntN(w-bw+1)
			fresh := 0
			for y := top; y < top+bh; y++ {
				for x := lft; x < lft+bw; x++ {
					if !mask[y*w+x] {
						fresh++
					}
				}
			}
			if fresh == 0 || fresh > left {
				continue
			}
			for y := top; y < top+bh; y++ {
				for x := lft; x < lft+bw; x++ {
					mask[y*w+x] = true
				}
			}
			added = fresh
		}
		if added == 0 {
			break
		}
		count += added
	}
	for ; count < target; count++ {
		cand = cand[:0]
		for i, m := range mask {
			if !m && touchesMask(mask, h, w, i) {
				cand = append(cand, i)
			}
		}
		if len(cand) == 0 {
			for i, m := range mask {
				if !m {
					cand = append(cand, i)
				}
			}
		}
		mask[cand[rng.IntN(len(cand))]] = true
	}
	return cand
}

// touchesMask reports whether patch i has a masked 4-neighbour.
func touchesMask(mask []bool, h, w, i int) bool {
	y, x := i/w, i%w
	return (y > 0 && mask[i-w]) || (y < h-1 && mask[i+w]) || (x > 0 && mask[i-1]) || (x < w-1 && mask[i+1])
}

// randMask sets target patches of the cleared mask chosen uniformly by a
// partial Fisher-Yates shuffle; perm is scratch and is returned grown.
func randMask(mask []bool, target int, perm []int, rng *rand.Rand) []int {
	perm = perm[:0]
	for i := range mask {
		perm = append(perm, i)
	}
	for i := 0; i < target; i++ {
		j := i + rng.IntN(len(perm)-i)
		perm[i], perm[j] = perm[j], perm[i]
		mask[perm[i]] = true
	}
	return perm
}
