package reproduce

import (
	"cmp"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/config"
	"github.com/sslens/sslens/backend/layout"
)

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

// finetuneFrom is the backbone file fine-tune cells load from pretraining
// cell c: DINO's and iBOT's student, as the reference project's notebooks
// fine-tune it (the teacher, in model.safetensors, is what the kNN monitor
// and embeddings use); SimSiam's single encoder.
func (c *Cell) finetuneFrom() string {
	if c.Method == config.DINO || c.Method == config.IBOT {
		return c.run().Student(layout.LastDir)
	}
	return c.run().Model(layout.LastDir)
}

// run is the cell's run folder.
func (c *Cell) run() layout.Run { return layout.Run(c.Dir) }

// OutputDir is the reproduction's output folder, two levels above a cell.
func (c *Cell) OutputDir() string { return filepath.Dir(filepath.Dir(c.Dir)) }

// Plan builds every cell's config, in the order the cells run: for each
// backbone and seed, each method's pretraining (SSL methods) followed by its
// fine-tuning on each label count. data, indices and out replace the
// config's data path, indices and output_dir when not empty. Every config
// is parsed and validated here, before anything trains; warnings (unknown
// keys in overrides, say) are returned, named by cell.
func Plan(rc *config.ReproduceConfig, data, indices, out string) ([]*Cell, []string, error) {
	data, indices, out = cmp.Or(data, rc.DataPath), cmp.Or(indices, rc.Indices), cmp.Or(out, rc.OutputDir)
	switch {
	case data == "":
		return nil, nil, fmt.Errorf("reproduce: data path: empty; set it in the reproduce config or pass --data DIR")
	case out == "":
		return nil, nil, fmt.Errorf("reproduce: output_dir: empty; set it in the reproduce config or pass --out DIR")
	}
	var cells []*Cell
	var warnings []string
	add := func(c *Cell, where string, base config.BaseConfig, layers []*yaml.Node, gen map[string]any) error {
		what := describeBase(base, layers)
		cfg, warns, err := cellConfig(base, layers, gen)
		if err != nil {
			return fmt.Errorf("reproduce: %s: %s for %s: %w", where, what, c.Name(), err)
		}
		ov := config.Overrides{Data: data, Indices: indices, Output: c.Dir}
		if c.Pretrain != nil {
			ov.Checkpoint = c.Pretrain.finetuneFrom()
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
					base, ok := pm.Base(b)
					if !ok {
						return nil, nil, fmt.Errorf("reproduce: pretrain.%s.config: no config for backbone %s", m, b)
					}
					pre = &Cell{Kind: CellPretrain, Method: m, Backbone: b, Seed: seed}
					name := fmt.Sprintf("%s_%s_seed%d", m, b, seed)
					pre.Dir = filepath.Join(out, "pretrain", name)
					epochs := cmp.Or(pm.Epochs, rc.Pretrain.Epochs)
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
					// Each seed its own labelled subset, so that the spread
					// over seeds includes the choice of labels.
					gen["finetune"] = map[string]any{"labels": l, "subset_seed": rc.SubsetSeed + seed, "bootstrap": rc.Bootstrap}
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
func describeBase(b config.BaseConfig, layers []*yaml.Node) string {
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
func cellConfig(base config.BaseConfig, layers []*yaml.Node, gen map[string]any) (*config.Config, []string, error) {
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
