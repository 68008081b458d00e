package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/nn/vit"
)

// The reference ViT: the network of backend/nn/vit's package documentation
// written as plain float64 loops over one image at a time, with nothing
// shared with the graph code but the position-embedding resampler.

// refParams reads a parameter set as float64.
type refParams struct {
	p vit.Preset
	m map[string][]float64
}

func newRefParams(ps *vit.Params) refParams {
	r := refParams{p: ps.Preset, m: make(map[string][]float64)}
	for _, p := range ps.List() {
		v := make([]float64, len(p.Data))
		for i, x := range p.Data {
			v[i] = float64(x)
		}
		r.m[p.Name] = v
	}
	return r
}

// refForward returns each image's class token after the final norm and
// the head's logits. images are n x C x size x size.
func refForward(t *testing.T, ps *vit.Params, images []float32, n, size int) (cls, logits [][]float64) {
	t.Helper()
	r := newRefParams(ps)
	p := r.p
	d, c, pz := p.Dim, p.InChans, p.PatchSize
	g, native := size/pz, p.Grid(p.ImageSize)
	pos := r.m["pos_embed"]
	if g != native {
		p32, err := vit.InterpolatePosEmbed(ps.Get("pos_embed").Data, d, native, g)
		if err != nil {
			t.Fatal(err)
		}
		pos = make([]float64, len(p32))
		for i, v := range p32 {
			pos[i] = float64(v)
		}
	}
	w, b := r.m["patch_embed.proj.weight"], r.m["patch_embed.proj.bias"]
	for im := range n {
		pix := images[im*c*size*size : (im+1)*c*size*size]
		x := make([][]float64, 1+g*g)
		x[0] = make([]float64, d)
		for k := range d {
			x[0][k] = r.m["cls_token"][k] + pos[k]
		}
		for gy := range g {
			for gx := range g {
				tok := make([]float64, d)
				for k := range d {
					s := b[k]
					for ch := range c {
						for ky := range pz {
							for kx := range pz {
								s += w[((k*c+ch)*pz+ky)*pz+kx] * float64(pix[(ch*size+gy*pz+ky)*size+gx*pz+kx])
							}
						}
					}
					tok[k] = s + pos[(1+gy*g+gx)*d+k]
				}
				x[1+gy*g+gx] = tok
			}
		}
		for i := range p.Depth {
			x = r.block(x, blockPrefix(i))
		}
		f := refLayerNorm(x[0], r.m["norm.weight"], r.m["norm.bias"])
		cls = append(cls, f)
		logits = append(logits, refLinear(f, r.m["head.weight"], r.m["head.bias"]))
	}
	return cls, logits
}

// block is timm's pre-norm Block on the tokens x [T][D].
func (r refParams) block(x [][]float64, pre string) [][]float64 {
	d, heads := r.p.Dim, r.p.Heads
	dh := d / heads
	qkv := make([][]float64, len(x))
	for i, row := range x {
		qkv[i] = refLinear(refLayerNorm(row, r.m[pre+"norm1.weight"], r.m[pre+"norm1.bias"]), r.m[pre+"attn.qkv.weight"], r.m[pre+"attn.qkv.bias"])
	}
	att := make([][]float64, len(x))
	for i := range x {
		att[i] = make([]float64, d)
	}
	for h := range heads {
		for i := range x {
			scores := make([]float64, len(x))
			mx := math.Inf(-1)
			for j := range x {
				s := 0.0
				for k := range dh {
					s += qkv[i][h*dh+k] * qkv[j][d+h*dh+k]
				}
				scores[j] = s / math.Sqrt(float64(dh))
				mx = max(mx, scores[j])
			}
			sum := 0.0
			for j := range scores {
				scores[j] = math.Exp(scores[j] - mx)
				sum += scores[j]
			}
			for j := range x {
				for k := range dh {
					att[i][h*dh+k] += scores[j] / sum * qkv[j][2*d+h*dh+k]
				}
			}
		}
	}
	out := make([][]float64, len(x))
	for i, row := range x {
		y := refLinear(att[i], r.m[pre+"attn.proj.weight"], r.m[pre+"attn.proj.bias"])
		for k := range y {
			y[k] += row[k]
		}
		h := refLinear(refLayerNorm(y, r.m[pre+"norm2.weight"], r.m[pre+"norm2.bias"]), r.m[pre+"mlp.fc1.weight"], r.m[pre+"mlp.fc1.bias"])
		for k, v := range h {
			h[k] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
		}
		m := refLinear(h, r.m[pre+"mlp.fc2.weight"], r.m[pre+"mlp.fc2.bias"])
		for k := range y {
			y[k] += m[k]
		}
		out[i] = y
	}
	return out
}

// refLinear returns W·x + b for W [O, len(x)]; b may be nil.
func refLinear(x, w, b []float64) []float64 {
	out := make([]float64, len(w)/len(x))
	for o := range out {
		s := 0.0
		if b != nil {
			s = b[o]
		}
		for i, v := range x {
			s += w[o*len(x)+i] * v
		}
		out[o] = s
	}
	return out
}

// refLayerNorm normalises x with the biased variance and eps 1e-6.
func refLayerNorm(x, gamma, beta []float64) []float64 {
	mean, sq := 0.0, 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		sq += (v - mean) * (v - mean)
	}
	rstd := 1 / math.Sqrt(sq/float64(len(x))+vit.LayerNormEps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = (v-mean)*rstd*gamma[i] + beta[i]
	}
	return out
}

// tinyPreset is small enough for finite differences over every parameter
// tensor: D 16, depth 2, 2 heads, on 32 px inputs (16 patches + CLS).
func tinyPreset(dropPath, attnDrop float64) vit.Preset {
	return vit.Preset{Name: "vit_test", Dim: 16, Depth: 2, Heads: 2, MLPRatio: 4, PatchSize: 8,
		ImageSize: 32, InChans: 3, DropPath: dropPath, AttnDrop: attnDrop, QKVBias: true}
}

// tinyParams returns a two-class parameter set of p. Initialised as vit.New
// does, the network is close to linear (weights of 0.02); biases, norms and
// the head are redrawn so that every path carries a sizeable signal and
// gradient.
func tinyParams(t testing.TB, p vit.Preset, seed uint64) *vit.Params {
	t.Helper()
	return redrawnParams(t, p, 2, rand.New(rand.NewPCG(seed, 99)))
}

// redrawnParams returns a parameter set of p with classes outputs (0: no
// head) whose weights, after vit.New's, are redrawn from rng uniform in
// [-0.3, 0.3), plus 1 for LayerNorm gains.
func redrawnParams(t testing.TB, p vit.Preset, classes int, rng *rand.Rand) *vit.Params {
	t.Helper()
	ps, err := vit.New(p, classes, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range ps.List() {
		for i := range q.Data {
			v := 0.3 * (2*rng.Float64() - 1)
			if len(q.Shape) == 1 && strings.HasSuffix(q.Name, ".weight") {
				v += 1 // LayerNorm gains around 1
			}
			q.Data[i] = float32(v)
		}
	}
	return ps
}

// randomImages returns n images of size x size with 3 bands, uniform in [-1, 1).
func randomImages(seed uint64, n, size int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 5))
	out := make([]float32, n*3*size*size)
	for i := range out {
		out[i] = float32(2*rng.Float64() - 1)
	}
	return out
}
