// Package jobstest is a stand-in sslens binary for tests of the job
// runner and the server: a test binary's TestMain calls RunTests, which
// runs Main instead of the tests when Env is set, and the jobs it is given as executable run it. simulate runs
// the real simulator; finetune, pretrain (or train, its former name) and
// score write what the real commands write (metrics.jsonl, checkpoint
// sidecars, state for resuming, score JSON) in a fraction of a second, and
// stop on SIGINT the way the real ones do, saving checkpoints/last and
// exiting 130; score --out runs the real streaming scorer with a model
// that hashes pixels; import-weights runs the real importer, which takes
// milliseconds on backend/nn/pretrained's fixtures, and import-data the
// real dataset importer. WaitRun follows a run
// in the store until it reaches a state.
package jobstest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/dataimport"
	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/pretrained"
	"github.com/sslens/sslens/backend/scoring"
	"github.com/sslens/sslens/backend/sim"
	"github.com/sslens/sslens/shared"
)

// Env is the environment variable that makes a test binary act as sslens:
// set it to 1 in the jobs' environment and call RunTests from TestMain.
const Env = "SSLENS_JOBSTEST_CLI"

// RunTests is the TestMain of a package whose jobs run its own test binary
// as sslens: with Env set to 1 the binary runs the stand-in command of its
// arguments, else the tests; either way it exits with their status.
func RunTests(m *testing.M) {
	if os.Getenv(Env) == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// Main runs the stand-in command args[0] with args[1:] and returns the
// exit status.
func Main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "no command")
		return 2
	}
	var err error
	switch args[0] {
	case "simulate":
		err = fakeSimulate(args[1:])
	case "finetune", "pretrain", "train":
		err = fakeTrain(args[1:])
	case "score":
		err = fakeScore(args[1:])
	case "embed":
		err = fakeEmbed(args[1:])
	case "import-weights":
		err = importWeights(args[1:])
	case "import-data":
		err = importData(args[1:])
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if errors.Is(err, errStopped) {
		fmt.Fprintln(os.Stderr, "stopped")
		return 130
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sslens:", err)
		return 1
	}
	return 0
}

var errStopped = errors.New("stopped")

func fakeSimulate(args []string) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	out := fs.String("out", "", "")
	preset := fs.String("preset", "hsc", "")
	counts := fs.String("counts", "small", "")
	seed := fs.Uint64("seed", 1, "")
	fs.Bool("force", false, "")
	fs.String("preview", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := sim.DefaultConfig(*preset, *counts)
	if err != nil {
		return err
	}
	cfg.Seed, cfg.Size = *seed, 32
	sum, err := sim.WriteDataset(*out, cfg, nil)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d images\n", sum.Images)
	return nil
}

// fakeState is what the stand-in trainer keeps in checkpoints/last.
type fakeState struct {
	Step, Seq int
}

// fakeTrain reads "steps: N", "step_ms: M", "ckpt_every: K" and
// "fail: MESSAGE" lines from its config, also as YAML comments ("# steps:
// 5"), so that a real config can carry them.
func fakeTrain(args []string) error {
	fs := flag.NewFlagSet("finetune", flag.ContinueOnError)
	resume := fs.String("resume", "", "")
	out := fs.String("out", "", "")
	fs.String("data", "", "")
	fs.String("checkpoint", "", "")
	fs.String("device", "", "")
	var cfgPath string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfgPath, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *out
	if *resume != "" {
		dir = *resume
		cfgPath = filepath.Join(dir, layout.ResolvedConfig)
	}
	cfgText, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	get := func(key string, def int) int {
		for _, ln := range strings.Split(string(cfgText), "\n") {
			ln = strings.TrimLeft(ln, "# ") // settings may hide in YAML comments
			if v, ok := strings.CutPrefix(ln, key+": "); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
		return def
	}
	if _, msg, ok := strings.Cut(string(cfgText), "fail: "); ok {
		return errors.New(strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0]))
	}
	steps, stepMS, every := get("steps", 20), get("step_ms", 5), get("ckpt_every", 5)

	var st fakeState
	var kept []shared.Metric
	if *resume != "" {
		b, err := os.ReadFile(layout.Run(dir).State(layout.LastDir))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		all, err := layout.ReadMetrics(filepath.Join(dir, layout.MetricsFile))
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.Seq <= st.Seq {
				kept = append(kept, r)
			}
		}
	} else {
		os.WriteFile(filepath.Join(dir, layout.ResolvedConfig), cfgText, 0o644)
	}
	// Rewrite the stream with the kept records, as ssl does.
	mf, err := layout.OpenMetrics(filepath.Join(dir, layout.MetricsFile), kept)
	if err != nil {
		return err
	}
	defer mf.Close()
	seq := len(kept)
	write := func(r shared.Metric) {
		r.TotalSteps, r.TotalEpochs, r.Epoch = steps, 1, 1
		r, _ = mf.Append(r)
		seq = r.Seq
	}
	save := func(name string, step int) error {
		d := filepath.Join(dir, layout.CheckpointsDir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, layout.ModelFile), []byte("weights"), 0o644); err != nil {
			return err
		}
		sc := ckpt.Sidecar{Format: 1, Preset: "vit_nano", NumClasses: 2, Epoch: 1, Step: step,
			Metrics: map[string]float64{"val_auc": 0.5 + float64(step)/1000}, Created: time.Now().UTC(), SHA256: fmt.Sprintf("sha-%d", step)}
		b, _ := json.Marshal(sc)
		if err := os.WriteFile(ckpt.SidecarPath(filepath.Join(d, layout.ModelFile)), b, 0o644); err != nil {
			return err
		}
		if name == "last" {
			b, _ := json.Marshal(fakeState{Step: step, Seq: seq + 1}) // the log record below is kept too
			if err := os.WriteFile(filepath.Join(d, layout.StateFile), b, 0o644); err != nil {
				return err
			}
		}
		write(shared.Metric{Kind: shared.MetricLog, Step: step, Message: "saved " + name, Checkpoint: path.Join(layout.CheckpointsDir, name)})
		return nil
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	fmt.Fprintf(os.Stderr, "training from step %d of %d\n", st.Step, steps)
	for step := st.Step + 1; step <= steps; step++ {
		time.Sleep(time.Duration(stepMS) * time.Millisecond)
		loss := 1 / float64(step)
		write(shared.Metric{Kind: shared.MetricStep, Step: step, Loss: &loss})
		select {
		case <-stop:
			if err := save("last", step); err != nil {
				return err
			}
			return errStopped
		default:
		}
		if step%every == 0 {
			if err := save("last", step); err != nil {
				return err
			}
		}
	}
	for _, name := range []string{"last", "best"} {
		if err := save(name, steps); err != nil {
			return err
		}
	}
	if err := writeReport(dir, steps); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

func fakeScore(args []string) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.String("checkpoint", "", "")
	fs.String("device", "", "")
	fs.Bool("json", false, "")
	outDir := fs.String("out", "", "")
	resume := fs.Bool("resume", false, "")
	var lists []string
	fs.Func("list", "", func(v string) error {
		lists = append(lists, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *outDir != "" {
		return fakeScoreStream(*outDir, *resume, fs.Args(), lists)
	}
	type score struct {
		File     string  `json:"file"`
		LensProb float64 `json:"lens_prob"`
	}
	out := struct {
		Scores   []score  `json:"scores"`
		Failures []string `json:"failures"`
	}{Scores: []score{}, Failures: []string{}}
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		out.Scores = append(out.Scores, score{f, Prob(b)})
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// StreamCrop is the centre crop (pixels) that the stand-in's streamed
// scoring reads; StreamBatchMS the time it takes per batch of 4, so that
// a run of a few dozen cutouts can be watched and stopped.
const (
	StreamCrop    = 16
	StreamBatchMS = 25
)

// fakeScoreStream is `sslens score --out`: the real streaming, resuming
// and ranking of backend/scoring, with Prob of each cutout's cropped
// pixels (float32, little-endian) as its P(lens).
func fakeScoreStream(out string, resume bool, paths, lists []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	const pixels = 3 * StreamCrop * StreamCrop
	opt := scoring.Options{Out: out, Resume: resume, Batch: 4, Workers: 2, Read: data.ReadOptions{Crop: StreamCrop}, ProgressEvery: 50 * time.Millisecond,
		Prepare: func(im data.Image) ([]float32, error) { return im.Pix, nil },
		Predict: func(pix []float32) ([]float64, error) {
			time.Sleep(StreamBatchMS * time.Millisecond)
			probs := make([]float64, len(pix)/pixels)
			for i := range probs {
				probs[i] = Prob(float32Bytes(pix[i*pixels : (i+1)*pixels]))
			}
			return probs, nil
		}}
	p, err := scoring.Run(ctx, func(yield func(string) error) error { return scoring.Inputs(paths, lists, yield) }, opt)
	if errors.Is(err, context.Canceled) {
		return errStopped
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d scored, %d unreadable\n", p.Scored, p.Failed)
	return nil
}

// float32Bytes is pix as little-endian bytes.
func float32Bytes(pix []float32) []byte {
	b := make([]byte, 0, 4*len(pix))
	for _, v := range pix {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// Prob is the P(lens) the stand-in score gives a file: the first byte of
// its SHA-256 over 255, so tests can predict it.
func Prob(content []byte) float64 {
	sum := sha256.Sum256(content)
	return float64(sum[0]) / 255
}

// Vector is the embedding the stand-in embed gives a file: four features
// from its SHA-256, so tests can predict neighbours.
func Vector(content []byte) []float32 {
	sum := sha256.Sum256(content)
	v := make([]float32, 4)
	for i := range v {
		v[i] = float32(sum[i]) - 127.5
	}
	return v
}

// fakeEmbed writes the CSV sslens embed writes for a dataset folder's
// images (split all, or one of the splits file's), or for the files given
// as arguments (named as given, label -1).
func fakeEmbed(args []string) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.String("checkpoint", "", "")
	dir := fs.String("data", "", "")
	split := fs.String("split", "all", "")
	out := fs.String("out", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	type image struct {
		name, path string
		label      int
	}
	var ims []image
	for _, f := range fs.Args() {
		ims = append(ims, image{f, f, -1})
	}
	if len(ims) == 0 {
		var files data.ClassFiles
		if *split == "all" {
			ds, err := data.OpenDataset(*dir)
			if err != nil {
				return err
			}
			files = ds.Files
		} else {
			sp, err := data.ReadSplits(data.SplitsFile(*dir))
			if err != nil {
				return err
			}
			name, err := data.ParseSplit(*split)
			if err != nil {
				return err
			}
			files = *sp.Split(name)
		}
		for _, l := range data.Labels {
			for _, name := range files.Files(l) {
				rel := data.ClassDirs[l] + "/" + name
				ims = append(ims, image{rel, filepath.Join(*dir, rel), int(l)})
			}
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write([]string{"name", "label", "f0", "f1", "f2", "f3"})
	for _, im := range ims {
		b, err := os.ReadFile(im.path)
		if err != nil {
			return err
		}
		row := []string{im.name, strconv.Itoa(im.label)}
		for _, x := range Vector(b) {
			row = append(row, strconv.FormatFloat(float64(x), 'g', -1, 32))
		}
		w.Write(row)
	}
	w.Flush()
	return w.Error()
}

// importWeights imports SRC with the real importer and prints where the
// checkpoint went, for the run log.
func importWeights(args []string) error {
	fs := flag.NewFlagSet("import-weights", flag.ContinueOnError)
	var opt pretrained.Options
	fs.StringVar(&opt.Out, "out", "", "")
	fs.IntVar(&opt.Heads, "heads", 0, "")
	fs.StringVar(&opt.From, "from", "", "")
	fs.BoolVar(&opt.KeepChannels, "keep-channels", false, "")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("want SRC first")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	im, err := pretrained.Import(args[0], opt)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", im.Path)
	return nil
}

// importData runs the real importer with the flags the job manager
// passes (the other flags' defaults), writing the progress file once at
// the end.
func importData(args []string) error {
	fs := flag.NewFlagSet("import-data", flag.ContinueOnError)
	out := fs.String("out", "", "")
	progress := fs.String("progress-file", "", "")
	var opt dataimport.Options
	fs.Uint64Var(&opt.Seed, "seed", 0, "")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("want SOURCE first")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var last dataimport.Progress
	opt.Progress = func(p dataimport.Progress) { last = p }
	rep, err := dataimport.Import(context.Background(), args[0], *out, opt)
	if err != nil {
		return err
	}
	rep.WriteText(os.Stdout)
	return dataimport.WriteProgress(*progress, last)
}

// writeReport writes report.json and report.md as a classifier run ends: the last
// and best epochs' test results, with a three-point ROC curve.
func writeReport(dir string, steps int) error {
	test := eval.Report{N: 20, Lenses: 10, NonLenses: 10, Threshold: 0.5, Bootstrap: 100,
		Accuracy: 0.75, AccuracyCI: &eval.Interval{Lo: 0.55, Hi: 0.9}, AUC: 0.8, AUCCI: &eval.Interval{Lo: 0.6, Hi: 0.95},
		TPRAt1: 0.3, TPRAt01: 0.1, TPR0: 0.1,
		ROC: []eval.ROCPoint{{FPR: 0, TPR: 0, Threshold: 1}, {FPR: 0.2, TPR: 0.7, Threshold: 0.5}, {FPR: 1, TPR: 1, Threshold: 0}}}
	return layout.Run(dir).WriteReport(&layout.Report{Name: "fake", Method: "supervised", Backbone: "vit_nano", Labels: "all", TrainImages: steps,
		Last: layout.ModelReport{Epoch: 1, Checkpoint: layout.LastDir, Test: test}, Best: layout.ModelReport{Epoch: 1, Checkpoint: layout.BestDir, Test: test}})
}
