package auth

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func readAll(tb testing.TB, data string) (users []*FileUser, recErrs []*RecordError, fatal error) {
	tb.Helper()
	r := NewUserFileReader(strings.NewReader(data))
	for range 100000 {
		u, _, err := r.Next()
		if err == io.EOF {
			return users, recErrs, nil
		}
		var re *RecordError
		if errors.As(err, &re) {
			recErrs = append(recErrs, re)
			continue
		}
		if err != nil {
			return users, recErrs, err
		}
		users = append(users, u)
	}
	tb.Fatalf("reader does not end")
	return
}

func TestUserFileReader(t *testing.T) {
	t.Parallel()
	data := `{"kind": "ignored", "other": {"users": [1]}, "users": [
{"localId": "a", "email": "a@example.com", "emailVerified": "true", "createdAt": 1700000000000,
 "lastSignedInAt": "1700000001000", "passwordHash": "aGFzaA==", "salt": "c2FsdA",
 "customAttributes": "{\"role\":\"admin\"}", "disabled": true,
 "providerUserInfo": [{"providerId": "google.com", "rawId": "g1", "email": "a@gmail.com"}]},
{"localId": "b", "unknownKey": 1},
{"localId": "c", "email": "not-an-email"},
{"localId": "d", "passwordHash": "not base64!"},
{"localId": "e", "customAttributes": "{\"sub\":\"x\"}"},
{"localId": "f", "providerUserInfo": [{"providerId": "password", "rawId": "f@example.com"}]},
{"localId": "g", "phoneNumber": "5551234"},
{"email": "nouid@example.com"},
{"localId": 5},
{"localId": "h", "customAttributes": "not json"},
"not an object",
{"localId": "i", "displayName": "Ünïcödé ✓"}
]}`
	users, recErrs, err := readAll(t, data)
	if err != nil {
		t.Fatalf("fatal error: %v", err)
	}
	if len(users) != 2 || users[0].LocalID != "a" || users[1].LocalID != "i" {
		t.Fatalf("users: got %d (%v), want a and i", len(users), users)
	}
	a := users[0]
	if !bool(a.EmailVerified) || !bool(a.Disabled) || a.CreatedAt != 1700000000000 || a.LastSignedInAt != 1700000001000 {
		t.Fatalf("user a: got %+v", a)
	}
	if claims, _ := a.Claims(); claims["role"] != "admin" {
		t.Fatalf("user a claims: got %v", claims)
	}
	wantIdx := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	wantMsg := []string{"unsupported key", "invalid email", "not base64", "reserved", "unsupported providerId",
		"E.164", "localId is required", `"localId"`, "not a JSON object", "JSON"}
	if len(recErrs) != len(wantIdx) {
		t.Fatalf("record errors: got %d: %v", len(recErrs), recErrs)
	}
	for i, re := range recErrs {
		if re.Index != wantIdx[i] || !strings.Contains(re.Error(), wantMsg[i]) || !errors.Is(re, ErrInvalid) {
			t.Errorf("record error %d: got index %d %q, want index %d mentioning %q", i, re.Index, re, wantIdx[i], wantMsg[i])
		}
	}
	if recErrs[0].UID != "b" {
		t.Errorf("record error UID: got %q, want b", recErrs[0].UID)
	}
}

func TestUserFileReaderFatal(t *testing.T) {
	t.Parallel()
	good := `{"users": [{"localId": "a"}, {"localId": "b"}]}`
	cases := map[string]struct {
		data  string
		want  string
		users int
	}{
		"truncated in a user":   {good[:len(good)-10], "truncated", 1},
		"truncated after comma": {`{"users": [{"localId": "a"},`, "truncated", 1},
		"no closing brace":      {`{"users": [{"localId": "a"}]`, "", 1},
		"empty":                 {"", "truncated", 0},
		"array at top":          {`[{"localId": "a"}]`, "JSON object", 0},
		"users not array":       {`{"users": {"localId": "a"}}`, "must be an array", 0},
		"no users":              {`{"accounts": []}`, `no "users"`, 0},
		"syntax error":          {`{"users": [{"localId": "a"} {"localId": "b"}]}`, "syntax error", 1},
		"garbage":               {"\x00\x01\x02", "", 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			users, _, err := readAll(t, tc.data)
			if tc.want == "" && name == "no closing brace" {
				// The array is complete: the reader does not need the rest.
				if err != nil || len(users) != 1 {
					t.Fatalf("got %d users, %v; want 1 user and no error", len(users), err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
			if len(users) != tc.users {
				t.Fatalf("users before the error: got %d, want %d", len(users), tc.users)
			}
		})
	}
}

func TestUserFileWriterRoundTrip(t *testing.T) {
	t.Parallel()
	in := []*FileUser{
		{LocalID: "a", Email: "a@example.com", EmailVerified: true, PasswordHash: "aGFzaA==", Salt: "c2FsdA==",
			DisplayName: "A \"quoted\" <name>", PhotoURL: "https://example.com/a.png?x=1&y=2",
			CreatedAt: 1700000000000, LastSignedInAt: 1700000001000, PhoneNumber: "+15555550100",
			Disabled: true, CustomAttributes: `{"role":"admin"}`,
			ProviderUserInfo: []FileProvider{{ProviderID: "github.com", RawID: "42", Email: "a@github.example"}}},
		{LocalID: "b"},
	}
	var buf bytes.Buffer
	w := NewUserFileWriter(&buf)
	for _, u := range in {
		if err := w.Write(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, recErrs, err := readAll(t, buf.String())
	if err != nil || len(recErrs) > 0 {
		t.Fatalf("read back: %v %v\n%s", err, recErrs, buf.String())
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs:\n in %+v\nout %+v", in, out)
	}
	// The CLI's layout: {"users": [ ... ]}, millis as strings, no false disabled.
	s := buf.String()
	if !strings.HasPrefix(s, `{"users": [`) || !strings.Contains(s, `"createdAt":"1700000000000"`) ||
		strings.Contains(s, `"b","emailVerified":false,"disabled"`) {
		t.Fatalf("layout: %s", s)
	}
	// An empty export is a valid empty file.
	buf.Reset()
	w = NewUserFileWriter(&buf)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out, _, err := readAll(t, buf.String()); err != nil || len(out) != 0 {
		t.Fatalf("empty file: %q gives %v, %v", buf.String(), out, err)
	}
}

func TestHashConfig(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	ok := []HashConfig{
		{},
		{Algorithm: "HMAC_SHA256", Key: key},
		{Algorithm: "hmac_sha512", Key: key, InputOrder: "SALT_FIRST"},
		{Algorithm: "HMAC_SHA1", Key: key}, {Algorithm: "HMAC_MD5", Key: key},
		{Algorithm: "MD5", Rounds: 0}, {Algorithm: "SHA1", Rounds: 1}, {Algorithm: "SHA256", Rounds: 8192},
		{Algorithm: "SHA512", Rounds: 100, InputOrder: "PASSWORD_FIRST"},
		{Algorithm: "PBKDF_SHA1", Rounds: 1000}, {Algorithm: "PBKDF2_SHA256", Rounds: 120000},
		{Algorithm: "SCRYPT", Key: key, SaltSeparator: []byte("s"), Rounds: 8, MemoryCost: 14},
		{Algorithm: "STANDARD_SCRYPT", MemoryCost: 1024, Parallelization: 16, BlockSize: 8, DerivedKeyLength: 64},
		{Algorithm: "BCRYPT"},
	}
	for _, h := range ok {
		opt, err := h.Option()
		if err != nil || (h.Algorithm != "" && opt == nil) {
			t.Errorf("%+v: got %v, %v; want an option", h, opt, err)
		}
	}
	bad := map[string]HashConfig{
		"Key":        {Algorithm: "HMAC_SHA256"},
		"Rounds":     {Algorithm: "SHA256", Rounds: 0},
		"MemoryCost": {Algorithm: "SCRYPT", Key: key, Rounds: 8, MemoryCost: 15},
		"Algorithm":  {Algorithm: "ROT13"},
		"InputOrder": {Algorithm: "MD5", InputOrder: "SIDEWAYS"},
	}
	for field, h := range bad {
		if _, err := h.Option(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("%+v: got %v, want ErrInvalid naming %s", h, err, field)
		}
	}
	if _, err := (HashConfig{Algorithm: "PBKDF2_SHA256", Rounds: 120001}).Option(); !errors.Is(err, ErrInvalid) {
		t.Errorf("PBKDF2 rounds 120001: got %v, want ErrInvalid", err)
	}
}

// FuzzUserFileReader: any input ends the reading loop with users, record
// errors and at most one fatal ErrInvalid error, never a panic.
func FuzzUserFileReader(f *testing.F) {
	f.Add(`{"users": [{"localId": "a", "email": "a@b.c"}]}`)
	f.Add(`{"users": [{"localId": "a", "createdAt": "x"}, {"localId": "b", "customAttributes": "{}"}]}`)
	f.Add(`{"x": [1, {"y": null}], "users": [{"localId": "a", "providerUserInfo": [{"providerId": "google.com"}]}]}`)
	f.Add(`{"users": [{"localId": "a", "passwordHash": "=", "salt": "-_"}`)
	f.Add(`{"users": [{"localId": "a", "mfaInfo": [{"phoneInfo": "+1"}], "emailVerified": "maybe"}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		r := NewUserFileReader(strings.NewReader(data))
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatalf("reader returned more results than input bytes")
			}
			u, _, err := r.Next()
			if err == io.EOF {
				return
			}
			var re *RecordError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("fatal error %v is not ErrInvalid", err)
				}
				if _, _, err2 := r.Next(); err2 != io.EOF {
					t.Fatalf("Next after a fatal error: got %v, want io.EOF", err2)
				}
				return
			}
			if err := u.Validate(); err != nil {
				t.Fatalf("returned user does not validate: %v", err)
			}
			u.toImport()
		}
	})
}
