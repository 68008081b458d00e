package uploads

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/sslens/sslens/shared"
)

// FITS files are 2880-byte blocks of 80-character header cards, then data
// (FITS Standard 4.0, sections 3-4 and 7.3 for binary tables).
const (
	fitsBlock = 2880
	fitsCard  = 80
)

// fitsNull is TNULLn of the integer columns that may be empty (a file not
// scored has no checkpoint, one not graded no graders).
const fitsNull = -1

// writeFITSTable writes an empty primary HDU whose COMMENT cards name the
// model and the grading, then a BINTABLE extension "SCORES" of the export
// columns: TTYPEn, TFORMn, TUNITn, and STIL's TUCDn and TCOMMn for the UCD
// and description. Numbers missing from a row are NaN (doubles) or
// fitsNull (integers, declared by TNULLn); text is ASCII padded with NULs
// to the longest cell of its column.
func writeFITSTable(w io.Writer, ups []shared.Upload, meta ExportMeta) error {
	rows := make([][]string, len(ups))
	for i, u := range ups {
		rows[i] = exportRow(u)
		for j := range rows[i] {
			rows[i][j] = fitsASCII(rows[i][j])
		}
	}
	cols := make([]fitsColumn, len(exportColumns))
	rowBytes := 0
	for j, c := range exportColumns {
		col := fitsColumn{width: 8}
		switch c.datatype {
		case "long":
			col.form = "K"
		case "int":
			col.form, col.width = "J", 4
		case "double":
			col.form = "D"
		default:
			col.width = 1 // FITS allows 0A, but not every reader does
			for _, r := range rows {
				col.width = max(col.width, len(r[j]))
			}
			col.form = strconv.Itoa(col.width) + "A"
		}
		cols[j] = col
		rowBytes += col.width
	}

	bw := bufio.NewWriter(w)
	var h fitsHeader
	h.logical("SIMPLE", true, "conforms to FITS Standard 4.0")
	h.integer("BITPIX", 8, "")
	h.integer("NAXIS", 0, "no primary image")
	h.logical("EXTEND", true, "the scores are in extension 1")
	h.str("ORIGIN", "sslens", "")
	h.comment("sslens lens probabilities; model: " + modelLine(meta.Checkpoint))
	if g := meta.Grading; g != nil {
		h.comment("grading: " + GradingLine(*g))
	}
	if err := h.write(bw); err != nil {
		return err
	}

	h = fitsHeader{}
	h.str("XTENSION", "BINTABLE", "binary table extension")
	h.integer("BITPIX", 8, "")
	h.integer("NAXIS", 2, "")
	h.integer("NAXIS1", rowBytes, "bytes per row")
	h.integer("NAXIS2", len(rows), "rows: one per upload")
	h.integer("PCOUNT", 0, "")
	h.integer("GCOUNT", 1, "")
	h.integer("TFIELDS", len(cols), "")
	h.str("EXTNAME", "SCORES", "")
	for j, c := range exportColumns {
		n := strconv.Itoa(j + 1)
		h.str("TTYPE"+n, c.name, "")
		h.str("TFORM"+n, cols[j].form, "")
		if c.unit != "" {
			h.str("TUNIT"+n, c.unit, "")
		}
		if c.datatype == "long" || c.datatype == "int" {
			h.integer("TNULL"+n, fitsNull, "empty")
		}
		if c.ucd != "" {
			h.str("TUCD"+n, c.ucd, "")
		}
		h.str("TCOMM"+n, c.desc, "")
	}
	if err := h.write(bw); err != nil {
		return err
	}

	row := make([]byte, rowBytes)
	for _, r := range rows {
		at := 0
		for j, c := range exportColumns {
			field := row[at : at+cols[j].width]
			if err := putFITSField(field, c.datatype, r[j]); err != nil {
				return fmt.Errorf("uploads: FITS export, column %s: %w", c.name, err)
			}
			at += cols[j].width
		}
		if _, err := bw.Write(row); err != nil {
			return err
		}
	}
	if pad := (rowBytes * len(rows)) % fitsBlock; pad != 0 {
		if _, err := bw.Write(make([]byte, fitsBlock-pad)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// fitsColumn is a binary-table column's TFORM and width in bytes.
type fitsColumn struct {
	form  string
	width int
}

// putFITSField writes one cell, big-endian as FITS requires; an empty
// number is NaN or fitsNull.
func putFITSField(field []byte, datatype, cell string) error {
	switch datatype {
	case "long", "int":
		v := int64(fitsNull)
		if cell != "" {
			var err error
			if v, err = strconv.ParseInt(cell, 10, 64); err != nil {
				return err
			}
		}
		if datatype == "int" {
			binary.BigEndian.PutUint32(field, uint32(int32(v)))
		} else {
			binary.BigEndian.PutUint64(field, uint64(v))
		}
	case "double":
		v := math.NaN()
		if cell != "" {
			var err error
			if v, err = strconv.ParseFloat(cell, 64); err != nil {
				return err
			}
		}
		binary.BigEndian.PutUint64(field, math.Float64bits(v))
	default:
		// NUL-terminated (section 7.3.3.1): readers that keep trailing
		// spaces, as astropy's Table does, strip trailing NULs.
		clear(field[copy(field, cell):])
	}
	return nil
}

// fitsASCII keeps the printable ASCII of s (FITS headers and character
// columns hold nothing else), replacing every other rune with '?'.
func fitsASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}

// fitsHeader collects header cards.
type fitsHeader struct{ cards []string }

// card adds "KEYWORD = value / comment", cut to 80 characters.
func (h *fitsHeader) card(key, value, comment string) {
	c := fmt.Sprintf("%-8s= %s", key, value)
	if comment != "" {
		c += " / " + comment
	}
	h.cards = append(h.cards, c)
}

// logical and integer values end in column 30 (fixed format).
func (h *fitsHeader) logical(key string, v bool, comment string) {
	h.card(key, fmt.Sprintf("%20s", map[bool]string{true: "T", false: "F"}[v]), comment)
}

func (h *fitsHeader) integer(key string, v int, comment string) {
	h.card(key, fmt.Sprintf("%20d", v), comment)
}

// str quotes a string value, quotes doubled, padded to 8 characters, and
// cut to the 68 a card holds.
func (h *fitsHeader) str(key, v, comment string) {
	v = strings.ReplaceAll(fitsASCII(v), "'", "''")
	if len(v) > 66 {
		v = v[:66]
		if odd := len(v) - len(strings.TrimRight(v, "'")); odd%2 == 1 {
			v = v[:len(v)-1] // never split a doubled quote
		}
	}
	h.card(key, fmt.Sprintf("'%-8s'", v), comment)
}

// comment adds COMMENT cards holding text, at most 72 characters each,
// broken after a space where one is near the end.
func (h *fitsHeader) comment(text string) {
	text = fitsASCII(text)
	for len(text) > 0 {
		n := min(72, len(text))
		if sp := strings.LastIndexByte(text[:n], ' '); n < len(text) && sp > 48 {
			n = sp + 1
		}
		h.cards = append(h.cards, "COMMENT "+text[:n])
		text = text[n:]
	}
}

// write writes the cards, END, and blanks to the end of the block.
func (h *fitsHeader) write(w io.Writer) error {
	var b strings.Builder
	for _, c := range append(h.cards, "END") {
		if len(c) > fitsCard {
			c = c[:fitsCard]
		}
		fmt.Fprintf(&b, "%-80s", c)
	}
	if pad := b.Len() % fitsBlock; pad != 0 {
		b.WriteString(strings.Repeat(" ", fitsBlock-pad))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
