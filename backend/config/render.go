package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// JSON renders c under its YAML key names as JSON, for a sidecar or a
// results file.
func (c *Config) JSON() (json.RawMessage, error) {
	y, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b, nil
}

// Diff returns "" when run and cur configure the same training, and
// otherwise the first differing setting, such as `optimizer: the run has
// "init_lr: 0.05", the config "init_lr: 0.04"`. The output folder and the
// restore section may differ: they say where a run is, not what it trains.
func Diff(run, cur *Config) (string, error) {
	render := func(c *Config) ([]string, error) {
		cc := *c
		cc.Experiment.OutputDir, cc.Restore = "", Restore{}
		y, err := yaml.Marshal(&cc)
		return strings.Split(string(y), "\n"), err
	}
	a, err := render(run)
	if err != nil {
		return "", err
	}
	b, err := render(cur)
	if err != nil {
		return "", err
	}
	section := ""
	for i := 0; i < max(len(a), len(b)); i++ {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != "" && !strings.HasPrefix(la, " ") {
			section = strings.TrimSuffix(la, ":")
		}
		if la != lb {
			return fmt.Sprintf("%s: the run has %q, the config %q", section, strings.TrimSpace(la), strings.TrimSpace(lb)), nil
		}
	}
	return "", nil
}
