package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	fbauth "firebase.google.com/go/v4/auth"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

var testHashKey = []byte("fbadmin-test-hmac-key")

// hmacSHA256 is the HMAC_SHA256 password hash of Firebase's import: HMAC
// keyed with the signer key over password then salt (PASSWORD_FIRST is the
// default order of the Identity Toolkit for HMAC).
func hmacSHA256(key []byte, password string, salt []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(password))
	m.Write(salt)
	return m.Sum(nil)
}

// genUsers makes n users of every shape the format carries: hashed
// passwords, claims, providers, phones, flags, timestamps.
func genUsers(prefix string, n int) []*FileUser {
	users := make([]*FileUser, n)
	for i := range users {
		u := &FileUser{
			LocalID:        fmt.Sprintf("%s-%05d", prefix, i),
			Email:          fmt.Sprintf("%s-%05d@example.com", prefix, i),
			EmailVerified:  i%2 == 0,
			DisplayName:    fmt.Sprintf("User %d ✓", i),
			CreatedAt:      Millis(1600000000000 + int64(i)*1000),
			LastSignedInAt: Millis(1700000000000 + int64(i)*1000),
		}
		if i%3 == 0 {
			salt := []byte(fmt.Sprintf("salt-%d", i))
			u.Salt = base64.StdEncoding.EncodeToString(salt)
			u.PasswordHash = base64.StdEncoding.EncodeToString(hmacSHA256(testHashKey, fmt.Sprintf("password-%d", i), salt))
		}
		if i%4 == 0 {
			u.CustomAttributes = fmt.Sprintf(`{"level":%d,"role":"r%d"}`, i%10, i%3)
		}
		if i%5 == 0 {
			u.PhoneNumber = fmt.Sprintf("+1555%07d", i)
		}
		if i%7 == 0 {
			u.Disabled = true
		}
		if i%6 == 0 {
			u.PhotoURL = fmt.Sprintf("https://example.com/p/%d.png", i)
			u.ProviderUserInfo = []FileProvider{{ProviderID: "google.com", RawID: fmt.Sprintf("g-%s-%d", prefix, i),
				Email: fmt.Sprintf("g%d@gmail.example", i), DisplayName: "G"}}
		}
		users[i] = u
	}
	return users
}

// usersFile writes users as a file, with raw (possibly bad) entries
// inserted at the given positions.
func usersFile(tb testing.TB, users []*FileUser, inserts map[int]string) []byte {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString(`{"users": [`)
	n := 0
	emit := func(s string) {
		if n > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(s)
		n++
	}
	for i, u := range users {
		if raw, ok := inserts[n]; ok {
			emit(raw)
		}
		_ = i
		js, err := json.Marshal(u)
		if err != nil {
			tb.Fatal(err)
		}
		emit(string(js))
	}
	b.WriteString("]}")
	return b.Bytes()
}

// normalize makes two FileUsers comparable: hashes as bytes, claims as
// values, providers sorted.
func normalize(u *FileUser) FileUser {
	c := *u
	if h, err := decodeB64(c.PasswordHash); err == nil {
		c.PasswordHash = base64.StdEncoding.EncodeToString(h)
	}
	if s, err := decodeB64(c.Salt); err == nil {
		c.Salt = base64.StdEncoding.EncodeToString(s)
	}
	if claims, _ := u.Claims(); claims != nil {
		b, _ := json.Marshal(claims)
		c.CustomAttributes = string(b)
	}
	c.ProviderUserInfo = append([]FileProvider(nil), u.ProviderUserInfo...)
	sort.Slice(c.ProviderUserInfo, func(i, j int) bool { return c.ProviderUserInfo[i].ProviderID < c.ProviderUserInfo[j].ProviderID })
	return c
}

func exportAll(tb testing.TB, c *Client) (map[string]*FileUser, []byte) {
	tb.Helper()
	var buf bytes.Buffer
	n, err := c.ExportUsers(context.Background(), &buf, ExportOptions{})
	if err != nil {
		tb.Fatalf("ExportUsers: %v", err)
	}
	users, recErrs, err := readAll(tb, buf.String())
	if err != nil || len(recErrs) > 0 {
		tb.Fatalf("reading the export back: %v %v", err, recErrs)
	}
	if len(users) != n {
		tb.Fatalf("ExportUsers said %d users, the file has %d", n, len(users))
	}
	m := map[string]*FileUser{}
	for _, u := range users {
		m[u.LocalID] = u
	}
	return m, buf.Bytes()
}

// TestImportExportRoundTrip imports 2,500 users (three batches) with hashed
// passwords and bad entries, exports them, and imports the export into a
// fresh project and a fresh tenant: every copy holds identical users.
func TestImportExportRoundTrip(t *testing.T) {
	t.Parallel()
	src := projectClient(t)
	ctx := context.Background()
	users := genUsers("rt", 2500)
	bad := map[int]string{
		5:    `{"localId": "rt-00003", "email": "dup@example.com"}`, // duplicate of a UID already read
		700:  `{"localId": "bad-email", "email": "not-an-email"}`,
		1500: `{"localId": "bad-hash", "passwordHash": "not base64!"}`,
		2000: `{"localId": "bad-key", "nickname": "x"}`,
		2200: `{"localId": "bad-claims", "customAttributes": "{\"iss\":1}"}`,
	}
	file := usersFile(t, users, bad)
	var batches atomic.Int64
	rep, err := src.ImportUsers(ctx, bytes.NewReader(file), ImportOptions{
		Hash:     HashConfig{Algorithm: "HMAC_SHA256", Key: testHashKey},
		Progress: func(ImportReport) { batches.Add(1) },
	})
	if err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	if rep.Read != 2505 || rep.Imported != 2500 || rep.Failed != 5 || len(rep.Failures) != 5 || rep.Batches != 3 || batches.Load() != 3 {
		t.Fatalf("report: got read %d imported %d failed %d batches %d (%d progress calls): %+v; want 2505/2500/5 in 3 batches",
			rep.Read, rep.Imported, rep.Failed, rep.Batches, batches.Load(), rep.Failures)
	}
	sort.Slice(rep.Failures, func(i, j int) bool { return rep.Failures[i].Index < rep.Failures[j].Index })
	wantFail := []struct {
		index   int
		uid, in string
	}{
		{5, "rt-00003", "duplicate localId: the same UID is at index 3"},
		{700, "bad-email", "invalid email"},
		{1500, "bad-hash", "not base64"},
		{2000, "bad-key", "unsupported key"},
		{2200, "bad-claims", "reserved"},
	}
	for i, w := range wantFail {
		f := rep.Failures[i]
		if f.Index != w.index || f.UID != w.uid || !strings.Contains(f.Reason, w.in) {
			t.Errorf("failure %d: got %+v, want index %d uid %s mentioning %q", i, f, w.index, w.uid, w.in)
		}
	}

	exported, raw := exportAll(t, src)
	if len(exported) != 2500 {
		t.Fatalf("export: got %d users, want 2500", len(exported))
	}
	for _, u := range users {
		got, ok := exported[u.LocalID]
		if !ok {
			t.Fatalf("user %s missing from the export", u.LocalID)
		}
		if g, w := normalize(got), normalize(u); !reflect.DeepEqual(g, w) {
			t.Fatalf("user %s after import and export:\n got %+v\nwant %+v", u.LocalID, g, w)
		}
	}
	// The stored hash is the HMAC of the original password: the one a
	// production project would check at sign-in.
	u0 := exported["rt-00003"]
	salt, _ := decodeB64(u0.Salt)
	hash, _ := decodeB64(u0.PasswordHash)
	if !bytes.Equal(hash, hmacSHA256(testHashKey, "password-3", salt)) {
		t.Fatalf("stored hash of rt-00003 is not HMAC_SHA256(key, original password + salt)")
	}

	// Into a fresh project and a fresh tenant: identical users.
	dst := projectClient(t)
	ten, err := dst.CreateTenant(ctx, (&TenantToCreate{}).DisplayName("import"))
	if err != nil {
		t.Fatal(err)
	}
	tdst, _ := dst.ForTenant(ten.ID)
	for _, target := range []*Client{dst, tdst} {
		rep, err := target.ImportUsers(ctx, bytes.NewReader(raw), ImportOptions{
			Hash: HashConfig{Algorithm: "HMAC_SHA256", Key: testHashKey}, Concurrency: 2})
		if err != nil || rep.Imported != 2500 || rep.Failed != 0 {
			t.Fatalf("re-import into %q: got %+v, %v", target.TenantID(), rep, err)
		}
		again, _ := exportAll(t, target)
		if !reflect.DeepEqual(again, exported) {
			for id, u := range exported {
				if !reflect.DeepEqual(again[id], u) {
					t.Fatalf("re-import into %q: user %s differs:\n got %+v\nwant %+v", target.TenantID(), id, again[id], u)
				}
			}
			t.Fatalf("re-import into %q: %d users, want %d", target.TenantID(), len(again), len(exported))
		}
	}
}

// TestImportPasswordWithoutHashConfig: users with a hash are reported, the
// others imported.
func TestImportPasswordWithoutHashConfig(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	users := genUsers("nohash", 6) // users 0 and 3 have a hash
	rep, err := c.ImportUsers(context.Background(), bytes.NewReader(usersFile(t, users, nil)), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 4 || rep.Failed != 2 || !strings.Contains(rep.Failures[0].Reason, "no hash algorithm") {
		t.Fatalf("got %+v, want 4 imported and 2 failures for missing hash config", rep)
	}
	if _, err := c.ImportUsers(context.Background(), bytes.NewReader(nil), ImportOptions{Hash: HashConfig{Algorithm: "HMAC_SHA256"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("HMAC without key: got %v, want ErrInvalid", err)
	}
}

// TestImportRejectedByService: users the service refuses one by one (here
// a phone number taken by another user of the batch, and an email of an
// existing user) are reported with the service's reason, the rest import.
func TestImportRejectedByService(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, (&UserToCreate{}).UID("existing").Email("taken@example.com")); err != nil {
		t.Fatal(err)
	}
	file := `{"users": [
{"localId": "ok-1", "email": "ok1@example.com"},
{"localId": "clash", "email": "taken@example.com"},
{"localId": "ok-2"}
]}`
	rep, err := c.ImportUsers(ctx, strings.NewReader(file), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 2 || rep.Failed != 1 || rep.Failures[0].UID != "clash" || rep.Failures[0].Index != 1 || rep.Failures[0].Reason == "" {
		t.Fatalf("got %+v, want ok-1 and ok-2 imported and clash reported at index 1", rep)
	}
	if _, err := c.GetUser(ctx, "ok-2"); err != nil {
		t.Fatalf("ok-2 not imported: %v", err)
	}
}

// TestImportTruncatedFile: the users before the damage are imported, the
// error says where the file ends.
func TestImportTruncatedFile(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	file := usersFile(t, genUsers("trunc", 30), nil)
	file = file[:len(file)*2/3]
	rep, err := c.ImportUsers(context.Background(), bytes.NewReader(file), ImportOptions{Hash: HashConfig{Algorithm: "HMAC_SHA256", Key: testHashKey}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("got %v, want ErrInvalid saying truncated", err)
	}
	if rep.Read < 15 || rep.Imported+rep.Failed != rep.Read || rep.Imported == 0 {
		t.Fatalf("report %+v: want the users before the damage imported", rep)
	}
}

// genReader produces a users file on demand and counts the users handed out.
type genReader struct {
	n, produced int
	buf         bytes.Buffer
	mu          sync.Mutex
	closed      bool
}

func (g *genReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.buf.Len() < len(p) && !g.closed {
		switch {
		case g.produced == 0 && g.buf.Len() == 0 && g.n > 0:
			g.buf.WriteString(`{"users": [`)
			fallthrough
		case g.produced < g.n:
			if g.produced > 0 {
				g.buf.WriteString(",")
			}
			fmt.Fprintf(&g.buf, `{"localId":"mem-%06d","email":"mem-%06d@example.com","displayName":"%s"}`,
				g.produced, g.produced, strings.Repeat("x", 100))
			g.produced++
		default:
			g.buf.WriteString("]}")
			g.closed = true
		}
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	return g.buf.Read(p)
}

func (g *genReader) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.produced
}

// TestImportBoundedMemory: the reader never runs ahead of the imports by
// more than the batches in flight, so memory stays bounded whatever the
// file's size.
func TestImportBoundedMemory(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	const batch, conc = 100, 2
	g := &genReader{n: 3000}
	var maxAhead atomic.Int64
	rep, err := c.ImportUsers(context.Background(), g, ImportOptions{BatchSize: batch, Concurrency: conc,
		Progress: func(r ImportReport) {
			ahead := int64(g.count() - r.Imported - r.Failed)
			for {
				cur := maxAhead.Load()
				if ahead <= cur || maxAhead.CompareAndSwap(cur, ahead) {
					break
				}
			}
		}})
	if err != nil || rep.Imported != 3000 || rep.Batches != 30 {
		t.Fatalf("got %+v, %v; want 3000 users in 30 batches", rep, err)
	}
	// In flight: conc batches, one being filled, one waiting for a slot,
	// and what the JSON decoder buffers (a few KB).
	if limit := int64((conc+2)*batch + 50); maxAhead.Load() > limit {
		t.Fatalf("the reader ran %d users ahead of the imports, want at most %d", maxAhead.Load(), limit)
	}
}

func TestImportCanceled(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := &genReader{n: 5000}
	rep, err := c.ImportUsers(ctx, g, ImportOptions{BatchSize: 100, Concurrency: 1,
		Progress: func(r ImportReport) {
			if r.Batches == 2 {
				cancel()
			}
		}})
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("got %v, want ErrCanceled", err)
	}
	if rep.Imported < 200 || rep.Imported >= 5000 || rep.Read != rep.Imported+rep.Failed {
		t.Fatalf("report %+v: want a partial import that accounts for every user read", rep)
	}
}

func TestExportEmptyAndCanceled(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	var buf bytes.Buffer
	n, err := c.ExportUsers(context.Background(), &buf, ExportOptions{})
	if err != nil || n != 0 {
		t.Fatalf("empty export: %d, %v", n, err)
	}
	if users, _, err := readAll(t, buf.String()); err != nil || len(users) != 0 {
		t.Fatalf("empty export file %q: %v", buf.String(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ExportUsers(ctx, io.Discard, ExportOptions{}); !errors.Is(err, ErrCanceled) {
		t.Fatalf("canceled export: got %v, want ErrCanceled", err)
	}
}

// Hashes and salts are written in standard base64, padded, whatever the
// API's alphabet, and read in either; the Auth emulator's placeholder hash
// is not base64 and passes through unchanged.
func TestPasswordHashCodec(t *testing.T) {
	raw := []byte{0xfb, 0xff, 0xbf, 0x12, 0x34, 0xfe}
	std := base64.StdEncoding.EncodeToString(raw) // "+/+/EjT+"-like: both + and /
	for _, in := range []string{std, base64.URLEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw)} {
		got, err := decodeB64(in)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("decodeB64(%q) = %x, %v; want %x", in, got, err, raw)
		}
		if got := exportB64(in); got != std {
			t.Errorf("exportB64(%q) = %q, want %q", in, got, std)
		}
	}
	odd := []byte{1, 2, 3, 4} // needs padding
	if got, want := exportB64(base64.RawURLEncoding.EncodeToString(odd)), base64.StdEncoding.EncodeToString(odd); got != want {
		t.Errorf("exportB64 of unpadded: got %q, want %q", got, want)
	}
	fake := "fakeHash:salt=fakeSaltAbC:password=pw-with_dash+plus/slash"
	if got := exportB64(fake); got != fake {
		t.Errorf("exportB64(%q) = %q: the emulator's placeholder must pass unchanged", fake, got)
	}
	u := &FileUser{LocalID: "u", PasswordHash: fake, Salt: "fakeSaltAbC"}
	if err := u.Validate(); err != nil {
		t.Errorf("Validate of a user with the emulator's placeholder hash: %v", err)
	}
	rec := &ExportedUserRecord{UserRecord: &UserRecord{UserInfo: &fbauth.UserInfo{UID: "u"}},
		PasswordHash: base64.URLEncoding.EncodeToString(raw), PasswordSalt: "c2FsdC0_Pw"}
	if f := FileUserFromRecord(rec); f.PasswordHash != std || f.Salt != "c2FsdC0/Pw==" {
		t.Errorf("FileUserFromRecord: hash %q salt %q, want %q and %q", f.PasswordHash, f.Salt, std, "c2FsdC0/Pw==")
	}
}

// A password user exported from the Auth emulator imports back identically
// (the emulator's placeholder hash and salt unchanged, - and _ in the
// password included) and signs in with the same password; a production
// project refuses such a user by name.
func TestEmulatorPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	var tenants [2]*Client
	for i := range tenants {
		ten, err := c.CreateTenant(ctx, (&TenantToCreate{}).DisplayName(fmt.Sprintf("roundtrip%d", i)).AllowPasswordSignUp(true))
		if err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		t.Cleanup(func() { _ = c.DeleteTenant(context.Background(), ten.ID) })
		if tenants[i], err = c.ForTenant(ten.ID); err != nil {
			t.Fatal(err)
		}
	}
	src, dst := tenants[0], tenants[1]
	email, password := emutest.UniqueEmail(t, "roundtrip"), "pw-a+b/c-d_e=="
	if _, err := src.CreateUser(ctx, (&UserToCreate{}).UID("rt").Email(email).Password(password)); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	if _, err := src.ExportUsers(ctx, &first, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), ":password="+password+`"`) {
		t.Fatalf("export changed the emulator's placeholder hash:\n%s", first.String())
	}
	rep, err := dst.ImportUsers(ctx, bytes.NewReader(first.Bytes()), ImportOptions{})
	if err != nil || rep.Imported != 1 || rep.Failed != 0 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	var second bytes.Buffer
	if _, err := dst.ExportUsers(ctx, &second, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Fatalf("export, import, export: the files differ:\n%s\n%s", first.String(), second.String())
	}
	if _, err := dst.SignInClient().SignInWithPassword(ctx, email, password); err != nil {
		t.Fatalf("sign-in with the password after the import: %v", err)
	}

	prod := productionClient(t, "demo-roundtrip")
	rep, err = prod.ImportUsers(ctx, bytes.NewReader(first.Bytes()), ImportOptions{})
	if err != nil || rep.Failed != 1 || len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0].Reason, "Auth emulator's placeholder") {
		t.Fatalf("import of a placeholder hash into production: got %+v, %v; want one failure naming the placeholder", rep, err)
	}
}
