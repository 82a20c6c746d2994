package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// TokenSourceOptions tunes a [TokenSource].
type TokenSourceOptions struct {
	// Leeway is how long before expiry the ID token is refreshed.
	// Default 5 minutes.
	Leeway time.Duration
	// RefreshTimeout bounds one refresh call. Default 30 s.
	RefreshTimeout time.Duration
}

// TokenSource keeps a valid ID token for one signed-in user, as a client app
// does: it refreshes the token shortly before it expires, with one refresh
// call however many goroutines ask at the same time.
//
// A refresh that fails because the session is over (refresh token revoked,
// user disabled or deleted) is returned as a *[TokenError] and remembered:
// later calls fail at once until [TokenSource.SetCredentials]. A transient
// failure (network, an [ErrUnavailable] error) is returned only when the
// current token has actually expired; until then the current token is
// served and the next call tries again.
//
// Close stops a refresh in flight. A TokenSource is safe for concurrent use.
type TokenSource struct {
	sc      *SignInClient
	leeway  time.Duration
	timeout time.Duration
	now     func() time.Time

	life   context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	cred     *Credentials
	inflight *refreshCall
	failed   error // permanent failure of the last refresh
	closed   bool

	refreshes int64 // refresh calls made, for tests and metrics
}

type refreshCall struct {
	done chan struct{}
	cred *Credentials
	err  error
}

// NewTokenSource returns a TokenSource that starts from cred (from a
// sign-in) and refreshes through sc.
func NewTokenSource(sc *SignInClient, cred *Credentials, opts ...TokenSourceOptions) *TokenSource {
	s := &TokenSource{sc: sc, cred: cred, leeway: 5 * time.Minute, timeout: 30 * time.Second, now: time.Now}
	for _, o := range opts {
		if o.Leeway > 0 {
			s.leeway = o.Leeway
		}
		if o.RefreshTimeout > 0 {
			s.timeout = o.RefreshTimeout
		}
	}
	s.life, s.cancel = context.WithCancel(context.Background())
	return s
}

// IDToken returns a valid ID token, refreshing it first when it expires
// within the leeway.
func (s *TokenSource) IDToken(ctx context.Context) (string, error) {
	cred, err := s.credentials(ctx, "", false)
	if err != nil {
		return "", err
	}
	return cred.IDToken, nil
}

// Credentials returns the current credentials, refreshed as IDToken does.
func (s *TokenSource) Credentials(ctx context.Context) (*Credentials, error) {
	return s.credentials(ctx, "", false)
}

// Refresh forces a refresh now (for example after the user's custom claims
// changed) and returns the new ID token.
func (s *TokenSource) Refresh(ctx context.Context) (string, error) {
	cred, err := s.credentials(ctx, "", true)
	if err != nil {
		return "", err
	}
	return cred.IDToken, nil
}

// RefreshIfCurrent refreshes only if stale is still the current ID token:
// when many requests are refused with the same token, the first one
// refreshes and the others get the new token without another call.
func (s *TokenSource) RefreshIfCurrent(ctx context.Context, stale string) (string, error) {
	cred, err := s.credentials(ctx, stale, true)
	if err != nil {
		return "", err
	}
	return cred.IDToken, nil
}

// SetCredentials replaces the credentials (after a new sign-in) and clears
// a remembered failure.
func (s *TokenSource) SetCredentials(cred *Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cred, s.failed = cred, nil
}

// Token implements oauth2.TokenSource, with the ID token as access token,
// for use with oauth2.Transport or gRPC per-RPC credentials.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	cred, err := s.credentials(context.Background(), "", false)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: cred.IDToken, TokenType: "Bearer", Expiry: cred.ExpiresAt}, nil
}

// Close cancels a refresh in flight and waits for it to end. Calls after
// Close fail with [ErrCanceled].
func (s *TokenSource) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// credentials returns valid credentials. force asks for a refresh even if
// the token is fresh; with stale non-empty, only if the current token is
// still stale.
func (s *TokenSource) credentials(ctx context.Context, stale string, force bool) (*Credentials, error) {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, errs.New(errs.ErrCanceled, "token source", "", "closed")
	case s.failed != nil:
		err := s.failed
		s.mu.Unlock()
		return nil, err
	case s.cred == nil:
		s.mu.Unlock()
		return nil, errs.New(errs.ErrInvalid, "token source", "", "no credentials: sign in first")
	}
	cur := s.cred
	fresh := s.now().Add(s.leeway).Before(cur.ExpiresAt)
	if stale != "" && cur.IDToken != stale {
		s.mu.Unlock()
		return cur, nil // someone else already refreshed
	}
	if fresh && !force {
		s.mu.Unlock()
		return cur, nil
	}
	call := s.inflight
	if call == nil {
		call = &refreshCall{done: make(chan struct{})}
		s.inflight = call
		s.refreshes++
		s.wg.Add(1)
		go s.refresh(call, cur.RefreshToken)
	}
	s.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, &errs.Error{Kind: errs.KindOf(ctx.Err()), Op: "refresh token", Cause: ctx.Err()}
	}
	if call.err == nil {
		return call.cred, nil
	}
	var te *TokenError
	if !errors.As(call.err, &te) && s.now().Before(cur.ExpiresAt) && !force {
		// Transient failure while the current token is still valid.
		return cur, nil
	}
	return nil, call.err
}

// refresh runs one refresh call; it is owned by the TokenSource (Close
// cancels and waits for it).
func (s *TokenSource) refresh(call *refreshCall, refreshToken string) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.life, s.timeout)
	defer cancel()
	cred, err := s.sc.Refresh(ctx, refreshToken)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = nil
	if err == nil {
		s.cred = cred
	} else {
		var te *TokenError
		if errors.As(err, &te) {
			s.failed = err
		}
	}
	call.cred, call.err = cred, err
	close(call.done)
}

// Refreshes returns how many refresh calls the source has made.
func (s *TokenSource) Refreshes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}
