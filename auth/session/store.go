package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Secrets keeps secret strings under keys: the OS keyring ([Keyring]) or a
// private file ([File]).
type Secrets interface {
	// Kind names the store in session records and messages: "keyring" or
	// "file".
	Kind() string
	// Get returns the secret under key; a missing one is an
	// [errs.ErrNotFound] error.
	Get(key string) (string, error)
	Set(key, secret string) error
	// Delete removes the secret; a missing one is not an error.
	Delete(key string) error
}

// KeyringService is the service name fbadmin's secrets have in the OS
// keyring (macOS Keychain, Windows Credential Manager, the Secret Service
// on Linux).
const KeyringService = "fbadmin"

// keyringTimeout bounds one keyring call: a Secret Service that waits for
// a prompt nobody answers must not hang the command.
const keyringTimeout = 10 * time.Second

// Keyring is the OS keyring, through github.com/zalando/go-keyring.
type Keyring struct {
	// Service defaults to [KeyringService].
	Service string
}

// Kind returns "keyring".
func (Keyring) Kind() string { return "keyring" }

func (k Keyring) service() string {
	if k.Service != "" {
		return k.Service
	}
	return KeyringService
}

// Available reports, without touching the keyring, whether one can be
// there: on Linux and the BSDs the Secret Service is reached over the D-Bus
// session bus, so without one (a server, a container, CI) the file is used
// at once rather than after a D-Bus auto-launch attempt.
func (Keyring) Available() error {
	switch runtime.GOOS {
	case "darwin", "windows":
		return nil
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return nil
		}
	}
	return errors.New("no D-Bus session bus for the Secret Service (DBUS_SESSION_BUS_ADDRESS is not set)")
}

// Get reads a secret from the keyring.
func (k Keyring) Get(key string) (string, error) {
	var s string
	err := withTimeout(func() (err error) { s, err = keyring.Get(k.service(), key); return err })
	if errors.Is(err, keyring.ErrNotFound) {
		return "", errs.New(errs.ErrNotFound, "keyring", key, "no secret in the OS keyring")
	}
	if err != nil {
		return "", errs.New(errs.ErrUnavailable, "keyring", key, "%v", err)
	}
	return s, nil
}

// Set writes a secret to the keyring.
func (k Keyring) Set(key, secret string) error {
	err := withTimeout(func() error { return keyring.Set(k.service(), key, secret) })
	if err != nil {
		kind := errs.ErrUnavailable
		if errors.Is(err, keyring.ErrSetDataTooBig) {
			kind = errs.ErrResourceLimit
		}
		return &errs.Error{Kind: kind, Op: "keyring", Target: key, Cause: err}
	}
	return nil
}

// Delete removes a secret from the keyring.
func (k Keyring) Delete(key string) error {
	err := withTimeout(func() error { return keyring.Delete(k.service(), key) })
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return errs.New(errs.ErrUnavailable, "keyring", key, "%v", err)
	}
	return nil
}

// withTimeout runs f, giving up after keyringTimeout (f goes on in the
// background; a CLI process ends soon after).
func withTimeout(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(keyringTimeout):
		return fmt.Errorf("the keyring did not answer within %s (is it locked, waiting for a prompt?)", keyringTimeout)
	}
}

// File keeps secrets in one JSON file readable by its owner only. It is
// created with mode 0600 (its directory 0700), and a file that the group or
// others can read is refused, not used: the error says how to fix it.
type File struct {
	Path string
	mu   sync.Mutex
}

// Kind returns "file".
func (*File) Kind() string { return "file" }

// Get reads a secret from the file.
func (f *File) Get(key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return "", err
	}
	s, ok := m[key]
	if !ok {
		return "", errs.New(errs.ErrNotFound, "secrets file", f.Path, "no secret for %s", key)
	}
	return s, nil
}

// Set writes a secret to the file.
func (f *File) Set(key, secret string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return err
	}
	m[key] = secret
	return f.write(m)
}

// Delete removes a secret from the file.
func (f *File) Delete(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return err
	}
	if _, ok := m[key]; !ok {
		return nil
	}
	delete(m, key)
	return f.write(m)
}

// CheckPrivate returns an error when path exists and is readable or
// writable by its group or others.
func CheckPrivate(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errs.Wrap(err, "secrets file", path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return errs.New(errs.ErrPermission, "secrets file", path,
			"refusing to use it: its mode is %04o, readable by others than its owner (hint: run 'chmod 600 %s' if nobody else could have read it, else remove it, revoke the sessions with 'fbadmin auth logout --revoke' and sign in again)",
			st.Mode().Perm(), path)
	}
	return nil
}

func (f *File) read() (map[string]string, error) {
	if err := CheckPrivate(f.Path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, errs.Wrap(err, "read secrets file", f.Path)
	}
	m := map[string]string{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			// Never quote the content: it holds tokens.
			return nil, errs.New(errs.ErrInvalid, "read secrets file", f.Path, "not a JSON object of strings (hint: remove it and sign in again)")
		}
	}
	return m, nil
}

func (f *File) write(m map[string]string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return errs.New(errs.ErrInternal, "write secrets file", f.Path, "encode: %v", err)
	}
	return writePrivate(f.Path, b)
}

// writePrivate writes b to path atomically, mode 0600, creating its
// directory with mode 0700.
func writePrivate(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errs.Wrap(err, "create directory", dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return errs.Wrap(err, "write", path)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return errs.Wrap(err, "write", path)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return errs.Wrap(err, "write", path)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return errs.Wrap(err, "write", path)
	}
	if err := tmp.Close(); err != nil {
		return errs.Wrap(err, "write", path)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errs.Wrap(err, "write", path)
	}
	return nil
}
