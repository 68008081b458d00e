package ssl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/augment"
	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
)

// ResolveCheckpoint finds the model.safetensors a path means: the file
// itself, a checkpoint folder holding one, or a run folder (its
// checkpoints/last).
func ResolveCheckpoint(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("ssl: checkpoint: %w", err)
	}
	if !st.IsDir() {
		return path, nil
	}
	for _, p := range []string{filepath.Join(path, layout.ModelFile), layout.Run(path).Model(layout.LastDir)} {
		if layout.IsFile(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("ssl: checkpoint: %s holds neither %s nor %s", path, layout.ModelFile, layout.LastDir+"/"+layout.ModelFile)
}

// Checkpoint is a model checkpoint ready to build a classifier from.
type Checkpoint struct {
	Path    string       // the model.safetensors file
	Sidecar ckpt.Sidecar // its model.json
	// Params holds the backbone and a 2-class head; the head is freshly
	// initialised (seed 0) when the file has none (a pretraining
	// checkpoint), which only Features may then be used with.
	Params  *vit.Params
	HasHead bool
	// Norm is what inputs must be normalised with; zero (which
	// augment.Normalize refuses) for imported weights never trained here,
	// as they carry no normalisation of sslens's bands: fine-tuning gives
	// them the dataset's.
	Norm augment.Normalization
	// Config is the run's config recorded in the sidecar; nil when the
	// sidecar holds none this package wrote.
	Config *config.Config
}

// LoadCheckpoint reads the checkpoint path means (see ResolveCheckpoint).
// The preset comes from the sidecar (a table preset, or the architecture
// of an imported or custom backbone) and the image size from the position
// embedding's shape, so checkpoints of any run load.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	file, err := ResolveCheckpoint(path)
	if err != nil {
		return nil, err
	}
	ts, sc, err := ckpt.Load(file)
	if err != nil {
		return nil, err
	}
	p, err := sc.Backbone()
	if err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", file, err)
	}
	p.DropPath, p.AttnDrop = 0, 0 // inference only
	for _, t := range ts {
		if t.Name == "pos_embed" && len(t.Shape) == 3 {
			g := int(math.Round(math.Sqrt(float64(t.Shape[1] - 1))))
			if g*g != t.Shape[1]-1 {
				return nil, fmt.Errorf("ssl: %s: pos_embed has %d tokens, not 1 + a square grid", file, t.Shape[1])
			}
			p.ImageSize = g * p.PatchSize
		}
	}
	ps, err := vit.New(p, 2, rand.New(rand.NewPCG(0, streamInit)))
	if err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", file, err)
	}
	head, _, err := loadWeights(ps, ts)
	if err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", file, err)
	}
	ck := &Checkpoint{Path: file, Sidecar: sc, Params: ps, HasHead: head}
	if !imported(sc) {
		if ck.Norm, err = toAugment(sc.Normalization); err != nil {
			return nil, fmt.Errorf("ssl: %s: sidecar normalisation: %w", file, err)
		}
	}
	if len(sc.Config) > 0 {
		ck.Config, _ = configFromJSON(sc.Config) // another writer's config is not ours to read
	}
	return ck, nil
}

// startPreset is the backbone a run builds when it starts from, or
// resumes, the checkpoint whose sidecar is sc: the config's preset p, or
// the architecture the sidecar records (an imported or custom backbone)
// with p's input size and regularisation.
func startPreset(p vit.Preset, sc ckpt.Sidecar) (vit.Preset, error) {
	if sc.Architecture == nil {
		return p, nil
	}
	q, err := sc.Backbone()
	if err != nil {
		return vit.Preset{}, fmt.Errorf("ssl: %w", err)
	}
	q.ImageSize, q.DropPath, q.AttnDrop = p.ImageSize, p.DropPath, p.AttnDrop
	return q, nil
}

// imported reports a checkpoint of imported weights that carries no
// normalisation.
func imported(sc ckpt.Sidecar) bool {
	return sc.Source != nil && sc.Normalization == (ckpt.Normalization{})
}

// loadWeights copies tensors into ps by name. Every backbone parameter
// must be there with its shape; the head is taken when both its tensors
// fit, and kept as initialised otherwise. Tensors ps has no place for
// (a pretraining head, say) are returned by name and otherwise ignored.
func loadWeights(ps *vit.Params, ts []ckpt.Tensor) (head bool, ignored []string, err error) {
	byName := make(map[string]ckpt.Tensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
		if ps.Get(t.Name) == nil {
			ignored = append(ignored, t.Name)
		}
	}
	head = true
	for _, p := range ps.List() {
		t, ok := byName[p.Name]
		fits := ok && slices.Equal(t.Shape, p.Shape) && len(t.Data) == len(p.Data)
		switch {
		case isHead(p.Name):
			head = head && fits
		case !ok:
			return false, nil, fmt.Errorf("no tensor %q %s for the %s backbone", p.Name, vit.FormatShape(p.Shape), ps.Preset.Name)
		case !fits:
			return false, nil, fmt.Errorf("tensor %q has shape %s, the %s backbone wants %s",
				p.Name, vit.FormatShape(t.Shape), ps.Preset.Name, vit.FormatShape(p.Shape))
		}
	}
	for _, p := range ps.List() {
		if !isHead(p.Name) || head {
			copy(p.Data, byName[p.Name].Data)
		}
	}
	return head, ignored, nil
}

// isHead reports the classifier head's parameters.
func isHead(name string) bool { return name == "head.weight" || name == "head.bias" }

// saveModel writes ps and its sidecar to dir/model.safetensors, recording
// the architecture of a backbone outside the preset table.
func saveModel(dir string, ps *vit.Params, sc ckpt.Sidecar) error {
	return saveWeights(filepath.Join(dir, layout.ModelFile), ps, sc)
}

// saveWeights writes ps and its sidecar to path (a .safetensors file).
func saveWeights(path string, ps *vit.Params, sc ckpt.Sidecar) error {
	sc.Preset, sc.NumClasses, sc.Architecture = ps.Preset.Name, ps.NumClasses, nil
	if !ps.Preset.IsNamed() {
		sc.Architecture = ckpt.ArchitectureOf(ps.Preset)
	}
	return ckpt.Save(path, ckpt.ParamTensors(ps), sc)
}

// readSidecar reads only the sidecar of the model in dir; ok is false when
// there is none.
func readSidecar(dir string) (sc ckpt.Sidecar, ok bool, err error) {
	sc, err = ckpt.ReadSidecar(filepath.Join(dir, layout.ModelFile))
	if errors.Is(err, fs.ErrNotExist) {
		return sc, false, nil
	}
	if err != nil {
		return sc, false, fmt.Errorf("ssl: %s: %w", dir, err)
	}
	return sc, true, nil
}

// configFromJSON parses a config Config.JSON wrote. Integers are decoded
// exactly, so a 64-bit seed survives.
func configFromJSON(b json.RawMessage) (*config.Config, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	y, err := yaml.Marshal(yamlNumbers(v))
	if err != nil {
		return nil, err
	}
	return config.Parse(y)
}

// yamlNumbers replaces the json.Numbers of a decoded JSON value by int64,
// uint64 or float64, which YAML writes as numbers (json.Number as strings).
func yamlNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlNumbers(e)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// writeFile writes b to path atomically.
func writeFile(path string, b []byte) error {
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("ssl: %w", err)
	}
	return nil
}

// writeJSON writes v, indented, to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("ssl: %s: %w", path, err)
	}
	return writeFile(path, append(b, '\n'))
}

// writeConfig writes c as YAML to path.
func writeConfig(path string, c *config.Config) error {
	y, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("ssl: config: %w", err)
	}
	return writeFile(path, y)
}
