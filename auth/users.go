package auth

import (
	"context"
	"fmt"
	"iter"
	"maps"

	fbauth "firebase.google.com/go/v4/auth"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// User types of the Admin SDK, used as they are.
type (
	UserRecord            = fbauth.UserRecord
	ExportedUserRecord    = fbauth.ExportedUserRecord
	UserToCreate          = fbauth.UserToCreate
	UserToUpdate          = fbauth.UserToUpdate
	UserIdentifier        = fbauth.UserIdentifier
	UIDIdentifier         = fbauth.UIDIdentifier
	EmailIdentifier       = fbauth.EmailIdentifier
	PhoneIdentifier       = fbauth.PhoneIdentifier
	ProviderIdentifier    = fbauth.ProviderIdentifier
	GetUsersResult        = fbauth.GetUsersResult
	DeleteUsersResult     = fbauth.DeleteUsersResult
	QueryUsersRequest     = fbauth.QueryUsersRequest
	QueryUserInfoResponse = fbauth.QueryUserInfoResponse
	Expression            = fbauth.Expression
	ActionCodeSettings    = fbauth.ActionCodeSettings
	SortBy                = fbauth.SortBy
	Order                 = fbauth.Order
)

// Sort fields and orders of [QueryUsersRequest].
const (
	SortByUID         = fbauth.UID
	SortByName        = fbauth.Name
	SortByCreatedAt   = fbauth.CreatedAt
	SortByLastLoginAt = fbauth.LastLoginAt
	SortByEmail       = fbauth.UserEmail
	Ascending         = fbauth.Asc
	Descending        = fbauth.Desc
)

// Batch limits of the Identity Toolkit API.
const (
	maxGetUsers    = 100
	maxDeleteUsers = 1000
	maxPageSize    = 1000
)

// CreateUser creates a user. A taken UID or email gives [ErrAlreadyExists]
// ([IsUIDAlreadyExists], [IsEmailAlreadyExists] tell which); an invalid
// email or phone number [ErrInvalid].
func (c *Client) CreateUser(ctx context.Context, u *UserToCreate) (*UserRecord, error) {
	rec, err := c.base.CreateUser(ctx, u)
	return rec, wrapErr(err, "create user", "")
}

// GetUser returns the user uid; [ErrNotFound] if there is none.
func (c *Client) GetUser(ctx context.Context, uid string) (*UserRecord, error) {
	if err := validateUID("get user", uid); err != nil {
		return nil, err
	}
	rec, err := c.base.GetUser(ctx, uid)
	return rec, wrapErr(err, "get user", uid)
}

// GetUserByEmail returns the user with the email; [ErrNotFound] if there is none.
func (c *Client) GetUserByEmail(ctx context.Context, email string) (*UserRecord, error) {
	rec, err := c.base.GetUserByEmail(ctx, email)
	return rec, wrapErr(err, "get user by email", email)
}

// GetUserByPhone returns the user with the E.164 phone number; [ErrNotFound]
// if there is none.
func (c *Client) GetUserByPhone(ctx context.Context, phone string) (*UserRecord, error) {
	rec, err := c.base.GetUserByPhoneNumber(ctx, phone)
	return rec, wrapErr(err, "get user by phone", phone)
}

// UpdateUser updates the user uid and returns the updated record.
func (c *Client) UpdateUser(ctx context.Context, uid string, u *UserToUpdate) (*UserRecord, error) {
	if err := validateUID("update user", uid); err != nil {
		return nil, err
	}
	rec, err := c.base.UpdateUser(ctx, uid, u)
	return rec, wrapErr(err, "update user", uid)
}

// DisableUser disables the user uid: sign-in and token refresh fail, and
// verification with CheckRevoked rejects its tokens with [ErrUserDisabled].
func (c *Client) DisableUser(ctx context.Context, uid string) error {
	_, err := c.UpdateUser(ctx, uid, (&UserToUpdate{}).Disabled(true))
	return err
}

// EnableUser enables the user uid again.
func (c *Client) EnableUser(ctx context.Context, uid string) error {
	_, err := c.UpdateUser(ctx, uid, (&UserToUpdate{}).Disabled(false))
	return err
}

// DeleteUser deletes the user uid; [ErrNotFound] if there is none.
func (c *Client) DeleteUser(ctx context.Context, uid string) error {
	if err := validateUID("delete user", uid); err != nil {
		return err
	}
	return wrapErr(c.base.DeleteUser(ctx, uid), "delete user", uid)
}

// GetUsers returns the users matching the identifiers (UID, email, phone or
// provider), in calls of up to 100; identifiers that match nobody are listed
// in NotFound.
func (c *Client) GetUsers(ctx context.Context, ids []UserIdentifier) (*GetUsersResult, error) {
	out := &GetUsersResult{}
	for start := 0; start < len(ids); start += maxGetUsers {
		end := min(start+maxGetUsers, len(ids))
		res, err := c.base.GetUsers(ctx, ids[start:end])
		if err != nil {
			return nil, wrapErr(err, "get users", fmt.Sprintf("identifiers %d..%d", start, end-1))
		}
		out.Users = append(out.Users, res.Users...)
		out.NotFound = append(out.NotFound, res.NotFound...)
	}
	return out, nil
}

// DeleteUsers deletes the users uids in calls of up to 1,000. Users that do
// not exist count as deleted. Per-user failures are in the result, with
// indexes into uids.
func (c *Client) DeleteUsers(ctx context.Context, uids []string) (*DeleteUsersResult, error) {
	out := &DeleteUsersResult{}
	for start := 0; start < len(uids); start += maxDeleteUsers {
		end := min(start+maxDeleteUsers, len(uids))
		res, err := c.base.DeleteUsers(ctx, uids[start:end])
		if err != nil {
			return out, wrapErr(err, "delete users", fmt.Sprintf("uids %d..%d", start, end-1))
		}
		out.SuccessCount += res.SuccessCount
		out.FailureCount += res.FailureCount
		for _, e := range res.Errors {
			cp := *e
			cp.Index += start
			out.Errors = append(out.Errors, &cp)
		}
	}
	return out, nil
}

// UserPage is one page of [Client.ListUsers].
type UserPage struct {
	Users         []*ExportedUserRecord
	NextPageToken string // "" on the last page
}

// ListUsers returns one page of at most pageSize users (1 to 1,000; 0 means
// 1,000), starting at pageToken ("" for the first page). Page tokens stay
// valid across processes.
func (c *Client) ListUsers(ctx context.Context, pageSize int, pageToken string) (*UserPage, error) {
	if pageSize <= 0 || pageSize > maxPageSize {
		pageSize = maxPageSize
	}
	it := c.base.Users(ctx, pageToken)
	var page []*ExportedUserRecord
	next, err := iterator.NewPager(it, pageSize, pageToken).NextPage(&page)
	if err != nil {
		return nil, wrapErr(err, "list users", "")
	}
	return &UserPage{Users: page, NextPageToken: next}, nil
}

// AllUsers iterates over every user, fetching pages of 1,000. It stops at
// the first error, which it yields.
func (c *Client) AllUsers(ctx context.Context) iter.Seq2[*ExportedUserRecord, error] {
	return func(yield func(*ExportedUserRecord, error) bool) {
		token := ""
		for {
			page, err := c.ListUsers(ctx, maxPageSize, token)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, u := range page.Users {
				if !yield(u, nil) {
					return
				}
			}
			if page.NextPageToken == "" {
				return
			}
			token = page.NextPageToken
		}
	}
}

// QueryUsers searches users with the Admin SDK's query (filter by UID,
// email or phone number, sort, limit, offset). The Auth emulator implements
// only sorting by UID and counting: no filter, limit or offset.
func (c *Client) QueryUsers(ctx context.Context, q *QueryUsersRequest) (*QueryUserInfoResponse, error) {
	res, err := c.base.QueryUsers(ctx, q)
	return res, wrapErr(err, "query users", "")
}

// RevokeRefreshTokens revokes every refresh token of the user uid. ID tokens
// issued before the revocation then fail verification with CheckRevoked
// ([ErrTokenRevoked]). The service counts in whole seconds: a token issued
// in the same second as the revocation is not revoked.
func (c *Client) RevokeRefreshTokens(ctx context.Context, uid string) error {
	if err := validateUID("revoke refresh tokens", uid); err != nil {
		return err
	}
	return wrapErr(c.base.RevokeRefreshTokens(ctx, uid), "revoke refresh tokens", uid)
}

// SetCustomClaims replaces the custom claims of the user uid (nil or empty
// removes them all). Claims are validated first (see [ValidateClaims]).
// They reach the user's ID tokens at the next refresh or sign-in.
func (c *Client) SetCustomClaims(ctx context.Context, uid string, claims map[string]any) error {
	const op = "set custom claims"
	if err := validateUID(op, uid); err != nil {
		return err
	}
	if err := validateClaims(op, uid, claims); err != nil {
		return err
	}
	return wrapErr(c.base.SetCustomUserClaims(ctx, uid, claims), op, uid)
}

// CustomClaims returns the custom claims of the user uid (nil when none).
func (c *Client) CustomClaims(ctx context.Context, uid string) (map[string]any, error) {
	u, err := c.GetUser(ctx, uid)
	if err != nil {
		return nil, err
	}
	return u.CustomClaims, nil
}

// MergeCustomClaims merges patch into the custom claims of the user uid: keys
// in patch are set, keys whose value is nil are removed, other claims are
// kept. It returns the claims as written. The read and the write are two
// calls: concurrent updates of the same user's claims can overwrite each
// other.
func (c *Client) MergeCustomClaims(ctx context.Context, uid string, patch map[string]any) (map[string]any, error) {
	cur, err := c.CustomClaims(ctx, uid)
	if err != nil {
		return nil, err
	}
	merged := maps.Clone(cur)
	if merged == nil {
		merged = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	if err := c.SetCustomClaims(ctx, uid, merged); err != nil {
		return nil, err
	}
	return merged, nil
}

// PasswordResetLink returns a password reset link for the user with email.
// settings may be nil.
func (c *Client) PasswordResetLink(ctx context.Context, email string, settings *ActionCodeSettings) (string, error) {
	link, err := c.base.PasswordResetLinkWithSettings(ctx, email, settings)
	return link, wrapErr(err, "password reset link", email)
}

// EmailVerificationLink returns an email verification link for the user with
// email. settings may be nil.
func (c *Client) EmailVerificationLink(ctx context.Context, email string, settings *ActionCodeSettings) (string, error) {
	link, err := c.base.EmailVerificationLinkWithSettings(ctx, email, settings)
	return link, wrapErr(err, "email verification link", email)
}

// EmailSignInLink returns a sign-in link for email; settings (with the URL
// to continue to and HandleCodeInApp true) are required by the service.
func (c *Client) EmailSignInLink(ctx context.Context, email string, settings *ActionCodeSettings) (string, error) {
	if settings == nil {
		return "", errs.New(errs.ErrInvalid, "email sign-in link", email,
			"ActionCodeSettings with a continue URL and HandleCodeInApp true are required")
	}
	link, err := c.base.EmailSignInLink(ctx, email, settings)
	return link, wrapErr(err, "email sign-in link", email)
}
