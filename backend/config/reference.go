package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/vit"
)

// ParseReference reads seed-results.json (see layout.DecodeReference) and
// checks its rows: each method one of ReproduceMethods, each backbone a vit
// preset, renamed to the preset's name (ViT-S/8 becomes vit_small).
func ParseReference(b []byte) (*layout.ReferenceResults, error) {
	ref, err := layout.DecodeReference(b)
	if err != nil {
		return nil, err
	}
	for i := range ref.Rows {
		row := &ref.Rows[i]
		if !slices.Contains(ReproduceMethods, Method(row.Method)) {
			return nil, fmt.Errorf("reference results: rows[%d]: method %q is not one of %s", i, row.Method, strings.Join(strs(ReproduceMethods), ", "))
		}
		p, err := vit.LookupPreset(row.Backbone)
		if err != nil {
			return nil, fmt.Errorf("reference results: rows[%d]: %w", i, err)
		}
		row.Backbone = p.Name
	}
	return ref, nil
}
