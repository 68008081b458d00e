// Package configs ships the experiment configs of this folder inside the
// sslens binary: the portal offers them as templates and queues the
// baseline run from supervised-vit-nano.yaml on first start.
package configs

import "embed"

// FS holds *.yaml and reference/*.yaml, with those paths.
//
//go:embed *.yaml reference/*.yaml
var FS embed.FS

// Baseline is the config the portal trains on first start, a quick ViT-N/8
// supervised classifier, so that uploads can be scored soon.
const Baseline = "supervised-vit-nano.yaml"
