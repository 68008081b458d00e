package ssl

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/nn/vit"
)

// ReproduceConfig is a reproduce config: the matrix of backbones, methods,
// label counts and seeds `sslens reproduce` runs, and the experiment
// configs its cells start from. The YAML keys are in configs/README.md
// ("Reproduce configs"); every error names the key path.
type ReproduceConfig struct {
	Name       string          // title of the results
	DataPath   string          // dataset folder (YAML "data path")
	Indices    string          // splits file; empty: the dataset's own
	OutputDir  string          // where the cells' run folders go
	Backbones  []string        // vit preset names, as vit.LookupPreset spells them
	Methods    []config.Method // supervised, dino, ibot, simsiam
	Labels     []string        // 300, 600, 1200, all
	Seeds      []uint64        // one cell per seed: pretraining and fine-tuning
	SubsetSeed uint64          // seed of the leak-free labelled subsets, the same for every cell
	Bootstrap  int             // resamples behind every 95% interval
	Pretrain   PretrainSection
	Finetune   FinetuneSection
	Text       []byte // the YAML as read
}

// PretrainSection configures the pretraining cells: each SSL method's
// base config, overridden by Overrides and then by the method's own.
type PretrainSection struct {
	Epochs    int        // train args.num_epochs of every method; 0 keeps the base config's
	Overrides *yaml.Node // config keys for every method; nil for none
	Methods   map[config.Method]PretrainMethod
}

// PretrainMethod is one SSL method's base configs and overrides.
type PretrainMethod struct {
	// Configs holds the base config per backbone (vit preset name), or
	// for every backbone under "".
	Configs   map[string]BaseConfig
	Overrides *yaml.Node // config keys over the section's; nil for none
	Epochs    int        // replaces the section's epochs when positive
}

// config returns the base config for backbone.
func (pm PretrainMethod) config(backbone string) (BaseConfig, bool) {
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

// sslMethods are the pretraining methods a reproduce config may list.
var sslMethods = []config.Method{config.DINO, config.IBOT, config.SimSiam}

// reproduceMethods are the rows of the results table, in the reference
// project's order.
var reproduceMethods = []config.Method{config.Supervised, config.DINO, config.IBOT, config.SimSiam}

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
		Name: "reproduce", OutputDir: "runs/reproduce", Methods: slices.Clone(reproduceMethods),
		Labels: slices.Clone(config.LabelCounts), Seeds: []uint64{0}, Bootstrap: 1000, Text: b,
	}
	var methods, labels []string
	err := walkKeys(doc.Content[0], "", map[string]func(*yaml.Node, string) error{
		"name":        scalar(&rc.Name),
		"data path":   scalar(&rc.DataPath),
		"indices":     scalar(&rc.Indices),
		"output_dir":  scalar(&rc.OutputDir),
		"backbones":   list(&rc.Backbones),
		"methods":     list(&methods),
		"labels":      list(&labels),
		"seeds":       list(&rc.Seeds),
		"subset_seed": scalar(&rc.SubsetSeed),
		"bootstrap":   scalar(&rc.Bootstrap),
		"pretrain":    rc.Pretrain.decode(read),
		"finetune":    rc.Finetune.decode(read),
	})
	if err != nil {
		return nil, err
	}
	if methods != nil {
		rc.Methods = make([]config.Method, len(methods))
		for i, m := range methods {
			rc.Methods[i] = config.Method(strings.ToLower(m))
		}
	}
	if labels != nil {
		rc.Labels = labels
	}
	if err := rc.validate(); err != nil {
		return nil, err
	}
	if len(rc.Finetune.Base.YAML) == 0 {
		// The reference protocol: config.Default's classifier settings.
		if rc.Finetune.Base.YAML, err = yaml.Marshal(config.Default(config.Finetune)); err != nil {
			return nil, err
		}
	}
	return rc, nil
}

// validate checks the matrix; errors name the key and the allowed values.
func (rc *ReproduceConfig) validate() error {
	if len(rc.Backbones) == 0 {
		return fmt.Errorf("backbones: empty; want a list of backbones such as [vit_nano]")
	}
	for i, b := range rc.Backbones {
		p, err := vit.LookupPreset(b)
		if err != nil {
			return fmt.Errorf("backbones[%d]: %v", i, err)
		}
		rc.Backbones[i] = p.Name
	}
	for _, l := range []struct {
		key  string
		vals []string
		ok   []string
	}{
		{"backbones", rc.Backbones, nil},
		{"methods", methodStrings(rc.Methods), methodStrings(reproduceMethods)},
		{"labels", rc.Labels, config.LabelCounts},
	} {
		if len(l.vals) == 0 {
			return fmt.Errorf("%s: empty; want one or more of %s", l.key, strings.Join(l.ok, ", "))
		}
		for i, v := range l.vals {
			switch {
			case l.ok != nil && !slices.Contains(l.ok, v):
				return fmt.Errorf("%s[%d]: %q is not one of %s", l.key, i, v, strings.Join(l.ok, ", "))
			case slices.Index(l.vals, v) < i:
				return fmt.Errorf("%s[%d]: %q is listed twice", l.key, i, v)
			}
		}
	}
	if len(rc.Seeds) == 0 {
		return fmt.Errorf("seeds: empty; want one or more seeds such as [0]")
	}
	for i, s := range rc.Seeds {
		if slices.Index(rc.Seeds, s) < i {
			return fmt.Errorf("seeds[%d]: %d is listed twice", i, s)
		}
	}
	switch {
	case rc.Bootstrap <= 0:
		return fmt.Errorf("bootstrap: %d: want a positive number of resamples", rc.Bootstrap)
	case rc.Pretrain.Epochs < 0:
		return fmt.Errorf("pretrain.epochs: %d is negative", rc.Pretrain.Epochs)
	case rc.Finetune.Epochs < 0:
		return fmt.Errorf("finetune.epochs: %d is negative", rc.Finetune.Epochs)
	}
	for _, m := range rc.Methods {
		if m == config.Supervised {
			continue
		}
		pm, ok := rc.Pretrain.Methods[m]
		if !ok {
			return fmt.Errorf("pretrain.%s.config: missing; methods lists %s, which needs its pretraining config", m, m)
		}
		for _, b := range rc.Backbones {
			if _, ok := pm.config(b); !ok {
				return fmt.Errorf("pretrain.%s.config: no config for backbone %s", m, b)
			}
		}
	}
	return nil
}

// decode returns the decoder of the pretrain section.
func (p *PretrainSection) decode(read func(string) ([]byte, error)) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		keys := map[string]func(*yaml.Node, string) error{
			"epochs":    scalar(&p.Epochs),
			"overrides": overrides(&p.Overrides),
		}
		p.Methods = map[config.Method]PretrainMethod{}
		for _, m := range sslMethods {
			keys[string(m)] = func(n *yaml.Node, path string) error {
				pm := PretrainMethod{Configs: map[string]BaseConfig{}}
				err := walkKeys(n, path, map[string]func(*yaml.Node, string) error{
					"config":    pm.decodeConfigs(read),
					"overrides": overrides(&pm.Overrides),
					"epochs":    scalar(&pm.Epochs),
				})
				switch {
				case err != nil:
					return err
				case len(pm.Configs) == 0:
					return fmt.Errorf("%s.config: missing; want the path of a %s config such as reference/%s-vit-small.yaml, or a mapping from backbones to paths", path, m, m)
				case pm.Epochs < 0:
					return fmt.Errorf("%s.epochs: %d is negative", path, pm.Epochs)
				}
				p.Methods[m] = pm
				return nil
			}
		}
		return walkKeys(n, path, keys)
	}
}

// decodeConfigs returns the decoder of a method's config key: one path
// for every backbone, or a mapping from backbones to paths.
func (pm *PretrainMethod) decodeConfigs(read func(string) ([]byte, error)) func(*yaml.Node, string) error {
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
			kp := keyPath(path, k.Value)
			p, err := vit.LookupPreset(k.Value)
			if err != nil {
				return fmt.Errorf("%s: line %d: %v", kp, k.Line, err)
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
func (f *FinetuneSection) decode(read func(string) ([]byte, error)) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		return walkKeys(n, path, map[string]func(*yaml.Node, string) error{
			"epochs":    scalar(&f.Epochs),
			"config":    baseFile(&f.Base, read),
			"overrides": overrides(&f.Overrides),
		})
	}
}

// walkKeys decodes mapping n at key path path: each key with its
// function from keys; a key not there is an error listing the known ones.
func walkKeys(n *yaml.Node, path string, keys map[string]func(*yaml.Node, string) error) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: want a mapping of keys", keyPath(path, ""), n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := keyPath(path, k.Value)
		f, ok := keys[k.Value]
		if !ok {
			known := make([]string, 0, len(keys))
			for name := range keys {
				known = append(known, name)
			}
			slices.Sort(known)
			return fmt.Errorf("%s: line %d: unknown key (want one of %s)", kp, k.Line, strings.Join(known, ", "))
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue // an empty value keeps the default
		}
		if err := f(v, kp); err != nil {
			return err
		}
	}
	return nil
}

func keyPath(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	}
	return path + "." + key
}

// scalar decodes a single value into dst.
func scalar[T any](dst *T) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if n.Kind != yaml.ScalarNode || n.Decode(dst) != nil {
			return fmt.Errorf("%s: line %d: %s is not %s", path, n.Line, nodeText(n), typeName[T]())
		}
		return nil
	}
}

// list decodes a YAML list into dst, each element naming its index in
// errors.
func list[T any](dst *[]T) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: line %d: %s is not a list of %ss", path, n.Line, nodeText(n), typeName[T]())
		}
		out := make([]T, len(n.Content))
		for i, e := range n.Content {
			if err := scalar(&out[i])(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		*dst = out
		return nil
	}
}

// overrides keeps a mapping of config sections as a node to merge.
func overrides(dst **yaml.Node) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: line %d: %s is not a mapping of config sections (such as train args: {batch_size: 64})", path, n.Line, nodeText(n))
		}
		*dst = n
		return nil
	}
}

// baseFile reads the config file a key names.
func baseFile(dst *BaseConfig, read func(string) ([]byte, error)) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if err := scalar(&dst.Path)(n, path); err != nil {
			return err
		}
		b, err := read(dst.Path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dst.YAML = b
		return nil
	}
}

func typeName[T any]() string {
	switch any(*new(T)).(type) {
	case int:
		return "an integer"
	case uint64:
		return "a non-negative integer"
	}
	return "a string"
}

func nodeText(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return fmt.Sprintf("a list of %d", len(n.Content))
	}
	return strconv.Quote(n.Value)
}

func methodStrings(ms []config.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// CellKind says what a cell trains.
type CellKind string

const (
	CellPretrain CellKind = "pretrain" // an SSL method on the whole train split, without labels
	CellFinetune CellKind = "finetune" // a classifier: supervised from random init, or a pretrained backbone fine-tuned
)

// Cell is one run of the matrix, with the config it trains.
type Cell struct {
	Kind     CellKind
	Method   config.Method // for a classifier, the pretraining method or supervised
	Backbone string        // vit preset name
	Labels   string        // finetune cells: 300, 600, 1200 or all
	Seed     uint64
	Dir      string         // the run folder
	Config   *config.Config // resolved: data path, output folder and checkpoint set
	Pretrain *Cell          // the pretraining a fine-tune cell starts from; nil for supervised
}

// Name identifies the cell in logs and tables, e.g. "finetune dino
// vit_nano 300 labels seed 0".
func (c *Cell) Name() string {
	if c.Kind == CellPretrain {
		return fmt.Sprintf("pretrain %s %s seed %d", c.Method, c.Backbone, c.Seed)
	}
	return fmt.Sprintf("finetune %s %s %s labels seed %d", c.Method, c.Backbone, c.Labels, c.Seed)
}

// Plan builds every cell's config, in the order the cells run: for each
// backbone and seed, each method's pretraining (SSL methods) followed by its
// fine-tuning on each label count. data, indices and out replace the
// config's data path, indices and output_dir when not empty. Every config
// is parsed and validated here, before anything trains; warnings (unknown
// keys in overrides, say) are returned, named by cell.
func (rc *ReproduceConfig) Plan(data, indices, out string) ([]*Cell, []string, error) {
	data, indices, out = cmp.Or(data, rc.DataPath), cmp.Or(indices, rc.Indices), cmp.Or(out, rc.OutputDir)
	switch {
	case data == "":
		return nil, nil, fmt.Errorf("reproduce: data path: empty; set it in the reproduce config or pass --data DIR")
	case out == "":
		return nil, nil, fmt.Errorf("reproduce: output_dir: empty; set it in the reproduce config or pass --out DIR")
	}
	var cells []*Cell
	var warnings []string
	add := func(c *Cell, where string, base BaseConfig, layers []*yaml.Node, gen map[string]any) error {
		what := describeBase(base, layers)
		cfg, warns, err := cellConfig(base, layers, gen)
		if err != nil {
			return fmt.Errorf("reproduce: %s: %s for %s: %w", where, what, c.Name(), err)
		}
		ov := config.Overrides{Data: data, Indices: indices, Output: c.Dir}
		if c.Pretrain != nil {
			ov.Checkpoint = filepath.Join(c.Pretrain.Dir, LastDir, ModelFile)
		}
		if err := cfg.Resolve(ov); err != nil {
			return fmt.Errorf("reproduce: %s: %s for %s: %w", where, what, c.Name(), err)
		}
		if m := cfg.Experiment.Method; c.Kind == CellPretrain && m != c.Method {
			return fmt.Errorf("reproduce: %s.config: %s trains %s, not %s", where, base.Path, m, c.Method)
		}
		for _, w := range warns {
			warnings = append(warnings, fmt.Sprintf("%s: %s", c.Name(), w))
		}
		c.Config = cfg
		cells = append(cells, c)
		return nil
	}
	for _, b := range rc.Backbones {
		for _, seed := range rc.Seeds {
			for _, m := range rc.Methods {
				var pre *Cell
				if m != config.Supervised {
					pm := rc.Pretrain.Methods[m]
					base, _ := pm.config(b) // validate made sure there is one
					pre = &Cell{Kind: CellPretrain, Method: m, Backbone: b, Seed: seed}
					name := fmt.Sprintf("%s_%s_seed%d", m, b, seed)
					pre.Dir = filepath.Join(out, "pretrain", name)
					epochs := pm.Epochs
					if epochs == 0 {
						epochs = rc.Pretrain.Epochs
					}
					gen := generated("", seed, "pretrain_"+name, b, epochs)
					if err := add(pre, "pretrain."+string(m), base, []*yaml.Node{rc.Pretrain.Overrides, pm.Overrides}, gen); err != nil {
						return nil, nil, err
					}
				}
				for _, l := range rc.Labels {
					c := &Cell{Kind: CellFinetune, Method: m, Backbone: b, Labels: l, Seed: seed, Pretrain: pre}
					name := fmt.Sprintf("%s_%s_%s_seed%d", m, b, l, seed)
					c.Dir = filepath.Join(out, "finetune", name)
					method := config.Supervised
					if pre != nil {
						method = config.Finetune
					}
					gen := generated(method, seed, name, b, rc.Finetune.Epochs)
					gen["finetune"] = map[string]any{"labels": l, "subset_seed": rc.SubsetSeed, "bootstrap": rc.Bootstrap}
					if err := add(c, "finetune", rc.Finetune.Base, []*yaml.Node{rc.Finetune.Overrides}, gen); err != nil {
						return nil, nil, err
					}
				}
			}
		}
	}
	return cells, warnings, nil
}

// describeBase names a cell's base config and says whether overrides
// apply, for errors.
func describeBase(b BaseConfig, layers []*yaml.Node) string {
	what := "the reference fine-tuning protocol"
	if b.Path != "" {
		what = b.Path
	}
	if slices.ContainsFunc(layers, func(n *yaml.Node) bool { return n != nil }) {
		what += " with overrides"
	}
	return what
}

// generated holds the keys a cell's config gets from the matrix: method
// (for classifiers), seed, name, backbone and epochs (when positive). The
// output folder, data and checkpoint come through config.Resolve.
func generated(method config.Method, seed uint64, name, backbone string, epochs int) map[string]any {
	exp := map[string]any{"seed": seed, "expt_name": name}
	if method != "" {
		exp["ssl_training"] = string(method)
	}
	gen := map[string]any{
		"experiment": exp,
		"network":    map[string]any{"backbone": backbone},
		"restore":    map[string]any{"restore": false},
	}
	if epochs > 0 {
		gen["train args"] = map[string]any{"num_epochs": epochs}
	}
	return gen
}

// lineRef matches the line numbers config warnings carry; they refer to
// the merged document a cell's config is parsed from, not to a file.
var lineRef = regexp.MustCompile(` line \d+:`)

// cellConfig merges layers (nil ones skipped), then gen, over the base
// config and parses the result.
func cellConfig(base BaseConfig, layers []*yaml.Node, gen map[string]any) (*config.Config, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(base.YAML, &doc); err != nil {
		return nil, nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("want a mapping of config sections at the top level")
	}
	root := doc.Content[0]
	var g yaml.Node
	if err := g.Encode(gen); err != nil {
		return nil, nil, err
	}
	for _, l := range append(layers, &g) {
		if l != nil {
			mergeMapping(root, l)
		}
	}
	b, err := yaml.Marshal(root)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.Parse(b)
	if err != nil {
		return nil, nil, err
	}
	warns := make([]string, len(cfg.Warnings))
	for i, w := range cfg.Warnings {
		warns[i] = lineRef.ReplaceAllString(w, "")
	}
	return cfg, warns, nil
}

// mergeMapping sets over's keys in dst: mappings on both sides merge key
// by key, anything else replaces dst's value. over's nodes are copied, so
// one override merges into any number of documents.
func mergeMapping(dst, over *yaml.Node) {
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		j := 0
		for ; j+1 < len(dst.Content); j += 2 {
			if dst.Content[j].Value == k.Value {
				break
			}
		}
		switch {
		case j+1 >= len(dst.Content):
			dst.Content = append(dst.Content, copyNode(k), copyNode(v))
		case dst.Content[j+1].Kind == yaml.MappingNode && v.Kind == yaml.MappingNode:
			mergeMapping(dst.Content[j+1], v)
		default:
			dst.Content[j+1] = copyNode(v)
		}
	}
}

func copyNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		c.Content[i] = copyNode(e)
	}
	return &c
}
