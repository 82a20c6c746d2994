package auth

import (
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that authenticates requests with the ID
// token of a [TokenSource] ("Authorization: Bearer ..."). When the server
// answers 401, it refreshes the token once (one refresh for all the requests
// refused with the same token) and retries the request once, if its body can
// be replayed (no body, or http.Request.GetBody set, as http.NewRequest does
// for in-memory bodies).
//
// A refresh failure is returned as the round trip's error: a *[TokenError]
// when the session is over (revoked, user disabled), an [ErrUnavailable]
// error for a network failure.
type Transport struct {
	Source *TokenSource
	// Base performs the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.Source.IDToken(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	first := req.Clone(ctx)
	first.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.base().RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable {
		return resp, nil
	}
	newTok, err := t.Source.RefreshIfCurrent(ctx, tok)
	if err != nil {
		drain(resp)
		return nil, err
	}
	if newTok == tok {
		return resp, nil
	}
	retry := req.Clone(ctx)
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	drain(resp)
	retry.Header.Set("Authorization", "Bearer "+newTok)
	return t.base().RoundTrip(retry)
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
