package augment

import (
	"fmt"
	"slices"

	"github.com/sslens/sslens/backend/data"
)

// HFlip mirrors im left to right, in place.
func HFlip(im data.Image) {
	for r := 0; r < im.C*im.H; r++ {
		slices.Reverse(im.Pix[r*im.W : (r+1)*im.W])
	}
}

// VFlip mirrors im top to bottom, in place.
func VFlip(im data.Image) {
	for c := 0; c < im.C; c++ {
		p := im.Plane(c)
		for top, bot := 0, im.H-1; top < bot; top, bot = top+1, bot-1 {
			a, b := p[top*im.W:(top+1)*im.W], p[bot*im.W:(bot+1)*im.W]
			for x := range a {
				a[x], b[x] = b[x], a[x]
			}
		}
	}
}

// Rot90 turns im by k quarter turns counter-clockwise, in place, as
// numpy.rot90(a, k, axes=(1, 2)) does: after one turn, out[y][x] = in[x][W-1-y].
// Negative k turns clockwise. Odd k needs a square image.
func Rot90(im data.Image, k int) error {
	k = (k%4 + 4) % 4
	if k%2 == 1 && im.H != im.W {
		return fmt.Errorf("augment: cannot turn a %dx%d image by %d quarter turns in place: not square", im.H, im.W, k)
	}
	for c := 0; c < im.C; c++ {
		p := im.Plane(c)
		if k == 2 {
			slices.Reverse(p)
			continue
		}
		for range k {
			quarterTurn(p, im.W)
		}
	}
	return nil
}

// quarterTurn rotates the n x n plane p a quarter turn counter-clockwise by
// cycling the four pixels that trade places.
func quarterTurn(p []float32, n int) {
	for i := 0; i < n/2; i++ {
		for j := i; j < n-1-i; j++ {
			a, b, c, d := i*n+j, j*n+n-1-i, (n-1-i)*n+n-1-j, (n-1-j)*n+i
			p[a], p[b], p[c], p[d] = p[b], p[c], p[d], p[a]
		}
	}
}
