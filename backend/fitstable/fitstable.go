// Package fitstable writes FITS binary tables (FITS Standard 4.0, sections
// 3-4 and 7.3) as astropy and TOPCAT read them: an empty primary HDU whose
// COMMENT cards say what the table is, then one BINTABLE extension with
// TTYPEn, TFORMn, TUNITn and STIL's TUCDn and TCOMMn (UCD and description)
// per column. Rows stream from a callback, so a table of millions of rows
// is written in constant memory once its row count and text widths are
// known.
package fitstable

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// FITS files are 2880-byte blocks of 80-character header cards, then data.
const (
	block = 2880
	card  = 80
)

// Null is TNULLn of the integer columns: an empty integer cell.
const Null = -1

// Column types.
const (
	Long   = "long"   // 64-bit integer (K), Null when empty
	Int    = "int"    // 32-bit integer (J), Null when empty
	Double = "double" // 64-bit float (D), NaN when empty
	Char   = "char"   // ASCII text of Width bytes (A), NUL-padded
)

// Column is one column of a table: its name, type, unit, UCD and
// description; Width is the bytes of a Char column (at least 1).
type Column struct {
	Name, Type, Unit, UCD, Desc string
	Width                       int
}

// form is the column's TFORM and width in bytes.
func (c Column) form() (string, int) {
	switch c.Type {
	case Long:
		return "K", 8
	case Int:
		return "J", 4
	case Double:
		return "D", 8
	}
	w := max(c.Width, 1) // FITS allows 0A, but not every reader does
	return strconv.Itoa(w) + "A", w
}

// Table describes a table to write.
type Table struct {
	Name     string   // EXTNAME, plural: "SCORES"
	Comments []string // the primary HDU's COMMENT cards
	Rows     int
	RowNote  string // what a row is, for NAXIS2's comment: "one per upload"
	Columns  []Column
}

// Write writes the table: the primary HDU with its comments, then the
// extension of its columns holding t.Rows rows, which rows yields as text
// cells, one per column (numbers as strconv writes them, "" when empty;
// text made ASCII and cut to its column's width).
func (t Table) Write(w io.Writer, rows func(yield func([]string) error) error) error {
	cols, n := t.Columns, t.Rows
	bw := bufio.NewWriter(w)
	var h header
	h.logical("SIMPLE", true, "conforms to FITS Standard 4.0")
	h.integer("BITPIX", 8, "")
	h.integer("NAXIS", 0, "no primary image")
	h.logical("EXTEND", true, "the "+strings.ToLower(t.Name)+" are in extension 1")
	h.str("ORIGIN", "sslens", "")
	for _, c := range t.Comments {
		h.comment(c)
	}
	if err := h.write(bw); err != nil {
		return err
	}
	rowBytes := 0
	widths := make([]int, len(cols))
	h = header{}
	h.str("XTENSION", "BINTABLE", "binary table extension")
	h.integer("BITPIX", 8, "")
	h.integer("NAXIS", 2, "")
	for j, c := range cols {
		_, widths[j] = c.form()
		rowBytes += widths[j]
	}
	h.integer("NAXIS1", rowBytes, "bytes per row")
	rowsNote := "rows"
	if t.RowNote != "" {
		rowsNote += ": " + t.RowNote
	}
	h.integer("NAXIS2", n, rowsNote)
	h.integer("PCOUNT", 0, "")
	h.integer("GCOUNT", 1, "")
	h.integer("TFIELDS", len(cols), "")
	h.str("EXTNAME", t.Name, "")
	for j, c := range cols {
		k := strconv.Itoa(j + 1)
		form, _ := c.form()
		h.str("TTYPE"+k, c.Name, "")
		h.str("TFORM"+k, form, "")
		if c.Unit != "" {
			h.str("TUNIT"+k, c.Unit, "")
		}
		if c.Type == Long || c.Type == Int {
			h.integer("TNULL"+k, Null, "empty")
		}
		if c.UCD != "" {
			h.str("TUCD"+k, c.UCD, "")
		}
		h.str("TCOMM"+k, c.Desc, "")
	}
	if err := h.write(bw); err != nil {
		return err
	}
	row := make([]byte, rowBytes)
	written := 0
	err := rows(func(cells []string) error {
		if written++; written > n {
			return fmt.Errorf("fitstable: more than the %d rows declared", n)
		}
		at := 0
		for j, c := range cols {
			if err := putField(row[at:at+widths[j]], c.Type, cells[j]); err != nil {
				return fmt.Errorf("fitstable: column %s: %w", c.Name, err)
			}
			at += widths[j]
		}
		_, err := bw.Write(row)
		return err
	})
	if err != nil {
		return err
	}
	if written != n {
		return fmt.Errorf("fitstable: %d rows written, %d declared", written, n)
	}
	if pad := (rowBytes * n) % block; pad != 0 {
		if _, err := bw.Write(make([]byte, block-pad)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// putField writes one cell, big-endian as FITS requires; an empty number
// is NaN or Null.
func putField(field []byte, datatype, cell string) error {
	switch datatype {
	case Long, Int:
		v := int64(Null)
		if cell != "" {
			var err error
			if v, err = strconv.ParseInt(cell, 10, 64); err != nil {
				return err
			}
		}
		if datatype == Int {
			binary.BigEndian.PutUint32(field, uint32(int32(v)))
		} else {
			binary.BigEndian.PutUint64(field, uint64(v))
		}
	case Double:
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
		clear(field[copy(field, ASCII(cell)):])
	}
	return nil
}

// ASCII keeps the printable ASCII of s (FITS headers and character
// columns hold nothing else), replacing every other rune with '?'.
func ASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}

// header collects header cards.
type header struct{ cards []string }

// card adds "KEYWORD = value / comment", cut to 80 characters.
func (h *header) card(key, value, comment string) {
	c := fmt.Sprintf("%-8s= %s", key, value)
	if comment != "" {
		c += " / " + comment
	}
	h.cards = append(h.cards, c)
}

// logical and integer values end in column 30 (fixed format).
func (h *header) logical(key string, v bool, comment string) {
	h.card(key, fmt.Sprintf("%20s", map[bool]string{true: "T", false: "F"}[v]), comment)
}

func (h *header) integer(key string, v int, comment string) {
	h.card(key, fmt.Sprintf("%20d", v), comment)
}

// str quotes a string value, quotes doubled, padded to 8 characters, and
// cut to the 68 a card holds.
func (h *header) str(key, v, comment string) {
	v = strings.ReplaceAll(ASCII(v), "'", "''")
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
func (h *header) comment(text string) {
	text = ASCII(text)
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
func (h *header) write(w io.Writer) error {
	var b strings.Builder
	for _, c := range append(h.cards, "END") {
		if len(c) > card {
			c = c[:card]
		}
		fmt.Fprintf(&b, "%-80s", c)
	}
	if pad := b.Len() % block; pad != 0 {
		b.WriteString(strings.Repeat(" ", block-pad))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
