package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/auth"
)

// CookieName is the session cookie.
const CookieName = "fbadmin_console"

type session struct {
	id      string
	csrf    string
	who     string // "token" or the UID of an ID token
	expires time.Time
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// requireSession lets a request through only with a live session cookie,
// and a state-changing one only from the same origin with the session's
// CSRF token. GET pages without a session go to the login page.
func (s *Server) requireSession(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.lookupSession(r)
		if sess == nil {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
				next := rootOf(r) + r.URL.Path
				if r.URL.RawQuery != "" {
					next += "?" + r.URL.RawQuery
				}
				http.Redirect(w, r, "/login?next="+urlQueryEscape(next), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in: open the login URL that fbadmin console printed", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := cop.Check(r); err != nil {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = formValue(r, "_csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
			if s.cfg.ReadOnly && r.URL.Path != "/logout" {
				http.Error(w, "the console is read-only (started with --read-only)", http.StatusForbidden)
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
		r, err := s.withConn(r)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// formValue reads a form field of a urlencoded or multipart body without
// consuming a large upload into memory beyond 32 MiB (the rest goes to
// temporary files).
func formValue(r *http.Request, name string) string {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if r.MultipartForm == nil {
			if err := r.ParseMultipartForm(32 << 20); err != nil {
				return ""
			}
		}
		if v := r.MultipartForm.Value[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return r.PostFormValue(name)
}

func (s *Server) lookupSession(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[c.Value]
	if sess == nil {
		return nil
	}
	if time.Now().After(sess.expires) {
		delete(s.sessions, c.Value)
		return nil
	}
	return sess
}

func (s *Server) newSession(w http.ResponseWriter, r *http.Request, who string) {
	sess := &session{id: randomHex(32), csrf: randomHex(32), who: who, expires: time.Now().Add(s.cfg.SessionTTL)}
	s.mu.Lock()
	now := time.Now()
	for id, old := range s.sessions {
		if now.After(old.expires) {
			delete(s.sessions, id)
		}
	}
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: sess.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(s.cfg.SessionTTL.Seconds())})
}

type loginData struct {
	IDTokens bool
	Next     string
	Error    string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		// The URL printed at start: exchange the token for a cookie and
		// leave for a URL without it at once.
		s.checkLogin(w, r, tok, "", safeNext(r.URL.Query().Get("next")))
		return
	}
	s.render(w, r, http.StatusOK, "login", "Log in", loginData{IDTokens: s.cfg.IDTokens, Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	s.checkLogin(w, r, r.PostFormValue("token"), r.PostFormValue("id_token"), safeNext(r.PostFormValue("next")))
}

func (s *Server) checkLogin(w http.ResponseWriter, r *http.Request, token, idToken, next string) {
	fail := func(msg string) {
		s.render(w, r, http.StatusUnauthorized, "login", "Log in", loginData{IDTokens: s.cfg.IDTokens, Next: next, Error: msg})
	}
	who := ""
	if s.cfg.IDTokens {
		if idToken == "" {
			idToken = token
		}
		if idToken == "" {
			fail("paste a Firebase ID token of a user whose custom claim admin is true")
			return
		}
		tok, err := s.cfg.Verifier.VerifyIDToken(r.Context(), idToken, auth.VerifyOptions{CheckRevoked: true})
		if err != nil {
			fail("the ID token was refused: " + err.Error())
			return
		}
		if v, ok := tok.Claims["admin"].(bool); !ok || !v {
			fail("the user " + tok.UID + " lacks the custom claim admin: true that the console requires")
			return
		}
		who = tok.UID
	} else {
		if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) != 1 {
			fail("wrong access token: use the one fbadmin console printed at start (or --token / FBADMIN_CONSOLE_TOKEN)")
			return
		}
		who = "token"
	}
	s.newSession(w, r, who)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a redirect target on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess := sessionFrom(r.Context()); sess != nil {
		s.mu.Lock()
		delete(s.sessions, sess.id)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) apiSession(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"csrf": sess.csrf, "read_only": s.cfg.ReadOnly})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
