package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Tool runs short sslens subcommands and waits for them, for work a
// request waits on: scoring a few uploaded cutouts, embedding images.
// Like jobs, they run in a child process, so a model's memory is returned
// when it is done and a crash fails one request only.
type Tool struct {
	Exe string   // the sslens binary
	Env []string // added to the server's environment
}

// run runs the subcommand and returns its standard output; a failure
// carries the end of its standard error.
func (t Tool) run(ctx context.Context, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, t.Exe, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), t.Env...)
	cmd.SysProcAttr = sysProcAttr()
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 && len(msg) > 2000 {
			msg = msg[i+1:]
		}
		return stdout.Bytes(), fmt.Errorf("sslens %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// FileScore is one file's lens probability.
type FileScore struct {
	File     string
	LensProb float64
}

// Score returns P(lens) for each file by the checkpoint, and the files
// that could not be scored with the reasons (by file).
func (t Tool) Score(ctx context.Context, checkpoint string, files []string) ([]FileScore, map[string]string, error) {
	args := append([]string{"score", "--checkpoint", checkpoint, "--json"}, files...)
	out, err := t.run(ctx, args...)
	var parsed scoreOutput
	if jerr := json.Unmarshal(out, &parsed); jerr != nil {
		// score exits 1 when some files failed but still prints them all;
		// without parseable output the failure is the whole command's.
		return nil, nil, errors.Join(err, fmt.Errorf("sslens score: output: %w", jerr))
	}
	scores := make([]FileScore, len(parsed.Scores))
	for i, s := range parsed.Scores {
		scores[i] = FileScore{File: s.File, LensProb: s.LensProb}
	}
	failed := map[string]string{}
	for _, f := range parsed.Failures {
		failed[f.File] = f.Error
	}
	return scores, failed, nil
}

// Embedding is the CLS embedding of one image of a dataset.
type Embedding struct {
	Name   string // dataset-relative, e.g. lenses/12.npy
	Label  int    // 1 lens, 0 non-lens, -1 unknown (EmbedFiles)
	Vector []float32
}

// Embed returns the embeddings of a dataset's images (split all, train,
// val or test) by the checkpoint.
func (t Tool) Embed(ctx context.Context, checkpoint, dataDir, split string) ([]Embedding, error) {
	return t.embed(ctx, "--checkpoint", checkpoint, "--data", dataDir, "--split", split)
}

// EmbedFiles returns the embeddings of image files by the checkpoint, in
// order, named by their paths as given (Label -1).
func (t Tool) EmbedFiles(ctx context.Context, checkpoint string, files []string) ([]Embedding, error) {
	return t.embed(ctx, append([]string{"--checkpoint", checkpoint}, files...)...)
}

// embed runs sslens embed with args and reads the CSV it writes.
func (t Tool) embed(ctx context.Context, args ...string) ([]Embedding, error) {
	tmp, err := os.MkdirTemp("", "sslens-embed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "embed.csv")
	if _, err := t.run(ctx, append([]string{"embed", "--out", out}, args...)...); err != nil {
		return nil, err
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadEmbeddings(f)
}

// ReadEmbeddings parses the CSV `sslens embed` writes: a header, then
// name, label and the features per row.
func ReadEmbeddings(r io.Reader) ([]Embedding, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("embeddings: header: %w", err)
	}
	if len(header) < 3 || header[0] != "name" || header[1] != "label" {
		return nil, fmt.Errorf("embeddings: header %q: want name, label, f0, ...", strings.Join(header[:min(3, len(header))], ","))
	}
	var out []Embedding
	for line := 2; ; line++ {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("embeddings: %w", err)
		}
		label, err := strconv.Atoi(row[1])
		if err != nil {
			return nil, fmt.Errorf("embeddings: line %d: label %q: %w", line, row[1], err)
		}
		e := Embedding{Name: row[0], Label: label, Vector: make([]float32, len(row)-2)}
		for j, s := range row[2:] {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, fmt.Errorf("embeddings: line %d: feature %d: %w", line, j, err)
			}
			e.Vector[j] = float32(v)
		}
		out = append(out, e)
	}
}
