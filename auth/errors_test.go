package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// An SDK error that kept a raw HTTP body as its message is reduced to the
// service's message; a 501 (the Auth emulator's answer for what it does not
// implement) says so plainly.
func TestWrapErrRawHTTP(t *testing.T) {
	body := `{ "error": { "code": 501, "message": "limit is not implemented.", "errors": [ { "message": "limit is not implemented.", "reason": "unimplemented" } ], "status": "NOT_IMPLEMENTED" } }`
	cases := []struct {
		err         error
		want        string
		unsupported bool
	}{
		{errors.New(rawHTTPPrefix + "501\n" + body), "query users: not supported by the Auth emulator (limit is not implemented)", true},
		{errors.New(rawHTTPPrefix + "418\n" + `{"error":{"message":"I am a teapot"}}`), "query users: invalid argument: I am a teapot", false},
		{errors.New(rawHTTPPrefix + "502\n<html><body>Bad gateway</body></html>"), "query users: invalid argument: HTTP 502 Bad Gateway", false},
		{errors.New("plain"), "query users: invalid argument: plain", false},
	}
	for _, c := range cases {
		got := wrapErr(c.err, "query users", "")
		if got.Error() != c.want {
			t.Errorf("wrapErr(%q)\n got %q\nwant %q", c.err, got, c.want)
		}
		if strings.Contains(got.Error(), "unexpected http response") {
			t.Errorf("wrapErr(%q) kept the raw response: %q", c.err, got)
		}
		if is := errors.Is(got, ErrNotSupported); is != c.unsupported {
			t.Errorf("wrapErr(%q): errors.Is(ErrNotSupported) = %v, want %v", c.err, is, c.unsupported)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("wrapErr(%q) lost its cause", c.err)
		}
	}
	if k := errs.KindOf(wrapErr(cases[0].err, "x", "")); k != errs.ErrInternal {
		t.Errorf("501: kind %v, want %v", k, errs.ErrInternal)
	}
}

// The sign-in client's errors say the same for a 501.
func TestServiceErrNotImplemented(t *testing.T) {
	err := serviceErr("sign in with custom token", 501, []byte(`{"error":{"code":501,"message":"returnRefreshToken is not implemented yet.","status":"NOT_IMPLEMENTED"}}`))
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("serviceErr(501) = %v: not ErrNotSupported", err)
	}
	if got, want := err.Error(), "sign in with custom token: not supported by the Auth emulator (returnRefreshToken is not implemented yet)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
