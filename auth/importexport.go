package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	fbauth "firebase.google.com/go/v4/auth"
	"firebase.google.com/go/v4/auth/hash"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
)

// HashConfig names the password hash algorithm of imported users and its
// parameters, with the meaning of `firebase auth:import`'s flags
// (--hash-algo, --hash-key, --salt-separator, --rounds, --mem-cost,
// --parallelization, --block-size, --dk-len, --hash-input-order).
type HashConfig struct {
	// Algorithm: HMAC_SHA512, HMAC_SHA256, HMAC_SHA1, HMAC_MD5, MD5, SHA1,
	// SHA256, SHA512, PBKDF_SHA1, PBKDF2_SHA256, SCRYPT (Firebase's
	// modified scrypt), STANDARD_SCRYPT or BCRYPT. Empty: users with a
	// password hash cannot be imported (they are reported as failures).
	Algorithm string
	// Key is the hash key (HMAC_*, SCRYPT); the raw bytes, not base64.
	Key []byte
	// SaltSeparator (SCRYPT); raw bytes.
	SaltSeparator []byte
	// Rounds (MD5 0..8192, SHA* 1..8192, PBKDF* 0..120000, SCRYPT 1..8).
	Rounds int
	// MemoryCost is the memory cost of SCRYPT (1..14), or the CPU/memory
	// cost of STANDARD_SCRYPT.
	MemoryCost int
	// Parallelization, BlockSize and DerivedKeyLength (STANDARD_SCRYPT).
	Parallelization  int
	BlockSize        int
	DerivedKeyLength int
	// InputOrder: "SALT_FIRST", "PASSWORD_FIRST" or "" (MD5, SHA*, HMAC_*).
	InputOrder string
}

// Option converts the configuration to the Admin SDK's import option,
// checking it as the Firebase CLI does. It returns nil for an empty
// Algorithm.
func (h HashConfig) Option() (fbauth.UserImportOption, error) {
	const op = "password hash config"
	algo := strings.ToUpper(strings.TrimSpace(h.Algorithm))
	if algo == "" {
		return nil, nil
	}
	var order hash.InputOrderType
	switch strings.ToUpper(h.InputOrder) {
	case "":
	case "SALT_FIRST":
		order = hash.InputOrderSaltFirst
	case "PASSWORD_FIRST":
		order = hash.InputOrderPasswordFirst
	default:
		return nil, errs.New(errs.ErrInvalid, op, "InputOrder", "want SALT_FIRST or PASSWORD_FIRST, got %q", h.InputOrder)
	}
	needKey := func() error {
		if len(h.Key) == 0 {
			return errs.New(errs.ErrInvalid, op, "Key", "%s needs the hash key (--hash-key)", algo)
		}
		return nil
	}
	rounds := func(lo, hi int) error {
		if h.Rounds < lo || h.Rounds > hi {
			return errs.New(errs.ErrInvalid, op, "Rounds", "%s needs rounds in %d..%d, got %d", algo, lo, hi, h.Rounds)
		}
		return nil
	}
	var impl fbauth.UserImportHash
	switch algo {
	case "HMAC_SHA512", "HMAC_SHA256", "HMAC_SHA1", "HMAC_MD5":
		if err := needKey(); err != nil {
			return nil, err
		}
		impl = map[string]fbauth.UserImportHash{
			"HMAC_SHA512": hash.HMACSHA512{Key: h.Key, InputOrder: order},
			"HMAC_SHA256": hash.HMACSHA256{Key: h.Key, InputOrder: order},
			"HMAC_SHA1":   hash.HMACSHA1{Key: h.Key, InputOrder: order},
			"HMAC_MD5":    hash.HMACMD5{Key: h.Key, InputOrder: order},
		}[algo]
	case "MD5":
		if err := rounds(0, 8192); err != nil {
			return nil, err
		}
		impl = hash.MD5{Rounds: h.Rounds, InputOrder: order}
	case "SHA1", "SHA256", "SHA512":
		if err := rounds(1, 8192); err != nil {
			return nil, err
		}
		impl = map[string]fbauth.UserImportHash{
			"SHA1":   hash.SHA1{Rounds: h.Rounds, InputOrder: order},
			"SHA256": hash.SHA256{Rounds: h.Rounds, InputOrder: order},
			"SHA512": hash.SHA512{Rounds: h.Rounds, InputOrder: order},
		}[algo]
	case "PBKDF_SHA1", "PBKDF2_SHA256":
		if err := rounds(0, 120000); err != nil {
			return nil, err
		}
		if algo == "PBKDF_SHA1" {
			impl = hash.PBKDFSHA1{Rounds: h.Rounds}
		} else {
			impl = hash.PBKDF2SHA256{Rounds: h.Rounds}
		}
	case "SCRYPT":
		if err := needKey(); err != nil {
			return nil, err
		}
		if err := rounds(1, 8); err != nil {
			return nil, err
		}
		if h.MemoryCost < 1 || h.MemoryCost > 14 {
			return nil, errs.New(errs.ErrInvalid, op, "MemoryCost", "SCRYPT needs a memory cost in 1..14, got %d", h.MemoryCost)
		}
		impl = hash.Scrypt{Key: h.Key, SaltSeparator: h.SaltSeparator, Rounds: h.Rounds, MemoryCost: h.MemoryCost}
	case "STANDARD_SCRYPT":
		impl = hash.StandardScrypt{MemoryCost: h.MemoryCost, Parallelization: h.Parallelization,
			BlockSize: h.BlockSize, DerivedKeyLength: h.DerivedKeyLength}
	case "BCRYPT":
		impl = hash.Bcrypt{}
	default:
		return nil, errs.New(errs.ErrInvalid, op, "Algorithm", "unsupported hash algorithm %q", h.Algorithm)
	}
	if _, err := impl.Config(); err != nil {
		return nil, errs.New(errs.ErrInvalid, op, algo, "%v", err)
	}
	return fbauth.WithHash(impl), nil
}

// ImportOptions tunes [Client.ImportUsers].
type ImportOptions struct {
	// Hash is required when the file holds password hashes.
	Hash HashConfig
	// BatchSize is the number of users per call, at most (and by default)
	// 1,000.
	BatchSize int
	// Concurrency is the number of batches in flight (default 4). Memory
	// use is bounded by (Concurrency+1) x BatchSize users.
	Concurrency int
	// MaxFailures caps the failures kept in the report (default 10,000);
	// beyond it failures are only counted.
	MaxFailures int
	// Progress, if set, is called after each batch with the running totals.
	Progress func(ImportReport)
}

// ImportFailure is one user that was not imported (or, in Warnings,
// imported with a loss).
type ImportFailure struct {
	Index  int    // position in the file's "users" array, from 0
	UID    string // localId, when known
	Reason string
}

// ImportReport is the outcome of an import.
type ImportReport struct {
	Read     int // users read from the file (well-formed or not)
	Imported int
	Failed   int
	Batches  int
	Failures []ImportFailure // at most MaxFailures of them
	Warnings []ImportFailure
	Duration time.Duration
}

type pendingUser struct {
	index int
	uid   string
	user  *fbauth.UserToImport
	// file is set instead of user for a user with the Auth emulator's
	// placeholder hash, sent to the emulator as the file has it.
	file *FileUser
}

// ImportUsers imports the users of a file in the Firebase CLI's auth:export
// JSON format, read as a stream, in batches of up to 1,000 (several in
// flight). A user that cannot be imported (bad field, duplicate UID in the
// file, refused by the service) is reported in the result and the import
// goes on; a batch refused as a whole is split to find the culprits. The
// error is non-nil only when the import could not go on: a file that is not
// valid JSON (or is truncated: the users before the damage are imported), a
// bad hash configuration, cancellation. The report is returned in every
// case; Read = Imported + Failed once the call returns.
//
// Duplicate UIDs are detected across the whole file with an 8-byte hash per
// user (about 16 bytes of memory per user; a false duplicate has a
// probability below 1e-9 for ten million users).
func (c *Client) ImportUsers(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	start := time.Now()
	hashOpt, err := opts.Hash.Option()
	if err != nil {
		return &ImportReport{}, err
	}
	if opts.BatchSize <= 0 || opts.BatchSize > 1000 {
		opts.BatchSize = 1000
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 10000
	}
	imp := &importer{c: c, opts: opts, hashOpt: hashOpt, report: &ImportReport{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, opts.Concurrency)
		seen = map[uint64]int{}
		seed = maphash.MakeSeed()
	)
	flush := func(batch []pendingUser) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			imp.importBatch(ctx, batch)
		}()
	}
	rd := NewUserFileReader(r)
	batch := make([]pendingUser, 0, opts.BatchSize)
	var emuBatch []pendingUser // users with the emulator's placeholder hash
	var readErr error
	for {
		if ctx.Err() != nil {
			readErr = &errs.Error{Kind: errs.KindOf(ctx.Err()), Op: "import users", Cause: ctx.Err()}
			break
		}
		u, idx, err := rd.Next()
		if err == io.EOF {
			break
		}
		var re *RecordError
		if errors.As(err, &re) {
			imp.countRead()
			imp.fail(re.Index, re.UID, re.Err.Error())
			continue
		}
		if err != nil {
			readErr = err
			break
		}
		imp.countRead()
		h := maphash.String(seed, u.LocalID)
		if first, dup := seen[h]; dup {
			imp.fail(idx, u.LocalID, fmt.Sprintf("duplicate localId: the same UID is at index %d of the file", first))
			continue
		}
		seen[h] = idx
		if IsEmulatorHash(u.PasswordHash) {
			if !c.Emulator() {
				imp.fail(idx, u.LocalID, "passwordHash is the Auth emulator's placeholder (fakeHash:...), not a hash: such a user imports only into the Auth emulator")
				continue
			}
			emuBatch = append(emuBatch, pendingUser{index: idx, uid: u.LocalID, file: u})
			if len(emuBatch) == opts.BatchSize {
				flush(emuBatch)
				emuBatch = make([]pendingUser, 0, opts.BatchSize)
			}
			continue
		}
		if u.PasswordHash != "" && hashOpt == nil {
			imp.fail(idx, u.LocalID, "has a password hash but no hash algorithm was given (HashConfig / --hash-algo)")
			continue
		}
		ui, warn := u.toImport()
		if warn != "" {
			imp.warn(idx, u.LocalID, warn)
		}
		batch = append(batch, pendingUser{index: idx, uid: u.LocalID, user: ui})
		if len(batch) == opts.BatchSize {
			flush(batch)
			batch = make([]pendingUser, 0, opts.BatchSize)
		}
	}
	for _, batch := range [][]pendingUser{batch, emuBatch} {
		if len(batch) > 0 && ctx.Err() == nil {
			// Users read before a fatal file error are complete and
			// valid: they are imported too, so that the report accounts
			// for every user read.
			flush(batch)
		} else {
			for _, p := range batch {
				imp.fail(p.index, p.uid, "not imported: the import was canceled")
			}
		}
	}
	wg.Wait()
	rep := imp.snapshot()
	rep.Duration = time.Since(start)
	if readErr != nil {
		return rep, readErr
	}
	if err := ctx.Err(); err != nil {
		return rep, &errs.Error{Kind: errs.KindOf(err), Op: "import users", Cause: err}
	}
	return rep, nil
}

type importer struct {
	c       *Client
	opts    ImportOptions
	hashOpt fbauth.UserImportOption

	mu     sync.Mutex
	report *ImportReport
}

func (imp *importer) countRead() {
	imp.mu.Lock()
	imp.report.Read++
	imp.mu.Unlock()
}

func (imp *importer) fail(index int, uid, reason string) {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	imp.report.Failed++
	if len(imp.report.Failures) < imp.opts.MaxFailures {
		imp.report.Failures = append(imp.report.Failures, ImportFailure{Index: index, UID: uid, Reason: reason})
	}
}

func (imp *importer) warn(index int, uid, reason string) {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	if len(imp.report.Warnings) < imp.opts.MaxFailures {
		imp.report.Warnings = append(imp.report.Warnings, ImportFailure{Index: index, UID: uid, Reason: reason})
	}
}

func (imp *importer) snapshot() *ImportReport {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	cp := *imp.report
	return &cp
}

// importBatch imports one batch. A batch refused as a whole for a bad
// argument is split in halves until the bad users are isolated; transient
// failures are retried; what still fails is reported per user.
func (imp *importer) importBatch(ctx context.Context, batch []pendingUser) {
	if batch[0].file != nil {
		imp.importPlaceholders(ctx, batch)
		return
	}
	users := make([]*fbauth.UserToImport, len(batch))
	for i, p := range batch {
		users[i] = p.user
	}
	var opts []fbauth.UserImportOption
	if imp.hashOpt != nil {
		opts = append(opts, imp.hashOpt)
	}
	var (
		res *fbauth.UserImportResult
		err error
	)
	for attempt := 0; ; attempt++ {
		res, err = imp.c.base.ImportUsers(ctx, users, opts...)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		kind := sdkKind(err)
		if kind != errs.ErrUnavailable && kind != errs.ErrResourceLimit {
			break
		}
		retry.Sleep(ctx, retry.Backoff(200*time.Millisecond, 2*time.Second, attempt))
	}
	if err != nil {
		if sdkKind(err) == errs.ErrInvalid && len(batch) > 1 {
			mid := len(batch) / 2
			imp.importBatch(ctx, batch[:mid])
			imp.importBatch(ctx, batch[mid:])
			return
		}
		reason := wrapErr(err, "import", "").Error()
		for _, p := range batch {
			imp.fail(p.index, p.uid, reason)
		}
		imp.progress(1, 0)
		return
	}
	failed := make(map[int]bool, len(res.Errors))
	for _, e := range res.Errors {
		if e.Index < 0 || e.Index >= len(batch) {
			continue
		}
		failed[e.Index] = true
		imp.fail(batch[e.Index].index, batch[e.Index].uid, e.Reason)
	}
	imp.progress(1, len(batch)-len(failed))
}

func (imp *importer) progress(batches, imported int) {
	imp.mu.Lock()
	imp.report.Batches += batches
	imp.report.Imported += imported
	cb := imp.opts.Progress
	var snap ImportReport
	if cb != nil {
		snap = *imp.report
	}
	imp.mu.Unlock()
	if cb != nil {
		cb(snap)
	}
}

// ExportOptions tunes [Client.ExportUsers].
type ExportOptions struct {
	// PageSize is the number of users fetched per call (1..1,000, default 1,000).
	PageSize int
	// Progress, if set, is called after each page with the users written so far.
	Progress func(written int)
}

// ExportUsers writes every user of the client's project (or tenant) to w in
// the Firebase CLI's auth:export JSON format, page by page as they arrive
// (the next page is fetched while the previous one is written), so memory
// stays bounded by three pages of 1,000 users. It returns the number of
// users written.
func (c *Client) ExportUsers(ctx context.Context, w io.Writer, opts ExportOptions) (int, error) {
	const op = "export users"
	if opts.PageSize <= 0 || opts.PageSize > maxPageSize {
		opts.PageSize = maxPageSize
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type pageOrErr struct {
		users []*ExportedUserRecord
		err   error
	}
	pages := make(chan pageOrErr, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		token := ""
		for {
			page, err := c.ListUsers(ctx, opts.PageSize, token)
			if err != nil {
				select {
				case pages <- pageOrErr{err: err}:
				case <-ctx.Done():
				}
				return
			}
			select {
			case pages <- pageOrErr{users: page.Users}:
			case <-ctx.Done():
				return
			}
			if page.NextPageToken == "" {
				return
			}
			token = page.NextPageToken
		}
	}()
	fw := NewUserFileWriter(w)
	var err error
	for p := range pages {
		if p.err != nil {
			err = p.err
			break
		}
		for _, u := range p.users {
			if err = fw.Write(FileUserFromRecord(u)); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
		if opts.Progress != nil {
			opts.Progress(fw.Count())
		}
	}
	cancel()
	wg.Wait()
	if err == nil && parent.Err() != nil {
		err = &errs.Error{Kind: errs.KindOf(parent.Err()), Op: op, Cause: parent.Err()}
	}
	if err != nil {
		return fw.Count(), errs.Wrap(err, op, "")
	}
	if err := fw.Close(); err != nil {
		return fw.Count(), err
	}
	return fw.Count(), nil
}

// importPlaceholders imports into the Auth emulator users whose hash is the
// emulator's placeholder ([IsEmulatorHash]). The emulator keeps the
// passwordHash and salt of an import as it receives them, and the Admin SDK
// takes a hash as bytes that it sends in base64, so these users are posted
// to the emulator's accounts:batchCreate as the file has them: the users
// come back from an export identical, and sign in with the same password.
func (imp *importer) importPlaceholders(ctx context.Context, batch []pendingUser) {
	// The file's fields are the API's, but for the time of the last
	// sign-in.
	type upload struct {
		*FileUser
		LastSignedInAt Millis `json:"lastSignedInAt,omitempty"` // hides FileUser's
		LastLoginAt    Millis `json:"lastLoginAt,omitempty"`
	}
	users := make([]upload, len(batch))
	for i, p := range batch {
		users[i] = upload{FileUser: p.file, LastLoginAt: p.file.LastSignedInAt}
	}
	var res struct {
		Error []struct {
			Index   int    `json:"index"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := imp.c.emulatorPost(ctx, "accounts:batchCreate", map[string]any{"users": users}, &res); err != nil {
		reason := wrapErr(err, "import", "").Error()
		for _, p := range batch {
			imp.fail(p.index, p.uid, reason)
		}
		imp.progress(1, 0)
		return
	}
	failed := map[int]bool{}
	for _, e := range res.Error {
		if e.Index < 0 || e.Index >= len(batch) || failed[e.Index] {
			continue
		}
		failed[e.Index] = true
		imp.fail(batch[e.Index].index, batch[e.Index].uid, e.Message)
	}
	imp.progress(1, len(batch)-len(failed))
}

// emulatorPost posts body as JSON to the Auth emulator's Identity Toolkit
// v1 method of the client's project (or tenant) and decodes the answer into
// out. A refusal is an error in the Admin SDK's words for an unrecognised
// response, which [wrapErr] reduces to the service's message.
func (c *Client) emulatorPost(ctx context.Context, method string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	u := "http://" + c.cfg.EmulatorHost + "/identitytoolkit.googleapis.com/v1/projects/" + url.PathEscape(c.cfg.ProjectID)
	if c.tenant != "" {
		u += "/tenants/" + url.PathEscape(c.tenant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"/"+method, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer owner") // the emulator's admin token
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &errs.Error{Kind: errs.ErrUnavailable, Op: "Auth emulator " + method, Cause: err}
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &errs.Error{Kind: errs.ErrUnavailable, Op: "Auth emulator " + method, Cause: err}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s%d\n%s", rawHTTPPrefix, resp.StatusCode, rb)
	}
	return json.Unmarshal(rb, out)
}
