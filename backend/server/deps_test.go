package server

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPortalLinksNoTrainingEngine: the server and the job queue import no
// Gorgonia package; training runs in `sslens` child processes (or cluster
// jobs), and the portal plans a config's memory with backend/memplan.
func TestPortalLinksNoTrainingEngine(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/sslens/sslens/backend/server", "github.com/sslens/sslens/backend/jobs").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "gorgonia.org/") || pkg == "github.com/sslens/sslens/backend/nn" {
			t.Errorf("the portal links %s", pkg)
		}
	}
}
