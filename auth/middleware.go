package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Verifier verifies ID tokens; *[Client] is one.
type Verifier interface {
	VerifyIDToken(ctx context.Context, idToken string, opts ...VerifyOptions) (*Token, error)
}

// Requirement is a condition a verified token must meet for a request to
// pass [Middleware]. Desc names it in the 403 answer.
type Requirement struct {
	Desc  string
	Check func(*Token) bool
}

// RequireClaim requires the custom claim name to equal value, or, when the
// claim is a list, to contain it. Numbers compare by value (3 == 3.0).
func RequireClaim(name string, value any) Requirement {
	want := normalizeJSON(value)
	return Requirement{
		Desc: fmt.Sprintf("claim %q = %v", name, value),
		Check: func(t *Token) bool {
			got, ok := t.Claims[name]
			if !ok {
				return false
			}
			if list, isList := got.([]any); isList {
				for _, v := range list {
					if reflect.DeepEqual(normalizeJSON(v), want) {
						return true
					}
				}
				return false
			}
			return reflect.DeepEqual(normalizeJSON(got), want)
		},
	}
}

// RequireFunc makes a Requirement from a predicate.
func RequireFunc(desc string, check func(*Token) bool) Requirement {
	return Requirement{Desc: desc, Check: check}
}

func normalizeJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// MiddlewareOptions tunes [Middleware].
type MiddlewareOptions struct {
	// CheckRevoked also rejects tokens of revoked sessions and disabled
	// users (one user lookup per request).
	CheckRevoked bool
	// Require lists conditions a verified token must all meet; a request
	// whose token fails one is refused with 403.
	Require []Requirement
}

type ctxKey struct{}

// TokenFromContext returns the verified token that [Middleware] put in the
// request's context.
func TokenFromContext(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(ctxKey{}).(*Token)
	return t, ok && t != nil
}

// ContextWithToken returns ctx carrying tok, as Middleware does; useful in
// handler tests.
func ContextWithToken(ctx context.Context, tok *Token) context.Context {
	return context.WithValue(ctx, ctxKey{}, tok)
}

// Middleware returns net/http middleware that verifies the bearer ID token
// of each request with v, puts the verified token in the request context
// (see [TokenFromContext]) and checks the requirements.
//
// Answers: 401 with "WWW-Authenticate: Bearer" when the token is missing or
// not valid (expired, revoked, malformed ...), 403 when it is valid but
// misses a requirement, 503 when verification could not be done (keys or
// user lookup unreachable). The JSON body says why; it never echoes the
// token.
func Middleware(v Verifier, opts MiddlewareOptions) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := bearer(r)
			if !ok {
				reject(w, http.StatusUnauthorized, `Bearer realm="fbadmin"`, "missing_token",
					"an Authorization: Bearer <Firebase ID token> header is required")
				return
			}
			tok, err := v.VerifyIDToken(r.Context(), raw, VerifyOptions{CheckRevoked: opts.CheckRevoked})
			if err != nil {
				var te *TokenError
				switch {
				case errors.As(err, &te):
					reject(w, http.StatusUnauthorized, `Bearer realm="fbadmin", error="invalid_token"`,
						"invalid_token", te.Reason.Error())
				case errors.Is(err, errs.ErrCanceled):
					reject(w, 499, "", "canceled", "request canceled")
				default:
					reject(w, http.StatusServiceUnavailable, "", "unavailable",
						"the token could not be verified now; retry later")
				}
				return
			}
			for _, req := range opts.Require {
				if !req.Check(tok) {
					reject(w, http.StatusForbidden, `Bearer realm="fbadmin", error="insufficient_scope"`,
						"forbidden", "token lacks the required "+req.Desc)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(ContextWithToken(r.Context(), tok)))
		})
	}
}

// bearer extracts the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func reject(w http.ResponseWriter, status int, challenge, code, msg string) {
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}
