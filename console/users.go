package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// usersPageSize is how many users a page lists.
const usersPageSize = 100

type usersView struct {
	Q        string
	Tenant   string
	Users    []auth.Summary
	NextURL  string
	FirstURL string
	Error    string
}

type userView struct {
	User      auth.Summary
	Tenant    string
	TenantQ   string // "?tenant=ID" or ""
	Claims    string
	ClaimsErr string
	ClaimsOK  bool
	Revoked   bool
	ResetLink string
	Error     string
}

// authClient is the Auth client for the request's tenant parameter.
func (s *Server) authClient(r *http.Request) (*auth.Client, string, error) {
	if s.cfg.Auth == nil {
		return nil, "", errs.New(errs.ErrUnavailable, "auth", "", "the Auth pages are off: the console has no Auth client (is the Auth emulator running, with --emulator?)")
	}
	t := strings.TrimSpace(r.URL.Query().Get("tenant"))
	if t == "" {
		return s.cfg.Auth, "", nil
	}
	c, err := s.cfg.Auth.ForTenant(t)
	return c, t, err
}

func tenantQuery(t string) string {
	if t == "" {
		return ""
	}
	return "?tenant=" + url.QueryEscape(t)
}

func (s *Server) users(w http.ResponseWriter, r *http.Request) {
	ac, tenant, err := s.authClient(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v := usersView{Q: q, Tenant: tenant, FirstURL: "/auth/users" + tenantQuery(tenant)}
	status := http.StatusOK
	if q != "" {
		// A search is an exact lookup by what the text looks like.
		var u *auth.UserRecord
		switch {
		case strings.Contains(q, "@"):
			u, err = ac.GetUserByEmail(ctx, q)
		case strings.HasPrefix(q, "+"):
			u, err = ac.GetUserByPhone(ctx, q)
		default:
			u, err = ac.GetUser(ctx, q)
		}
		switch {
		case err == nil:
			v.Users = []auth.Summary{auth.Summarize(u)}
		case errors.Is(err, errs.ErrNotFound) || auth.IsUserNotFound(err):
			v.Error = "no user with the UID, email or phone " + q + " (the search is exact)"
		default:
			v.Error, status = err.Error(), httpStatus(err)
		}
	} else {
		page, err := ac.ListUsers(ctx, usersPageSize, r.URL.Query().Get("page"))
		if err != nil {
			v.Error, status = err.Error(), httpStatus(err)
		} else {
			for _, u := range page.Users {
				v.Users = append(v.Users, auth.Summarize(u.UserRecord))
			}
			if page.NextPageToken != "" {
				nq := url.Values{"page": {page.NextPageToken}}
				if tenant != "" {
					nq.Set("tenant", tenant)
				}
				v.NextURL = "/auth/users?" + nq.Encode()
			}
		}
	}
	s.render(w, r, status, "users", "Users", v)
}

func (s *Server) loadUser(r *http.Request) (*auth.Client, *userView, error) {
	ac, tenant, err := s.authClient(r)
	if err != nil {
		return nil, nil, err
	}
	u, err := ac.GetUser(r.Context(), r.PathValue("uid"))
	if err != nil {
		return nil, nil, err
	}
	v := &userView{User: auth.Summarize(u), Tenant: tenant, TenantQ: tenantQuery(tenant), Claims: "{}"}
	if len(u.CustomClaims) > 0 {
		b, _ := json.MarshalIndent(u.CustomClaims, "", "  ")
		v.Claims = string(b)
	}
	return ac, v, nil
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	_, v, err := s.loadUser(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	q := r.URL.Query()
	v.ClaimsOK, v.Revoked = q.Get("saved") == "1", q.Get("revoked") == "1"
	s.render(w, r, http.StatusOK, "user", v.User.UID, v)
}

// userAction changes a user: claims, disable, enable, revoke, reset-link.
func (s *Server) userAction(w http.ResponseWriter, r *http.Request) {
	ac, v, err := s.loadUser(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ctx := r.Context()
	uid := v.User.UID
	back := "/auth/users/" + url.PathEscape(uid)
	sep := "?"
	if v.Tenant != "" {
		back += v.TenantQ
		sep = "&"
	}
	switch r.PathValue("action") {
	case "claims":
		text := r.PostFormValue("claims")
		claims, err := parseClaims(text)
		if err == nil {
			err = ac.SetCustomClaims(ctx, uid, claims)
		}
		if err != nil {
			v.Claims, v.ClaimsErr = text, err.Error()
			s.render(w, r, http.StatusBadRequest, "user", uid, v)
			return
		}
		http.Redirect(w, r, back+sep+"saved=1", http.StatusSeeOther)
		return
	case "disable":
		err = ac.DisableUser(ctx, uid)
	case "enable":
		err = ac.EnableUser(ctx, uid)
	case "revoke":
		if err = ac.RevokeRefreshTokens(ctx, uid); err == nil {
			http.Redirect(w, r, back+sep+"revoked=1", http.StatusSeeOther)
			return
		}
	case "reset-link":
		if v.User.Email == "" {
			err = errs.New(errs.ErrInvalid, "reset link", uid, "the user has no email address to send a password reset to")
			break
		}
		link, err := ac.PasswordResetLink(ctx, v.User.Email, nil)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		v.ResetLink = link
		s.render(w, r, http.StatusOK, "user", uid, v)
		return
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// parseClaims reads the claims editor: one JSON object, checked as the
// Admin SDK would (reserved names, 1,000 bytes).
func parseClaims(text string) (map[string]any, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		t = "{}"
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(t)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		msg := "want a JSON object such as {\"admin\": true, \"role\": \"editor\"}"
		if err != nil {
			msg = "not valid JSON (" + err.Error() + "): " + msg
		}
		return nil, errs.New(errs.ErrInvalid, "claims", "", "%s", msg)
	}
	if dec.More() {
		return nil, errs.New(errs.ErrInvalid, "claims", "", "trailing text after the JSON object")
	}
	if err := auth.ValidateClaims(m); err != nil {
		return nil, err
	}
	return m, nil
}

type tenantsView struct {
	Tenants []*auth.Tenant
	Error   string
}

func (s *Server) tenants(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Auth == nil {
		s.renderError(w, r, errs.New(errs.ErrUnavailable, "auth", "", "the Auth pages are off: the console has no Auth client"))
		return
	}
	v := tenantsView{}
	it := s.cfg.Auth.SDK().TenantManager.Tenants(r.Context(), "")
	for len(v.Tenants) < 1000 {
		t, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			v.Error = "listing tenants: " + err.Error()
			break
		}
		v.Tenants = append(v.Tenants, t)
	}
	s.render(w, r, http.StatusOK, "tenants", "Tenants", v)
}
