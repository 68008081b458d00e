package data

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/layout"
)

// ClassFiles lists image file names (not paths) per class folder.
// Unlabelled is empty in labelled datasets and is then left out of files.
type ClassFiles struct {
	Lenses     []string `json:"lenses"`
	NonLenses  []string `json:"nonlenses"`
	Unlabelled []string `json:"unlabelled,omitempty"`
}

// MarshalJSON writes an empty class as [] rather than null: the readers
// refuse null, so files written from empty lists must still read back.
func (cf ClassFiles) MarshalJSON() ([]byte, error) {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	type plain ClassFiles // without this method
	return json.Marshal(plain{Lenses: orEmpty(cf.Lenses), NonLenses: orEmpty(cf.NonLenses), Unlabelled: cf.Unlabelled})
}

// Len is the number of images of all classes.
func (cf ClassFiles) Len() int { return len(cf.Lenses) + len(cf.NonLenses) + len(cf.Unlabelled) }

// Files returns the names of one class.
func (cf ClassFiles) Files(l Label) []string {
	switch l {
	case Lens:
		return cf.Lenses
	case NonLens:
		return cf.NonLenses
	}
	return cf.Unlabelled
}

// Set replaces the names of one class.
func (cf *ClassFiles) Set(l Label, names []string) {
	switch l {
	case Lens:
		cf.Lenses = names
	case NonLens:
		cf.NonLenses = names
	default:
		cf.Unlabelled = names
	}
}

// Splits is the content of the seed's indices.pkl: split -> class -> file names.
type Splits struct {
	Train ClassFiles `json:"train"`
	Val   ClassFiles `json:"val"`
	Test  ClassFiles `json:"test"`
}

// SplitName names a split. Train, Val and Test are its only values;
// ParseSplit makes one from text, once, where the text comes in.
type SplitName string

const (
	Train SplitName = "train"
	Val   SplitName = "val"
	Test  SplitName = "test"
)

// SplitNames are the splits in file order.
var SplitNames = [3]SplitName{Train, Val, Test}

// ParseSplit parses "train", "val" or "test".
func ParseSplit(text string) (SplitName, error) {
	for _, n := range SplitNames {
		if string(n) == text {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown split %q (want train, val or test)", text)
}

// Split returns the files of split name. A name other than Train, Val and
// Test (made by converting unchecked text) is a programmer error and
// panics.
func (s *Splits) Split(name SplitName) *ClassFiles {
	switch name {
	case Train:
		return &s.Train
	case Val:
		return &s.Val
	case Test:
		return &s.Test
	}
	panic(fmt.Sprintf("data: unknown split %q", string(name)))
}

// WriteSplitsJSON writes s as splits.json, atomically.
func WriteSplitsJSON(path string, s Splits) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// WriteSplitsPickle writes s as a protocol-2 Python pickle of plain dicts,
// lists and str, readable by pickle.load without numpy, atomically.
func WriteSplitsPickle(path string, s Splits) error {
	var p pickleWriter
	p.op(0x80, 2) // PROTO 2
	p.op('}')     // EMPTY_DICT
	p.op('(')     // MARK
	for _, name := range SplitNames {
		p.str(string(name))
		p.classFiles(*s.Split(name))
	}
	p.op('u', '.') // SETITEMS, STOP
	return atomicfile.WriteBytes(path, p.buf)
}

// WriteSubsetPickle writes a labelled subset as the seed's
// train_indices_N.pkl is shaped, {lenses: [...], nonlenses: [...]}, with
// plain str lists (protocol 2, no numpy needed to load it), atomically.
func WriteSubsetPickle(path string, cf ClassFiles) error {
	var p pickleWriter
	p.op(0x80, 2) // PROTO 2
	p.classFiles(cf)
	p.op('.') // STOP
	return atomicfile.WriteBytes(path, p.buf)
}

// WriteSubsetJSON writes a labelled subset as {"lenses": [...], "nonlenses": [...]}, atomically.
func WriteSubsetJSON(path string, cf ClassFiles) error {
	b, err := json.MarshalIndent(cf, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// pickleWriter emits the few pickle opcodes WriteSplitsPickle and
// WriteSubsetPickle need.
type pickleWriter struct{ buf []byte }

func (p *pickleWriter) op(b ...byte) { p.buf = append(p.buf, b...) }

// classFiles writes the dict {lenses: [...], nonlenses: [...]}, with
// unlabelled: [...] when there are unlabelled files.
func (p *pickleWriter) classFiles(cf ClassFiles) {
	p.op('}', '(') // EMPTY_DICT, MARK
	for _, l := range Labels {
		if l == Unlabelled && len(cf.Unlabelled) == 0 {
			continue
		}
		p.str(ClassDirs[l])
		p.op(']', '(') // EMPTY_LIST, MARK
		for _, f := range cf.Files(l) {
			p.str(f)
		}
		p.op('e') // APPENDS
	}
	p.op('u') // SETITEMS
}

// str writes a BINUNICODE string: 'X', uint32 little-endian length, UTF-8.
func (p *pickleWriter) str(s string) {
	p.buf = append(p.buf, 'X')
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(s)))
	p.buf = append(p.buf, s...)
}

// ReadSplits reads split -> class -> file names from a pickle (the seed's
// indices.pkl, with numpy str scalars, or one WriteSplitsPickle wrote) or
// from JSON (splits.json); the content decides which. Names must be bare
// file names.
func ReadSplits(path string) (Splits, error) {
	s, err := readSplits(path)
	if err != nil {
		return Splits{}, fmt.Errorf("data: %s: %w", path, err)
	}
	return s, nil
}

func readSplits(path string) (Splits, error) {
	v, err := loadNames(path)
	if err != nil {
		return Splits{}, err
	}
	m, err := dictOf(v, "top level")
	if err != nil {
		return Splits{}, err
	}
	if len(m) != len(SplitNames) {
		return Splits{}, fmt.Errorf("want keys train, val and test, have %s", strings.Join(sortedKeys(m), ", "))
	}
	var s Splits
	for _, name := range SplitNames {
		x, ok := m[string(name)]
		if !ok {
			return Splits{}, fmt.Errorf("no %q key (have %s)", name, strings.Join(sortedKeys(m), ", "))
		}
		cf := s.Split(name)
		if *cf, err = classFilesOf(x, string(name)); err != nil {
			return Splits{}, err
		}
	}
	return s, nil
}

// ReadSubset reads a labelled subset {lenses: names, nonlenses: names} from a
// pickle (the seed's train_indices_N.pkl with numpy str arrays, or one
// WriteSubsetPickle wrote) or from JSON; the content decides which.
func ReadSubset(path string) (ClassFiles, error) {
	v, err := loadNames(path)
	var cf ClassFiles
	if err == nil {
		cf, err = classFilesOf(v, "top level")
	}
	if err != nil {
		return ClassFiles{}, fmt.Errorf("data: %s: %w", path, err)
	}
	return cf, nil
}

// loadNames reads a pickle or a JSON file as generic values: dicts, lists,
// numpy arrays and strings.
func loadNames(path string) (any, error) {
	b, err := readFileLimited(path)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("JSON: %w", err)
		}
		return v, nil
	}
	v, err := unpickle(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a pickle or JSON file: %w", err)
	}
	return v, nil
}

// SplitsFile returns the splits file of a dataset folder, DIR/splits.json
// or else DIR/indices.pkl, or "" when there is neither.
func SplitsFile(dir string) string {
	for _, name := range []string{layout.SplitsJSON, layout.SplitsPickle} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
