package auth

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	fbauth "firebase.google.com/go/v4/auth"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// FileUser is one user of the JSON file written by `firebase auth:export`
// and read by `firebase auth:import`: {"users": [FileUser, ...]}. Field
// names, encodings (standard base64 for hashes and salts, milliseconds as
// decimal strings, custom claims as a JSON string) and the allowed provider
// IDs are the Firebase CLI's.
type FileUser struct {
	LocalID          string         `json:"localId"`
	Email            string         `json:"email,omitempty"`
	EmailVerified    flexBool       `json:"emailVerified"`
	PasswordHash     string         `json:"passwordHash,omitempty"`
	Salt             string         `json:"salt,omitempty"`
	DisplayName      string         `json:"displayName,omitempty"`
	PhotoURL         string         `json:"photoUrl,omitempty"`
	LastSignedInAt   Millis         `json:"lastSignedInAt,omitempty"`
	CreatedAt        Millis         `json:"createdAt,omitempty"`
	PhoneNumber      string         `json:"phoneNumber,omitempty"`
	Disabled         flexBool       `json:"disabled,omitempty"`
	CustomAttributes string         `json:"customAttributes,omitempty"`
	MFAInfo          []FileMFA      `json:"mfaInfo,omitempty"`
	ProviderUserInfo []FileProvider `json:"providerUserInfo,omitempty"`
}

// FileProvider is a linked identity provider of a [FileUser].
type FileProvider struct {
	ProviderID  string `json:"providerId"`
	RawID       string `json:"rawId"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	PhotoURL    string `json:"photoUrl,omitempty"`
}

// FileMFA is an enrolled second factor as the Identity Toolkit API reports it.
type FileMFA struct {
	MFAEnrollmentID string `json:"mfaEnrollmentId,omitempty"`
	DisplayName     string `json:"displayName,omitempty"`
	PhoneInfo       string `json:"phoneInfo,omitempty"`
	EnrolledAt      string `json:"enrolledAt,omitempty"`
}

// FileProviderIDs are the provider IDs the Firebase CLI exports and imports.
var FileProviderIDs = []string{
	"google.com", "facebook.com", "twitter.com", "github.com", "apple.com",
	"microsoft.com", "gc.apple.com", "playgames.google.com", "linkedin.com", "yahoo.com",
}

// Millis is a time in Unix milliseconds, written as a decimal string (as the
// Firebase CLI does) and read from a string or a number.
type Millis int64

// MarshalJSON writes a decimal string.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(m), 10) + `"`), nil
}

// UnmarshalJSON reads a string or a number.
func (m *Millis) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*m = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f < 0 || f > 1e15 {
			return fmt.Errorf("want milliseconds, got %s", b)
		}
		n = int64(f)
	}
	*m = Millis(n)
	return nil
}

// flexBool reads a JSON boolean or the strings "true"/"false".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"true"`:
		*f = true
	case "false", `"false"`, "null", `""`:
		*f = false
	default:
		return fmt.Errorf("want a boolean, got %.20s", b)
	}
	return nil
}

// UserFileReader reads a users file ({"users": [...]}) one user at a time,
// in bounded memory, whatever the file's size.
type UserFileReader struct {
	dec     *json.Decoder
	started bool
	done    bool
	index   int // index of the next user
}

// NewUserFileReader returns a reader over r.
func NewUserFileReader(r io.Reader) *UserFileReader {
	dec := json.NewDecoder(r)
	return &UserFileReader{dec: dec}
}

// RecordError is a user of the file that cannot be used: its JSON is well
// formed but a field is wrong. Reading can go on after it.
type RecordError struct {
	Index int    // position in the file's "users" array, from 0
	UID   string // localId, when it could be read
	Err   error
}

func (e *RecordError) Error() string {
	if e.UID != "" {
		return fmt.Sprintf("user %d (localId %q): %v", e.Index, e.UID, e.Err)
	}
	return fmt.Sprintf("user %d: %v", e.Index, e.Err)
}

func (e *RecordError) Unwrap() []error { return []error{errs.ErrInvalid, e.Err} }

// Next returns the next user, and its index in the file. At the end it
// returns io.EOF. A *RecordError is about one user: call Next again to go
// on. Any other error (a syntax error, a truncated file, a read error) is
// fatal and says where in the file it happened.
func (r *UserFileReader) Next() (*FileUser, int, error) {
	if r.done {
		return nil, r.index, io.EOF
	}
	if !r.started {
		if err := r.seekUsers(); err != nil {
			r.done = true
			return nil, 0, err
		}
		r.started = true
	}
	if !r.dec.More() {
		// Closing bracket of the array; what follows is not needed.
		if _, err := r.dec.Token(); err != nil {
			r.done = true
			return nil, r.index, r.fatal(err)
		}
		r.done = true
		return nil, r.index, io.EOF
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		r.done = true
		return nil, r.index, r.fatal(err)
	}
	idx := r.index
	r.index++
	u, err := decodeFileUser(raw)
	if err != nil {
		return nil, idx, &RecordError{Index: idx, UID: peekLocalID(raw), Err: err}
	}
	return u, idx, nil
}

// seekUsers advances to the first element of the top-level "users" array,
// skipping any other top-level keys.
func (r *UserFileReader) seekUsers() error {
	tok, err := r.dec.Token()
	if err != nil {
		return r.fatal(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return r.format("the file must be a JSON object {\"users\": [...]}")
	}
	for r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return r.fatal(err)
		}
		key, _ := tok.(string)
		if key != "users" {
			var skip json.RawMessage
			if err := r.dec.Decode(&skip); err != nil {
				return r.fatal(err)
			}
			continue
		}
		tok, err = r.dec.Token()
		if err != nil {
			return r.fatal(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return r.format(`"users" must be an array`)
		}
		return nil
	}
	return r.format(`no "users" array in the file`)
}

func (r *UserFileReader) fatal(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errs.New(errs.ErrInvalid, "read users file", "",
			"file ends early at byte %d (after %d users): truncated?", r.dec.InputOffset(), r.index)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errs.New(errs.ErrInvalid, "read users file", "",
			"JSON syntax error at byte %d (user %d): %v", se.Offset, r.index, se)
	}
	return &errs.Error{Kind: errs.ErrInvalid, Op: "read users file", Cause: err}
}

func (r *UserFileReader) format(msg string) error {
	return errs.New(errs.ErrInvalid, "read users file", "", "%s (at byte %d)", msg, r.dec.InputOffset())
}

func decodeFileUser(raw []byte) (*FileUser, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var u FileUser
	if err := dec.Decode(&u); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return nil, fmt.Errorf("a user must be a JSON object, got a JSON %s", te.Value)
			}
			return nil, fmt.Errorf("field %q: want %s", te.Field, te.Type)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return nil, fmt.Errorf("unsupported key %s (the Firebase CLI's format allows only its own keys)",
				strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return nil, err
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	return &u, nil
}

func peekLocalID(raw []byte) string {
	var p struct {
		LocalID any `json:"localId"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	s, _ := p.LocalID.(string)
	return s
}

var phoneRE = regexp.MustCompile(`^\+.*[0-9A-Za-z]`)

// Validate checks the user as an import would (the Admin SDK's and the
// Firebase CLI's rules), so that one bad user does not fail its batch.
func (u *FileUser) Validate() error {
	switch {
	case u.LocalID == "":
		return errors.New("localId is required")
	case len(u.LocalID) > 128:
		return fmt.Errorf("localId is %d characters, more than 128", len(u.LocalID))
	}
	if u.Email != "" {
		if parts := strings.Split(u.Email, "@"); len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return fmt.Errorf("invalid email %q", u.Email)
		}
	}
	if u.PhoneNumber != "" && !phoneRE.MatchString(u.PhoneNumber) {
		return fmt.Errorf("phone number %q is not E.164 (+ and digits)", u.PhoneNumber)
	}
	if u.PasswordHash != "" && !IsEmulatorHash(u.PasswordHash) {
		if _, err := decodeB64(u.PasswordHash); err != nil {
			return errors.New("passwordHash is not base64")
		}
	}
	if u.Salt != "" && !IsEmulatorHash(u.PasswordHash) {
		if _, err := decodeB64(u.Salt); err != nil {
			return errors.New("salt is not base64")
		}
	}
	if _, err := u.Claims(); err != nil {
		return err
	}
	for i, p := range u.ProviderUserInfo {
		if !slices.Contains(FileProviderIDs, p.ProviderID) {
			return fmt.Errorf("providerUserInfo[%d]: unsupported providerId %q", i, p.ProviderID)
		}
		if p.RawID == "" {
			return fmt.Errorf("providerUserInfo[%d]: rawId is required", i)
		}
	}
	return nil
}

// Claims decodes customAttributes (nil when empty).
func (u *FileUser) Claims() (map[string]any, error) {
	if strings.TrimSpace(u.CustomAttributes) == "" {
		return nil, nil
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(u.CustomAttributes), &claims); err != nil || claims == nil {
		return nil, errors.New("customAttributes is not a JSON object")
	}
	if len(claims) == 0 {
		return nil, nil
	}
	if err := validateClaims("customAttributes", "", claims); err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return nil, e.Cause
		}
		return nil, err
	}
	return claims, nil
}

// emulatorHashPrefix starts what the Auth emulator stores instead of a
// password hash: "fakeHash:salt=SALT:password=PASSWORD", the password in
// clear (the emulator hashes nothing).
const emulatorHashPrefix = "fakeHash:"

// IsEmulatorHash reports whether a passwordHash is the Auth emulator's
// placeholder rather than a hash. Such a hash is exported as it is (it is
// not base64) and imports only into the Auth emulator, which takes it back
// as it is: [Client.ImportUsers] sends it to the emulator unchanged.
func IsEmulatorHash(h string) bool { return strings.HasPrefix(h, emulatorHashPrefix) }

// Password hashes and salts are bytes. The Identity Toolkit API writes them
// in base64 (URL-safe in production), the Firebase CLI's file in standard
// base64 (auth:export turns - and _ into + and /, auth:import back), and the
// Admin SDK takes raw bytes to import (UserToImport.PasswordHash), which it
// sends as URL-safe base64. So fbadmin writes standard base64, padded, and
// reads either alphabet, padded or not; the emulator's placeholder hash,
// which is not base64 at all, passes through unchanged.

// decodeB64 accepts standard or URL-safe base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// toImport converts the (validated) user to the Admin SDK's import record.
// It returns a warning for what cannot be imported.
func (u *FileUser) toImport() (*fbauth.UserToImport, string) {
	ui := (&fbauth.UserToImport{}).UID(u.LocalID)
	if u.Email != "" {
		ui.Email(u.Email)
	}
	ui.EmailVerified(bool(u.EmailVerified))
	if u.Disabled {
		ui.Disabled(true)
	}
	if u.DisplayName != "" {
		ui.DisplayName(u.DisplayName)
	}
	if u.PhotoURL != "" {
		ui.PhotoURL(u.PhotoURL)
	}
	if u.PhoneNumber != "" {
		ui.PhoneNumber(u.PhoneNumber)
	}
	if u.PasswordHash != "" {
		h, _ := decodeB64(u.PasswordHash)
		ui.PasswordHash(h)
		if u.Salt != "" {
			s, _ := decodeB64(u.Salt)
			ui.PasswordSalt(s)
		}
	}
	if u.CreatedAt != 0 || u.LastSignedInAt != 0 {
		ui.Metadata(&fbauth.UserMetadata{CreationTimestamp: int64(u.CreatedAt), LastLogInTimestamp: int64(u.LastSignedInAt)})
	}
	if claims, _ := u.Claims(); len(claims) > 0 {
		ui.CustomClaims(claims)
	}
	if len(u.ProviderUserInfo) > 0 {
		ps := make([]*fbauth.UserProvider, len(u.ProviderUserInfo))
		for i, p := range u.ProviderUserInfo {
			ps[i] = &fbauth.UserProvider{UID: p.RawID, ProviderID: p.ProviderID, Email: p.Email,
				DisplayName: p.DisplayName, PhotoURL: p.PhotoURL}
		}
		ui.ProviderData(ps)
	}
	warn := ""
	if len(u.MFAInfo) > 0 {
		warn = "mfaInfo not imported: the Admin SDK cannot import second factors"
	}
	return ui, warn
}

// FileUserFromRecord converts an exported user record to the file format,
// as `firebase auth:export` writes it: standard base64 for the hash and the
// salt, only the providers the CLI knows, claims as a JSON string.
func FileUserFromRecord(r *ExportedUserRecord) *FileUser {
	u := &FileUser{
		PasswordHash: exportB64(r.PasswordHash),
		Salt:         exportB64(r.PasswordSalt),
	}
	if r.UserRecord == nil {
		return u
	}
	if r.UserInfo != nil {
		u.LocalID = r.UID
		u.Email = r.Email
		u.DisplayName = r.DisplayName
		u.PhotoURL = r.PhotoURL
		u.PhoneNumber = r.PhoneNumber
	}
	u.EmailVerified = flexBool(r.EmailVerified)
	u.Disabled = flexBool(r.Disabled)
	if r.UserMetadata != nil {
		u.CreatedAt = Millis(r.UserMetadata.CreationTimestamp)
		u.LastSignedInAt = Millis(r.UserMetadata.LastLogInTimestamp)
	}
	if len(r.CustomClaims) > 0 {
		if b, err := json.Marshal(r.CustomClaims); err == nil {
			u.CustomAttributes = string(b)
		}
	}
	for _, p := range r.ProviderUserInfo {
		if p == nil || !slices.Contains(FileProviderIDs, p.ProviderID) {
			continue
		}
		u.ProviderUserInfo = append(u.ProviderUserInfo, FileProvider{
			ProviderID: p.ProviderID, RawID: p.UID, Email: p.Email, DisplayName: p.DisplayName, PhotoURL: p.PhotoURL,
		})
	}
	if r.MultiFactor != nil {
		for _, f := range r.MultiFactor.EnrolledFactors {
			if f == nil {
				continue
			}
			m := FileMFA{MFAEnrollmentID: f.UID, DisplayName: f.DisplayName, PhoneInfo: f.PhoneNumber}
			if f.EnrollmentTimestamp != 0 {
				m.EnrolledAt = time.UnixMilli(f.EnrollmentTimestamp).UTC().Format(time.RFC3339)
			}
			u.MFAInfo = append(u.MFAInfo, m)
		}
	}
	return u
}

// exportB64 writes a hash or a salt the API returned as the users file
// holds it: in standard base64, padded. What is not base64 (the Auth
// emulator's placeholder hash, see [IsEmulatorHash]) is written unchanged:
// turning its - and _ into + and /, as the Firebase CLI does, would change
// the password inside it.
func exportB64(s string) string {
	if s == "" || IsEmulatorHash(s) {
		return s
	}
	b, err := decodeB64(s)
	if err != nil {
		return s
	}
	std := base64.StdEncoding.EncodeToString(b)
	if strings.TrimRight(std, "=") != strings.NewReplacer("_", "/", "-", "+").Replace(strings.TrimRight(s, "=")) {
		// Not the canonical encoding of its bytes (stray low bits at the
		// end): keep its characters, in the standard alphabet.
		return strings.NewReplacer("_", "/", "-", "+").Replace(s)
	}
	return std
}

// UserFileWriter writes a users file incrementally: {"users": [ then one
// user per line, then ]} on Close.
type UserFileWriter struct {
	w       *bufio.Writer
	n       int
	started bool
	closed  bool
	buf     bytes.Buffer
	enc     *json.Encoder
}

// NewUserFileWriter returns a writer to w. Close must be called to finish
// the file (it does not close w).
func NewUserFileWriter(w io.Writer) *UserFileWriter {
	fw := &UserFileWriter{w: bufio.NewWriterSize(w, 256<<10)}
	fw.enc = json.NewEncoder(&fw.buf)
	fw.enc.SetEscapeHTML(false)
	return fw
}

// Write appends one user.
func (fw *UserFileWriter) Write(u *FileUser) error {
	if fw.closed {
		return errs.New(errs.ErrInvalid, "write users file", "", "writer is closed")
	}
	if !fw.started {
		if _, err := fw.w.WriteString("{\"users\": [\n"); err != nil {
			return wrapWriteErr(err)
		}
		fw.started = true
	}
	fw.buf.Reset()
	if err := fw.enc.Encode(u); err != nil {
		return errs.New(errs.ErrInvalid, "write users file", u.LocalID, "encode: %v", err)
	}
	line := bytes.TrimRight(fw.buf.Bytes(), "\n")
	if fw.n > 0 {
		if _, err := fw.w.WriteString(",\n"); err != nil {
			return wrapWriteErr(err)
		}
	}
	if _, err := fw.w.Write(line); err != nil {
		return wrapWriteErr(err)
	}
	fw.n++
	return nil
}

// Count returns the number of users written.
func (fw *UserFileWriter) Count() int { return fw.n }

// Close ends the file and flushes it.
func (fw *UserFileWriter) Close() error {
	if fw.closed {
		return nil
	}
	fw.closed = true
	if !fw.started {
		if _, err := fw.w.WriteString("{\"users\": [\n"); err != nil {
			return wrapWriteErr(err)
		}
	}
	if _, err := fw.w.WriteString("\n]}\n"); err != nil {
		return wrapWriteErr(err)
	}
	return wrapWriteErr(fw.w.Flush())
}

func wrapWriteErr(err error) error {
	if err == nil {
		return nil
	}
	return &errs.Error{Kind: errs.ErrUnavailable, Op: "write users file", Cause: err}
}
