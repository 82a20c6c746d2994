package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// User is a Firebase Auth user as the tools return it (never a password
// hash): the same summary the CLI prints.
type User = auth.Summary

func toUser(u *auth.UserRecord) User { return auth.Summarize(u) }

// ---- get

type userKey struct {
	UID   string `json:"uid,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty" jsonschema:"E.164, such as +15555550100"`
}

func (k userKey) target() string {
	switch {
	case k.UID != "":
		return k.UID
	case k.Email != "":
		return "email"
	}
	return "phone"
}

func (s *Server) lookup(ctx context.Context, k userKey) (*auth.UserRecord, error) {
	n := 0
	for _, v := range []string{k.UID, k.Email, k.Phone} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "give exactly one of uid, email and phone")
	}
	switch {
	case k.Email != "":
		return s.o.Auth.GetUserByEmail(ctx, k.Email)
	case k.Phone != "":
		return s.o.Auth.GetUserByPhone(ctx, k.Phone)
	}
	return s.o.Auth.GetUser(ctx, k.UID)
}

func (s *Server) getUser(ctx context.Context, c *call, in *userKey) (User, error) {
	c.target = in.target() // an email or phone number is personal data: not logged
	if err := s.needAuthAdmin(c); err != nil {
		return User{}, err
	}
	u, err := s.lookup(ctx, *in)
	if err != nil {
		return User{}, err
	}
	return toUser(u), nil
}

// ---- list and search

type listUsersInput struct {
	PageSize  int    `json:"page_size,omitempty" jsonschema:"users per page (default 100; at most 1000 and the per-call cap)"`
	PageToken string `json:"page_token,omitempty" jsonschema:"the next_page_token of the previous page"`
}

type usersOutput struct {
	Users         []User `json:"users"`
	NextPageToken string `json:"next_page_token,omitempty"`
	Truncated     bool   `json:"truncated,omitempty" jsonschema:"more users matched than were returned"`
}

func (s *Server) listUsers(ctx context.Context, c *call, in *listUsersInput) (usersOutput, error) {
	out := usersOutput{Users: []User{}}
	if err := s.needAuthAdmin(c); err != nil {
		return out, err
	}
	size := in.PageSize
	switch {
	case size < 0:
		return out, errs.New(errs.ErrInvalid, "arguments", "", "$.page_size: must be positive")
	case size == 0:
		size = min(100, s.o.MaxDocs)
	case size > s.o.MaxDocs:
		return out, capError("list users", size, s.o.MaxDocs)
	case size > 1000:
		return out, errs.New(errs.ErrInvalid, "arguments", "", "$.page_size: at most 1000")
	}
	p, err := s.o.Auth.ListUsers(ctx, size, in.PageToken)
	if err != nil {
		return out, err
	}
	for _, u := range p.Users {
		out.Users = append(out.Users, toUser(u.UserRecord))
	}
	out.NextPageToken = p.NextPageToken
	c.docs = len(out.Users)
	return out, nil
}

type searchUsersInput struct {
	Email      string `json:"email,omitempty" jsonschema:"match this email (case-insensitive)"`
	Phone      string `json:"phone,omitempty"`
	UID        string `json:"uid,omitempty"`
	SortBy     string `json:"sort_by,omitempty" jsonschema:"uid, name, created, last_login or email"`
	Descending bool   `json:"descending,omitempty"`
	Limit      int    `json:"limit,omitempty" jsonschema:"at most this many users (default 100)"`
	Offset     int    `json:"offset,omitempty"`
}

func (s *Server) searchUsers(ctx context.Context, c *call, in *searchUsersInput) (usersOutput, error) {
	out := usersOutput{Users: []User{}}
	if err := s.needAuthAdmin(c); err != nil {
		return out, err
	}
	limit := in.Limit
	if limit == 0 {
		limit = min(100, s.o.MaxDocs)
	}
	if limit > s.o.MaxDocs {
		return out, capError("search users", limit, s.o.MaxDocs)
	}
	given := limit
	if in.Limit == 0 && s.o.Auth.Emulator() {
		// The Auth emulator implements no limit: it returns every user,
		// cut to the cap below.
		limit = 0
	}
	sorts := map[string]auth.SortBy{"uid": auth.SortByUID, "name": auth.SortByName, "created": auth.SortByCreatedAt,
		"last_login": auth.SortByLastLoginAt, "email": auth.SortByEmail}
	q := &auth.QueryUsersRequest{Limit: int64(limit), Offset: int64(in.Offset)}
	if in.SortBy != "" {
		sb, ok := sorts[in.SortBy]
		if !ok {
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.sort_by: %q (want uid, name, created, last_login or email)", in.SortBy)
		}
		q.SortBy, q.Order = sb, auth.Ascending
		if in.Descending {
			q.Order = auth.Descending
		}
	}
	if in.Email != "" || in.Phone != "" || in.UID != "" {
		q.Expression = []*auth.Expression{{Email: in.Email, PhoneNumber: in.Phone, UID: in.UID}}
	}
	res, err := s.o.Auth.QueryUsers(ctx, q)
	if errors.Is(err, auth.ErrNotSupported) {
		return out, errs.New(errs.ErrInvalid, "search users", "", "%v (hint: the Auth emulator searches only without filters; use auth_get_user or auth_list_users there)", err)
	}
	if err != nil {
		return out, err
	}
	for _, u := range res.Users {
		if len(out.Users) == given {
			out.Truncated = true
			break
		}
		out.Users = append(out.Users, toUser(u))
	}
	c.docs = len(out.Users)
	return out, nil
}

// ---- create, update, disable

type createUserInput struct {
	UID           string `json:"uid,omitempty" jsonschema:"the new user's UID (default: generated)"`
	Email         string `json:"email,omitempty"`
	Phone         string `json:"phone,omitempty" jsonschema:"E.164, such as +15555550100"`
	DisplayName   string `json:"display_name,omitempty"`
	PhotoURL      string `json:"photo_url,omitempty"`
	Password      string `json:"password,omitempty" jsonschema:"at least 6 characters; never logged nor returned"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	Disabled      bool   `json:"disabled,omitempty"`
}

func (s *Server) createUser(ctx context.Context, c *call, in *createUserInput) (User, error) {
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return User{}, err
	}
	if err := s.needWrites("create user"); err != nil {
		return User{}, err
	}
	u := &auth.UserToCreate{}
	if in.UID != "" {
		u.UID(in.UID)
	}
	if in.Email != "" {
		u.Email(in.Email)
	}
	if in.Phone != "" {
		u.PhoneNumber(in.Phone)
	}
	if in.DisplayName != "" {
		u.DisplayName(in.DisplayName)
	}
	if in.PhotoURL != "" {
		u.PhotoURL(in.PhotoURL)
	}
	if in.Password != "" {
		u.Password(in.Password)
	}
	if in.EmailVerified {
		u.EmailVerified(true)
	}
	if in.Disabled {
		u.Disabled(true)
	}
	rec, err := s.o.Auth.CreateUser(ctx, u)
	if err != nil {
		return User{}, err
	}
	c.target = rec.UID
	return toUser(rec), nil
}

type updateUserInput struct {
	UID           string  `json:"uid"`
	Email         *string `json:"email,omitempty"`
	Phone         *string `json:"phone,omitempty" jsonschema:"E.164; an empty string removes the phone number"`
	DisplayName   *string `json:"display_name,omitempty" jsonschema:"an empty string removes it"`
	PhotoURL      *string `json:"photo_url,omitempty" jsonschema:"an empty string removes it"`
	Password      *string `json:"password,omitempty" jsonschema:"never logged nor returned"`
	EmailVerified *bool   `json:"email_verified,omitempty"`
	Disabled      *bool   `json:"disabled,omitempty"`
}

func (s *Server) updateUser(ctx context.Context, c *call, in *updateUserInput) (User, error) {
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return User{}, err
	}
	if err := s.needWrites("update user"); err != nil {
		return User{}, err
	}
	if in.UID == "" {
		return User{}, errs.New(errs.ErrInvalid, "arguments", "", "$.uid: empty")
	}
	u := &auth.UserToUpdate{}
	n := 0
	set := func(p *string, f func(string) *auth.UserToUpdate) {
		if p != nil {
			f(*p)
			n++
		}
	}
	set(in.Email, u.Email)
	set(in.Phone, u.PhoneNumber)
	set(in.DisplayName, u.DisplayName)
	set(in.PhotoURL, u.PhotoURL)
	set(in.Password, u.Password)
	if in.EmailVerified != nil {
		u.EmailVerified(*in.EmailVerified)
		n++
	}
	if in.Disabled != nil {
		u.Disabled(*in.Disabled)
		n++
	}
	if n == 0 {
		return User{}, errs.New(errs.ErrInvalid, "arguments", "", "nothing to update: give at least one of email, phone, display_name, photo_url, password, email_verified, disabled")
	}
	rec, err := s.o.Auth.UpdateUser(ctx, in.UID, u)
	if err != nil {
		return User{}, err
	}
	return toUser(rec), nil
}

type disableUserInput struct {
	UID      string `json:"uid"`
	Disabled bool   `json:"disabled" jsonschema:"true to disable the account (sign-in refused), false to enable it"`
}

func (s *Server) setDisabled(ctx context.Context, c *call, in *disableUserInput) (User, error) {
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return User{}, err
	}
	if err := s.needWrites("disable user"); err != nil {
		return User{}, err
	}
	var err error
	if in.Disabled {
		err = s.o.Auth.DisableUser(ctx, in.UID)
	} else {
		err = s.o.Auth.EnableUser(ctx, in.UID)
	}
	if err != nil {
		return User{}, err
	}
	rec, err := s.o.Auth.GetUser(ctx, in.UID)
	if err != nil {
		return User{}, err
	}
	return toUser(rec), nil
}

// ---- delete

type deleteUserInput struct {
	UID          string `json:"uid"`
	ConfirmToken string `json:"confirm_token,omitempty" jsonschema:"the confirm_token of the dry run for this UID; without it, nothing is deleted"`
}

type deleteUserOutput struct {
	DryRun       bool      `json:"dry_run"`
	User         User      `json:"user" jsonschema:"the user that is (or would be) deleted"`
	ConfirmToken string    `json:"confirm_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

func (s *Server) deleteUser(ctx context.Context, c *call, in *deleteUserInput) (deleteUserOutput, error) {
	var out deleteUserOutput
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return out, err
	}
	if err := s.needDestructive("delete user"); err != nil {
		return out, err
	}
	request := "delete user\x00" + in.UID
	if in.ConfirmToken != "" {
		if err := s.checkToken(in.ConfirmToken, request); err != nil {
			return out, err
		}
	}
	rec, err := s.o.Auth.GetUser(ctx, in.UID)
	if err != nil {
		return out, err
	}
	out.User = toUser(rec)
	if in.ConfirmToken == "" {
		exp := time.Now().Add(confirmTTL).UTC().Truncate(time.Second)
		out.DryRun, out.ConfirmToken, out.ExpiresAt = true, s.token(request, exp), exp
		return out, nil
	}
	if err := s.o.Auth.DeleteUser(ctx, in.UID); err != nil {
		return out, err
	}
	return out, nil
}

// ---- claims, revocation, links, custom tokens

type uidInput struct {
	UID string `json:"uid"`
}

type claimsOutput struct {
	UID    string         `json:"uid"`
	Claims map[string]any `json:"custom_claims"`
}

func (s *Server) getClaims(ctx context.Context, c *call, in *uidInput) (claimsOutput, error) {
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return claimsOutput{}, err
	}
	m, err := s.o.Auth.CustomClaims(ctx, in.UID)
	if err != nil {
		return claimsOutput{}, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return claimsOutput{UID: in.UID, Claims: m}, nil
}

type setClaimsInput struct {
	UID    string          `json:"uid"`
	Claims json.RawMessage `json:"claims" jsonschema:"the custom claims as a plain JSON object (at most 1000 bytes; reserved names such as sub or firebase are refused); {} removes them all"`
	Merge  bool            `json:"merge,omitempty" jsonschema:"merge into the current claims (a null value removes that claim) instead of replacing them"`
}

func (s *Server) setClaims(ctx context.Context, c *call, in *setClaimsInput) (claimsOutput, error) {
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return claimsOutput{}, err
	}
	if err := s.needWrites("set claims"); err != nil {
		return claimsOutput{}, err
	}
	var m map[string]any
	if err := json.Unmarshal(in.Claims, &m); err != nil || m == nil {
		return claimsOutput{}, errs.New(errs.ErrInvalid, "arguments", "", "$.claims: want a JSON object such as {\"role\":\"admin\"}")
	}
	if in.Merge {
		got, err := s.o.Auth.MergeCustomClaims(ctx, in.UID, m)
		if err != nil {
			return claimsOutput{}, err
		}
		return claimsOutput{UID: in.UID, Claims: got}, nil
	}
	if err := auth.ValidateClaims(m); err != nil {
		return claimsOutput{}, errs.New(errs.ErrInvalid, "arguments", "", "$.claims: %v", err)
	}
	if err := s.o.Auth.SetCustomClaims(ctx, in.UID, m); err != nil {
		return claimsOutput{}, err
	}
	return claimsOutput{UID: in.UID, Claims: m}, nil
}

type revokeOutput struct {
	UID       string    `json:"uid"`
	RevokedAt time.Time `json:"revoked_at" jsonschema:"ID tokens issued before this second no longer verify with revocation checks"`
}

func (s *Server) revoke(ctx context.Context, c *call, in *uidInput) (revokeOutput, error) {
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return revokeOutput{}, err
	}
	if err := s.needWrites("revoke"); err != nil {
		return revokeOutput{}, err
	}
	if err := s.o.Auth.RevokeRefreshTokens(ctx, in.UID); err != nil {
		return revokeOutput{}, err
	}
	return revokeOutput{UID: in.UID, RevokedAt: time.Now().UTC().Truncate(time.Second)}, nil
}

type linkInput struct {
	Kind            string `json:"kind" jsonschema:"password_reset, email_verification or email_sign_in"`
	Email           string `json:"email"`
	ContinueURL     string `json:"continue_url,omitempty" jsonschema:"where the user lands after the action (required for email_sign_in)"`
	HandleCodeInApp bool   `json:"handle_code_in_app,omitempty"`
}

type linkOutput struct {
	Kind string `json:"kind"`
	Link string `json:"link" jsonschema:"the action link: it acts for the user, give it to them only"`
}

func (s *Server) actionLink(ctx context.Context, c *call, in *linkInput) (linkOutput, error) {
	c.target = in.Kind
	if err := s.needAuthAdmin(c); err != nil {
		return linkOutput{}, err
	}
	// A link acts for the user (a password reset takes the account): as
	// guarded as a write.
	if err := s.needWrites("action link"); err != nil {
		return linkOutput{}, err
	}
	var settings *auth.ActionCodeSettings
	if in.ContinueURL != "" {
		settings = &auth.ActionCodeSettings{URL: in.ContinueURL, HandleCodeInApp: in.HandleCodeInApp}
	}
	var link string
	var err error
	switch in.Kind {
	case "password_reset":
		link, err = s.o.Auth.PasswordResetLink(ctx, in.Email, settings)
	case "email_verification":
		link, err = s.o.Auth.EmailVerificationLink(ctx, in.Email, settings)
	case "email_sign_in":
		if settings == nil {
			return linkOutput{}, errs.New(errs.ErrInvalid, "arguments", "", "$.continue_url: email_sign_in needs a continue URL")
		}
		link, err = s.o.Auth.EmailSignInLink(ctx, in.Email, settings)
	default:
		return linkOutput{}, errs.New(errs.ErrInvalid, "arguments", "", "$.kind: %q (want password_reset, email_verification or email_sign_in)", in.Kind)
	}
	if err != nil {
		return linkOutput{}, err
	}
	return linkOutput{Kind: in.Kind, Link: link}, nil
}

type mintInput struct {
	UID    string          `json:"uid"`
	Claims json.RawMessage `json:"claims,omitempty" jsonschema:"developer claims as a plain JSON object"`
}

type mintOutput struct {
	UID         string `json:"uid"`
	CustomToken string `json:"custom_token" jsonschema:"a custom token to exchange for an ID token (signInWithCustomToken); a secret"`
}

func (s *Server) mint(ctx context.Context, c *call, in *mintInput) (mintOutput, error) {
	c.target = in.UID
	if err := s.needAuthAdmin(c); err != nil {
		return mintOutput{}, err
	}
	if !s.o.AllowCustomTokens {
		return mintOutput{}, errs.New(errs.ErrPermission, "mint", in.UID, "minting custom tokens is off (hint: restart with `fbadmin mcp --allow-custom-tokens`)")
	}
	var claims map[string]any
	if len(in.Claims) > 0 {
		if err := json.Unmarshal(in.Claims, &claims); err != nil || claims == nil {
			return mintOutput{}, errs.New(errs.ErrInvalid, "arguments", "", "$.claims: want a JSON object")
		}
	}
	tok, err := s.o.Auth.CustomToken(ctx, in.UID, claims)
	if err != nil {
		return mintOutput{}, err
	}
	return mintOutput{UID: in.UID, CustomToken: tok}, nil
}

func (s *Server) addAuthTools() {
	ro := &sdk.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	no, yes := false, true
	write := &sdk.ToolAnnotations{DestructiveHint: &no}
	destructive := &sdk.ToolAnnotations{DestructiveHint: &yes}
	addTool(s, &sdk.Tool{Name: "auth_get_user", Annotations: ro, Description: "Get a Firebase Auth user by exactly one of uid, email or phone."}, s.getUser)
	addTool(s, &sdk.Tool{Name: "auth_list_users", Annotations: ro, Description: "List Auth users one page at a time (next_page_token back as page_token)."}, s.listUsers)
	addTool(s, &sdk.Tool{Name: "auth_search_users", Annotations: ro, Description: "Search Auth users by email, phone or UID, sorted (production; the emulator only lists)."}, s.searchUsers)
	addTool(s, &sdk.Tool{Name: "auth_create_user", Annotations: write, Description: "Create an Auth user. Needs --allow-writes."}, s.createUser)
	addTool(s, &sdk.Tool{Name: "auth_update_user", Annotations: write, Description: "Update an Auth user's email, phone, name, photo, password, email_verified or disabled; only the fields given change. Needs --allow-writes."}, s.updateUser)
	addTool(s, &sdk.Tool{Name: "auth_set_user_disabled", Annotations: write, Description: "Disable (disabled: true) or enable an Auth user. Needs --allow-writes."}, s.setDisabled)
	addTool(s, &sdk.Tool{Name: "auth_delete_user", Annotations: destructive, Description: "Delete an Auth user. Two calls: the first returns the user and a confirm_token, the second with confirm_token deletes. Needs --allow-writes --allow-destructive."}, s.deleteUser)
	addTool(s, &sdk.Tool{Name: "auth_get_custom_claims", Annotations: ro, Description: "Read a user's custom claims."}, s.getClaims)
	addTool(s, &sdk.Tool{Name: "auth_set_custom_claims", Annotations: write, Description: "Replace a user's custom claims (or merge with merge: true). Needs --allow-writes."}, s.setClaims)
	addTool(s, &sdk.Tool{Name: "auth_revoke_refresh_tokens", Annotations: write, Description: "Revoke a user's refresh tokens: every session must sign in again. Needs --allow-writes."}, s.revoke)
	addTool(s, &sdk.Tool{Name: "auth_action_link", Annotations: write, Description: "Generate an email action link (password_reset, email_verification, email_sign_in). Links act for the user. Needs --allow-writes."}, s.actionLink)
	if s.o.AllowCustomTokens {
		addTool(s, &sdk.Tool{Name: "auth_mint_custom_token", Annotations: write, Description: "Mint a custom token for a UID with developer claims (the server was started with --allow-custom-tokens)."}, s.mint)
	}
}
