package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpListsEveryCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain([]string{"help"}, &out, &errOut); code != 0 {
		t.Fatalf("help exit %d, stderr %q", code, errOut.String())
	}
	for name := range commands {
		if !strings.Contains(out.String(), "  "+name+" ") {
			t.Errorf("help does not list %q:\n%s", name, out.String())
		}
	}
}

// Every command answers -h with its synopsis and flags and exit status 0.
func TestEveryCommandDescribesItsFlags(t *testing.T) {
	if len(commands) == 0 {
		t.Fatal("no commands registered")
	}
	for name := range commands {
		var out, errOut bytes.Buffer
		code := runMain([]string{name, "-h"}, &out, &errOut)
		if code != 0 {
			t.Errorf("%s -h: exit %d", name, code)
		}
		if !strings.Contains(errOut.String(), "usage: sslens "+name) {
			t.Errorf("%s -h: no usage line in %q", name, errOut.String())
		}
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Fatalf("stderr %q does not name the command", errOut.String())
	}
}

func TestParseFlagsAcceptsFlagsAfterPositionals(t *testing.T) {
	fs := newFlagSet(command{name: "x"}, &bytes.Buffer{})
	splits := fs.String("splits", "", "")
	n := fs.Int("n", 0, "")
	pos, err := parseFlags(fs, []string{"DIR", "--splits", "s.pkl", "A", "B", "-n", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if *splits != "s.pkl" || *n != 3 || strings.Join(pos, ",") != "DIR,A,B" {
		t.Fatalf("got splits=%q n=%d pos=%v", *splits, *n, pos)
	}
}

// A former command name still runs its command: `sslens train` is
// `sslens pretrain`, for existing scripts and stored runs.
func TestFormerNamesStillWork(t *testing.T) {
	if aliases["train"] != "pretrain" {
		t.Fatalf("train is an alias of %q, want pretrain", aliases["train"])
	}
	for alias, name := range aliases {
		var out, errOut bytes.Buffer
		if code := runMain([]string{alias, "-h"}, &out, &errOut); code != 0 {
			t.Errorf("%s -h: exit %d", alias, code)
		}
		if !strings.Contains(errOut.String(), "usage: sslens "+name) {
			t.Errorf("%s -h: no usage line of %s in %q", alias, name, errOut.String())
		}
	}
	var out bytes.Buffer
	runMain([]string{"help"}, &out, &out)
	if !strings.Contains(out.String(), "(also train)") {
		t.Errorf("help does not mention the alias:\n%s", out.String())
	}
}
