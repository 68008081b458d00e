package store

import (
	"context"
	"testing"

	"github.com/sslens/sslens/shared"
)

// Uploads share bytes, not verdicts: the same content refused under one
// name is accepted under another, by its uploader and by anyone else, and
// a score given to the bytes is seen by every upload of them.
func TestUploadsShareContentNotVerdicts(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	add := func(user, name string, valid bool) Upload {
		t.Helper()
		u := Upload{Upload: shared.Upload{SHA256: "cafe", Name: name, Format: "npy", Size: 10, User: user, Width: 40, Height: 40}, Valid: valid}
		if valid {
			u.Path = "uploads/ca/cafe.npy"
		} else {
			u.Error = "unsupported file type"
		}
		got, _, err := s.AddUpload(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	txt := add("ada", "x.txt", false)
	if txt.Valid || txt.Path != "" || txt.Error == "" {
		t.Fatalf("x.txt recorded as %+v", txt)
	}
	npy := add("ada", "x.npy", true)
	other := add("bob", "mine.npy", true)
	for _, u := range []Upload{npy, other} {
		if !u.Valid || u.Path != "uploads/ca/cafe.npy" || u.ID == txt.ID {
			t.Errorf("accepted after a refusal of the same bytes: %+v", u)
		}
	}
	if again := add("bob", "later.txt", false); again.Valid || again.Path != "" {
		t.Errorf("a refused upload of stored bytes shows %+v", again)
	}
	if list, _ := s.Uploads(ctx, UploadFilter{User: "bob"}); len(list) != 1 || list[0].ID != other.ID || list[0].Name != "mine.npy" {
		t.Errorf("bob's uploads: %+v", list)
	}
	if same, dup, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: "cafe", Name: "x.npy", Format: "npy", User: "ada"}, Path: "uploads/ca/cafe.npy", Valid: true}); err != nil || !dup || same.ID != npy.ID {
		t.Errorf("the same upload again: %+v dup %v err %v", same, dup, err)
	}

	run, _, _ := s.CreateRun(ctx, NewRun{Kind: shared.KindFinetune, Name: "base"})
	c, err := s.PutCheckpoint(ctx, Checkpoint{Checkpoint: shared.Checkpoint{Run: run.ID, Name: "best", Preset: "vit_nano", Classifier: true, SHA256: "s1"}, Path: "best.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutScores(ctx, c.ID, []ScoreRow{{Upload: npy.ID, LensProb: 0.25, Embedding: []float32{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	sc, err := s.Scores(ctx, c.ID, other.ID)
	if err != nil || sc[other.ID].LensProb != 0.25 || sc[other.ID].Upload != other.ID {
		t.Errorf("the other upload of scored bytes: %+v, %v", sc, err)
	}
	if v, err := s.Embedding(ctx, other.ID, c.ID); err != nil || len(v) != 2 {
		t.Errorf("shared embedding %v, %v", v, err)
	}
	if err := s.PutScores(ctx, c.ID, []ScoreRow{{Upload: 999, LensProb: 0.5}}); err == nil {
		t.Error("scored an upload that does not exist")
	}
}

// Bytes uploaded first without a position take the one a later upload of
// them brings (a catalogue's), and keep the first one they had.
func TestUploadPositionFillsIn(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	add := func(name string, p *shared.Position) Upload {
		u, _, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: "feed", Name: name, Format: "npy", User: "ann", Position: p}, Path: "uploads/feed.npy", Valid: true})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := add("a.npy", nil); u.Position != nil {
		t.Fatalf("a position from nowhere: %+v", u.Position)
	}
	first := &shared.Position{RA: 150, Dec: 2, From: "catalogue c.csv"}
	if u := add("b.npy", first); u.Position == nil || *u.Position != *first {
		t.Errorf("the catalogue's position was not taken: %+v", u.Position)
	}
	if u := add("c.npy", &shared.Position{RA: 10, Dec: 10, From: "catalogue d.csv"}); u.Position == nil || *u.Position != *first {
		t.Errorf("a later position replaced the first: %+v", u.Position)
	}
	// A WCS's orientation is kept with its position.
	o := &shared.Orientation{Scale: 0.168, North: [2]float64{0, 1}, East: [2]float64{-1, 0}}
	u, _, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: "beef", Name: "w.fits", Format: "fits", User: "ann",
		Position: &shared.Position{RA: 1, Dec: 2, From: "WCS", Orientation: o}}, Path: "uploads/beef.fits", Valid: true})
	if err != nil {
		t.Fatal(err)
	}
	if back, err := s.Upload(ctx, u.ID); err != nil || back.Position == nil || back.Position.Orientation == nil || *back.Position.Orientation != *o {
		t.Errorf("orientation read back %+v, %v; want %+v", back.Position, err, o)
	}
}
