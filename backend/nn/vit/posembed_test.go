package vit

import (
	"math"
	"strings"
	"testing"
)

func TestPosEmbedMatrixShapesAndRows(t *testing.T) {
	for _, tc := range []struct{ src, dst int }{{4, 4}, {4, 2}, {4, 3}, {2, 4}, {4, 5}, {4, 1}, {1, 3}} {
		m, err := PosEmbedMatrix(tc.src, tc.dst)
		if err != nil {
			t.Fatal(err)
		}
		rows, cols := 1+tc.dst*tc.dst, 1+tc.src*tc.src
		if len(m) != rows*cols {
			t.Fatalf("%d->%d: %d entries, want %dx%d", tc.src, tc.dst, len(m), rows, cols)
		}
		// The class position passes through and mixes with no patch.
		if m[0] != 1 {
			t.Errorf("%d->%d: M[0][0] = %g, want 1", tc.src, tc.dst, m[0])
		}
		for c := 1; c < cols; c++ {
			if m[c] != 0 {
				t.Errorf("%d->%d: class row reads patch %d", tc.src, tc.dst, c-1)
			}
		}
		// Bicubic weights sum to 1, so a constant grid stays constant.
		for r := 1; r < rows; r++ {
			sum := 0.0
			for _, w := range m[r*cols : (r+1)*cols] {
				sum += w
			}
			if math.Abs(sum-1) > 1e-12 || m[r*cols] != 0 {
				t.Errorf("%d->%d: row %d sums to %g, class weight %g", tc.src, tc.dst, r, sum, m[r*cols])
			}
		}
	}
	if _, err := PosEmbedMatrix(0, 2); err == nil {
		t.Error("PosEmbedMatrix(0, 2): no error")
	}
}

func TestPosEmbedMatrixIdentity(t *testing.T) {
	m, _ := PosEmbedMatrix(4, 4)
	for r := 0; r < 17; r++ {
		for c := 0; c < 17; c++ {
			want := 0.0
			if r == c {
				want = 1
			}
			if m[r*17+c] != want {
				t.Fatalf("4->4: M[%d][%d] = %g, want %g", r, c, m[r*17+c], want)
			}
		}
	}
}

// TestPosEmbedMatrixValues checks entries against PyTorch 1.13's
// F.interpolate(mode="bicubic", scale_factor=(dst+0.1)/src) of one-hot
// grids in float64. By hand for 2->4, output row 0: the source coordinate is
// 0.5*2/4.1 - 0.5 = -0.2561, so floor -1 and t = 0.7439; the four taps at
// -2, -1, 0, 1 clamp to 0, 0, 0, 1 and give 1D weights (1.10629, -0.10629):
// cubic2(1.7439) + cubic1(0.7439) + cubic1(0.2561) and cubic2(1.2561). The
// 2D weight of source (0, 0) is 1.10629^2 = 1.22388. Row 3 differs from the
// mirror of row 0 because DINO's 0.1 shifts the sampling grid.
func TestPosEmbedMatrixValues(t *testing.T) {
	for _, tc := range []struct {
		src, dst int
		row      int // output patch, row-major; M's row is 1+row
		want     []float64
	}{
		{2, 4, 0, []float64{1.22388095612, -0.11758942306, -0.11758942306, 0.0112978900002}},
		{2, 4, 15, []float64{0.00954532416335, -0.107245499001, -0.107245499001, 1.20494567384}},
		{4, 2, 0, []float64{0.306381554969, 0.293660172035, -0.0465242882826, 0, 0.293660172035, 0.281466998392,
			-0.0445925359386, 0, -0.0465242882826, -0.0445925359386, 0.00706475101094, 0, 0, 0, 0, 0}},
		{4, 2, 3, []float64{0, 0, 0, 0, 0, 0.0122536186161, -0.0852307250407, -0.0377189577153, 0, -0.0852307250407,
			0.592827043061, 0.262356305887, 0, -0.0377189577153, 0.262356305887, 0.116106092062}},
		{4, 3, 0, []float64{0.768873966665, 0.119826700299, -0.0118460800089, 0, 0.119826700299, 0.0186746316394,
			-0.00184617601907, 0, -0.0118460800089, -0.00184617601907, 0.000182513152558, 0, 0, 0, 0, 0}},
		{4, 3, 8, []float64{0, 0, 0, 0, 0, 0.00167491627604, -0.011976928543, -0.0306237287287, 0, -0.011976928543,
			0.0856441718163, 0.218983011837, 0, -0.0306237287287, 0.218983011837, 0.559916202776}},
		{4, 5, 24, []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.000431822019403, -0.0212121497214, 0, 0,
			-0.0212121497214, 1.04199247742}},
	} {
		m, err := PosEmbedMatrix(tc.src, tc.dst)
		if err != nil {
			t.Fatal(err)
		}
		cols := 1 + tc.src*tc.src
		got := m[(1+tc.row)*cols+1 : (2+tc.row)*cols]
		for i, w := range tc.want {
			if math.Abs(got[i]-w) > 1e-10 {
				t.Errorf("%d->%d row %d col %d: %.12g, want %.12g", tc.src, tc.dst, tc.row, i, got[i], w)
			}
		}
	}
}

func TestInterpolatePosEmbed(t *testing.T) {
	const dim = 3
	// A 2x2 grid with a constant value per channel stays constant on 4x4 and
	// 3x3; the class row is copied.
	pos := []float32{9, 8, 7, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}
	for _, dst := range []int{4, 3, 1} {
		out, err := InterpolatePosEmbed(pos, dim, 2, dst)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != (1+dst*dst)*dim {
			t.Fatalf("2->%d: %d values", dst, len(out))
		}
		for i, v := range out {
			want := pos[dim+i%dim]
			if i < dim {
				want = pos[i]
			}
			if math.Abs(float64(v-want)) > 1e-6 {
				t.Errorf("2->%d: value %d is %g, want %g", dst, i, v, want)
			}
		}
	}
	// One-hot source patch 0 on 2->4: output patch 0 gets M's weight.
	onehot := make([]float32, 5)
	onehot[1] = 1
	out, err := InterpolatePosEmbed(onehot, 1, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(out[1])-1.22388095612) > 1e-6 || out[0] != 0 {
		t.Errorf("one-hot 2->4: class %g, patch 0 %g, want 0 and 1.22388", out[0], out[1])
	}
	if _, err := InterpolatePosEmbed(pos[:14], dim, 2, 4); err == nil || !strings.Contains(err.Error(), "14 values") {
		t.Errorf("short input: error %v", err)
	}
}
