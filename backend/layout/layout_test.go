package layout

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/eval"
	"github.com/sslens/sslens/shared"
)

func TestRunPaths(t *testing.T) {
	r := Run("/runs/7")
	for _, c := range []struct{ got, want string }{
		{r.Path(ReportJSON), "/runs/7/report.json"},
		{r.Model(LastDir), "/runs/7/checkpoints/last/model.safetensors"},
		{r.State(BestDir), "/runs/7/checkpoints/best/state.json"},
		{Dataset("/data/sim").Path(MetadataCSV), "/data/sim/metadata.csv"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

// Appending numbers and stamps records after the kept ones; a torn last
// line reads as absent and any other bad line is an error naming it.
func TestMetricsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), MetricsFile)
	loss := 0.5
	kept := []shared.Metric{{Seq: 1, Kind: shared.MetricLog, Message: "start"}}
	log, err := OpenMetrics(path, kept)
	if err != nil {
		t.Fatal(err)
	}
	r, err := log.Append(shared.Metric{Kind: shared.MetricStep, Step: 1, Loss: &loss})
	if err != nil || r.Seq != 2 || r.Time.IsZero() {
		t.Fatalf("Append = %+v, %v", r, err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetrics(path)
	if err != nil || len(got) != 2 || got[1].Seq != 2 || *got[1].Loss != 0.5 || got[0].Message != "start" {
		t.Fatalf("ReadMetrics = %+v, %v", got, err)
	}

	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, `{"seq":3,"ki`...), 0o644)
	if got, err := ReadMetrics(path); err != nil || len(got) != 2 {
		t.Errorf("torn last line: %d records, %v", len(got), err)
	}
	os.WriteFile(path, append([]byte("{bad}\n"), b...), 0o644)
	if _, err := ReadMetrics(path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad first line: %v", err)
	}
}

func TestReportRoundTrip(t *testing.T) {
	run := Run(t.TempDir())
	if _, err := run.ReadReport(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no report: %v", err)
	}
	test := eval.Report{N: 4, Lenses: 2, NonLenses: 2, Accuracy: 0.75, AUC: 0.875}
	rep := &Report{Name: "r", Method: "dino", Backbone: "vit_nano", Labels: "300", TrainImages: 300, Epochs: 2,
		Last: ModelReport{Epoch: 2, Checkpoint: LastDir, Test: test}, Best: ModelReport{Epoch: 1, Checkpoint: BestDir, Test: test}}
	if err := run.WriteReport(rep); err != nil {
		t.Fatal(err)
	}
	got, err := run.ReadReport()
	if err != nil || !reflect.DeepEqual(got, rep) {
		t.Errorf("ReadReport = %+v, %v", got, err)
	}
	md, _ := os.ReadFile(run.Path(ReportMD))
	if !strings.Contains(string(md), "| last (the seed's choice) | 2 |") {
		t.Errorf("report.md:\n%s", md)
	}
	os.WriteFile(run.Path(ReportJSON), []byte("{"), 0o644)
	if _, err := run.ReadReport(); err == nil || !strings.Contains(err.Error(), ReportJSON) {
		t.Errorf("broken report: %v", err)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	ds := Dataset(t.TempDir())
	if _, err := ds.ReadMetadata(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no metadata: %v", err)
	}
	m := Metadata{Params: []string{"theta_e", "seeing_i"}, Images: []ImageMeta{
		{File: "0.npy", Class: LensDir, Split: "train", Kind: "lens", Params: map[string]float64{"theta_e": 1.25, "seeing_i": 0.6},
			Contaminants: []string{"star", "galaxy(2)"}},
		{File: "1.npy", Class: NonLensDir, Split: "test", Kind: "spiral", Params: map[string]float64{"seeing_i": 0.55}},
	}}
	if err := ds.WriteMetadata(m); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ds.Path(MetadataCSV))
	want := "file,class,split,kind,theta_e,seeing_i,contaminants\n0.npy,lenses,train,lens,1.2500,0.6000,star;galaxy(2)\n1.npy,nonlenses,test,spiral,,0.5500,\n"
	if string(b) != want {
		t.Errorf("metadata.csv:\n%s\nwant:\n%s", b, want)
	}
	got, err := ds.ReadMetadata()
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("ReadMetadata = %+v, %v", got, err)
	}

	// An import's: decimals per column, text columns.
	m = Metadata{Params: []string{"ra", "height"}, Decimals: map[string]int{"ra": 7, "height": 0}, Text: []string{"source", "object"},
		Images: []ImageMeta{
			{File: "a.npy", Class: UnlabelledDir, Split: "train", Params: map[string]float64{"ra": 150.12345678, "height": 64},
				Text: map[string]string{"source": "tract 1/a,b.fits", "object": "J1000"}},
			{File: "b.npy", Class: UnlabelledDir, Split: "val", Params: map[string]float64{"height": 48}},
		}}
	if err := ds.WriteMetadata(m); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(ds.Path(MetadataCSV))
	want = "file,class,split,kind,ra,height,source,object,contaminants\na.npy,unlabelled,train,,150.1234568,64,\"tract 1/a,b.fits\",J1000,\nb.npy,unlabelled,val,,,48,,,\n"
	if string(b) != want {
		t.Errorf("metadata.csv:\n%s\nwant:\n%s", b, want)
	}
	got, err = ds.ReadMetadata()
	m.Decimals, m.Images[0].Params["ra"] = nil, 150.1234568
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("ReadMetadata = %+v, %v", got, err)
	}

	os.WriteFile(ds.Path(MetadataCSV), []byte("name,kind\n0.npy,lens\n"), 0o644)
	if _, err := ds.ReadMetadata(); err == nil || !strings.Contains(err.Error(), `no "file" column`) {
		t.Errorf("no file column: %v", err)
	}
	os.WriteFile(ds.Path(MetadataCSV), []byte("file,class,theta_e\n0.npy,lenses\n"), 0o644)
	if _, err := ds.ReadMetadata(); err == nil || !strings.Contains(err.Error(), MetadataCSV) {
		t.Errorf("short row: %v", err)
	}
}
