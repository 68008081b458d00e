package ckpt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sslens/sslens/backend/nn/vit"
)

// State is what a run needs, beyond the model's weights, to continue
// exactly where it stopped.
type State struct {
	Step  int // iterations done
	Epoch int // epochs done
	// RNG is the state of the run's random source, e.g. a math/rand/v2
	// PCG's MarshalBinary.
	RNG []byte
	// OptimStep is the optimiser's own step count (its bias correction).
	OptimStep int
	// Optim holds the optimiser's buffers by state key, as optim's State
	// returns them ("exp_avg.<param>", ...).
	Optim map[string][]float32
	// Extra holds further flat tensors a method resumes from, such as the
	// EMA teacher's weights or DINO's centre.
	Extra map[string][]float32
}

// Names of the state files in a checkpoint folder (StateFile is the one a
// resumable checkpoint is recognised by), and the tensor name prefixes that
// keep optimiser buffers and extra tensors apart in one file.
const (
	stateWeights = "state.safetensors"
	StateFile    = "state.json"
	optimPrefix  = "optim/"
	extraPrefix  = "extra/"
)

// stateMeta is state.json.
type stateMeta struct {
	Format    int       `json:"format"`
	Step      int       `json:"step"`
	Epoch     int       `json:"epoch"`
	OptimStep int       `json:"optim_step"`
	RNG       []byte    `json:"rng"` // base64
	Created   time.Time `json:"created"`
	SHA256    string    `json:"sha256"` // of state.safetensors
}

// SaveState writes st to dir/state.safetensors (the buffers, as 1-D F32
// tensors named "optim/<key>" and "extra/<key>") and dir/state.json (the
// counters and RNG state), each atomically, creating dir if needed.
func SaveState(dir string, st State) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	var ts []Tensor
	for _, group := range []struct {
		prefix string
		bufs   map[string][]float32
	}{{optimPrefix, st.Optim}, {extraPrefix, st.Extra}} {
		for key, b := range group.bufs {
			ts = append(ts, Tensor{Name: group.prefix + key, Shape: []int{len(b)}, Data: b})
		}
	}
	path := filepath.Join(dir, stateWeights)
	sum, err := writeTensors(path, ts, map[string]string{"format": "pt"})
	if err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, StateFile), stateMeta{Format: FormatVersion, Step: st.Step, Epoch: st.Epoch,
		OptimStep: st.OptimStep, RNG: st.RNG, Created: time.Now().UTC(), SHA256: sum})
}

// LoadState reads the state SaveState wrote to dir.
func LoadState(dir string) (State, error) {
	var meta stateMeta
	metaPath := filepath.Join(dir, StateFile)
	if err := readJSON(metaPath, &meta); err != nil {
		return State{}, err
	}
	if err := checkFormat(metaPath, meta.Format); err != nil {
		return State{}, err
	}
	path := filepath.Join(dir, stateWeights)
	ts, sum, err := readTensors(path)
	if err != nil {
		return State{}, err
	}
	if err := checkPair(path, metaPath, sum, meta.SHA256); err != nil {
		return State{}, err
	}
	st := State{Step: meta.Step, Epoch: meta.Epoch, OptimStep: meta.OptimStep, RNG: meta.RNG,
		Optim: make(map[string][]float32), Extra: make(map[string][]float32)}
	for _, t := range ts {
		switch {
		case len(t.Shape) != 1:
			return State{}, fmt.Errorf("ckpt: %s: tensor %q has shape %s, want 1-D", path, t.Name, vit.FormatShape(t.Shape))
		case strings.HasPrefix(t.Name, optimPrefix):
			st.Optim[strings.TrimPrefix(t.Name, optimPrefix)] = t.Data
		case strings.HasPrefix(t.Name, extraPrefix):
			st.Extra[strings.TrimPrefix(t.Name, extraPrefix)] = t.Data
		default:
			return State{}, fmt.Errorf("ckpt: %s: tensor %q is neither optim/ nor extra/ state", path, t.Name)
		}
	}
	return st, nil
}
