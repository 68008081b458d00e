package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/shared"
)

// bigDINO makes 2 global and 64 local crops of the 48 px tiny images.
const bigDINO = `experiment:
  ssl_training: dino
network:
  backbone: vit_nano
input:
  image size: [48, 48]
ssl augmentation kwargs:
  center_crop: 48
  global_crop_size: 48
  local_crop_size: 48
  num_local_crops: 64
`

// Previews are bounded whatever their config: 150,000 local crops once
// kept a core busy for 95 s; they and PNGs beyond the preview's budget are
// refused with the field to change.
func TestPreviewBounds(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.login(t, astroUser)
	img := f.dsIx.images[0].ID
	huge := strings.Replace(bigDINO, "num_local_crops: 64", "num_local_crops: 150000", 1)
	bad := []struct {
		name string
		req  shared.PreviewRequest
		key  string
	}{
		{"150,000 local crops", shared.PreviewRequest{Dataset: f.ds, Image: img, Config: huge, Scale: 1}, "ssl augmentation kwargs.num_local_crops"},
		{"a supervised config's 10^12 local crops", shared.PreviewRequest{Dataset: f.ds, Image: img, Scale: 1,
			Config: "experiment:\n  ssl_training: supervised\nssl augmentation kwargs:\n  augmentation: dino\n  global_crop_size: 32\n  global_crop_scale_range: [0.14, 1]\n" +
				"  local_crop_size: 20\n  local_crop_scale_range: [0.01, 0.14]\n  num_local_crops: 1000000000000\n"},
			"ssl augmentation kwargs.num_local_crops"},
		{"66 views of 48 px at scale 8", shared.PreviewRequest{Dataset: f.ds, Image: img, Config: bigDINO, Scale: 8}, "scale"},
	}
	for _, tt := range bad {
		start := time.Now()
		code, e := c.apiErr("POST", "/api/preview", "application/json", []byte(mustJSON(tt.req)))
		if code != 422 || len(e.Fields) != 1 || e.Fields[0].Key != tt.key {
			t.Errorf("%s: %d %+v, want 422 on %s", tt.name, code, e, tt.key)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: refused after %v", tt.name, d)
		}
	}
	var resp shared.PreviewResponse
	if code := c.json("POST", "/api/preview", shared.PreviewRequest{Dataset: f.ds, Image: img, Config: bigDINO, Scale: 1}, &resp); code != 200 || len(resp.Views) != 66 {
		t.Errorf("66 views of 48 px at scale 1: %d, %d views", code, len(resp.Views))
	}
}

// A preview whose client has gone stops: the handler returns the
// request's context error instead of drawing and encoding every view.
func TestPreviewStopsWhenCancelled(t *testing.T) {
	f := newFixture(t, HubOptions{})
	body := mustJSON(shared.PreviewRequest{Dataset: f.ds, Image: f.dsIx.images[0].ID, Config: bigDINO, Scale: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, "POST", "/api/preview", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	start := time.Now()
	err := f.srv.preview(w, r, &Call{})
	if !errors.Is(err, context.Canceled) || w.Body.Len() != 0 {
		t.Errorf("cancelled preview: %v, %d bytes written, want context.Canceled and nothing", err, w.Body.Len())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled preview returned after %v", d)
	}
}
