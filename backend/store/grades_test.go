package store

import (
	"context"
	"errors"
	"testing"

	"github.com/sslens/sslens/shared"
)

// A grade is one per user and file: replaced, not added, shared by every
// upload of the same bytes, audited; bad grades, flags and unknown uploads
// are refused.
func TestGrades(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	add := func(user, name, sha string) int64 {
		u, _, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: sha, Name: name, Format: "npy", User: user}, Path: "uploads/" + sha + ".npy", Valid: true})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	ann, bob, other := add("ann", "a.npy", "c0ffee"), add("bob", "same-bytes.npy", "c0ffee"), add("ann", "b.npy", "beef")
	p := 0.8
	for _, g := range []shared.Grade{
		{Upload: ann, User: "ann", Grade: "A", LensProb: &p, Checkpoint: 3},
		{Upload: ann, User: "ann", Grade: "B", Note: "arc on one side only", Flags: []string{"needs spectroscopy"}},
		{Upload: bob, User: "bob", Grade: "0", Flags: []string{"ring galaxy", "artefact"}},
	} {
		if _, err := s.SetGrade(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Grades(ctx, []int64{ann, bob, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[ann]) != 2 || len(got[bob]) != 2 || len(got[other]) != 0 {
		t.Fatalf("grades %+v", got)
	}
	if g := got[ann][0]; g.User != "ann" || g.Grade != "B" || g.Note != "arc on one side only" || len(g.Flags) != 1 || g.LensProb != nil {
		t.Errorf("ann's replaced grade %+v", g)
	}
	if g := got[bob][1]; g.User != "bob" || g.Grade != "0" || len(g.Flags) != 2 || g.Flags[1] != "artefact" {
		t.Errorf("bob's grade %+v", g)
	}
	log, _ := s.AuditLog(ctx, 10)
	if len(log) != 3 || log[1].Detail != "B (was A)" || log[1].Action != "grade" {
		t.Errorf("audit %+v", log)
	}
	for _, bad := range []shared.Grade{
		{Upload: ann, User: "ann", Grade: "D"},
		{Upload: ann, User: "ann", Grade: "A", Flags: []string{"a,b"}},
		{Upload: ann, User: "ann", Grade: "A", Flags: []string{""}},
	} {
		if _, err := s.SetGrade(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := s.SetGrade(ctx, shared.Grade{Upload: 99, User: "ann", Grade: "A"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("grading a missing upload: %v", err)
	}
}
