package auth

import "time"

// Summary is a user as fbadmin prints it and its MCP tools return it: the
// profile, claims, providers and times, never a password hash or salt.
type Summary struct {
	UID           string         `json:"uid"`
	Email         string         `json:"email,omitempty"`
	EmailVerified bool           `json:"email_verified"`
	Phone         string         `json:"phone,omitempty"`
	DisplayName   string         `json:"display_name,omitempty"`
	PhotoURL      string         `json:"photo_url,omitempty"`
	Disabled      bool           `json:"disabled"`
	Claims        map[string]any `json:"custom_claims,omitempty"`
	Providers     []string       `json:"providers,omitempty"`
	TenantID      string         `json:"tenant_id,omitempty"`
	Created       *time.Time     `json:"created,omitempty"`
	LastSignIn    *time.Time     `json:"last_sign_in,omitempty"`
}

// Summarize returns the [Summary] of a user record.
func Summarize(u *UserRecord) Summary {
	r := Summary{Disabled: u.Disabled, EmailVerified: u.EmailVerified, Claims: u.CustomClaims, TenantID: u.TenantID}
	if u.UserInfo != nil {
		r.UID, r.Email, r.Phone, r.DisplayName, r.PhotoURL = u.UID, u.Email, u.PhoneNumber, u.DisplayName, u.PhotoURL
	}
	for _, p := range u.ProviderUserInfo {
		r.Providers = append(r.Providers, p.ProviderID)
	}
	if m := u.UserMetadata; m != nil {
		if m.CreationTimestamp > 0 {
			t := time.UnixMilli(m.CreationTimestamp).UTC()
			r.Created = &t
		}
		if m.LastLogInTimestamp > 0 {
			t := time.UnixMilli(m.LastLogInTimestamp).UTC()
			r.LastSignIn = &t
		}
	}
	return r
}
