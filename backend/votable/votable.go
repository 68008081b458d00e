// Package votable writes IVOA VOTable 1.4 documents (TABLEDATA
// serialisation) row by row, so that a table of any length is written in
// constant memory: the format astronomers' tools (TOPCAT, astropy, Aladin)
// read catalogues in.
package votable

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/sslens/sslens/backend/fitstable"
)

// Namespace is VOTable 1.4's, which keeps the v1.3 namespace (IVOA
// Recommendation 2019-10-21).
const Namespace = "http://www.ivoa.net/xml/VOTable/v1.3"

// Field describes a column: Datatype is a VOTable primitive (char for
// ASCII text, unicodeChar for any text such as file names, long, double,
// ...); text columns are variable length (arraysize="*").
type Field struct {
	Name, Datatype, Unit, UCD, Desc string
}

// Info is a RESOURCE's INFO element: a named value describing the table.
type Info struct {
	Name, Value string
}

// Table is one RESOURCE holding one TABLE.
type Table struct {
	Resource    string // the RESOURCE's name
	Description string
	Info        []Info
	Name        string // the TABLE's name
	Fields      []Field
}

// Write writes the document to w, each row that rows yields one TR of
// len(Fields) cells, as text; an empty cell is written empty (a null).
func (t Table) Write(w io.Writer, rows func(yield func([]string) error) error) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("%s<VOTABLE version=\"1.4\" xmlns=\"%s\">\n <RESOURCE name=\"%s\">\n", xml.Header, Namespace, escape(t.Resource))
	if t.Description != "" {
		p("  <DESCRIPTION>%s</DESCRIPTION>\n", escape(t.Description))
	}
	for _, in := range t.Info {
		p("  <INFO name=\"%s\" value=\"%s\"/>\n", escape(in.Name), escape(in.Value))
	}
	p("  <TABLE name=\"%s\">\n", escape(t.Name))
	for _, f := range t.Fields {
		p("   <FIELD name=\"%s\" datatype=\"%s\"", escape(f.Name), escape(f.Datatype))
		if f.Datatype == "char" || f.Datatype == "unicodeChar" {
			p(" arraysize=\"*\"")
		}
		if f.UCD != "" {
			p(" ucd=\"%s\"", escape(f.UCD))
		}
		if f.Unit != "" {
			p(" unit=\"%s\"", escape(f.Unit))
		}
		if f.Desc == "" {
			p("/>\n")
		} else {
			p(">\n    <DESCRIPTION>%s</DESCRIPTION>\n   </FIELD>\n", escape(f.Desc))
		}
	}
	p("   <DATA>\n    <TABLEDATA>\n")
	n := 0
	err := rows(func(cells []string) error {
		n++
		if len(cells) != len(t.Fields) {
			return fmt.Errorf("votable: row %d has %d cells for %d fields", n, len(cells), len(t.Fields))
		}
		bw.WriteString("     <TR>")
		for _, c := range cells {
			bw.WriteString("<TD>")
			bw.WriteString(escape(c))
			bw.WriteString("</TD>")
		}
		bw.WriteString("</TR>\n")
		return nil
	})
	if err != nil {
		return err
	}
	p("    </TABLEDATA>\n   </DATA>\n  </TABLE>\n </RESOURCE>\n</VOTABLE>\n")
	return bw.Flush()
}

// escape makes s XML text or an attribute value; characters XML 1.0 does
// not allow become U+FFFD, as encoding/xml does.
func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Fields are the VOTable fields of a FITS table's columns (fitstable's
// type names are VOTable's), text as unicodeChar: file and user names are
// not always ASCII, and a FITS table transliterates them where VOTable
// need not.
func Fields(cols []fitstable.Column) []Field {
	out := make([]Field, len(cols))
	for i, c := range cols {
		dt := c.Type
		if dt == fitstable.Char {
			dt = "unicodeChar"
		}
		out[i] = Field{Name: c.Name, Datatype: dt, Unit: c.Unit, UCD: c.UCD, Desc: c.Desc}
	}
	return out
}
