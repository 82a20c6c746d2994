package repository

import (
	"slices"
	"testing"

	"cloud.google.com/go/firestore"
)

func TestParseFieldRef(t *testing.T) {
	good := map[string]firestore.FieldPath{
		"a":              {"a"},
		"a.b_1":          {"a", "b_1"},
		"__name__":       {"__name__"},
		"`a.b`.c":        {"a.b", "c"},
		"`x\\`y`":        {"x`y"},
		"`back\\\\`.`$`": {"back\\", "$"},
		"`é ü`":          {"é ü"},
	}
	for in, want := range good {
		got, err := parseFieldRef(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseFieldRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "a.", ".a", "a..b", "`a", "`a`b", "``"} {
		if got, err := parseFieldRef(in); err == nil {
			t.Errorf("parseFieldRef(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzParseFieldRef(f *testing.F) {
	for _, s := range []string{"a.b", "`a.b`.c", "`x\\`y`", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := parseFieldRef(s)
		if err != nil {
			return
		}
		if len(fp) == 0 {
			t.Fatalf("parseFieldRef(%q) returned an empty path without error", s)
		}
		for _, seg := range fp {
			if seg == "" {
				t.Fatalf("parseFieldRef(%q) returned an empty segment: %q", s, fp)
			}
		}
	})
}
