// Package session keeps signed-in Firebase Auth sessions for a terminal
// user: who is signed in, to which project, and the refresh token that
// renews their ID token, kept where nothing else reads it.
//
// # Where things are kept
//
// A [Manager] owns a directory (the user's config directory, fbadmin/, or
// FBADMIN_CONFIG_DIR): sessions.json lists the sessions and the default one,
// and holds no token. The tokens of a session (refresh token, the current ID
// token and its expiry, the Web API key it was made with) are one secret,
// kept in the OS keyring ([Keyring]: macOS Keychain, Windows Credential
// Manager, the Secret Service on Linux). Where there is no keyring the
// Manager falls back to secrets.json ([File], mode 0600) and says so once
// through [Options].Notice; a secrets file that the group or others can read
// is refused, never used. Each session records which store holds its
// secret.
//
// # Tokens
//
// Tokens never appear in a [Session], in errors, or in what this package
// logs. [Manager.Source] returns a [Source] that serves a valid ID token,
// refreshing it through the Secure Token API when it expires within five
// minutes and saving the renewed tokens back to their store.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// Session describes one signed-in user. It carries no token.
type Session struct {
	Name    string `json:"name"`
	UID     string `json:"uid"`
	Email   string `json:"email,omitempty"`
	Project string `json:"project"`
	Tenant  string `json:"tenant,omitempty"`
	// Emulator is the Auth emulator host the session was signed in on, ""
	// for production.
	Emulator string `json:"emulator,omitempty"`
	// Method is how the user signed in: password, uid (a minted custom
	// token) or custom-token (one given on stdin).
	Method    string    `json:"method"`
	Store     string    `json:"store"` // keyring or file
	CreatedAt time.Time `json:"created_at"`
	// Default is set in [Manager.List]'s result for the default session.
	Default bool `json:"default,omitempty"`
}

// Where describes the session's backend for messages: "project P" or
// "project P on the Auth emulator at H".
func (s *Session) Where() string {
	w := "project " + s.Project
	if s.Tenant != "" {
		w += ", tenant " + s.Tenant
	}
	if s.Emulator != "" {
		w += " on the Auth emulator at " + s.Emulator
	}
	return w
}

// secret is what a store holds for one session.
type secret struct {
	RefreshToken string    `json:"refresh_token"`
	IDToken      string    `json:"id_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	APIKey       string    `json:"api_key,omitempty"`
}

// Options configures a [Manager].
type Options struct {
	// Dir holds sessions.json (and secrets.json when the file store is
	// used). Empty means [DefaultDir].
	Dir string
	// Store chooses where new secrets go: "auto" (the default: the
	// keyring, else the file with a notice), "keyring" (fail without
	// one) or "file".
	Store string
	// Keyring replaces the OS keyring (tests).
	Keyring Secrets
	// Notice receives the one-line notice of a fallback to the file.
	Notice func(msg string)
}

// Manager keeps sessions. It is safe for concurrent use within a process;
// concurrent processes each rewrite sessions.json atomically, the last
// writer winning.
type Manager struct {
	dir     string
	store   string
	keyring Secrets
	file    *File
	notice  func(string)
	mu      sync.Mutex
}

// DefaultDir returns FBADMIN_CONFIG_DIR, else fbadmin/ in the user's config
// directory (os.UserConfigDir).
func DefaultDir() (string, error) {
	if d := os.Getenv("FBADMIN_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", errs.New(errs.ErrInvalid, "sessions", "", "no config directory: %v (hint: set FBADMIN_CONFIG_DIR)", err)
	}
	return filepath.Join(d, "fbadmin"), nil
}

// Open returns a Manager for opts.
func Open(opts Options) (*Manager, error) {
	dir := opts.Dir
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	store := opts.Store
	switch store {
	case "", "auto":
		store = "auto"
	case "keyring", "file":
	default:
		return nil, errs.New(errs.ErrInvalid, "sessions", "", "unknown store %q: want auto, keyring or file", store)
	}
	m := &Manager{dir: dir, store: store, keyring: opts.Keyring, notice: opts.Notice,
		file: &File{Path: filepath.Join(dir, "secrets.json")}}
	if m.keyring == nil {
		m.keyring = Keyring{}
	}
	if m.notice == nil {
		m.notice = func(string) {}
	}
	return m, nil
}

// Dir returns the Manager's directory.
func (m *Manager) Dir() string { return m.dir }

// FilePath returns the path of the secrets file (the fallback store).
func (m *Manager) FilePath() string { return m.file.Path }

func (m *Manager) indexPath() string { return filepath.Join(m.dir, "sessions.json") }

type index struct {
	Default  string    `json:"default,omitempty"`
	Sessions []Session `json:"sessions"`
}

func (m *Manager) readIndex() (*index, error) {
	b, err := os.ReadFile(m.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return &index{}, nil
	}
	if err != nil {
		return nil, errs.Wrap(err, "read sessions", m.indexPath())
	}
	var ix index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, errs.New(errs.ErrInvalid, "read sessions", m.indexPath(), "%v (hint: remove the file and sign in again)", err)
	}
	return &ix, nil
}

func (m *Manager) writeIndex(ix *index) error {
	for i := range ix.Sessions {
		ix.Sessions[i].Default = false
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return errs.New(errs.ErrInternal, "write sessions", m.indexPath(), "%v", err)
	}
	return writePrivate(m.indexPath(), append(b, '\n'))
}

// List returns the sessions, sorted by name, the default one marked.
func (m *Manager) List() ([]Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.readIndex()
	if err != nil {
		return nil, err
	}
	out := slices.Clone(ix.Sessions)
	slices.SortFunc(out, func(a, b Session) int { return strings.Compare(a.Name, b.Name) })
	for i := range out {
		out[i].Default = out[i].Name == ix.Default
	}
	return out, nil
}

// Get returns the session called name; "" means the default one. A
// missing session is an [errs.ErrNotFound] error that says how to sign in.
func (m *Manager) Get(name string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.readIndex()
	if err != nil {
		return nil, err
	}
	if name == "" {
		if ix.Default == "" {
			return nil, errs.New(errs.ErrNotFound, "session", "", "no default session (hint: sign in with 'fbadmin auth login', or pick one with 'fbadmin auth sessions use NAME')")
		}
		name = ix.Default
	}
	for _, s := range ix.Sessions {
		if s.Name == name {
			s.Default = s.Name == ix.Default
			return &s, nil
		}
	}
	return nil, errs.New(errs.ErrNotFound, "session", name, "no such session (hint: 'fbadmin auth sessions' lists them; sign in with 'fbadmin auth login')")
}

// ValidName checks a session name: 1 to 128 characters, no control
// characters, no "/".
func ValidName(name string) error {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "/\\") || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return errs.New(errs.ErrInvalid, "session", "", "a session name is 1 to 128 printable characters without / or \\")
	}
	return nil
}

func secretKey(s *Session) string { return "session/" + s.Project + "/" + s.Name }

// Save stores a signed-in session with its credentials (replacing a
// session of the same name) and makes it the default. s.Store and
// s.CreatedAt are set here. apiKey is kept with the tokens, for refreshes.
func (m *Manager) Save(s *Session, cred *auth.Credentials, apiKey string) error {
	if err := ValidName(s.Name); err != nil {
		return err
	}
	if cred == nil || cred.RefreshToken == "" {
		return errs.New(errs.ErrInvalid, "save session", s.Name, "no refresh token")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.readIndex()
	if err != nil {
		return err
	}
	// A session of that name kept elsewhere: remove its old secret.
	for _, old := range ix.Sessions {
		if old.Name == s.Name {
			if st, err := m.secrets(old.Store); err == nil {
				_ = st.Delete(secretKey(&old))
			}
		}
	}
	sec := secret{RefreshToken: cred.RefreshToken, IDToken: cred.IDToken, ExpiresAt: cred.ExpiresAt.UTC(), APIKey: apiKey}
	st, err := m.putNew(s, sec)
	if err != nil {
		return err
	}
	s.Store = st.Kind()
	s.CreatedAt = time.Now().UTC().Truncate(time.Second)
	s.Default = false
	ix.Sessions = slices.DeleteFunc(ix.Sessions, func(o Session) bool { return o.Name == s.Name })
	ix.Sessions = append(ix.Sessions, *s)
	ix.Default = s.Name
	return m.writeIndex(ix)
}

// putNew writes a new session's secret to the chosen store, falling back
// from the keyring to the file under "auto".
func (m *Manager) putNew(s *Session, sec secret) (Secrets, error) {
	b, _ := json.Marshal(sec)
	key := secretKey(s)
	if m.store == "file" {
		return m.file, m.file.Set(key, string(b))
	}
	var kerr error
	if av, ok := m.keyring.(interface{ Available() error }); ok {
		kerr = av.Available()
	}
	if kerr == nil {
		kerr = m.keyring.Set(key, string(b))
		if errs.KindOf(kerr) == errs.ErrResourceLimit {
			// Too big for this keyring (macOS: about 3,000 bytes): keep
			// the refresh token only; ID tokens are then fetched anew.
			small, _ := json.Marshal(secret{RefreshToken: sec.RefreshToken, APIKey: sec.APIKey})
			kerr = m.keyring.Set(key, string(small))
		}
		if kerr == nil {
			return m.keyring, nil
		}
	}
	if m.store == "keyring" {
		return nil, fmt.Errorf("%w (hint: use --store file, or FBADMIN_SESSION_STORE=file, to keep it in a 0600 file instead)", kerr)
	}
	m.notice(fmt.Sprintf("no OS keyring (%s): keeping the refresh token in %s (mode 0600)", oneLine(kerr), m.file.Path))
	return m.file, m.file.Set(key, string(b))
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func (m *Manager) secrets(kind string) (Secrets, error) {
	switch kind {
	case "keyring":
		return m.keyring, nil
	case "file":
		return m.file, nil
	}
	return nil, errs.New(errs.ErrInvalid, "session", "", "unknown store %q in %s", kind, m.indexPath())
}

func (m *Manager) loadSecret(s *Session) (secret, error) {
	st, err := m.secrets(s.Store)
	if err != nil {
		return secret{}, err
	}
	raw, err := st.Get(secretKey(s))
	if err != nil {
		if errs.KindOf(err) == errs.ErrNotFound {
			return secret{}, errs.New(errs.ErrNotFound, "session", s.Name, "its tokens are no longer in the %s (hint: sign in again with 'fbadmin auth login')", st.Kind())
		}
		return secret{}, fmt.Errorf("session %s: %w", s.Name, err)
	}
	var sec secret
	if err := json.Unmarshal([]byte(raw), &sec); err != nil || sec.RefreshToken == "" {
		return secret{}, errs.New(errs.ErrInvalid, "session", s.Name, "its stored tokens are unreadable (hint: sign in again with 'fbadmin auth login')")
	}
	return sec, nil
}

func (m *Manager) storeSecret(s *Session, sec secret) error {
	st, err := m.secrets(s.Store)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(sec)
	err = st.Set(secretKey(s), string(b))
	if errs.KindOf(err) == errs.ErrResourceLimit {
		b, _ = json.Marshal(secret{RefreshToken: sec.RefreshToken, APIKey: sec.APIKey})
		err = st.Set(secretKey(s), string(b))
	}
	return err
}

// APIKey returns the Web API key the session was signed in with ("" on
// the emulator).
func (m *Manager) APIKey(s *Session) (string, error) {
	sec, err := m.loadSecret(s)
	return sec.APIKey, err
}

// credentials returns the session's stored tokens.
func (m *Manager) credentials(s *Session) (*auth.Credentials, error) {
	sec, err := m.loadSecret(s)
	if err != nil {
		return nil, err
	}
	return &auth.Credentials{IDToken: sec.IDToken, RefreshToken: sec.RefreshToken, ExpiresAt: sec.ExpiresAt, UID: s.UID, TenantID: s.Tenant}, nil
}

// SetDefault makes the session called name the default.
func (m *Manager) SetDefault(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.readIndex()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ix.Sessions, func(s Session) bool { return s.Name == name }) {
		return errs.New(errs.ErrNotFound, "session", name, "no such session (hint: 'fbadmin auth sessions' lists them)")
	}
	ix.Default = name
	return m.writeIndex(ix)
}

// Remove forgets the session called name ("" for the default one) and
// deletes its tokens from their store. It returns the removed session.
// Nothing is revoked: the refresh token stays valid at Firebase until it is
// revoked (see auth.Client.RevokeRefreshTokens).
func (m *Manager) Remove(name string) (*Session, error) {
	s, err := m.Get(name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.readIndex()
	if err != nil {
		return nil, err
	}
	if st, err := m.secrets(s.Store); err == nil {
		if err := st.Delete(secretKey(s)); err != nil {
			return nil, fmt.Errorf("remove session %s: %w", s.Name, err)
		}
	}
	ix.Sessions = slices.DeleteFunc(ix.Sessions, func(o Session) bool { return o.Name == s.Name })
	if ix.Default == s.Name {
		ix.Default = ""
		if len(ix.Sessions) == 1 {
			ix.Default = ix.Sessions[0].Name
		}
	}
	return s, m.writeIndex(ix)
}

// Source serves a session's ID token, refreshed near expiry, and saves
// renewed tokens back to the session's store.
type Source struct {
	m    *Manager
	s    *Session
	ts   *auth.TokenSource
	key  string
	mu   sync.Mutex
	last *auth.Credentials
}

// Source returns a token source for s that refreshes through sc (which
// must be for the session's project, tenant and emulator).
func (m *Manager) Source(s *Session, sc *auth.SignInClient) (*Source, error) {
	cred, err := m.credentials(s)
	if err != nil {
		return nil, err
	}
	sec, _ := m.loadSecret(s)
	return &Source{m: m, s: s, ts: auth.NewTokenSource(sc, cred), key: sec.APIKey, last: cred}, nil
}

// Session returns the session the source serves.
func (src *Source) Session() *Session { return src.s }

// IDToken returns a valid ID token, refreshing it first when it expires
// within five minutes. A session that is over (refresh token revoked, user
// disabled or deleted) gives an [errs.ErrUnauthenticated] error saying so.
func (src *Source) IDToken(ctx context.Context) (string, error) {
	cred, err := src.ts.Credentials(ctx)
	if err != nil {
		return "", src.ended(err)
	}
	if err := src.save(cred); err != nil {
		return "", err
	}
	return cred.IDToken, nil
}

// Credentials returns the current credentials, refreshed as IDToken does.
func (src *Source) Credentials(ctx context.Context) (*auth.Credentials, error) {
	cred, err := src.ts.Credentials(ctx)
	if err != nil {
		return nil, src.ended(err)
	}
	return cred, src.save(cred)
}

// Refreshes tells how many refresh calls the source made.
func (src *Source) Refreshes() int64 { return src.ts.Refreshes() }

func (src *Source) ended(err error) error {
	var te *auth.TokenError
	if errors.As(err, &te) {
		return &errs.Error{Kind: errs.ErrUnauthenticated, Op: "session", Target: src.s.Name,
			Cause: fmt.Errorf("the session has ended: %v (hint: sign in again with 'fbadmin auth login', or remove it with 'fbadmin auth sessions remove %s')", err, src.s.Name)}
	}
	return fmt.Errorf("session %s: %w", src.s.Name, err)
}

// save writes renewed credentials back to the store.
func (src *Source) save(cred *auth.Credentials) error {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.last != nil && src.last.IDToken == cred.IDToken && src.last.RefreshToken == cred.RefreshToken && src.last.ExpiresAt.Equal(cred.ExpiresAt) {
		return nil
	}
	src.m.mu.Lock()
	defer src.m.mu.Unlock()
	sec := secret{RefreshToken: cred.RefreshToken, IDToken: cred.IDToken, ExpiresAt: cred.ExpiresAt.UTC(), APIKey: src.key}
	if err := src.m.storeSecret(src.s, sec); err != nil {
		return fmt.Errorf("save the renewed tokens of session %s: %w", src.s.Name, err)
	}
	src.last = cred
	return nil
}

// Close saves the last tokens served and stops a refresh in flight.
func (src *Source) Close() error {
	return src.ts.Close()
}
