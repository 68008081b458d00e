package uploads

import (
	"cmp"
	"context"
	"slices"

	"github.com/sslens/sslens/backend/sky"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// uploads returns the valid uploads f selects, as the API shows them.
func (s *Service) uploads(ctx context.Context, f store.UploadFilter) ([]shared.Upload, error) {
	sus, err := s.st.Uploads(ctx, f)
	if err != nil {
		return nil, err
	}
	ups := make([]shared.Upload, len(sus))
	for i, u := range sus {
		ups[i] = u.Upload
	}
	return ups, nil
}

// describePositions is the function below, comparing ups with every valid
// upload (with ups itself when they are all of them).
func (s *Service) describePositions(ctx context.Context, ups []shared.Upload, areAll bool) error {
	all := ups
	if !areAll {
		var err error
		if all, err = s.uploads(ctx, store.UploadFilter{}); err != nil {
			return err
		}
	}
	describePositions(ups, all)
	return nil
}

// samePosition is how close, in arcseconds, two uploads' positions must be
// to be flagged as the same object.
const samePosition = 1.0

// describePositions writes each positioned upload's sexagesimal form and
// lists, in SamePosition, the uploads of all within samePosition of it
// (all: every valid upload, whose positions ups are compared with).
func describePositions(ups []shared.Upload, all []shared.Upload) {
	// all sorted by declination: a match lies within a narrow band of it.
	var placed []shared.Upload
	for _, u := range all {
		if u.Position != nil {
			placed = append(placed, u)
		}
	}
	slices.SortFunc(placed, func(a, b shared.Upload) int { return cmp.Compare(a.Position.Dec, b.Position.Dec) })
	band := samePosition / 3600
	for i := range ups {
		p := ups[i].Position
		if p == nil {
			continue
		}
		here := sky.Position{RA: p.RA, Dec: p.Dec}
		p.Sexagesimal = here.Sexagesimal()
		ups[i].SamePosition = nil
		k, _ := slices.BinarySearchFunc(placed, p.Dec-band, func(u shared.Upload, dec float64) int { return cmp.Compare(u.Position.Dec, dec) })
		for ; k < len(placed) && placed[k].Position.Dec <= p.Dec+band; k++ {
			o := placed[k]
			if o.ID != ups[i].ID && sky.Separation(here, sky.Position{RA: o.Position.RA, Dec: o.Position.Dec}) <= samePosition {
				ups[i].SamePosition = append(ups[i].SamePosition, o.ID)
			}
		}
	}
}
