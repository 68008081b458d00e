package ckpt

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/nn/vit"
)

// FormatVersion is the sidecar format this package writes and the newest it
// reads.
const FormatVersion = 1

// Normalization is the per-band (g, r, i) standardisation the model was
// trained with: x' = (x - Mean) / Std, in the units of the input files.
type Normalization struct {
	Mean [3]float64 `json:"mean"`
	Std  [3]float64 `json:"std"`
}

// Sidecar describes a model checkpoint. Save sets Format and SHA256, and
// Created when it is zero.
type Sidecar struct {
	Format        int                `json:"format"`
	Preset        string             `json:"preset"`      // vit preset name, e.g. vit_small
	NumClasses    int                `json:"num_classes"` // classifier head outputs, 0 without a head
	Config        json.RawMessage    `json:"config,omitempty"`
	Epoch         int                `json:"epoch"`
	Step          int                `json:"step"`
	Metrics       map[string]float64 `json:"metrics,omitempty"`
	Normalization Normalization      `json:"normalization"`
	Created       time.Time          `json:"created"`
	SHA256        string             `json:"sha256"` // of the weights file
	// Architecture is set for a backbone outside vit's preset table (see
	// Backbone), Source for weights imported from another framework.
	Architecture *Architecture `json:"architecture,omitempty"`
	Source       *Source       `json:"source,omitempty"`
}

// SidecarPath is the sidecar of the weights file path: its name with
// ".safetensors" replaced by ".json" (model.safetensors -> model.json).
func SidecarPath(path string) string {
	return strings.TrimSuffix(path, ".safetensors") + ".json"
}

// ParamTensors views ps as tensors, sharing its storage.
func ParamTensors(ps *vit.Params) []Tensor {
	out := make([]Tensor, 0, ps.Len())
	for _, p := range ps.List() {
		out = append(out, Tensor{Name: p.Name, Shape: p.Shape, Data: p.Data})
	}
	return out
}

// Save writes tensors to path (a .safetensors file) and sc to its sidecar,
// each atomically, creating path's folder if needed. The weights go first:
// a crash between the two leaves a sidecar whose SHA256 no longer matches,
// which Load refuses.
func Save(path string, tensors []Tensor, sc Sidecar) error {
	for name, v := range sc.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("ckpt: %s: metric %q is %g, which JSON cannot hold", path, name, v)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	sum, err := writeTensors(path, tensors, map[string]string{"format": "pt"})
	if err != nil {
		return err
	}
	sc.Format, sc.SHA256 = FormatVersion, sum
	if sc.Created.IsZero() {
		sc.Created = time.Now().UTC()
	}
	return writeJSON(SidecarPath(path), sc)
}

// writeJSON writes v as indented JSON, atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("ckpt: %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n')); err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	return nil
}

// readJSON reads a sidecar written by this package into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ckpt: sidecar: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("ckpt: %s: corrupt sidecar: %w", path, err)
	}
	return nil
}

// checkFormat refuses sidecars without a format version or newer than this
// package.
func checkFormat(path string, format int) error {
	switch {
	case format == 0:
		return fmt.Errorf("ckpt: %s: no format field; not an sslens sidecar", path)
	case format > FormatVersion:
		return fmt.Errorf("ckpt: %s: format %d is newer than this sslens reads (%d)", path, format, FormatVersion)
	}
	return nil
}

// checkPair refuses a weights file whose SHA-256 is not the one its sidecar
// recorded.
func checkPair(path, sidecar, got, want string) error {
	if got != want {
		return fmt.Errorf("ckpt: %s does not match its sidecar %s (sha256 %.12s, sidecar says %.12s): the pair was not written together",
			path, sidecar, got, want)
	}
	return nil
}

// ReadSidecar reads the sidecar of the weights file path alone, without
// the weights; a missing sidecar is an error satisfying
// errors.Is(err, fs.ErrNotExist).
func ReadSidecar(path string) (Sidecar, error) {
	var sc Sidecar
	err := readJSON(SidecarPath(path), &sc)
	return sc, err
}

// Load reads a checkpoint: the tensors of path, in file order, and its
// sidecar.
func Load(path string) ([]Tensor, Sidecar, error) {
	var sc Sidecar
	scPath := SidecarPath(path)
	if err := readJSON(scPath, &sc); err != nil {
		return nil, Sidecar{}, err
	}
	if err := checkFormat(scPath, sc.Format); err != nil {
		return nil, Sidecar{}, err
	}
	ts, sum, err := readTensors(path)
	if err != nil {
		return nil, Sidecar{}, err
	}
	if err := checkPair(path, scPath, sum, sc.SHA256); err != nil {
		return nil, Sidecar{}, err
	}
	return ts, sc, nil
}

// LoadInto loads the checkpoint at path into ps. Every parameter of ps must
// be in the file with its shape, and nothing else; otherwise ps is left
// unchanged and the error names the tensors that do not fit.
func LoadInto(path string, ps *vit.Params) (Sidecar, error) {
	ts, sc, err := Load(path)
	if err != nil {
		return Sidecar{}, err
	}
	if sc.Preset != "" && ps.Preset.Name != "" && sc.Preset != ps.Preset.Name {
		return Sidecar{}, fmt.Errorf("ckpt: %s holds a %s, the model is a %s", path, sc.Preset, ps.Preset.Name)
	}
	if err := assign(ps, ts); err != nil {
		return Sidecar{}, fmt.Errorf("ckpt: %s: %w", path, err)
	}
	return sc, nil
}

// Assign copies tensors into the parameters of the same names, after
// checking that they match one to one in name and shape; on a mismatch ps
// is left unchanged. It loads weights read with ReadTensors, such as a
// state dict saved from PyTorch with safetensors.
func Assign(ps *vit.Params, tensors []Tensor) error {
	if err := assign(ps, tensors); err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	return nil
}

func assign(ps *vit.Params, tensors []Tensor) error {
	byName := make(map[string]Tensor, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t
	}
	var problems []string
	for _, p := range ps.List() {
		t, ok := byName[p.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing tensor %q %s", p.Name, vit.FormatShape(p.Shape)))
		case !slices.Equal(t.Shape, p.Shape) || len(t.Data) != len(p.Data):
			problems = append(problems, fmt.Sprintf("tensor %q has shape %s, the model wants %s",
				p.Name, vit.FormatShape(t.Shape), vit.FormatShape(p.Shape)))
		}
	}
	for _, t := range tensors {
		if ps.Get(t.Name) == nil {
			problems = append(problems, fmt.Sprintf("unexpected tensor %q %s", t.Name, vit.FormatShape(t.Shape)))
		}
	}
	if len(problems) > 0 {
		model := "the model"
		if ps.Preset.Name != "" {
			model = ps.Preset.Name
		}
		const show = 4
		msg := strings.Join(problems[:min(show, len(problems))], "; ")
		if len(problems) > show {
			msg += fmt.Sprintf("; and %d more", len(problems)-show)
		}
		return fmt.Errorf("does not fit %s: %s", model, msg)
	}
	for _, p := range ps.List() {
		copy(p.Data, byName[p.Name].Data)
	}
	return nil
}
