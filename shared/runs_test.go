package shared

import (
	"strings"
	"testing"
)

func TestImportRequestCheckSource(t *testing.T) {
	for _, ok := range []string{"weights/dino_deitsmall8_pretrain.pth", "vit.safetensors", "a/b..c/d.pt"} {
		if err := (ImportRequest{Source: ok}).CheckSource(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for src, want := range map[string]string{
		"": "give the weights file's path", "  ": "give the weights file's path",
		"/data/w.pth": "absolute path", `\w.pth`: "absolute path", `C:\w.pth`: "absolute path",
		"../w.pth": `contains ".."`, `weights\..\..\w.pth`: `contains ".."`,
	} {
		if err := (ImportRequest{Source: src}).CheckSource(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}
