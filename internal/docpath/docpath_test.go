package docpath

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fbadmin/fbadmin/internal/errs"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("x", MaxSegmentBytes)
	deep := strings.Repeat("c/d/", MaxSegments/2) // MaxSegments segments and a trailing slash
	wide := strings.Repeat(long+"/", 4) + strings.Repeat("y", MaxBytes-4*(MaxSegmentBytes+1))
	tests := []struct {
		in      string
		rel     bool   // parse with ParseRel
		want    string // String of the result
		doc     bool
		problem string // in the error; "" for an acceptance
	}{
		{in: "users", want: "users"},
		{in: "users/alice", want: "users/alice", doc: true},
		{in: "users/alice/posts", want: "users/alice/posts"},
		{in: "users/alice/posts/p1", want: "users/alice/posts/p1", doc: true},
		{in: "projects/p/databases/(default)/documents/users/alice", want: "users/alice", doc: true},
		{in: "projects/p/databases/other/documents/users", want: "users"},
		{in: "projects/p/databases/d/documents/a/b", rel: true, want: "projects/p/databases/d/documents/a/b"},
		{in: "projects/p", want: "projects/p", doc: true},
		{in: "projects//databases/d/documents/a", problem: "empty segment 2"},
		{in: "c/ü 日本/d", want: "c/ü 日本/d"},
		{in: "___", want: "___"},
		{in: "____", want: "____"}, // Firestore's emulator takes it
		{in: "a/_x_/", problem: "empty segment 3"},
		{in: "c/.d/..e", want: "c/.d/..e"},
		{in: "c/" + long, want: "c/" + long, doc: true},
		{in: strings.TrimSuffix(deep, "/"), want: strings.TrimSuffix(deep, "/"), doc: true},
		{in: wide, want: wide},

		{in: "", problem: "empty path"},
		{in: "projects/p/databases/d/documents", problem: "database root"},
		{in: "projects/p/databases/d/documents/", problem: "database root"},
		{in: "/users", problem: "empty segment 1"},
		{in: "users/", problem: "empty segment 2"},
		{in: "users//alice", problem: "empty segment 2"},
		{in: "/", problem: "empty segment 1"},
		{in: "users/\xff", problem: "not valid UTF-8"},
		{in: "users/.", problem: `segment "." is not allowed`},
		{in: "../users", problem: `segment ".." is not allowed`},
		{in: "users/__x__", problem: `segment "__x__" is reserved`},
		{in: "__name__/a/b", problem: `segment "__name__" is reserved`},
		{in: "c/" + long + "x", problem: "segment 2 is 1501 bytes long"},
		{in: deep + "c", problem: "201 segments"},
		{in: wide + "y", problem: "6145 bytes long"},
		{in: "projects/p/databases/d/documents/a//b", problem: "empty segment 2"},
		{in: "projects/p/databases/d/documents/__x__", problem: "reserved"},
	}
	for _, tt := range tests {
		parse, fn := Parse, "Parse"
		if tt.rel {
			parse, fn = ParseRel, "ParseRel"
		}
		p, err := parse(tt.in)
		name := shorten(tt.in)
		if tt.problem != "" {
			if err == nil {
				t.Errorf("%s(%q) = %q, want an error mentioning %q", fn, name, p, tt.problem)
				continue
			}
			if !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("%s(%q): got error %v, want kind ErrInvalid", fn, name, err)
			}
			if !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("%s(%q): got error %q, want it to mention %q", fn, name, err, tt.problem)
			}
			if !utf8.ValidString(err.Error()) || len(err.Error()) > 400 {
				t.Errorf("%s(%q): error %q is not fit to print", fn, name, err)
			}
			if p != (Path{}) {
				t.Errorf("%s(%q): got %q with the error, want the zero Path", fn, name, p)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s(%q): got error %v, want %q", fn, name, err, shorten(tt.want))
			continue
		}
		if p.String() != tt.want || p.IsDocument() != tt.doc || p.IsCollection() == tt.doc || p.IsZero() {
			t.Errorf("%s(%q) = %q (document %v), want %q (document %v)", fn, name, shorten(p.String()), p.IsDocument(), shorten(tt.want), tt.doc)
		}
	}
}

func TestParseKind(t *testing.T) {
	if _, err := ParseDocument("users"); err == nil || !strings.Contains(err.Error(), "collection path") {
		t.Errorf("ParseDocument(users): got %v, want an error saying it is a collection path", err)
	}
	if _, err := ParseCollection("users/alice"); err == nil || !strings.Contains(err.Error(), "document path") {
		t.Errorf("ParseCollection(users/alice): got %v, want an error saying it is a document path", err)
	}
	if _, err := ParseDocument("users/"); err == nil || !strings.Contains(err.Error(), "empty segment") {
		t.Errorf("ParseDocument(users/): got %v, want the parse error", err)
	}
	if p, err := ParseDocument("projects/p/databases/d/documents/users/alice"); err != nil || p.String() != "users/alice" {
		t.Errorf("ParseDocument(a name) = %q, %v; want users/alice", p, err)
	}
	if p, err := ParseCollection("users/alice/posts"); err != nil || p.ID() != "posts" {
		t.Errorf("ParseCollection(users/alice/posts) = %q, %v; want users/alice/posts", p, err)
	}
}

func TestCheckID(t *testing.T) {
	for _, tt := range []struct{ id, problem string }{
		{"alice", ""},
		{"日本", ""},
		{"___", ""},
		{strings.Repeat("x", MaxSegmentBytes), ""},
		{"", "empty ID"},
		{"a/b", "contains '/'"},
		{"\xff", "not valid UTF-8"},
		{".", `ID "." is not allowed`},
		{"..", `ID ".." is not allowed`},
		{"__x__", `ID "__x__" is reserved`},
		{strings.Repeat("x", MaxSegmentBytes+1), "1501 bytes long"},
	} {
		err := CheckID(tt.id)
		switch {
		case tt.problem == "" && err != nil:
			t.Errorf("CheckID(%q): got %v, want nil", shorten(tt.id), err)
		case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem) || !errors.Is(err, errs.ErrInvalid)):
			t.Errorf("CheckID(%q): got %v, want ErrInvalid mentioning %q", shorten(tt.id), err, tt.problem)
		}
	}
}

func mustParse(t testing.TB, s string) Path {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNavigation(t *testing.T) {
	p := mustParse(t, "users/alice/posts/p1")
	if got := p.Segments(); !slices.Equal(got, []string{"users", "alice", "posts", "p1"}) {
		t.Errorf("Segments: got %q", got)
	}
	if p.ID() != "p1" || p.Len() != 4 {
		t.Errorf("ID, Len: got %q, %d; want p1, 4", p.ID(), p.Len())
	}
	var chain []string
	for q := p; !q.IsZero(); q = q.Parent() {
		chain = append(chain, q.String())
	}
	if want := []string{"users/alice/posts/p1", "users/alice/posts", "users/alice", "users"}; !slices.Equal(chain, want) {
		t.Errorf("Parent chain: got %q, want %q", chain, want)
	}
	if (Path{}).Parent() != (Path{}) || (Path{}).Segments() != nil || (Path{}).ID() != "" || (Path{}).IsDocument() || (Path{}).IsCollection() {
		t.Errorf("the root: want a parentless path with no segments, neither document nor collection")
	}

	c, err := Path{}.Child("users")
	if err != nil || c != mustParse(t, "users") || !c.IsCollection() {
		t.Errorf("root.Child(users) = %q, %v; want the collection users", c, err)
	}
	d, err := c.Child("alice")
	if err != nil || d != mustParse(t, "users/alice") || !d.IsDocument() || d.Parent() != c {
		t.Errorf("users.Child(alice) = %q, %v; want the document users/alice", d, err)
	}
	for id, problem := range map[string]string{
		"":      "empty ID",
		"a/b":   "contains '/'",
		"__x__": "reserved",
		"\xff":  "not valid UTF-8",
		"..":    "not allowed",
	} {
		got, err := d.Child(id)
		if err == nil || !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), problem) || !strings.Contains(err.Error(), "users/alice/") {
			t.Errorf("Child(%q) = %q, %v; want ErrInvalid naming users/alice/... and mentioning %q", id, got, err, problem)
		}
	}
	wide := mustParse(t, strings.Repeat(strings.Repeat("x", MaxSegmentBytes)+"/", 4)+"y")
	if _, err := wide.Child(strings.Repeat("z", MaxBytes)[:MaxSegmentBytes]); err == nil || !strings.Contains(err.Error(), "bytes long") {
		t.Errorf("Child past %d bytes: got %v, want an error", MaxBytes, err)
	}
	deep := mustParse(t, strings.TrimSuffix(strings.Repeat("c/d/", MaxSegments/2), "/"))
	if _, err := deep.Child("e"); err == nil || !strings.Contains(err.Error(), "segments") {
		t.Errorf("Child past %d segments: got %v, want an error", MaxSegments, err)
	}
}

func TestFromFirestore(t *testing.T) {
	p := FromFirestore("c/__id5__/sub")
	if !p.IsCollection() || p.ID() != "sub" || p.Parent().ID() != "__id5__" || p.Parent().Parent() != FromFirestore("c") {
		t.Errorf("FromFirestore(c/__id5__/sub) = %q: wrong kind or parents", p)
	}
	if !FromFirestore("").IsZero() {
		t.Errorf("FromFirestore(\"\") should be the root")
	}
}

func TestUnder(t *testing.T) {
	for _, tt := range []struct {
		p, prefix string
		want      bool
	}{
		{"users", "users", true},
		{"users/alice", "users", true},
		{"users/alice/posts/p1", "users/alice", true},
		{"users2/alice", "users", false},
		{"users", "users/alice", false},
		{"users/alicex", "users/alice", false},
	} {
		if got := mustParse(t, tt.p).Under(mustParse(t, tt.prefix)); got != tt.want {
			t.Errorf("%s.Under(%s) = %v, want %v", tt.p, tt.prefix, got, tt.want)
		}
	}
	if !mustParse(t, "users").Under(Path{}) || !(Path{}).Under(Path{}) {
		t.Errorf("every path should be under the root")
	}
}

func TestNames(t *testing.T) {
	p := mustParse(t, "users/alice")
	const name = "projects/p/databases/(default)/documents/users/alice"
	if got := p.FullName("p", "(default)"); got != name {
		t.Errorf("FullName = %q, want %q", got, name)
	}
	if got := p.Name(Root("p", "(default)")); got != name {
		t.Errorf("Name = %q, want %q", got, name)
	}
	if got, want := (Path{}).FullName("p", "d"), "projects/p/databases/d/documents"; got != want {
		t.Errorf("root FullName = %q, want %q", got, want)
	}
	for _, tt := range []struct{ name, rel string }{
		{name, "users/alice"},
		{"projects/p/databases/d/documents", ""},
		{"users/alice", "users/alice"},
		{"users/alice/documents/x", "users/alice/documents/x"}, // not a resource name
		{"projects/p/databases/d/documentsX/a", "projects/p/databases/d/documentsX/a"},
		{"projects//databases/d/documents/a", "projects//databases/d/documents/a"},
	} {
		if got := Rel(tt.name); got != tt.rel {
			t.Errorf("Rel(%q) = %q, want %q", tt.name, got, tt.rel)
		}
	}
	if pr, db, rel, ok := SplitName(name); !ok || pr != "p" || db != "(default)" || rel != "users/alice" {
		t.Errorf("SplitName(%q) = %q, %q, %q, %v", name, pr, db, rel, ok)
	}
}

// FuzzParse checks that parsing never panics, that what it accepts
// satisfies the rules, and that a parsed path's String and FullName parse
// back to the same path.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"users", "users/alice/posts/p1", "projects/p/databases/d/documents/a/b", "a//b", "/a", "a/",
		"__x__", "a/..", "\xff", "projects/p/databases/d/documents", "", "____/_",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (Path, error){Parse, ParseRel} {
			p, err := parse(s)
			if err != nil {
				if !errors.Is(err, errs.ErrInvalid) || !utf8.ValidString(err.Error()) {
					t.Fatalf("parse(%q): error %q is not an ErrInvalid fit to print", s, err)
				}
				continue
			}
			if p.IsZero() || p.IsDocument() == p.IsCollection() || len(p.Segments()) != p.Len() {
				t.Fatalf("parse(%q) = %q: inconsistent (%d segments)", s, p, p.Len())
			}
			for _, seg := range p.Segments() {
				if err := CheckID(seg); err != nil {
					t.Fatalf("parse(%q) accepted segment %q: %v", s, seg, err)
				}
			}
			q, err := ParseRel(p.String())
			if err != nil || q != p {
				t.Fatalf("ParseRel(String of parse(%q) = %q) = %q, %v", s, p, q, err)
			}
			if q := FromFirestore(p.String()); q != p {
				t.Fatalf("FromFirestore(String of parse(%q)) = %q, want %q", s, q, p)
			}
			q, err = Parse(p.FullName("p", "d"))
			if err != nil || q != p {
				t.Fatalf("Parse(FullName of parse(%q)) = %q, %v", s, q, err)
			}
			if par := p.Parent(); !p.Under(par) || (!par.IsZero() && par.Under(p)) {
				t.Fatalf("%q and its parent %q: wrong Under", p, par)
			}
			if c, err := p.Parent().Child(p.ID()); err != nil || c != p {
				t.Fatalf("Parent().Child(ID()) of %q = %q, %v", p, c, err)
			}
		}
	})
}
