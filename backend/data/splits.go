package data

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ClassFiles lists image file names (not paths) per class folder.
type ClassFiles struct {
	Lenses    []string `json:"lenses"`
	NonLenses []string `json:"nonlenses"`
}

// Len is the number of images of both classes.
func (cf ClassFiles) Len() int { return len(cf.Lenses) + len(cf.NonLenses) }

// Files returns the names of one class.
func (cf ClassFiles) Files(l Label) []string {
	if l == Lens {
		return cf.Lenses
	}
	return cf.NonLenses
}

// Splits is the content of the seed's indices.pkl: split -> class -> file names.
type Splits struct {
	Train ClassFiles `json:"train"`
	Val   ClassFiles `json:"val"`
	Test  ClassFiles `json:"test"`
}

// SplitNames are the splits in file order.
var SplitNames = [3]string{"train", "val", "test"}

// Split returns the split called name ("train", "val" or "test").
func (s *Splits) Split(name string) (*ClassFiles, error) {
	switch name {
	case "train":
		return &s.Train, nil
	case "val":
		return &s.Val, nil
	case "test":
		return &s.Test, nil
	}
	return nil, fmt.Errorf("unknown split %q (want train, val or test)", name)
}

// WriteSplitsJSON writes s as splits.json, atomically.
func WriteSplitsJSON(path string, s Splits) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// WriteSplitsPickle writes s as a protocol-2 Python pickle of plain dicts,
// lists and str, readable by pickle.load without numpy, atomically.
func WriteSplitsPickle(path string, s Splits) error {
	var p pickleWriter
	p.op(0x80, 2) // PROTO 2
	p.op('}')     // EMPTY_DICT
	p.op('(')     // MARK
	for _, name := range SplitNames {
		cf, _ := s.Split(name)
		p.str(name)
		p.op('}', '(')
		for _, l := range []Label{Lens, NonLens} {
			p.str(ClassDirs[l])
			p.op(']', '(') // EMPTY_LIST, MARK
			for _, f := range cf.Files(l) {
				p.str(f)
			}
			p.op('e') // APPENDS
		}
		p.op('u') // SETITEMS
	}
	p.op('u', '.') // SETITEMS, STOP
	return writeFileAtomic(path, p.buf)
}

// pickleWriter emits the few pickle opcodes WriteSplitsPickle needs.
type pickleWriter struct{ buf []byte }

func (p *pickleWriter) op(b ...byte) { p.buf = append(p.buf, b...) }

// str writes a BINUNICODE string: 'X', uint32 little-endian length, UTF-8.
func (p *pickleWriter) str(s string) {
	p.buf = append(p.buf, 'X')
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(s)))
	p.buf = append(p.buf, s...)
}

// writeFileAtomic writes b to a temporary file beside path and renames it, so
// a crash never leaves a half-written file under the final name.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(tmp)
	_, err = w.Write(b)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
