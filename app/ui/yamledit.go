package ui

import (
	"strings"
)

// The launch form edits a few keys of a config's YAML text in place, so
// the text stays the one source of truth and keeps its comments and
// layout. The configs are the reference schema: top-level sections
// ("train args:") holding "key: value" lines, which is all these helpers
// handle; the server parses and validates the result.

// yamlGet returns the value of section.key, without quotes or a trailing
// comment, and whether the key is there.
func yamlGet(text, section, key string) (string, bool) {
	lines := strings.Split(text, "\n")
	start, end := sectionBounds(lines, section)
	for i := start; i < end; i++ {
		if v, ok := keyValue(lines[i], key); ok {
			return v, true
		}
	}
	return "", false
}

// yamlSet sets section.key to value (written as is: the caller quotes),
// adding the key, or the section, when missing.
func yamlSet(text, section, key, value string) string {
	lines := strings.Split(text, "\n")
	start, end := sectionBounds(lines, section)
	if start < 0 {
		out := strings.TrimRight(text, "\n")
		if out != "" {
			out += "\n"
		}
		return out + section + ":\n  " + key + ": " + value + "\n"
	}
	indent := "  "
	last := start - 1 // the last line that belongs to the section
	for i := start; i < end; i++ {
		trimmed := strings.TrimSpace(lines[i])
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent = lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
		last = i
		if _, ok := keyValue(lines[i], key); ok {
			lines[i] = indent + key + ": " + value
			return strings.Join(lines, "\n")
		}
	}
	lines = append(lines[:last+1], append([]string{indent + key + ": " + value}, lines[last+1:]...)...)
	return strings.Join(lines, "\n")
}

// sectionBounds returns the lines [start, end) inside a top-level
// section, or start -1 when it is missing.
func sectionBounds(lines []string, section string) (int, int) {
	start := -1
	for i, l := range lines {
		if start < 0 {
			if rest, ok := strings.CutPrefix(l, section+":"); ok {
				if r := strings.TrimSpace(rest); r == "" || strings.HasPrefix(r, "#") {
					start = i + 1
				}
			}
			continue
		}
		if l != "" && l[0] != ' ' && l[0] != '\t' && l[0] != '#' {
			return start, i
		}
	}
	if start < 0 {
		return -1, -1
	}
	return start, len(lines)
}

// keyValue reports whether an indented line sets key, and its value.
func keyValue(line, key string) (string, bool) {
	t := strings.TrimLeft(line, " \t")
	if t == line {
		return "", false
	}
	rest, ok := strings.CutPrefix(t, key+":")
	if !ok {
		return "", false
	}
	if i := strings.Index(rest, " #"); i >= 0 {
		rest = rest[:i]
	}
	v := strings.TrimSpace(rest)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		v = v[1 : len(v)-1]
	}
	return v, true
}
