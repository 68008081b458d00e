package data

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/FuzzDecodeNPY and
// testdata/fuzz/FuzzDecodeFITS; run the fuzzers with
//
//	go test -fuzz=FuzzDecodeNPY -fuzztime=60s ./backend/data
//	go test -fuzz=FuzzDecodeFITS -fuzztime=60s ./backend/data

func FuzzDecodeNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := DecodeNPY(b)
		checkDecoded(t, im, err)
	})
}

// FuzzDecodeFITS decodes the raw bytes, and a file assembled from up to four
// HDUs given as card lines and data and padded to FITS blocks here. FITS
// files are at least 5760 bytes, which the fuzzer mutates and minimises
// slowly; the cards and data that steer the decoder are a few hundred.
func FuzzDecodeFITS(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte, h0 string, d0 []byte, h1 string, d1 []byte, h2 string, d2 []byte, h3 string, d3 []byte) {
		im, err := DecodeFITS(raw)
		checkDecoded(t, im, err)
		im, err = DecodeFITS(assembleFITS([]string{h0, h1, h2, h3}, [][]byte{d0, d1, d2, d3}))
		checkDecoded(t, im, err)
	})
}

// assembleFITS lays out HDUs as the standard does: each header line becomes
// an 80-byte card, the header is padded with spaces and the data with zeros
// to 2880-byte blocks. An empty header ends the file.
func assembleFITS(headers []string, data [][]byte) []byte {
	var b []byte
	pad := func(c byte) {
		b = append(b, bytes.Repeat([]byte{c}, (fitsBlock-len(b)%fitsBlock)%fitsBlock)...)
	}
	for i, h := range headers {
		if h == "" {
			break
		}
		for _, card := range strings.Split(h, "\n") {
			card = card[:min(len(card), 80)]
			b = append(append(b, card...), bytes.Repeat([]byte{' '}, 80-len(card))...)
		}
		pad(' ')
		b = append(b, data[i]...)
		pad(0)
	}
	return b
}

// checkDecoded is the decoders' contract: no panic (the fuzzer reports
// those), and either a categorised error or a finite (3, H, W) image.
func checkDecoded(t *testing.T, im Image, err error) {
	if err != nil {
		for _, cat := range []error{ErrFormat, ErrCorrupt, ErrShape, ErrNonFinite, ErrTooSmall} {
			if errors.Is(err, cat) {
				return
			}
		}
		t.Fatalf("error outside the categories: %v", err)
	}
	if im.C != 3 || im.H < 1 || im.W < 1 || len(im.Pix) != 3*im.H*im.W {
		t.Fatalf("image (%d,%d,%d) with %d pixels", im.C, im.H, im.W, len(im.Pix))
	}
	for i, v := range im.Pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("pixel %d is %v", i, v)
		}
	}
}
