package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sslens/sslens/shared"
)

// CreateRun refuses a run over its creator's queue cap, counting only
// that user's queued runs, and leaves uncapped roles and non-users alone.
func TestCreateRunQueueCap(t *testing.T) {
	ctx, s := context.Background(), openTest(t)
	for name, role := range map[string]shared.Role{"vera": shared.RoleAstronomer, "carl": shared.RoleAstronomer, "ada": shared.RoleAdmin} {
		if _, err := s.CreateUser(ctx, name, role, "0123456789"); err != nil {
			t.Fatal(err)
		}
	}
	limits := map[shared.Role]int{shared.RoleAstronomer: 2}
	queue := func(user string) (Run, error) {
		j, _, err := s.CreateRun(ctx, NewRun{Kind: shared.KindScore, CreatedBy: user, MaxQueued: limits})
		return j, err
	}
	var first Run
	for i := range 2 {
		j, err := queue("vera")
		if err != nil {
			t.Fatalf("queued run %d: %v", i+1, err)
		}
		if i == 0 {
			first = j
		}
	}
	_, err := queue("vera")
	var cf *ConflictError
	if !errors.As(err, &cf) || !strings.Contains(err.Error(), "2 queued runs") {
		t.Fatalf("third queued run: %v, want a conflict naming the cap", err)
	}
	for _, user := range []string{"carl", "ada", "ada", "ada", "cli"} {
		if _, err := queue(user); err != nil {
			t.Errorf("%s: %v", user, err)
		}
	}
	// A run that leaves the queue frees a place.
	if _, err := s.SetState(ctx, first.ID, Transition{To: shared.StateRunning}); err != nil {
		t.Fatal(err)
	}
	if _, err := queue("vera"); err != nil {
		t.Errorf("after one started: %v", err)
	}
}
