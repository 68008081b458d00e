package ssl

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// smallSpec is a dataset the stand-in model separates well: 48 labelled
// train images, 3 batches of 16 per epoch.
var smallSpec = ssltest.Spec{
	Train: ssltest.Split{Lenses: 24, NonLenses: 24, Signal: 1},
	Val:   ssltest.Split{Lenses: 8, NonLenses: 8, Signal: 1},
	Test:  ssltest.Split{Lenses: 8, NonLenses: 8, Signal: 1},
	Size:  36, Seed: 3,
}

// testConfig is a supervised ViT-N/8 run on dataDir writing to out, with
// a learning rate the stand-in model learns quickly at; edit, if not nil,
// changes it before it is validated and resolved.
func testConfig(t *testing.T, dataDir, out string, edit func(*config.Config)) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
experiment: {seed: 5, ssl_training: supervised, log_freq: 2, output_dir: %q, expt_name: test}
input: {data path: %q, image size: [32, 32]}
network: {backbone: vit_nano, drop_path: 0, attn_drop: 0}
optimizer: {optimizer: Adam, init_lr: 0.05, final_lr: 0.001}
train args: {batch_size: 16, num_epochs: 4}
finetune: {labels: all, bootstrap: 20}
`, out, dataDir)
	return parseConfig(t, yaml, edit)
}

// parseConfig parses yaml, lets edit, if not nil, change it before it is
// validated again, and resolves it.
func parseConfig(t *testing.T, yaml string, edit func(*config.Config)) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(c)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Resolve(config.Overrides{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// train prepares and runs cfg with the stand-in model, stopping it when
// stopAt returns true for a record.
func train(t *testing.T, cfg *config.Config, opt Options, stopAt func(shared.Metric) bool) (*layout.Report, []shared.Metric, error) {
	t.Helper()
	return watchRun(opt, stopAt, func(ctx context.Context, opt Options) (*layout.Report, error) {
		run, err := NewClassifierRun(cfg, opt)
		if err != nil {
			return nil, err
		}
		defer run.Close()
		m, err := ssltest.NewLogReg(run.Params)
		if err != nil {
			t.Fatal(err)
		}
		return run.Train(ctx, m)
	})
}

// wantError fails t unless err matches want: an error containing want, or
// none for "". It reports whether an error was wanted, so that such a case
// can end there.
func wantError(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	return true
}

// watchRun calls start with opt's Progress set to collect every record,
// and returns its result and the records; the context start gets is
// cancelled (the run stopped) when stopAt, if not nil, returns true for a
// record.
func watchRun[R any](opt Options, stopAt func(shared.Metric) bool, start func(context.Context, Options) (R, error)) (R, []shared.Metric, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen []shared.Metric
	opt.Progress = func(r shared.Metric) {
		seen = append(seen, r)
		if stopAt != nil && stopAt(r) {
			cancel()
		}
	}
	rep, err := start(ctx, opt)
	return rep, seen, err
}

// readTensors loads a checkpoint's tensors by name.
func readTensors(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	ts, _, err := ckpt.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, x := range ts {
		out[x.Name] = x.Data
	}
	return out
}

// equalBits reports whether two float32 slices hold the same bits.
func equalBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// lastModel is the path of a run's checkpoints/last model.
func lastModel(dir string) string { return filepath.Join(dir, layout.LastDir, layout.ModelFile) }

// mustSplits reads the splits.json of a dataset ssltest wrote.
func mustSplits(t *testing.T, dir string) data.Splits {
	t.Helper()
	s, err := data.ReadSplits(filepath.Join(dir, "splits.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
