// Package webhook is the [listeners.Sink] that POSTs batches of events to an
// HTTP endpoint, and spools them on disk while the endpoint is down.
//
// # Requests
//
// Each batch is one POST with Content-Type application/json and the body
//
//	{"events":[EVENT, ...]}
//
// where each EVENT has the format of [listeners.Event]. The headers:
//
//	X-Fbadmin-Signature: t=UNIX,v1=HEX   HEX: HMAC-SHA256, keyed with the shared secret, of UNIX + "." + the exact body
//	X-Fbadmin-Batch:     HEX             an ID of the body, the same on every retry of it
//
// UNIX is the time of the attempt in seconds: every retry is signed anew.
// An endpoint verifies the signature over the raw body before parsing it,
// with a constant-time comparison, refuses a timestamp outside its
// tolerance (a captured request replayed later), and acknowledges a batch
// ID it has already applied without applying it again (a replay within the
// tolerance, or a retry of a delivery whose answer was lost). [Receiver]
// does all three. Any 2xx status acknowledges the batch; anything else (or
// a timeout) is a failure.
//
// # Retries and the spool
//
// A failed POST is retried Retries times with exponential backoff. If it
// still fails, the batch is written to the spool directory (one file per
// batch, synced) and Send returns nil: the spool is durable, so the engine
// may advance its checkpoint. From then on, while the spool holds anything,
// new batches are appended to it, so the endpoint always receives batches in
// order; a background goroutine posts the spooled batches oldest first,
// backing off while the endpoint stays down, and removes each once it is
// acknowledged. The spool survives restarts and is drained at start-up.
//
// When the spool reaches MaxSpoolBytes, Send fails; the engine retries it,
// its queue fills, and the listeners wait: nothing is lost, and the daemon
// keeps running.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/listeners"
)

// Header names.
const (
	SignatureHeader = "X-Fbadmin-Signature"
	BatchHeader     = "X-Fbadmin-Batch"
)

// Options configure a webhook sink.
type Options struct {
	// URL receives the POSTs (http or https).
	URL string
	// Secret is the HMAC-SHA256 key of the signature header. Empty sends
	// no signature.
	Secret string
	// Headers are added to every request (for example Authorization). Their
	// values are never logged.
	Headers map[string]string
	// Timeout of one request; 0 means 10s.
	Timeout time.Duration
	// Retries after a failed POST before the batch is spooled; 0 means 3,
	// negative means spool at the first failure.
	Retries int
	// BackoffInitial and BackoffMax bound the waits between retries and
	// between attempts to drain the spool; 0 means 200ms and 30s.
	BackoffInitial, BackoffMax time.Duration
	// SpoolDir holds undelivered batches. Required.
	SpoolDir string
	// MaxSpoolBytes bounds the spool; 0 means 1 GiB.
	MaxSpoolBytes int64
	// Client sends the requests; nil means a client with Timeout.
	Client *http.Client
	// Logger receives the spool drainer's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Sink posts batches to an endpoint.
type Sink struct {
	opts     Options
	target   string // URL without query or user info, for messages
	client   *http.Client
	log      *slog.Logger
	mu       sync.Mutex
	spool    []spooled // oldest first
	spoolLen int64
	nextSeq  uint64

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

type spooled struct {
	name string
	size int64
}

// ErrSpoolFull is returned by Send when the endpoint is down and the spool
// has reached its bound.
var ErrSpoolFull = errors.New("webhook spool full")

// New checks the options, loads the spool left by a previous run and starts
// draining it.
func New(opts Options) (*Sink, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook sink: url %q: want an http or https URL", redactURL(opts.URL))
	}
	if opts.SpoolDir == "" {
		return nil, errors.New("webhook sink: no spool directory")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = 200 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.MaxSpoolBytes <= 0 {
		opts.MaxSpoolBytes = 1 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: opts.Timeout}
	}
	s := &Sink{opts: opts, target: redactURL(opts.URL), client: client, kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.log = opts.Logger.With("webhook", s.target)
	if err := s.loadSpool(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.drain(ctx)
	if len(s.spool) > 0 {
		s.log.Info("webhook spool holds batches from a previous run; draining", "batches", len(s.spool), "bytes", s.spoolLen)
		s.poke()
	}
	return s, nil
}

// redactURL drops user info and the query, where secrets hide.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

const spoolExt = ".batch"

func (s *Sink) loadSpool() error {
	if err := os.MkdirAll(s.opts.SpoolDir, 0o700); err != nil {
		return fmt.Errorf("webhook sink: spool: %w", err)
	}
	ents, err := os.ReadDir(s.opts.SpoolDir)
	if err != nil {
		return fmt.Errorf("webhook sink: spool: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, spoolExt) {
			if strings.HasPrefix(name, ".tmp") {
				os.Remove(filepath.Join(s.opts.SpoolDir, name)) // a write cut short
			}
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, spoolExt), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("webhook sink: spool: %w", err)
		}
		s.spool = append(s.spool, spooled{name: name, size: info.Size()})
		s.spoolLen += info.Size()
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	slices.SortFunc(s.spool, func(a, b spooled) int { return strings.Compare(a.name, b.name) })
	return nil
}

// SpoolBytes returns the spool's size.
func (s *Sink) SpoolBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spoolLen
}

type body struct {
	Events []listeners.Event `json:"events"`
}

// Send posts the batch, or spools it (see the package documentation).
func (s *Sink) Send(ctx context.Context, events []listeners.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	b, err := json.Marshal(body{Events: events})
	if err != nil {
		return fmt.Errorf("webhook sink: encode batch: %w", err)
	}
	s.mu.Lock()
	spooling := len(s.spool) > 0
	s.mu.Unlock()
	if !spooling {
		var lastErr error
		for attempt := 0; attempt <= max(s.opts.Retries, 0); attempt++ {
			if attempt > 0 && !retry.Sleep(ctx, retry.Backoff(s.opts.BackoffInitial, s.opts.BackoffMax, attempt-1)) {
				return ctx.Err()
			}
			if lastErr = s.post(ctx, b); lastErr == nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		s.log.Warn("webhook endpoint failing; spooling batches until it answers", "err", lastErr)
	}
	if err := s.appendSpool(b); err != nil {
		return err
	}
	s.poke()
	return nil
}

func (s *Sink) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Sign returns the signature header value for body signed now; see
// [SignAt].
func Sign(secret string, body []byte) string { return SignAt(secret, time.Now(), body) }

// SignAt returns the signature header value for body signed at t:
// "t=" and t in Unix seconds, ",v1=" and the hex HMAC-SHA256, keyed with
// secret, of the decimal seconds, a dot and body (the scheme payment
// webhooks use).
func SignAt(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, either way, for [Verify] and a [Receiver] without one.
const DefaultTolerance = 5 * time.Minute

// Signature errors, as returned by [CheckSignature] and [Receiver.Check].
var (
	ErrNoSignature  = errors.New("webhook: no signature header")
	ErrBadSignature = errors.New("webhook: signature does not match the body")
	ErrStale        = errors.New("webhook: signature timestamp outside the tolerance")
)

// CheckSignature verifies header, the X-Fbadmin-Signature of body, with
// secret: the HMAC in constant time, and the timestamp within tolerance of
// now.
func CheckSignature(secret string, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return ErrNoSignature
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// Verify reports whether header is a valid signature of body with secret,
// signed within DefaultTolerance of now. It does not detect replays within
// that window: a [Receiver] does.
func Verify(secret string, body []byte, header string) bool {
	return CheckSignature(secret, body, header, time.Now(), DefaultTolerance) == nil
}

func (s *Sink) post(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.URL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("webhook POST %s: %w", s.target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fbadmin-listen")
	for k, v := range s.opts.Headers {
		req.Header.Set(k, v)
	}
	if s.opts.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(s.opts.Secret, b))
	}
	sum := sha256.Sum256(b)
	req.Header.Set(BatchHeader, hex.EncodeToString(sum[:16]))
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the full URL
		}
		return fmt.Errorf("webhook POST %s: %w", s.target, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(snippet))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		hint := ""
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = " (check the secret and headers the endpoint expects)"
		case http.StatusRequestEntityTooLarge:
			hint = " (lower batch_size)"
		}
		return fmt.Errorf("webhook POST %s: status %s%s: %q", s.target, resp.Status, hint, msg)
	}
	return nil
}

func (s *Sink) appendSpool(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spoolLen+int64(len(b)) > s.opts.MaxSpoolBytes && len(s.spool) > 0 {
		return fmt.Errorf("webhook sink %s: endpoint down and spool at %d of %d bytes: %w", s.target, s.spoolLen, s.opts.MaxSpoolBytes, ErrSpoolFull)
	}
	name := fmt.Sprintf("%020d%s", s.nextSeq, spoolExt)
	if err := writeSynced(s.opts.SpoolDir, name, b); err != nil {
		return fmt.Errorf("webhook sink: spool: %w", err)
	}
	s.nextSeq++
	s.spool = append(s.spool, spooled{name: name, size: int64(len(b))})
	s.spoolLen += int64(len(b))
	return nil
}

func writeSynced(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, ".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// drain posts spooled batches, oldest first, until ctx is done.
func (s *Sink) drain(ctx context.Context) {
	defer close(s.done)
	attempt := 0
	for {
		s.mu.Lock()
		var head spooled
		have := len(s.spool) > 0
		if have {
			head = s.spool[0]
		}
		s.mu.Unlock()
		if !have {
			attempt = 0
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
				continue
			}
		}
		path := filepath.Join(s.opts.SpoolDir, head.name)
		b, err := os.ReadFile(path)
		if err == nil {
			err = s.post(ctx, b)
		} else {
			s.log.Error("webhook spool: unreadable batch skipped", "file", path, "err", err)
			err = nil
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d := retry.Backoff(s.opts.BackoffInitial, s.opts.BackoffMax, attempt)
			attempt++
			s.log.Warn("webhook endpoint still failing; spool kept", "batches", s.spoolCount(), "bytes", s.SpoolBytes(), "retry_in", d.Round(time.Millisecond), "err", err)
			if !retry.Sleep(ctx, d) {
				return
			}
			continue
		}
		attempt = 0
		os.Remove(path)
		s.mu.Lock()
		s.spool = s.spool[1:]
		s.spoolLen -= head.size
		left := len(s.spool)
		s.mu.Unlock()
		if left == 0 {
			s.log.Info("webhook spool drained")
		}
	}
}

func (s *Sink) spoolCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.spool)
}

// Flush tries to deliver the spool within ctx; it is best effort, since the
// spool is durable anyway, and returns an error naming what is left.
func (s *Sink) Flush(ctx context.Context) error {
	for {
		n := s.spoolCount()
		if n == 0 {
			return nil
		}
		if !retry.Sleep(ctx, 20*time.Millisecond) {
			return fmt.Errorf("webhook sink %s: %d batches (%d bytes) left in the spool; they are sent on the next start", s.target, n, s.SpoolBytes())
		}
	}
}

// Close stops the drainer; the spool stays on disk for the next run.
func (s *Sink) Close() error {
	s.cancel()
	<-s.done
	return nil
}
