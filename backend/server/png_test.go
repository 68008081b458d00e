package server

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/render"
)

// servePNGDirect calls servePNG for the image file b named name, as the
// PNG routes do, and returns the recorded answer and the handler's error.
func servePNGDirect(ctx context.Context, s *Server, name string, b []byte, query string) (*httptest.ResponseRecorder, error) {
	w := httptest.NewRecorder()
	r := httptest.NewRequestWithContext(ctx, "GET", "/png"+query, nil)
	return w, s.servePNG(w, r, name, b)
}

// A 64 KB PNG of 4700x4700 pixels once took a PNG view at scale=8 to
// 6.2 GB: it is refused from its header, allocating next to nothing; a
// cutout of the largest size allowed renders at most render.MaxSide a side.
func TestHugeImageRender(t *testing.T) {
	f := newFixture(t, HubOptions{})
	pal := image.NewPaletted(image.Rect(0, 0, 4700, 4700), color.Palette{color.Black, color.White})
	var buf bytes.Buffer
	if err := png.Encode(&buf, pal); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w, err := servePNGDirect(context.Background(), f.srv, "huge.png", buf.Bytes(), "?scale=8")
	runtime.ReadMemStats(&after)
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != http.StatusConflict || !strings.Contains(ae.msg, "4700x4700 pixels") || !strings.Contains(ae.msg, "1024x1024") {
		t.Errorf("4700x4700 PNG at scale 8: %v (status %d), want a 409 naming its size and the cap", err, w.Code)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
		t.Errorf("refusing a %d-byte PNG allocated %d bytes", buf.Len(), d)
	}

	big := data.EncodeNPY(data.NewImage(3, data.MaxSide, data.MaxSide))
	for _, q := range []string{"?scale=8", "?scale=8&band=g&stretch=log"} {
		w, err := servePNGDirect(context.Background(), f.srv, "big.npy", big, q)
		if err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %v, status %d", q, err, w.Code)
		}
		cfg, err := png.DecodeConfig(w.Body)
		if err != nil || cfg.Width != render.MaxSide || cfg.Height != render.MaxSide {
			t.Errorf("%s: %v, %dx%d, want %d a side", q, err, cfg.Width, cfg.Height, render.MaxSide)
		}
	}
}

// Pixel arrays are sent only for images of at most 256x256 pixels.
func TestDetailPixelsCapped(t *testing.T) {
	f := newFixture(t, HubOptions{})
	big := data.EncodeNPY(data.NewImage(3, 300, 300))
	r := httptest.NewRequest("GET", "/detail?pixels=1", nil)
	_, err := f.srv.detail(r, "big.npy", big)
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || !strings.Contains(ae.msg, "300x300") {
		t.Errorf("pixels=1 of a 300x300 image: %v, want a 400 naming its size", err)
	}
	det, err := f.srv.detail(httptest.NewRequest("GET", "/detail", nil), "big.npy", big)
	if err != nil || det.Size != [3]int{3, 300, 300} || det.Pixels != nil {
		t.Errorf("its statistics alone: %v, %v", err, det.Size)
	}
}

// Renders wait for a slot while the request lasts, and give up with its
// context.
func TestRenderSlotsHonourTheContext(t *testing.T) {
	f := newFixture(t, HubOptions{})
	f.srv.renders = newRenderSlots(1)
	release, err := f.srv.renders.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = servePNGDirect(ctx, f.srv, "x.npy", data.EncodeNPY(data.NewImage(3, 8, 8)), "")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("render with every slot taken: %v after %v, want the context's error", err, time.Since(start))
	}
	release()
	if w, err := servePNGDirect(context.Background(), f.srv, "x.npy", data.EncodeNPY(data.NewImage(3, 8, 8)), ""); err != nil || w.Code != 200 {
		t.Errorf("render with a free slot: %v, %d", err, w.Code)
	}
}

// The PNG cache keeps at most its bound in bytes, evicting the least
// recently used, and trims what an earlier run left at first use.
func TestPNGCacheBounded(t *testing.T) {
	dir := t.TempDir()
	png100 := bytes.Repeat([]byte{1}, 100)
	c := newPNGCache(dir, 250, quiet)
	for _, k := range []string{"aa01", "bb02"} {
		if err := c.put(k, png100); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := c.get("aa01"); !ok { // aa01 is now the most recently used
		t.Fatal("aa01 not cached")
	}
	if err := c.put("cc03", png100); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"aa01": true, "bb02": false, "cc03": true} {
		_, ok := c.get(k)
		_, err := os.Stat(c.path(k))
		if ok != want || (err == nil) != want {
			t.Errorf("%s: cached %v, file %v, want %v", k, ok, err, want)
		}
	}
	if c.size != 200 {
		t.Errorf("size %d, want 200", c.size)
	}

	// A cache folder left unbounded: the oldest files go at first use.
	old := t.TempDir()
	for i, k := range []string{"dd01", "ee02", "ff03", "aa04"} {
		p := filepath.Join(old, k[:2], k+".png")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, png100, 0o644)
		mod := time.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(p, mod, mod)
	}
	c = newPNGCache(old, 250, quiet)
	for k, want := range map[string]bool{"dd01": false, "ee02": false, "ff03": true, "aa04": true} {
		if _, ok := c.get(k); ok != want {
			t.Errorf("left by an earlier run, %s: cached %v, want %v", k, ok, want)
		}
	}
}
