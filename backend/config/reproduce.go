package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/nn/vit"

	"github.com/sslens/sslens/shared"
)

// ReproduceConfig is a reproduce config: the matrix of backbones, methods,
// label counts and seeds `sslens reproduce` runs, and the experiment
// configs its cells start from. The YAML keys are in configs/README.md
// ("Reproduce configs"); every error names the key path, and an unknown
// key is an error (this schema is sslens's own, with no reference loader
// to follow).
type ReproduceConfig struct {
	Name       string   // title of the results
	DataPath   string   // dataset folder (YAML "data path")
	Indices    string   // splits file; empty: the dataset's own
	OutputDir  string   // where the cells' run folders go
	Backbones  []string // vit preset names, as vit.LookupPreset spells them
	Methods    []Method // supervised, dino, ibot, simsiam
	Labels     []string // 300, 600, 1200, all
	Seeds      []uint64 // one cell per seed: pretraining and fine-tuning
	SubsetSeed uint64   // seed of the leak-free labelled subsets: a cell of seed s draws them with SubsetSeed+s
	Bootstrap  int      // resamples behind every 95% interval
	// Deviations list where the cells differ from the reference project's
	// protocol, and why; results.md prints them at the top.
	Deviations []string
	Pretrain   PretrainSection
	Finetune   FinetuneSection
	Text       []byte // the YAML as read
}

// PretrainSection configures the pretraining cells: each SSL method's
// base config, overridden by Overrides and then by the method's own.
type PretrainSection struct {
	Epochs    int        // train args.num_epochs of every method; 0 keeps the base config's
	Overrides *yaml.Node // config keys for every method; nil for none
	Methods   map[Method]PretrainMethod
}

// PretrainMethod is one SSL method's base configs and overrides.
type PretrainMethod struct {
	// Configs holds the base config per backbone (vit preset name), or
	// for every backbone under "".
	Configs   map[string]BaseConfig
	Overrides *yaml.Node // config keys over the section's; nil for none
	Epochs    int        // replaces the section's epochs when positive
}

// Base returns the base config for backbone.
func (pm PretrainMethod) Base(backbone string) (BaseConfig, bool) {
	if b, ok := pm.Configs[backbone]; ok {
		return b, true
	}
	b, ok := pm.Configs[""]
	return b, ok
}

// FinetuneSection configures the classifier cells (supervised and the
// fine-tuning of each pretrained backbone).
type FinetuneSection struct {
	Epochs    int // train args.num_epochs; 0 keeps the base config's
	Base      BaseConfig
	Overrides *yaml.Node // config keys over the base; nil for none
}

// BaseConfig is an experiment config a cell starts from.
type BaseConfig struct {
	Path string // as written in the reproduce config; empty for the built-in default
	YAML []byte // the config text
}

// ReproduceMethods are the methods a reproduce config may list, the rows
// of its results table in the reference project's order.
var ReproduceMethods = []Method{Supervised, DINO, IBOT, SimSiam}

// sslMethods are the pretraining methods, each with its pretrain section.
var sslMethods = []Method{DINO, IBOT, SimSiam}

// LoadReproduce reads the reproduce config at path; the base configs it
// names are read relative to its folder.
func LoadReproduce(path string) (*ReproduceConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reproduce: %w", err)
	}
	dir := filepath.Dir(path)
	rc, err := ParseReproduce(b, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return os.ReadFile(name)
	})
	if err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", path, err)
	}
	return rc, nil
}

// ParseReproduce decodes and checks a reproduce config; read returns the
// base configs it names, given the paths as written.
func ParseReproduce(b []byte, read func(name string) ([]byte, error)) (*ReproduceConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want a mapping of keys at the top level")
	}
	rc := &ReproduceConfig{
		Name: "reproduce", OutputDir: "runs/reproduce", Methods: slices.Clone(ReproduceMethods),
		Labels: slices.Clone(LabelCounts), Seeds: []uint64{0}, Bootstrap: 1000, Text: b,
	}
	var methods, labels []string
	d := &decoder{strict: true}
	err := d.mapping(doc.Content[0], "", map[string]field{
		"name":        value(&rc.Name),
		"data path":   value(&rc.DataPath),
		"indices":     value(&rc.Indices),
		"output_dir":  value(&rc.OutputDir),
		"backbones":   list(&rc.Backbones),
		"methods":     list(&methods),
		"labels":      list(&labels),
		"seeds":       list(&rc.Seeds),
		"subset_seed": value(&rc.SubsetSeed),
		"bootstrap":   value(&rc.Bootstrap),
		"deviations":  list(&rc.Deviations),
		"pretrain":    rc.Pretrain.decode(d, read),
		"finetune":    rc.Finetune.decode(d, read),
	})
	if err != nil {
		return nil, err
	}
	if methods != nil {
		rc.Methods = make([]Method, len(methods))
		for i, m := range methods {
			rc.Methods[i] = Method(strings.ToLower(m))
		}
	}
	if labels != nil {
		rc.Labels = labels
	}
	if err := rc.validate(); err != nil {
		return nil, err
	}
	if len(rc.Finetune.Base.YAML) == 0 {
		// The reference protocol: Default's classifier settings.
		if rc.Finetune.Base.YAML, err = yaml.Marshal(Default(Finetune)); err != nil {
			return nil, err
		}
	}
	return rc, nil
}

// validate checks the matrix; errors name the key and the allowed values.
func (rc *ReproduceConfig) validate() error {
	if len(rc.Backbones) == 0 {
		return shared.FieldErrorf("backbones", "empty; want a list of backbones such as [vit_nano]")
	}
	for i, b := range rc.Backbones {
		p, err := vit.LookupPreset(b)
		if err != nil {
			return shared.FieldErrorf(fmt.Sprintf("backbones[%d]", i), "%v", err)
		}
		rc.Backbones[i] = p.Name
	}
	for _, l := range []struct {
		key  string
		vals []string
		ok   []string
	}{
		{"backbones", rc.Backbones, nil},
		{"methods", strs(rc.Methods), strs(ReproduceMethods)},
		{"labels", rc.Labels, LabelCounts},
	} {
		if len(l.vals) == 0 {
			return shared.FieldErrorf(l.key, "empty; want one or more of %s", strings.Join(l.ok, ", "))
		}
		for i, v := range l.vals {
			switch {
			case l.ok != nil && !slices.Contains(l.ok, v):
				return shared.FieldErrorf(fmt.Sprintf("%s[%d]", l.key, i), "%q is not one of %s", v, strings.Join(l.ok, ", "))
			case slices.Index(l.vals, v) < i:
				return shared.FieldErrorf(fmt.Sprintf("%s[%d]", l.key, i), "%q is listed twice", v)
			}
		}
	}
	if len(rc.Seeds) == 0 {
		return shared.FieldErrorf("seeds", "empty; want one or more seeds such as [0]")
	}
	for i, s := range rc.Seeds {
		if slices.Index(rc.Seeds, s) < i {
			return shared.FieldErrorf(fmt.Sprintf("seeds[%d]", i), "%d is listed twice", s)
		}
	}
	switch {
	case rc.Bootstrap <= 0:
		return shared.FieldErrorf("bootstrap", "%d: want a positive number of resamples", rc.Bootstrap)
	case rc.Pretrain.Epochs < 0:
		return shared.FieldErrorf("pretrain.epochs", "%d is negative", rc.Pretrain.Epochs)
	case rc.Finetune.Epochs < 0:
		return shared.FieldErrorf("finetune.epochs", "%d is negative", rc.Finetune.Epochs)
	}
	for _, m := range rc.Methods {
		if m == Supervised {
			continue
		}
		pm, ok := rc.Pretrain.Methods[m]
		if !ok {
			return shared.FieldErrorf(fmt.Sprintf("pretrain.%s.config", m), "missing; methods lists %s, which needs its pretraining config", m)
		}
		for _, b := range rc.Backbones {
			if _, ok := pm.Base(b); !ok {
				return shared.FieldErrorf(fmt.Sprintf("pretrain.%s.config", m), "no config for backbone %s", b)
			}
		}
	}
	return nil
}

// decode returns the decoder of the pretrain section.
func (p *PretrainSection) decode(d *decoder, read func(string) ([]byte, error)) field {
	return func(n *yaml.Node, path string) error {
		keys := map[string]field{
			"epochs":    value(&p.Epochs),
			"overrides": overrides(&p.Overrides),
		}
		p.Methods = map[Method]PretrainMethod{}
		for _, m := range sslMethods {
			keys[string(m)] = func(n *yaml.Node, path string) error {
				pm := PretrainMethod{Configs: map[string]BaseConfig{}}
				err := d.mapping(n, path, map[string]field{
					"config":    pm.decodeConfigs(read),
					"overrides": overrides(&pm.Overrides),
					"epochs":    value(&pm.Epochs),
				})
				switch {
				case err != nil:
					return err
				case len(pm.Configs) == 0:
					return shared.FieldErrorf(path+".config", "missing; want the path of a %s config such as reference/%s-vit-small.yaml, or a mapping from backbones to paths", m, m)
				case pm.Epochs < 0:
					return shared.FieldErrorf(path+".epochs", "%d is negative", pm.Epochs)
				}
				p.Methods[m] = pm
				return nil
			}
		}
		return d.mapping(n, path, keys)
	}
}

// decodeConfigs returns the decoder of a method's config key: one path
// for every backbone, or a mapping from backbones to paths.
func (pm *PretrainMethod) decodeConfigs(read func(string) ([]byte, error)) field {
	return func(n *yaml.Node, path string) error {
		if n.Kind != yaml.MappingNode {
			var b BaseConfig
			if err := baseFile(&b, read)(n, path); err != nil {
				return err
			}
			pm.Configs[""] = b
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			p, err := vit.LookupPreset(k.Value)
			if err != nil {
				return shared.FieldErrorf(kp, "line %d: %v", k.Line, err)
			}
			var b BaseConfig
			if err := baseFile(&b, read)(v, kp); err != nil {
				return err
			}
			pm.Configs[p.Name] = b
		}
		return nil
	}
}

// decode returns the decoder of the finetune section.
func (f *FinetuneSection) decode(d *decoder, read func(string) ([]byte, error)) field {
	return func(n *yaml.Node, path string) error {
		return d.mapping(n, path, map[string]field{
			"epochs":    value(&f.Epochs),
			"config":    baseFile(&f.Base, read),
			"overrides": overrides(&f.Overrides),
		})
	}
}

// overrides keeps a mapping of config sections as a node to merge.
func overrides(dst **yaml.Node) field {
	return func(n *yaml.Node, path string) error {
		if n.Kind != yaml.MappingNode {
			return shared.FieldErrorf(path, "line %d: %s is not a mapping of config sections (such as train args: {batch_size: 64})", n.Line, describeNode(n))
		}
		*dst = n
		return nil
	}
}

// baseFile reads the config file a key names.
func baseFile(dst *BaseConfig, read func(string) ([]byte, error)) field {
	return func(n *yaml.Node, path string) error {
		if err := value(&dst.Path)(n, path); err != nil {
			return err
		}
		b, err := read(dst.Path)
		if err != nil {
			return shared.FieldErrorf(path, "%v", err)
		}
		dst.YAML = b
		return nil
	}
}

// strs converts a list of string-typed values, such as methods.
func strs[T ~string](v []T) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = string(s)
	}
	return out
}
