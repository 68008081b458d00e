package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/sslens/sslens/backend/nn/pretrained"
)

func init() {
	register(command{
		name:    "import-weights",
		summary: "import a public pretrained ViT backbone (timm, DINO, iBOT) as an sslens checkpoint",
		usage: `SRC --out DIR [--preset NAME] [--heads N] [--from teacher|student] [--keep-channels]

SRC is a safetensors file or a PyTorch checkpoint (.pth, .pt), read without
running any code it holds: only tensors and plain containers are accepted.
The state dict is the file itself or its teacher (default), student,
state_dict or model; DINO's module.backbone. and backbone. prefixes are
removed. Width and depth come from the shapes, the patch size must be 8,
and the position embedding is resampled to the 32 px grid. Heads and other
unused tensors are left out. DIR receives model.safetensors and model.json,
whose "source" records the file, its SHA-256, the keys taken and dropped
and the resampling. Fine-tune it with
       sslens finetune CONFIG.yaml --checkpoint DIR
Weights do not show their number of heads: by default heads are 64 wide,
as in timm's, DINO's and iBOT's ViTs (ViT-S/8: 6, ViT-B/8: 12); --heads or
--preset (e.g. sslens's own vit_small, 8 heads) say otherwise. By default the bands g, r, i are
given reversed (i, r, g) to the R, G, B channels of natural-image weights;
--keep-channels keeps the stored channel order.`,
		run: func(fs *flag.FlagSet, args []string) error {
			return runImportWeights(context.Background(), fs, args, processEnv())
		},
	})
}

func runImportWeights(_ context.Context, fs *flag.FlagSet, args []string, e env) error {
	var opt pretrained.Options
	fs.StringVar(&opt.Out, "out", "", "checkpoint `DIR` to write (required)")
	fs.StringVar(&opt.Preset, "preset", "", "preset `NAME` the weights must fit (default: inferred from their shapes)")
	fs.IntVar(&opt.Heads, "heads", 0, "attention heads `N` (default: the --preset's, else width/64 as in public ViTs)")
	fs.StringVar(&opt.From, "from", "", "state dict of a DINO or iBOT checkpoint: teacher (default) or student")
	fs.BoolVar(&opt.KeepChannels, "keep-channels", false, "give bands g, r, i to the input channels in stored order instead of i, r, g to R, G, B")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || opt.Out == "" {
		return usage(fs, "want one SRC and --out DIR")
	}
	im, err := pretrained.Import(pos[0], opt)
	if err != nil {
		return err
	}
	p, s := im.Params.Preset, im.Sidecar.Source
	where := "the top level"
	if s.StateDict != "" {
		where = fmt.Sprintf("%q", s.StateDict)
	}
	fmt.Fprintf(e.stdout, "%s: %s state dict at %s, prefix %q\n", s.File, s.Format, where, s.Prefix)
	kind := "preset"
	if !p.IsNamed() {
		kind = "custom architecture"
	}
	fmt.Fprintf(e.stdout, "backbone: %s %s (width %d, depth %d, %d heads, patch %d)\n", kind, p.Name, p.Dim, p.Depth, p.Heads, p.PatchSize)
	fmt.Fprintf(e.stdout, "took %d tensors, left out %d", len(s.Taken), len(s.Dropped))
	if len(s.Dropped) > 0 {
		fmt.Fprintf(e.stdout, ": %s", strings.Join(s.Dropped[:min(len(s.Dropped), 6)], ", "))
		if len(s.Dropped) > 6 {
			fmt.Fprint(e.stdout, ", ...")
		}
	}
	fmt.Fprintln(e.stdout)
	if s.PosEmbed != "" {
		fmt.Fprintf(e.stdout, "pos_embed: %s\n", s.PosEmbed)
	}
	if s.Channels != "" {
		fmt.Fprintf(e.stdout, "input channels: bands %s on the source's R, G, B\n", s.Channels)
	}
	fmt.Fprintf(e.stdout, "wrote %s\nfine-tune with: sslens finetune CONFIG.yaml --checkpoint %s\n", im.Path, opt.Out)
	return nil
}
