package ssl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
	"github.com/sslens/sslens/backend/ssl/ssltest"
	"github.com/sslens/sslens/shared"
)

// pretrainSpec is a small dataset: 32 train images, 4 batches of 8.
var pretrainSpec = ssltest.Spec{
	Train: ssltest.Split{Lenses: 16, NonLenses: 16, Signal: 1},
	Val:   ssltest.Split{Lenses: 6, NonLenses: 6, Signal: 1},
	Test:  ssltest.Split{Lenses: 2, NonLenses: 2, Signal: 1},
	Size:  32, Seed: 4,
}

// testPreset is a one-block ViT, far smaller than any named preset, with
// dropout and drop path on so that resuming must repeat their draws.
func testPreset() vit.Preset {
	return vit.Preset{Name: "vit_ssl_test", Dim: 16, Depth: 1, Heads: 2, MLPRatio: 2, PatchSize: 8,
		ImageSize: 32, InChans: 3, DropPath: 0.1, AttnDrop: 0.1, QKVBias: true}
}

// pretrainConfig is a small run of method on dataDir writing to out;
// edit, if not nil, changes it before it is validated.
func pretrainConfig(t *testing.T, method config.Method, dataDir, out string, edit func(*config.Config)) *config.Config {
	t.Helper()
	aug := "AugmentationDINOSingleChannel"
	if method == config.SimSiam {
		aug = "AugmentationSIMSIAM"
	}
	return parseConfig(t, fmt.Sprintf(`
experiment: {seed: 3, ssl_training: %s, log_freq: 2, output_dir: %q, expt_name: pretrain-test}
input: {data path: %q, image size: [32, 32]}
network: {backbone: vit_nano, head_hidden_dim: 32, head_bottleneck_dim: 16, head_output_dim: 64, patch_out_dim: 64,
  projector_head_hidden_dim: 32, predictor_head_hidden_dim: 0}
optimizer: {init_lr: 0.02, final_lr: 0.001, scheduler_warmup_epochs: 1, momentum_teacher: 0.99,
  warmup_teacher_temp: 0.04, teacher_temp: 0.04, warmup_teacher_patch_temp: 0.04, teacher_patch_temp: 0.06, warmup_teacher_temp_epochs: 2}
ssl augmentation kwargs: {augmentation: %s, num_local_crops: 2, local_crop_size: 16}
train args: {batch_size: 8, num_epochs: 4, knn_neighbours: 5}
`, method, out, dataDir, aug), edit)
}

// pretrain prepares and runs cfg on preset p, stopping it when stopAt
// returns true for a record.
func pretrain(t *testing.T, cfg *config.Config, p vit.Preset, opt Options, stopAt func(shared.Metric) bool) (*PretrainReport, []shared.Metric, error) {
	t.Helper()
	return watchRun(opt, stopAt, func(ctx context.Context, opt Options) (*PretrainReport, error) {
		run, err := newPretrainRun(cfg, opt, p)
		if err != nil {
			return nil, err
		}
		defer run.Close()
		return run.Train(ctx)
	})
}

// Each method's loss falls over a few epochs of a ViT small enough for a
// test but deep enough to learn (a one-block one does not for iBOT, whose
// class token then barely depends on the image), and the run folder holds
// a backbone checkpoint, the reports and the monitors' records.
func TestPretrainLossFalls(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, pretrainSpec)
	p := vit.Preset{Name: "vit_ssl_loss", Dim: 96, Depth: 3, Heads: 4, MLPRatio: 2, PatchSize: 8,
		ImageSize: 32, InChans: 3, DropPath: 0.1, AttnDrop: 0.1, QKVBias: true}
	for _, tc := range []struct {
		method config.Method
		edit   func(*config.Config)
	}{
		{config.DINO, nil},
		{config.IBOT, nil},
		// SimSiam with milder crops than the default, so that two views of
		// one image share enough to align within a few epochs, and SGD's
		// larger learning rate.
		{config.SimSiam, func(c *config.Config) {
			c.Optimizer.InitLR, c.Augmentation.CropScale, c.Augmentation.JitterP = 2, [2]float64{0.6, 1}, 0
		}},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cfg := pretrainConfig(t, tc.method, dataDir, out, func(c *config.Config) {
				c.Train.Epochs = 10
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			rep, recs, err := pretrain(t, cfg, p, Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var losses []float64
			for _, e := range rep.History {
				losses = append(losses, e.Loss)
			}
			// The second half's mean: SimSiam's loss swings by 0.3 from
			// epoch to epoch at this size, enough for a float rounding
			// change to move a three-epoch mean across the first epoch's.
			last := (losses[5] + losses[6] + losses[7] + losses[8] + losses[9]) / 5
			if !(last < losses[0]) {
				t.Errorf("loss by epoch %.3f: the last five average %.3f, not below the first epoch's", losses, last)
			}
			checkPretrainFolder(t, out, tc.method, rep, recs)
		})
	}
}

// checkPretrainFolder checks a finished 10-epoch run of method with
// log_freq 2.
func checkPretrainFolder(t *testing.T, out string, method config.Method, rep *PretrainReport, recs []shared.Metric) {
	t.Helper()
	for _, f := range []string{layout.ResolvedConfig, layout.MetricsFile, layout.PretrainReportJSON, layout.PretrainReportMD, "checkpoints/last/model.safetensors",
		"checkpoints/last/model.json", "checkpoints/last/state.safetensors", "checkpoints/last/state.json", "checkpoints/last/history.json"} {
		if !layout.IsFile(filepath.Join(out, f)) {
			t.Errorf("run folder lacks %s", f)
		}
	}
	ts, sc, err := ckpt.Load(lastModel(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if strings.HasPrefix(x.Name, "head") || strings.HasPrefix(x.Name, "projector") || x.Name == nn.MaskTokenName {
			t.Errorf("model file holds %s: want the backbone alone", x.Name)
		}
	}
	if sc.NumClasses != 0 || sc.Epoch != 10 || sc.Step != 40 || sc.Metrics["knn_auc"] == 0 {
		t.Errorf("sidecar %+v: want no head, epoch 10, step 40 and the kNN metrics", sc)
	}
	want := "teacher"
	if method == config.SimSiam {
		want = "student"
	}
	if rep.Network != want || rep.Model != filepath.Join(layout.LastDir, layout.ModelFile) {
		t.Errorf("report says %s in %s, want the %s in %s", rep.Network, rep.Model, want, filepath.Join(layout.LastDir, layout.ModelFile))
	}
	count := map[shared.MetricKind]int{}
	health, monitor := 0, 0
	for _, r := range recs {
		count[r.Kind]++
		if r.Kind == shared.MetricLog && strings.Contains(r.Message, " health: ") {
			health++
		}
		if r.Kind == shared.MetricLog && strings.Contains(r.Message, " kNN monitor on val: AUC ") && strings.Contains(r.Message, "over the normalised pixels' ") {
			monitor++
		}
		if r.Kind == shared.MetricEval && (r.Split != "val" || r.Accuracy == nil || r.AUC == nil) {
			t.Errorf("kNN record %+v", r)
		}
	}
	if !slices.ContainsFunc(recs, func(r shared.Metric) bool {
		return strings.HasPrefix(r.Message, "the kNN monitor votes with every train label only, not with 300: data: subset size 300 needs 150 lenses")
	}) {
		t.Error("no note that the small train split has too few images for the 300-label vote")
	}
	if count[shared.MetricEval] != 5 || monitor != 5 {
		t.Errorf("%d kNN records and %d monitor lines beside the pixels' floor: want 5 of each", count[shared.MetricEval], monitor)
	}
	if count[shared.MetricStep] != 40 || count[shared.MetricEpoch] != 10 || health != 10 {
		t.Errorf("record counts %v and %d health lines: want 40 steps, 10 epochs, 10 health lines", count, health)
	}
	if rep.KNN.All.AUC == 0 || rep.KNN.All.AUCCI == nil || rep.PixelKNN.All.AUC == 0 || len(rep.History) != 10 || rep.History[1].KNNAUC == nil || rep.History[0].KNNAUC != nil {
		t.Errorf("report %+v: want the kNN monitor after every second epoch", rep)
	}
}

// The teacher starts as a copy of the student and then moves by the EMA
// rule t = m·t + (1-m)·s with the step's momentum.
func TestTeacherStartsAsStudentAndFollowsEMA(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, pretrainSpec)
	for _, method := range []config.Method{config.DINO, config.IBOT} {
		t.Run(string(method), func(t *testing.T) {
			cfg := pretrainConfig(t, method, dataDir, filepath.Join(t.TempDir(), "run"), func(c *config.Config) {
				c.Train.Epochs, c.Train.BatchSize = 1, 32 // one step
				c.Optimizer.WarmupEpochs, c.Optimizer.WarmupTeacherTempEpochs = 0, 0
			})
			run, err := newPretrainRun(cfg, Options{}, testPreset())
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			d := run.m.(*dino)
			for _, pair := range [][2]*vit.Params{{d.teacher, d.student}, {d.teacherHead, d.studentHead}} {
				for _, tp := range pair[0].List() {
					if !equalBits(tp.Data, pair[1].Get(tp.Name).Data) {
						t.Errorf("teacher %s differs from the student's at step 0", tp.Name)
					}
				}
			}
			if d.teacherHead.Get(nn.MaskTokenName) != nil {
				t.Error("the teacher has a mask token")
			}
			if method == config.IBOT && d.studentHead.Get(nn.MaskTokenName) == nil {
				t.Error("iBOT's student has no mask token")
			}
			before := d.teacher.Clone()
			if _, err := run.Train(context.Background()); err != nil {
				t.Fatal(err)
			}
			m := NewSchedules(cfg, 1).Momentum[0]
			if m != 0.99 {
				t.Fatalf("momentum at step 0 is %g, want momentum_teacher 0.99", m)
			}
			moved := false
			for _, tp := range d.teacher.List() {
				s, t0 := d.student.Get(tp.Name).Data, before.Get(tp.Name).Data
				for i, v := range tp.Data {
					if want := t0[i]*float32(m) + float32(1-m)*s[i]; v != want {
						t.Fatalf("teacher %s[%d] = %g, want %g·%g + %g·%g = %g", tp.Name, i, v, m, t0[i], 1-m, s[i], want)
					}
					moved = moved || v != t0[i]
				}
			}
			if !moved {
				t.Error("the teacher did not move")
			}
			saved := readTensors(t, run.Checkpoint())
			if !equalBits(saved["blocks.0.mlp.fc1.weight"], d.teacher.Get("blocks.0.mlp.fc1.weight").Data) {
				t.Error("model.safetensors does not hold the teacher")
			}
			// The student, which the reference project fine-tunes, is kept
			// beside it and loads as a checkpoint of its own.
			student := layout.Run(cfg.Experiment.OutputDir).Student(layout.LastDir)
			ck, err := LoadCheckpoint(student)
			if err != nil {
				t.Fatal(err)
			}
			if w := "blocks.0.mlp.fc1.weight"; !equalBits(ck.Params.Get(w).Data, d.student.Get(w).Data) || equalBits(d.student.Get(w).Data, d.teacher.Get(w).Data) {
				t.Errorf("%s does not hold the student (or the student equals the teacher)", student)
			}
		})
	}
}

func TestSchedulesClosedForms(t *testing.T) {
	// The reference project takes init_lr as the peak rate; DINO's linear
	// scaling by batch_size/256 is an explicit key.
	for _, scaled := range []bool{false, true} {
		t.Run(fmt.Sprintf("scale_lr_by_batch %t", scaled), func(t *testing.T) { testSchedules(t, scaled) })
	}
}

func testSchedules(t *testing.T, scaled bool) {
	cfg := pretrainConfig(t, config.IBOT, t.TempDir(), t.TempDir(), func(c *config.Config) {
		c.Train.Epochs, c.Train.BatchSize = 10, 512
		o := &c.Optimizer
		o.InitLR, o.FinalLR, o.WarmupEpochs = 0.1, 0.001, 2
		o.ScaleLRByBatch = scaled
		o.InitWD, o.FinalWD = 0.04, 0.4
		o.MomentumTeacher = 0.996
		o.WarmupTeacherTemp, o.TeacherTemp, o.WarmupTeacherTempEpochs = 0.02, 0.04, 3
		o.WarmupTeacherPatchTemp, o.TeacherPatchTemp = 0.04, 0.07
	})
	const iters = 5
	s := NewSchedules(cfg, iters)
	base := 0.1
	if scaled {
		base *= 512 / 256.0
	}
	cos := func(from, to float64, i, n int) float64 {
		return to + (from-to)/2*(1+math.Cos(math.Pi*float64(i)/float64(n)))
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"lr at step 0", s.LR[0], 0},
		{"lr in the warm-up", s.LR[4], base * 4 / 9},
		{"lr at the end of the warm-up", s.LR[9], base},
		{"lr after the warm-up", s.LR[10], base},
		{"lr mid cosine", s.LR[10+17], cos(base, 0.001, 17, 40)},
		{"lr at the last step", s.LR[49], cos(base, 0.001, 39, 40)},
		{"wd at step 0", s.WD[0], 0.04},
		{"wd at step 23", s.WD[23], cos(0.04, 0.4, 23, 50)},
		{"momentum at step 0", s.Momentum[0], 0.996},
		{"momentum at step 31", s.Momentum[31], cos(0.996, 1, 31, 50)},
		{"teacher temp, epoch 0", s.TeacherTemp[0], 0.02},
		{"teacher temp, epoch 1", s.TeacherTemp[1], 0.03},
		{"teacher temp, epoch 2", s.TeacherTemp[2], 0.04},
		{"teacher temp, epoch 9", s.TeacherTemp[9], 0.04},
		{"patch temp, epoch 1", s.PatchTemp[1], 0.055},
		{"patch temp, epoch 5", s.PatchTemp[5], 0.07},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s: %.15g, want %.15g", c.name, c.got, c.want)
		}
	}
	if len(s.LR) != 50 || len(s.WD) != 50 || len(s.Momentum) != 50 || len(s.TeacherTemp) != 10 || len(s.PatchTemp) != 10 {
		t.Errorf("schedule lengths %d %d %d %d %d, want 50 steps and 10 epochs", len(s.LR), len(s.WD), len(s.Momentum), len(s.TeacherTemp), len(s.PatchTemp))
	}
}

// SimSiam's predictor learns (the stop-gradient sits on the target
// projections), and so do the projector and the backbone.
func TestSimSiamPredictorLearns(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, pretrainSpec)
	for _, pred := range []int{0, 8} {
		cfg := pretrainConfig(t, config.SimSiam, dataDir, filepath.Join(t.TempDir(), "run"), func(c *config.Config) {
			c.Train.Epochs, c.Optimizer.InitLR, c.Network.PredictorHiddenDim = 1, 2, pred
		})
		run, err := newPretrainRun(cfg, Options{}, testPreset())
		if err != nil {
			t.Fatal(err)
		}
		s := run.m.(*simsiam)
		before := s.params.Clone()
		block := slices.Clone(s.student.Get("blocks.0.attn.qkv.weight").Data)
		_, err = run.Train(context.Background())
		run.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s.params.List() {
			if equalBits(p.Data, before.Get(p.Name).Data) {
				t.Errorf("predictor hidden %d: %s did not change", pred, p.Name)
			}
		}
		if equalBits(block, s.student.Get("blocks.0.attn.qkv.weight").Data) {
			t.Errorf("predictor hidden %d: the backbone did not change", pred)
		}
	}
}

// freeze_last_layer holds DINO's last layer for its epochs, then trains it
// with an optimiser whose state is saved.
func TestFreezeLastLayer(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, pretrainSpec)
	edit := func(c *config.Config) { c.Train.Epochs, c.Train.FreezeLastLayer, c.Experiment.LogFreq = 2, 1, 1 }
	cfg := pretrainConfig(t, config.DINO, dataDir, filepath.Join(t.TempDir(), "run"), edit)
	run, err := newPretrainRun(cfg, Options{}, testPreset())
	if err != nil {
		t.Fatal(err)
	}
	d := run.m.(*dino)
	init := slices.Clone(d.studentHead.Get("head.last_layer.weight_v").Data)
	mlp := slices.Clone(d.studentHead.Get("head.mlp.0.weight").Data)
	_, err = run.Train(context.Background())
	run.Close()
	if err != nil {
		t.Fatal(err)
	}
	if equalBits(init, d.studentHead.Get("head.last_layer.weight_v").Data) {
		t.Error("the last layer never trained")
	}
	if equalBits(mlp, d.studentHead.Get("head.mlp.0.weight").Data) {
		t.Error("the head's MLP did not train")
	}

	// Stopped after epoch 1, the last layer is where it started.
	cfg = pretrainConfig(t, config.DINO, dataDir, filepath.Join(t.TempDir(), "run"), edit)
	_, _, err = pretrain(t, cfg, testPreset(), Options{}, func(r shared.Metric) bool { return r.Kind == shared.MetricEpoch && r.Epoch == 1 })
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	st, err := ckpt.LoadState(filepath.Join(cfg.Experiment.OutputDir, layout.LastDir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 1 || !equalBits(st.Extra[extraHead+"head.last_layer.weight_v"], init) {
		t.Errorf("after epoch %d the last layer moved during freeze_last_layer", st.Epoch)
	}
	if _, ok := st.Optim["exp_avg.head.last_layer.weight_v"]; !ok {
		t.Error("the last layer's optimiser state is not saved")
	}
}

// Invalid settings fail before training with the key path.
func TestPretrainRefusals(t *testing.T) {
	dataDir, _ := ssltest.TempDataset(t, pretrainSpec)
	for _, tc := range []struct {
		name   string
		method config.Method
		edit   func(*config.Config)
		want   string
	}{
		{"head layers", config.DINO, func(c *config.Config) { c.Network.HeadNLayers = 0 }, "network.head_nlayers: 0: want at least 1"},
		{"projector layers", config.SimSiam, func(c *config.Config) { c.Network.ProjectorNLayers = 0 }, "network.projector_head_nlayers: 0"},
		{"predictor width", config.SimSiam, func(c *config.Config) { c.Network.PredictorHiddenDim = -1 }, "network.predictor_head_hidden_dim: -1"},
		{"mask patch", config.IBOT, func(c *config.Config) { c.Network.MaskConfig.PatchSize = 4 }, "network.patch_size: 4: the vit_ssl_test backbone's patches are 8 px"},
		{"patch head", config.IBOT, func(c *config.Config) { c.Network.SharedHead, c.Network.PatchOutDim = false, 0 }, "network.patch_out_dim: 0"},
		{"local crop", config.DINO, func(c *config.Config) { c.Augmentation.LocalCropSize = 6 }, "ssl augmentation kwargs.local_crop_size: 6 px holds no 8 px patch"},
		{"batch of one", config.DINO, func(c *config.Config) { c.Train.BatchSize = 1 }, "train args.batch_size: 1: the heads' BatchNorm needs at least 2 images"},
		{"batch beyond the data", config.DINO, func(c *config.Config) { c.Train.BatchSize = 40 }, "train args.batch_size: 40 is larger than the 32 train images"},
		{"wrong views", config.SimSiam, func(c *config.Config) { c.Augmentation = config.Default(config.DINO).Augmentation }, "ssl augmentation kwargs.augmentation: \"dino\" does not make simsiam's views"},
		{"classifier config", config.DINO, func(c *config.Config) { c.Experiment.Method = config.Supervised }, "experiment.ssl_training: \"supervised\" is not a pretraining method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pretrainConfig(t, tc.method, dataDir, filepath.Join(t.TempDir(), "run"), nil)
			tc.edit(cfg)
			_, _, err := pretrain(t, cfg, testPreset(), Options{}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestHealthMonitors(t *testing.T) {
	const k = 8
	rows := func(f func(r, j int) float32) []float32 {
		out := make([]float32, 6*k)
		for r := range 6 {
			for j := range k {
				out[r*k+j] = f(r, j)
			}
		}
		return out
	}
	onehot := func(at func(r int) int) []float32 {
		return rows(func(r, j int) float32 {
			if j == at(r) {
				return 1
			}
			return 0
		})
	}
	centre := []float32{3, 4, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name     string
		targets  []float32
		collapse string
	}{
		{"sharp and spread", onehot(func(r int) int { return r }), ""},
		{"uniform", rows(func(int, int) float32 { return 1.0 / k }), "near uniform"},
		{"one prototype", onehot(func(int) int { return 2 }), "one prototype"},
	} {
		h := teacherHealth(tc.targets, k, centre, nil, 0, nil)
		if h.CentreNorm != 5 || math.Abs(h.MaxEntropy-math.Log(k)) > 1e-12 {
			t.Errorf("%s: centre norm %g, max entropy %g", tc.name, h.CentreNorm, h.MaxEntropy)
		}
		if (tc.collapse == "") != (h.Collapse == "") || !strings.Contains(h.Collapse, tc.collapse) {
			t.Errorf("%s: collapse %q, want one mentioning %q", tc.name, h.Collapse, tc.collapse)
		}
	}
	spread := rows(func(r, j int) float32 { return float32(math.Sin(float64(r*k+j) * 1.7)) })
	if h := projectionHealth(spread, k); h.Collapse != "" || h.OutputStdScaled < 0.5 {
		t.Errorf("spread projections: %+v", h)
	}
	constant := rows(func(_, j int) float32 { return float32(j) })
	if h := projectionHealth(constant, k); h.OutputStd > 1e-9 || !strings.Contains(h.Collapse, "collapsed") {
		t.Errorf("constant projections: %+v", h)
	}
}

func TestCentring(t *testing.T) {
	x := []float32{1, 2, 3, 3, 2, 1} // two rows of 3
	c := []float32{0, 1, 0}
	got := centredSoftmax(nil, x, c, 0.5)
	z := []float64{1 / 0.5, 1 / 0.5, 3 / 0.5} // row 0 minus the centre, over the temperature
	sum := math.Exp(z[0]) + math.Exp(z[1]) + math.Exp(z[2])
	for j := range 3 {
		if want := math.Exp(z[j]) / sum; math.Abs(float64(got[j])-want) > 1e-7 {
			t.Errorf("target [0][%d] = %g, want %g", j, got[j], want)
		}
	}
	updateCentre(c, x)
	for j, want := range []float64{0.9*0 + 0.1*2, 0.9*1 + 0.1*2, 0.9*0 + 0.1*2} {
		if math.Abs(float64(c[j])-want) > 1e-7 {
			t.Errorf("centre[%d] = %g, want %g", j, c[j], want)
		}
	}
}

// unlabelledTwin writes, beside the labelled dataset dir, a dataset
// "survey" holding the same images without classes, in the same splits.
func unlabelledTwin(t *testing.T, dir string, s data.Splits) string {
	t.Helper()
	out := filepath.Join(filepath.Dir(dir), "survey")
	var u data.Splits
	for _, name := range data.SplitNames {
		for _, l := range []data.Label{data.Lens, data.NonLens} {
			for _, f := range s.Split(name).Files(l) {
				b, err := os.ReadFile(filepath.Join(dir, data.ClassDirs[l], f))
				if err != nil {
					t.Fatal(err)
				}
				file := data.ClassDirs[l] + "-" + f
				os.MkdirAll(filepath.Join(out, data.ClassDirs[data.Unlabelled]), 0o755)
				if err := os.WriteFile(filepath.Join(out, data.ClassDirs[data.Unlabelled], file), b, 0o644); err != nil {
					t.Fatal(err)
				}
				cf := u.Split(name)
				cf.Unlabelled = append(cf.Unlabelled, file)
			}
		}
	}
	if err := data.WriteSplitsJSON(filepath.Join(out, layout.SplitsJSON), u); err != nil {
		t.Fatal(err)
	}
	return out
}

// Pretraining on unlabelled images takes its kNN monitor from the labelled
// dataset train args.knn_dataset names, and without one says so.
func TestPretrainUnlabelled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	splits, err := ssltest.WriteDataset(dir, pretrainSpec)
	if err != nil {
		t.Fatal(err)
	}
	survey := unlabelledTwin(t, dir, splits)
	run := func(knn string) (*PretrainReport, []shared.Metric, error) {
		cfg := pretrainConfig(t, config.DINO, survey, filepath.Join(t.TempDir(), "run"), func(c *config.Config) {
			c.Train.KNNDataset = knn
			c.Train.Epochs = 2
		})
		return pretrain(t, cfg, testPreset(), Options{}, nil)
	}
	if _, _, err := run(""); err == nil || !strings.Contains(err.Error(), "0 lenses and 0 non-lenses") ||
		!strings.Contains(err.Error(), "name a labelled dataset in train args.knn_dataset") {
		t.Errorf("unlabelled without a kNN dataset: %v", err)
	}
	if _, _, err := run("missing"); err == nil || !strings.Contains(err.Error(), "train args.knn_dataset: "+filepath.Join(filepath.Dir(dir), "missing")+" has no splits.json") {
		t.Errorf("a missing kNN dataset: %v", err)
	}
	rep, recs, err := run("sim")
	if err != nil {
		t.Fatal(err)
	}
	if rep.KNN.All.N != 12 || rep.KNN.All.AUC == 0 {
		t.Errorf("kNN monitor %+v, want 12 val images of sim", rep.KNN)
	}
	if !slices.ContainsFunc(recs, func(m shared.Metric) bool {
		return strings.Contains(m.Message, "on the 32 train images") && strings.Contains(m.Message, "kNN monitor on 12 val images of "+dir)
	}) {
		t.Error("no setup note naming the 32 unlabelled train images and the kNN dataset")
	}
}

// With 150 train images of each class the monitor also votes with the
// 300-label fine-tuning subsets, and states both votes against the pixels'
// in the run log, the history and the report.
func TestPretrainFewLabelMonitor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "labelled")
	if _, err := ssltest.WriteDataset(dir, ssltest.Spec{
		Train: ssltest.Split{Lenses: 160, NonLenses: 160, Signal: 1},
		Val:   ssltest.Split{Lenses: 10, NonLenses: 10, Signal: 1},
		Test:  ssltest.Split{Lenses: 1, NonLenses: 1, Signal: 1},
		Size:  32, Seed: 7,
	}); err != nil {
		t.Fatal(err)
	}
	small, _ := ssltest.TempDataset(t, pretrainSpec)
	out := filepath.Join(t.TempDir(), "run")
	cfg := pretrainConfig(t, config.DINO, small, out, func(c *config.Config) {
		c.Train.KNNDataset = dir
		c.Train.Epochs = 2
	})
	rep, recs, err := pretrain(t, cfg, testPreset(), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.KNN.FewAUCs) != 3 || len(rep.PixelKNN.FewAUCs) != 3 || rep.VsPixels.Few == nil || rep.History[1].KNNFewAUC == nil ||
		*rep.History[1].KNNFewAUC != rep.KNN.FewAUC || math.Abs(rep.VsPixels.Few.Diff-(rep.KNN.FewAUC-rep.PixelKNN.FewAUC)) > 1e-12 {
		t.Errorf("report: kNN %+v, pixels %+v, gain %+v, history %+v: want three 300-label votes each and their gain", rep.KNN.FewAUCs, rep.PixelKNN.FewAUCs, rep.VsPixels, rep.History)
	}
	// The blob lenses are separable from their pixels.
	if rep.PixelKNN.All.AUC < 0.9 || rep.PixelKNN.FewAUC < 0.9 {
		t.Errorf("the pixels' votes %v and %v on separable data", rep.PixelKNN.All.AUC, rep.PixelKNN.FewAUC)
	}
	if !slices.ContainsFunc(recs, func(m shared.Metric) bool {
		return strings.Contains(m.Message, "epoch 2 kNN monitor on val: AUC ") && strings.Contains(m.Message, "voting with all 320 labelled train images, ") &&
			strings.Contains(m.Message, " with 300 (mean of 3 draws); over the normalised pixels' ")
	}) {
		t.Error("no monitor line with both votes against the pixels'")
	}
	md, err := os.ReadFile(filepath.Join(out, layout.PretrainReportMD))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Voting with 300 labelled train images (the 300-label fine-tuning subsets of subset seeds 0-2): AUC ") ||
		!strings.Contains(string(md), "| kNN AUC, 300 labels |") {
		t.Errorf("pretrain_report.md lacks the 300-label vote:\n%s", md)
	}
}
