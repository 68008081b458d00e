package server

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/shared"
)

// TestImportRun imports DINO weights an operator placed under the data
// folder: a source outside it is refused by field; the run registers its
// checkpoint as a pretraining run's, where the launch form lists
// backbones, logs the source record, and a finetune run starts from it.
func TestImportRun(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm, astro := f.login(t, adminUser), f.login(t, astroUser)
	b, err := os.ReadFile(filepath.Join("..", "nn", "pretrained", "testdata", "dino_vit_p8_224.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.dir, "weights"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "weights", "dino.pth"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "dino.pth")
	if err := os.WriteFile(outside, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.dir, "weights", "link.pth")); err != nil {
		t.Fatal(err)
	}

	before := f.fingerprint(t)
	for _, tc := range []struct {
		name string
		req  shared.CreateRunRequest
		key  string
		want string
	}{
		{"no source", shared.CreateRunRequest{Kind: shared.KindImport}, "import.source", "path in the data folder"},
		{"absolute", shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: outside}}, "import.source", "absolute path"},
		{"dot-dot", shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: "weights/../../dino.pth"}}, "import.source", `".."`},
		{"link out", shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: "weights/link.pth"}}, "import.source", "outside the data folder"},
		{"missing", shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: "weights/vitb8.pth"}}, "import.source", "place the downloaded weights there first"},
		{"bad from", shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: "weights/dino.pth", From: "ema"}}, "import.from", "teacher or student"},
		{"with a config", shared.CreateRunRequest{Kind: shared.KindImport, Template: "supervised-vit-nano", Import: &shared.ImportRequest{Source: "weights/dino.pth"}}, "kind", "only the weights file"},
	} {
		code, e := adm.apiErr("POST", "/api/runs", "application/json", []byte(mustJSON(tc.req)))
		if code != 422 || len(e.Fields) == 0 || e.Fields[0].Key != tc.key || !strings.Contains(e.Fields[0].Message, tc.want) {
			t.Errorf("%s: %d %+v, want 422 on %s saying %q", tc.name, code, e, tc.key, tc.want)
		}
	}
	if code, _ := astro.apiErr("POST", "/api/runs", "application/json",
		[]byte(mustJSON(shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: "weights/dino.pth"}}))); code != 403 {
		t.Errorf("an astronomer's import: %d, want 403", code)
	}
	if after := f.fingerprint(t); after != before {
		t.Errorf("refused imports changed state:\n%s\n%s", before, after)
	}

	run := adm.createRun(shared.CreateRunRequest{Kind: shared.KindImport, Import: &shared.ImportRequest{Source: "weights/dino.pth", Heads: 3}})
	if run.Kind != shared.KindImport || run.Name != "import dino" {
		t.Errorf("created %+v", run)
	}
	f.waitRun(t, run.ID, shared.StateSucceeded)

	// Where the launch form looks: succeeded import runs' checkpoints.
	var runs []shared.Run
	adm.json("GET", "/api/runs?kind=import&state=succeeded", nil, &runs)
	if len(runs) != 1 || runs[0].ID != run.ID {
		t.Fatalf("succeeded imports %+v", runs)
	}
	var cks []shared.Checkpoint
	adm.json("GET", fmt.Sprintf("/api/runs/%d/checkpoints", run.ID), nil, &cks)
	if len(cks) != 1 || cks[0].Name != "last" || cks[0].Preset != "vit_d48_depth2_heads3" || cks[0].Classifier {
		t.Fatalf("checkpoints %+v", cks)
	}
	var logs []shared.LogLine
	adm.json("GET", fmt.Sprintf("/api/runs/%d/logs", run.ID), nil, &logs)
	for _, want := range []string{"source: dino.pth (pytorch), SHA-256 ", "keys dropped (8)", "position embedding: 28x28 -> 4x4", "input channels: bands i,r,g"} {
		if !slices.ContainsFunc(logs, func(l shared.LogLine) bool { return strings.Contains(l.Text, want) }) {
			t.Errorf("the run's log lacks %q: %+v", want, logs)
		}
	}

	ft := adm.createRun(shared.CreateRunRequest{Kind: shared.KindFinetune, Template: "finetune-vit-tiny", Checkpoint: cks[0].ID, Name: "from dino"})
	j := f.waitRun(t, ft.ID, shared.StateSucceeded)
	if !slices.Contains(j.Args, filepath.Join(f.dir, runs[0].Dir, "checkpoints", "last", "model.safetensors")) {
		t.Errorf("finetune args %q do not name the imported checkpoint", j.Args)
	}
	var rows []shared.ResultRow
	if code := adm.json("GET", fmt.Sprintf("/api/results/%d", ft.ID), nil, &rows); code != 200 || len(rows) != 2 || rows[0].Pretrain != "imported" {
		t.Errorf("results of the fine-tune: %d %+v", code, rows)
	}
}
