package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/nn"
	"github.com/sslens/sslens/backend/nn/vit"
)

// tinySpecs are the three methods' steps on a one-block ViT at batch 4.
func tinySpecs() []MethodSpec {
	p := vit.Preset{Name: "tiny", Dim: 32, Depth: 1, Heads: 2, MLPRatio: 4, PatchSize: 8, ImageSize: 32, InChans: 3,
		DropPath: 0.1, AttnDrop: 0.2, QKVBias: true}
	head := nn.DINOHead{In: 32, Hidden: 16, Bottleneck: 8, Out: 16, Layers: 3, BN: true, NormLastLayer: true}
	ibotHead := head
	ibotHead.PatchOut = 12
	dino := MethodSpec{Method: "dino", Preset: p, Batch: 4, GlobalSize: 32, LocalCrops: 2, LocalSize: 20, DINO: &head,
		TeacherTemp: 0.04, StudentTemp: 0.1, Optimizer: "AdamW", LR: 1e-4, WD: 0.04, Momentum: 0.996}
	ibot := dino
	ibot.Method, ibot.DINO, ibot.PatchTemp, ibot.Lambda1, ibot.Lambda2 = "ibot", &ibotHead, 0.04, 1, 1
	ibot.MaskRatio, ibot.MaskAspect = 0.3, [2]float64{0.3, 3.33}
	simsiam := MethodSpec{Method: "simsiam", Preset: p, Batch: 4, GlobalSize: 32, Optimizer: "SGD", LR: 0.005, WD: 1e-4,
		SimSiam: &nn.SimSiamHead{In: 32, Hidden: 16, Out: 24, Layers: 3, BN: true, PredHidden: 8}}
	return []MethodSpec{dino, ibot, simsiam}
}

// TestReportMethod reports a measured step against a stand-in for the
// peer and checks the line, the ratio and what the peer was given.
func TestReportMethod(t *testing.T) {
	dir := t.TempDir()
	peer, err := NewTorch(fakePython(t, dir, "exit 0"))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s := tinySpecs()[1]
	var buf bytes.Buffer
	if err := ReportMethod(&buf, s, Result{Step: 100 * time.Millisecond, PeakRSS: 200 << 20}, 20*time.Millisecond, peer, 3); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"ibot tiny (D 32, depth 1, 2 heads), batch 4, crops 2x32 px + 2x20 px: 100 ms/step (augmentation 20 ms)  40.0 img/s  peak RSS 200 MB\n",
		"20.0 img/s", "ours / torch: 2.00x images/s (2.50x without our augmentation)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(args))
	if len(fields) != 5 || fields[1] != "--method" || fields[3] != "3" || fields[4] != strconv.Itoa(runtime.GOMAXPROCS(0)) {
		t.Fatalf("peer arguments %q, want SCRIPT --method JSON 3 THREADS", fields)
	}
	var got MethodSpec
	if err := json.Unmarshal([]byte(fields[2]), &got); err != nil || !reflect.DeepEqual(got, s) {
		t.Errorf("the peer got the spec %+v (%v), want %+v", got, err, s)
	}

	buf.Reset()
	if err := ReportMethod(&buf, tinySpecs()[2], Result{Step: time.Second, PeakRSS: 1 << 20}, 0, nil, 3); err != nil {
		t.Fatal(err)
	}
	if want := "simsiam tiny (D 32, depth 1, 2 heads), batch 4, crops 2x32 px: 1000 ms/step (augmentation 0 ms)  4.0 img/s  peak RSS 1 MB\n"; buf.String() != want {
		t.Errorf("without a peer: %q, want %q", buf.String(), want)
	}
}

// TestTorchMethods runs the embedded peer's three pretraining steps with
// Debian's PyTorch, when it is installed.
func TestTorchMethods(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		t.Skipf("no PyTorch for %s: %v", python, err)
	}
	peer, err := NewTorch(python)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	for _, s := range tinySpecs() {
		line, rate, err := peer.RunMethod(s, 1, 1)
		if err != nil {
			t.Fatalf("%s: %v", s.Method, err)
		}
		if rate <= 0 || !strings.Contains(line, " "+s.Method+" D=32 L=1 H=2 B=4 ") || !strings.Contains(line, "peak RSS") {
			t.Errorf("%s: %.1f img/s in %q", s.Method, rate, line)
		}
	}
}
