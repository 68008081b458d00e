package fitstable

import (
	"strings"
	"testing"
)

// Header strings are cut to what a card holds without splitting a doubled
// quote; text outside printable ASCII becomes '?'.
func TestFITSHeaderStrings(t *testing.T) {
	var h header
	h.str("TCOMM1", strings.Repeat("x", 65)+"'b", "")
	h.str("OBJECT", "été", "")
	h.comment(strings.Repeat("y", 100))
	if c := h.cards[0]; len(c) > card || !strings.HasSuffix(c, strings.Repeat("x", 65)+"'") || strings.HasSuffix(c, "''") {
		t.Errorf("cut card %q (%d characters)", c, len(c))
	}
	if c := h.cards[1]; c != "OBJECT  = '?t?     '" {
		t.Errorf("non-ASCII card %q", c)
	}
	h.comment(strings.Repeat("z", 60) + " " + strings.Repeat("w", 20))
	if len(h.cards) != 6 || h.cards[2] != "COMMENT "+strings.Repeat("y", 72) || h.cards[3] != "COMMENT "+strings.Repeat("y", 28) ||
		h.cards[4] != "COMMENT "+strings.Repeat("z", 60)+" " || h.cards[5] != "COMMENT "+strings.Repeat("w", 20) {
		t.Errorf("comment cards %q", h.cards[2:])
	}
}
