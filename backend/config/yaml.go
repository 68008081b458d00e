package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/shared"
)

// decoder decodes YAML mappings one key at a time, so that every error and
// warning names the key path and line. An experiment config follows the
// reference project's loader, which ignored keys it did not know: they are
// warnings. A strict decoder (reproduce configs, sslens's own schema)
// refuses them, listing the keys it knows.
type decoder struct {
	strict   bool
	warnings []string
}

// field decodes the value n of the key at key path path.
type field func(n *yaml.Node, path string) error

// isNone reports a YAML null or the string None, which the reference
// project's loader kept as a string where it meant "unset".
func isNone(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "None" || n.Value == "")
}

// mapping decodes mapping n at key path path, each key with its field in
// fields. A null value keeps the default.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]field) error {
	if n.Kind != yaml.MappingNode {
		return shared.FieldErrorf(path, "line %d: want a mapping of keys, got %s", n.Line, describeNode(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		f, ok := fields[k.Value]
		switch {
		case !ok && d.strict:
			known := slices.Sorted(maps.Keys(fields))
			return shared.FieldErrorf(kp, "line %d: unknown key (want one of %s)", k.Line, strings.Join(known, ", "))
		case !ok:
			d.warnings = append(d.warnings, fmt.Sprintf("%s: line %d: unknown key, ignored", kp, k.Line))
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			// An empty value keeps the default.
		default:
			if err := f(v, kp); err != nil {
				return err
			}
		}
	}
	return nil
}

// section fills *dst (a struct) from mapping n at key path path: each
// yaml-tagged field is a key, and a field whose type is itself a struct
// with yaml tags is decoded key by key in turn. None keeps the defaults.
func (d *decoder) section(n *yaml.Node, path string, dst reflect.Value) error {
	if isNone(n) {
		return nil
	}
	fields := map[string]field{}
	d.collectFields(dst, fields)
	return d.mapping(n, path, fields)
}

// collectFields maps yaml tag names to the fields of v, looking through
// embedded (anonymous, untagged) structs.
func (d *decoder) collectFields(v reflect.Value, into map[string]field) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf, fv := t.Field(i), v.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		switch {
		case sf.Anonymous && tag == "":
			d.collectFields(fv, into)
		case tag == "" || tag == "-" || !sf.IsExported():
		case fv.Kind() == reflect.Struct && isSection(fv.Type()):
			into[tag] = func(n *yaml.Node, path string) error { return d.section(n, path, fv) }
		default:
			into[tag] = func(n *yaml.Node, path string) error {
				if isNone(n) {
					return nil
				}
				return value(fv.Addr().Interface())(n, path)
			}
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

// value decodes one value (a scalar, or a fixed list of them) into ptr.
func value(ptr any) field {
	return func(n *yaml.Node, path string) error {
		if err := n.Decode(ptr); err != nil {
			return shared.FieldErrorf(path, "line %d: %s is not %s", n.Line, describeNode(n), describeType(reflect.TypeOf(ptr).Elem()))
		}
		return nil
	}
}

// list decodes a YAML list into dst, each element naming its index in
// errors.
func list[T any](dst *[]T) field {
	return func(n *yaml.Node, path string) error {
		if n.Kind != yaml.SequenceNode {
			return shared.FieldErrorf(path, "line %d: %s is not %s", n.Line, describeNode(n), describeType(reflect.TypeFor[[]T]()))
		}
		out := make([]T, len(n.Content))
		for i, e := range n.Content {
			if err := value(&out[i])(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		*dst = out
		return nil
	}
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
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Array:
		return fmt.Sprintf("a list of %d %s", t.Len(), plural(t.Elem()))
	case reflect.Slice:
		return "a list of " + plural(t.Elem())
	}
	return "a string"
}

// plural is describeType's noun for several values of t, such as
// "numbers".
func plural(t reflect.Type) string {
	return strings.TrimPrefix(strings.TrimPrefix(describeType(t), "an "), "a ") + "s"
}
