package jobs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// placeWeights copies a fixture of backend/nn/pretrained into the data
// folder dir at rel, as an operator places downloaded weights.
func placeWeights(t *testing.T, dir, fixture, rel string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "nn", "pretrained", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportSource(t *testing.T) {
	dir := t.TempDir()
	placeWeights(t, dir, "timm_vit_p8_224.safetensors", "weights/timm.safetensors")
	outside := filepath.Join(t.TempDir(), "secret.pth")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "weights", "link.pth")); err != nil {
		t.Fatal(err)
	}
	got, err := ImportSource(dir, "weights/timm.safetensors")
	if err != nil || filepath.Base(got) != "timm.safetensors" || !filepath.IsAbs(got) {
		t.Errorf("a file in the data folder: %q, %v", got, err)
	}
	for _, tc := range []struct{ rel, want string }{
		{"", "give the weights file's path"},
		{"/etc/passwd", "absolute path"},
		{outside, "absolute path"},
		{"../secret.pth", `contains ".."`},
		{"weights/../../secret.pth", `contains ".."`},
		{"weights/missing.pth", "no file weights/missing.pth in the data folder"},
		{"weights/link.pth", "leads outside the data folder"},
		{"weights", "is not a file"},
	} {
		if _, err := ImportSource(dir, tc.rel); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.rel, err, tc.want)
		}
	}
	err = CheckImport(dir, shared.ImportRequest{Source: "../x.pth", Heads: -1, From: "ema"})
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		keys = append(keys, e.(shared.FieldError).Key)
	}
	if !slices.Equal(keys, []string{"import.source", "import.heads", "import.from"}) {
		t.Errorf("field errors %v", err)
	}
}

// TestImportJob imports DINO's student through the queue: the run writes
// and registers checkpoints/last as a backbone and logs its source
// record; a pickle that would run code fails the run and registers nothing.
func TestImportJob(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	placeWeights(t, f.dir, "dino_vit_p8_224.pth", "weights/dino.pth")
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindImport, Name: "dino"},
		Params: Params{Import: &shared.ImportRequest{Source: "weights/dino.pth", Heads: 3, From: "student", KeepChannels: true}}})
	if err != nil {
		t.Fatal(err)
	}
	run := f.wait(t, j.ID, shared.StateSucceeded)
	want := []string{"import-weights", filepath.Join(f.dir, "weights", "dino.pth"), "--out", filepath.Join(f.dir, run.Dir, "checkpoints", "last"),
		"--heads", "3", "--from", "student", "--keep-channels"}
	if !slices.Equal(run.Args, want) {
		t.Errorf("args %q, want %q", run.Args, want)
	}
	cs, err := f.st.Checkpoints(ctx, store.CheckpointFilter{Run: j.ID})
	if err != nil || len(cs) != 1 {
		t.Fatalf("checkpoints %+v, %v", cs, err)
	}
	if c := cs[0]; c.Name != "last" || c.Preset != "vit_d48_depth2_heads3" || c.Classifier || c.SHA256 == "" ||
		c.Path != filepath.Join(run.Dir, "checkpoints", "last", "model.safetensors") {
		t.Errorf("checkpoint %+v", c)
	}
	var log []string
	for _, ev := range f.rec.of(j.ID) {
		if ev.Type == shared.EventLog {
			log = append(log, ev.Log.Text)
		}
	}
	text := strings.Join(log, "\n")
	for _, w := range []string{"wrote " + filepath.Join(f.dir, run.Dir, "checkpoints", "last", "model.safetensors"),
		`source: dino.pth (pytorch), SHA-256 `, `state dict at "student", prefix "module.backbone."`, "keys taken (30): module.backbone.cls_token",
		"keys dropped (", "module.head.", "position embedding: 28x28 -> 4x4", "input channels: kept as stored"} {
		if !strings.Contains(text, w) {
			t.Errorf("the run log lacks %q:\n%s", w, text)
		}
	}

	placeWeights(t, f.dir, "malicious.pth", "weights/malicious.pth")
	bad, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindImport}, Params: Params{Import: &shared.ImportRequest{Source: "weights/malicious.pth"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.wait(t, bad.ID, shared.StateFailed); !strings.Contains(r.Error, "posix.system") {
		t.Errorf("malicious import failed with %q", r.Error)
	}
	if cs, err := f.st.Checkpoints(ctx, store.CheckpointFilter{Run: bad.ID}); err != nil || len(cs) != 0 {
		t.Errorf("a failed import registered %+v, %v", cs, err)
	}
	if _, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindImport}}); err == nil || !strings.Contains(err.Error(), "no source file") {
		t.Errorf("an import without a source: %v", err)
	}
}

// TestKeyList: ViT-B's ~150 key names are cut for the log line.
func TestKeyList(t *testing.T) {
	keys := make([]string, 150)
	for i := range keys {
		keys[i] = "module.backbone.blocks.11.attn.qkv.weight"
	}
	got := keyList(keys)
	if len(got) > maxKeyList+50 || !strings.HasSuffix(got, "more in model.json") {
		t.Errorf("%d bytes: ...%s", len(got), got[max(0, len(got)-60):])
	}
	if got := keyList(keys[:2]); got != keys[0]+", "+keys[1] {
		t.Errorf("two keys: %q", got)
	}
}
