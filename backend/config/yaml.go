package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder fills tagged struct fields from YAML mapping nodes one key at a
// time, so that every error and warning names the key path and line.
type decoder struct {
	warnings []string
}

// isNone reports a YAML null or the string None, which the reference
// project's loader kept as a string where it meant "unset".
func isNone(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "None" || n.Value == "")
}

// decode fills *dst (a struct) from mapping node n at key path path.
// Nested structs tagged `section:"true"`-free are plain values; a struct
// field whose type is itself a struct with yaml tags is decoded recursively.
func (d *decoder) decode(n *yaml.Node, path string, dst reflect.Value) error {
	if isNone(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: want a mapping of keys, got %s", path, n.Line, describeNode(n))
	}
	fields := map[string]reflect.Value{}
	collectFields(dst, fields)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		kp := join(path, key)
		f, ok := fields[key]
		if !ok {
			d.warnings = append(d.warnings, fmt.Sprintf("%s: line %d: unknown key, ignored", kp, n.Content[i].Line))
			continue
		}
		if isNone(val) {
			continue
		}
		if f.Kind() == reflect.Struct && isSection(f.Type()) {
			if err := d.decode(val, kp, f); err != nil {
				return err
			}
			continue
		}
		if err := val.Decode(f.Addr().Interface()); err != nil {
			return fmt.Errorf("%s: line %d: %s is not %s", kp, val.Line, describeNode(val), describeType(f.Type()))
		}
	}
	return nil
}

// collectFields maps yaml tag names to the fields of v, looking through
// embedded (anonymous, untagged) structs.
func collectFields(v reflect.Value, into map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if sf.Anonymous && tag == "" {
			collectFields(v.Field(i), into)
			continue
		}
		if tag != "" && tag != "-" && sf.IsExported() {
			into[tag] = v.Field(i)
		}
	}
}

// isSection reports whether a struct type is decoded key by key (it has
// yaml-tagged fields) rather than as one value.
func isSection(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("yaml") != "" || t.Field(i).Anonymous {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return fmt.Sprintf("a list of %d", len(n.Content))
	case yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("%q", n.Value)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Array:
		elem := strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "an "), "a ")
		return fmt.Sprintf("a list of %d %ss", t.Len(), elem)
	case reflect.Slice:
		return "a list"
	}
	return "a string"
}
