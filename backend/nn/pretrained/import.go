package pretrained

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/nn/ckpt"
	"github.com/sslens/sslens/backend/nn/vit"
)

// Options are the choices of an import that the source file does not fix.
type Options struct {
	// Out is the checkpoint folder to write (model.safetensors and
	// model.json); empty reads and converts without writing.
	Out string
	// Preset names the preset the weights must fit; empty infers it from
	// their width and depth.
	Preset string
	// Heads is the number of attention heads, which weights do not show;
	// 0 takes the Preset's when one is named, else width/64, the public
	// ViTs' rule (ViT-S/8: 6, ViT-B/8: 12; sslens's vit_small has 8).
	Heads int
	// From picks the state dict of a checkpoint holding both a "teacher"
	// and a "student" (DINO, iBOT); empty takes the teacher, as DINO's
	// evaluations do.
	From string
	// KeepChannels gives sslens's bands g, r, i to the patch embedding's
	// input channels in stored order. By default they are reversed: weights
	// trained on RGB images see i on R, r on G and g on B.
	KeepChannels bool
}

// Imported is the result of an import.
type Imported struct {
	Params  *vit.Params  // the backbone, at sslens's 32 px input, no head
	Sidecar ckpt.Sidecar // what was written beside the weights
	Path    string       // the model.safetensors written; "" without Options.Out
}

// Import reads a ViT backbone from src, a safetensors file or a PyTorch
// checkpoint (.pth, .pt: read without running any code it holds), and
// converts it to an sslens backbone: keys without their wrapper prefix,
// architecture from the shapes, position embedding resampled to the
// 32 px grid, heads and other unused tensors left out (and listed). With
// opt.Out it writes the checkpoint, its sidecar recording the source.
func Import(src string, opt Options) (*Imported, error) {
	im, err := convert(src, opt)
	if err != nil {
		return nil, fmt.Errorf("pretrained: %s: %w", src, err)
	}
	if opt.Out != "" {
		im.Path = filepath.Join(opt.Out, layout.ModelFile)
		if err := ckpt.Save(im.Path, ckpt.ParamTensors(im.Params), im.Sidecar); err != nil {
			return nil, fmt.Errorf("pretrained: %w", err)
		}
		if _, im.Sidecar, err = ckpt.Load(im.Path); err != nil {
			return nil, fmt.Errorf("pretrained: %w", err)
		}
	}
	return im, nil
}

func convert(src string, opt Options) (*Imported, error) {
	switch opt.From {
	case "", "teacher", "student":
	default:
		return nil, fmt.Errorf("from %q: want teacher or student", opt.From)
	}
	if opt.Heads < 0 {
		return nil, fmt.Errorf("%d heads", opt.Heads)
	}
	sum, err := fileSHA256(src)
	if err != nil {
		return nil, err
	}
	source := &ckpt.Source{File: filepath.Base(src), SHA256: sum}
	sd, err := readStateDict(src, opt.From, source)
	if err != nil {
		return nil, err
	}
	prefix, err := findPrefix(sd)
	if err != nil {
		return nil, err
	}
	p, err := inferPreset(sd, prefix, shapeOptions{preset: opt.Preset, heads: opt.Heads})
	if err != nil {
		return nil, err
	}
	ps, err := vit.New(p, 0, rand.New(rand.NewPCG(0, 0))) // every value is overwritten
	if err != nil {
		return nil, err
	}
	source.Prefix = prefix
	tensors := make([]ckpt.Tensor, 0, ps.Len())
	taken := make(map[string]bool, ps.Len())
	for _, param := range ps.List() {
		e, ok := sd.get(prefix + param.Name)
		if !ok {
			return nil, fmt.Errorf("no %s%s %s for a %s backbone", prefix, param.Name, vit.FormatShape(param.Shape), p.Name)
		}
		data, err := e.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		shape := e.shape
		switch param.Name {
		case "pos_embed":
			if data, source.PosEmbed, err = resamplePosEmbed(data, e.shape, p); err != nil {
				return nil, err
			}
			shape = param.Shape
		case patchKey:
			if !opt.KeepChannels {
				data, source.Channels = permuteChannels(data, e.shape)
			}
		}
		tensors = append(tensors, ckpt.Tensor{Name: param.Name, Shape: shape, Data: data})
		taken[e.name] = true
		source.Taken = append(source.Taken, e.name)
	}
	for _, e := range sd.entries {
		if taken[e.name] {
			continue
		}
		if name, ok := strings.CutPrefix(e.name, prefix); ok && isBackboneKey(name) {
			return nil, fmt.Errorf("%s %s is part of the backbone but not of sslens's ViT (layer scale, registers?): importing without it would change the features",
				e.name, vit.FormatShape(e.shape))
		}
		source.Dropped = append(source.Dropped, e.name)
	}
	if err := ckpt.Assign(ps, tensors); err != nil {
		return nil, err
	}
	sc := ckpt.Sidecar{Preset: p.Name, Architecture: ckpt.ArchitectureOf(p), Source: source}
	return &Imported{Params: ps, Sidecar: sc}, nil
}

// readStateDict reads the state dict of src by its extension and records
// the format and where the state dict was.
func readStateDict(src, from string, source *ckpt.Source) (stateDict, error) {
	switch ext := strings.ToLower(filepath.Ext(src)); ext {
	case ".safetensors":
		if from != "" {
			return stateDict{}, fmt.Errorf("from %s: a safetensors file holds one state dict", from)
		}
		ts, err := ckpt.ReadTensors(src)
		if err != nil {
			return stateDict{}, err
		}
		source.Format = "safetensors"
		return fromSafetensors(ts), nil
	case ".pth", ".pt", ".ckpt", ".bin":
		obj, err := readTorch(src)
		if err != nil {
			return stateDict{}, err
		}
		sd, err := findStateDict(obj, from)
		if err != nil {
			return stateDict{}, err
		}
		source.Format, source.StateDict = "pytorch", sd.where
		return sd, nil
	default:
		return stateDict{}, fmt.Errorf("unknown extension %q: want .safetensors, or .pth or .pt (torch.save)", ext)
	}
}

// fileSHA256 is the SHA-256 of a file, in hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
