package listeners

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidName checks ValidName against the rule it implements, written as
// a regular expression.
func TestValidName(t *testing.T) {
	rule := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	cases := []string{
		"", "a", "Z", "0", "orders", "orders-v2.sink_1", "a.b", "-a", ".a", "_a",
		"a b", "a/b", "a\n", "é", "ab\x00", strings.Repeat("x", 128), strings.Repeat("x", 129),
		"x" + strings.Repeat("-", 127), "x" + strings.Repeat("-", 128),
	}
	for _, s := range cases {
		if got, want := ValidName(s), rule.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}
