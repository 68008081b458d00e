package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

// TestImportData imports the labelled archive fixture with chosen split
// shares and refuses bad flags by name.
func TestImportData(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join("..", "..", "dataimport", "testdata")
	out := filepath.Join(t.TempDir(), "ds")
	stdout, _, err := runCmd(t, ctx, "import-data", runImportData, filepath.Join(src, "archive.tar.gz"), "--out", out, "--splits", "1,0,0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "3 imported (2 lenses, 1 non-lenses, 0 unlabelled)") || !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("stdout:\n%s", stdout)
	}
	sp, err := data.ReadSplits(filepath.Join(out, "splits.json"))
	if err != nil || sp.Train.Len() != 3 {
		t.Errorf("splits %+v, %v: want all 3 in train", sp, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{src}, "want one SOURCE and --out DIR"},
		{[]string{src, "--out", t.TempDir() + "/x", "--splits", "1,2"}, `--splits "1,2": want three shares`},
		{[]string{src, "--out", t.TempDir() + "/x", "--splits", "1,a,2"}, `"a" is not a number`},
	} {
		_, stderr, err := runCmd(t, ctx, "import-data", runImportData, tc.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error()+stderr, tc.want) {
			t.Errorf("%v: error %v, stderr %q, want a usage error with %q", tc.args, err, stderr, tc.want)
		}
	}
}
