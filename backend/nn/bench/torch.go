package bench

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sslens/sslens/backend/nn/vit"
)

// torchScript is the PyTorch peer, torch_vit_step.py in this folder: the
// same network, step and FLOP count on the CPU. It is a benchmark peer
// only; nothing in sslens needs torch.
//
//go:embed torch_vit_step.py
var torchScript []byte

// Torch runs the PyTorch peer with one interpreter.
type Torch struct {
	python string
	script string // the peer, written to a temporary file
}

// NewTorch checks that python imports torch and writes the peer script to
// a temporary file, which Close removes.
func NewTorch(python string) (*Torch, error) {
	out, err := exec.Command(python, "-c", "import torch").CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("bench: the PyTorch peer needs PyTorch for %s (on Debian: apt-get install python3-torch): %s", python, msg)
	}
	f, err := os.CreateTemp("", "sslens-torch-*.py")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(torchScript); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Torch{python: python, script: f.Name()}, f.Close()
}

// Close removes the peer script.
func (t *Torch) Close() error { return os.Remove(t.script) }

// torchRate matches the images/s figure of the peer's output line.
var torchRate = regexp.MustCompile(`([0-9.]+) img/s`)

// Run runs the peer for preset p, training steps or (inference) forward
// passes without gradients, on the CPU or (cuda) the GPU in float32, and
// returns its result line and images/s.
func (t *Torch) Run(p vit.Preset, batch, steps, threads int, inference, cuda bool) (line string, rate float64, err error) {
	args := []string{strconv.Itoa(p.Dim), strconv.Itoa(p.Depth), strconv.Itoa(p.Heads),
		strconv.Itoa(batch), strconv.Itoa(steps), strconv.Itoa(threads)}
	if cuda {
		args = append([]string{"--cuda"}, args...)
	}
	if inference {
		args = append([]string{"--inference"}, args...)
	}
	return t.run(threads, args...)
}

// run runs the peer script with args and returns the last line of its
// output and the images/s in it. OpenBLAS, whose products torch calls,
// gets threads threads of its own (sslens runs it with one: see
// cmd/sslens's tuneOpenBLAS) and the kernel set sslens's OpenBLAS runs.
func (t *Torch) run(threads int, args ...string) (line string, rate float64, err error) {
	cmd := exec.Command(t.python, append([]string{t.script}, args...)...)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS="+strconv.Itoa(threads))
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return "", 0, fmt.Errorf("bench: torch peer %s failed (%v):\n%s", filepath.Base(t.script), err, text)
	} else if err != nil {
		return "", 0, fmt.Errorf("bench: torch peer: %w", err)
	}
	lines := strings.Split(text, "\n")
	line = lines[len(lines)-1]
	m := torchRate.FindStringSubmatch(line)
	if m == nil {
		return "", 0, fmt.Errorf("bench: torch peer: no images/s in its output %q", text)
	}
	if rate, err = strconv.ParseFloat(m[1], 64); err != nil || rate <= 0 {
		return "", 0, fmt.Errorf("bench: torch peer: images/s %q in %q", m[1], line)
	}
	return line, rate, nil
}
