package auth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

func TestUserCRUD(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	ctx := context.Background()
	uid := emutest.UniqueID(t, "crud")
	email := emutest.UniqueEmail(t, "crud")

	rec, err := c.CreateUser(ctx, (&UserToCreate{}).UID(uid).Email(email).Password("secret-123").
		DisplayName("Ada").PhoneNumber("+15555550100").PhotoURL("https://example.com/a.png"))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if rec.UID != uid || rec.Email != email || rec.DisplayName != "Ada" {
		t.Fatalf("created: got %+v", rec.UserInfo)
	}
	for name, get := range map[string]func() (*UserRecord, error){
		"by uid":   func() (*UserRecord, error) { return c.GetUser(ctx, uid) },
		"by email": func() (*UserRecord, error) { return c.GetUserByEmail(ctx, email) },
		"by phone": func() (*UserRecord, error) { return c.GetUserByPhone(ctx, "+15555550100") },
	} {
		got, err := get()
		if err != nil || got.UID != uid {
			t.Fatalf("get %s: got %v, %v; want %q", name, got, err, uid)
		}
	}

	upd, err := c.UpdateUser(ctx, uid, (&UserToUpdate{}).DisplayName("Ada L.").EmailVerified(true))
	if err != nil || upd.DisplayName != "Ada L." || !upd.EmailVerified {
		t.Fatalf("UpdateUser: got %+v, %v", upd, err)
	}
	if err := c.DisableUser(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetUser(ctx, uid); !got.Disabled {
		t.Fatalf("DisableUser: user not disabled")
	}
	if err := c.EnableUser(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetUser(ctx, uid); got.Disabled {
		t.Fatalf("EnableUser: user still disabled")
	}

	// Duplicates and bad input come back classified.
	_, err = c.CreateUser(ctx, (&UserToCreate{}).UID(uid))
	if !errors.Is(err, ErrAlreadyExists) || !IsUIDAlreadyExists(err) {
		t.Fatalf("duplicate uid: got %v, want ErrAlreadyExists/IsUIDAlreadyExists", err)
	}
	_, err = c.CreateUser(ctx, (&UserToCreate{}).Email(email))
	if !errors.Is(err, ErrAlreadyExists) || !IsEmailAlreadyExists(err) {
		t.Fatalf("duplicate email: got %v, want ErrAlreadyExists/IsEmailAlreadyExists", err)
	}
	if SDKError(err) == nil {
		t.Fatalf("SDKError: got nil for an SDK error")
	}
	for _, bad := range []string{"not-an-email", "a@", "@b", "a@b@c"} {
		_, err := c.CreateUser(ctx, (&UserToCreate{}).Email(bad))
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("invalid email %q: got %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := c.CreateUser(ctx, (&UserToCreate{}).PhoneNumber("12345")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid phone: got %v, want ErrInvalid", err)
	}
	if _, err := c.CreateUser(ctx, (&UserToCreate{}).Password("123")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short password: got %v, want ErrInvalid", err)
	}

	if err := c.DeleteUser(ctx, uid); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for name, err := range map[string]error{
		"get":            func() error { _, err := c.GetUser(ctx, uid); return err }(),
		"get by email":   func() error { _, err := c.GetUserByEmail(ctx, email); return err }(),
		"get by phone":   func() error { _, err := c.GetUserByPhone(ctx, "+15555550100"); return err }(),
		"update":         func() error { _, err := c.UpdateUser(ctx, uid, (&UserToUpdate{}).DisplayName("x")); return err }(),
		"delete":         c.DeleteUser(ctx, uid),
		"revoke":         c.RevokeRefreshTokens(ctx, uid),
		"set claims":     c.SetCustomClaims(ctx, uid, map[string]any{"a": 1}),
		"password reset": func() error { _, err := c.PasswordResetLink(ctx, email, nil); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a deleted user: got %v, want ErrNotFound", name, err)
		}
		if name == "get" && !IsUserNotFound(err) {
			t.Errorf("IsUserNotFound(%v) = false", err)
		}
	}
	if _, err := c.GetUser(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty uid: got %v, want ErrInvalid", err)
	}
}

func TestListBatchQuery(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	ctx := context.Background()
	var uids []string
	for i := range 25 {
		uid := fmt.Sprintf("list-%02d", i)
		uids = append(uids, uid)
		if _, err := c.CreateUser(ctx, (&UserToCreate{}).UID(uid).Email(fmt.Sprintf("list%02d@example.com", i))); err != nil {
			t.Fatal(err)
		}
	}

	// Pages of 10: 10, 10, 5, and the tokens chain.
	var seen []string
	token := ""
	pages := 0
	for {
		page, err := c.ListUsers(ctx, 10, token)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		pages++
		for _, u := range page.Users {
			seen = append(seen, u.UID)
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
		if pages > 10 {
			t.Fatalf("pagination does not end")
		}
	}
	sort.Strings(seen)
	if pages != 3 || strings.Join(seen, ",") != strings.Join(uids, ",") {
		t.Fatalf("ListUsers: %d pages with %v, want 3 pages with all 25 users", pages, seen)
	}
	n := 0
	for u, err := range c.AllUsers(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if u.UID != "" {
			n++
		}
	}
	if n != 25 {
		t.Fatalf("AllUsers: got %d users, want 25", n)
	}

	// Batch get: found and not found.
	res, err := c.GetUsers(ctx, []UserIdentifier{UIDIdentifier{UID: "list-01"},
		EmailIdentifier{Email: "list02@example.com"}, UIDIdentifier{UID: "nobody"}})
	if err != nil {
		t.Fatalf("GetUsers: %v", err)
	}
	if len(res.Users) != 2 || len(res.NotFound) != 1 {
		t.Fatalf("GetUsers: got %d found, %d not found; want 2 and 1", len(res.Users), len(res.NotFound))
	}

	// Query: sorted by UID, descending, with the count. (The emulator
	// implements neither filters nor limits: those are the SDK's.)
	q, err := c.QueryUsers(ctx, &QueryUsersRequest{SortBy: SortByUID, Order: Descending})
	if err != nil {
		t.Fatalf("QueryUsers: %v", err)
	}
	if len(q.Users) != 25 || q.Count != 25 || q.Users[0].UID != "list-24" || q.Users[24].UID != "list-00" {
		t.Fatalf("QueryUsers by UID desc: got %d users (count %d), want 25 from list-24 to list-00", len(q.Users), q.Count)
	}
	f := false
	cnt, err := c.QueryUsers(ctx, &QueryUsersRequest{ReturnUserInfo: &f})
	if err != nil || cnt.Count != 25 || len(cnt.Users) != 0 {
		t.Fatalf("QueryUsers count only: got %+v, %v; want count 25", cnt, err)
	}

	// Batch delete of 20, one of which does not exist.
	del, err := c.DeleteUsers(ctx, append(uids[:19:19], "nobody"))
	if err != nil || del.SuccessCount != 20 || del.FailureCount != 0 {
		t.Fatalf("DeleteUsers: got %+v, %v; want 20 successes", del, err)
	}
	page, _ := c.ListUsers(ctx, 0, "")
	if len(page.Users) != 6 {
		t.Fatalf("after DeleteUsers: %d users left, want 6", len(page.Users))
	}
}

func TestCustomClaimsAndLinks(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	ctx := context.Background()
	uid := emutest.UniqueID(t, "claims")
	email := emutest.UniqueEmail(t, "claims")
	if _, err := c.CreateUser(ctx, (&UserToCreate{}).UID(uid).Email(email).Password("secret-123")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCustomClaims(ctx, uid, map[string]any{"role": "editor", "team": "a"}); err != nil {
		t.Fatal(err)
	}
	merged, err := c.MergeCustomClaims(ctx, uid, map[string]any{"team": nil, "level": 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.CustomClaims(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if got["role"] != "editor" || got["level"] != float64(2) || got["team"] != nil || len(got) != 2 || len(merged) != 2 {
		t.Fatalf("merged claims: got %v (returned %v), want role=editor level=2", got, merged)
	}
	if err := c.SetCustomClaims(ctx, uid, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.CustomClaims(ctx, uid); len(got) != 0 {
		t.Fatalf("claims after replacing with nil: got %v, want none", got)
	}

	settings := &ActionCodeSettings{URL: "https://example.com/done", HandleCodeInApp: true}
	for name, link := range map[string]func() (string, error){
		"password reset":     func() (string, error) { return c.PasswordResetLink(ctx, email, nil) },
		"email verification": func() (string, error) { return c.EmailVerificationLink(ctx, email, settings) },
		"email sign-in":      func() (string, error) { return c.EmailSignInLink(ctx, email, settings) },
	} {
		l, err := link()
		if err != nil || !strings.Contains(l, "oobCode=") {
			t.Errorf("%s link: got %q, %v; want a link with an oobCode", name, l, err)
		}
	}
	if _, err := c.EmailSignInLink(ctx, email, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("sign-in link without settings: got %v, want ErrInvalid", err)
	}
}

// TestTenantUsers: the same UID and email live independently in two
// tenants and in the project.
func TestTenantUsers(t *testing.T) {
	t.Parallel()
	c := projectClient(t)
	ctx := context.Background()
	uid := "same-uid"
	if _, err := c.CreateUser(ctx, (&UserToCreate{}).UID(uid).DisplayName("project")); err != nil {
		t.Fatal(err)
	}
	var clients []*Client
	for i := range 2 {
		ten, err := c.CreateTenant(ctx, (&TenantToCreate{}).DisplayName(fmt.Sprintf("users%d", i)))
		if err != nil {
			t.Fatalf("CreateTenant: %v", err)
		}
		tc, err := c.ForTenant(ten.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tc.TenantID() != ten.ID {
			t.Fatalf("TenantID: got %q, want %q", tc.TenantID(), ten.ID)
		}
		if _, err := tc.CreateUser(ctx, (&UserToCreate{}).UID(uid).DisplayName(ten.ID)); err != nil {
			t.Fatalf("tenant CreateUser: %v", err)
		}
		clients = append(clients, tc)
	}
	for _, tc := range clients {
		u, err := tc.GetUser(ctx, uid)
		if err != nil || u.DisplayName != tc.TenantID() || u.TenantID != tc.TenantID() {
			t.Fatalf("tenant %s GetUser: got %+v, %v", tc.TenantID(), u, err)
		}
		page, err := tc.ListUsers(ctx, 0, "")
		if err != nil || len(page.Users) != 1 {
			t.Fatalf("tenant %s ListUsers: %d users, %v; want 1", tc.TenantID(), len(page.Users), err)
		}
	}
	if u, _ := c.GetUser(ctx, uid); u.DisplayName != "project" {
		t.Fatalf("project user changed: %+v", u.UserInfo)
	}
	if _, err := clients[0].SessionCookie(ctx, "x", 3600e9); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tenant SessionCookie: got %v, want ErrInvalid", err)
	}
	if ten, err := c.GetTenant(ctx, clients[0].TenantID()); err != nil || ten.DisplayName != "users0" {
		t.Fatalf("GetTenant: got %+v, %v; want users0", ten, err)
	}
	if err := c.DeleteTenant(ctx, clients[1].TenantID()); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	if err := c.DeleteTenant(ctx, clients[0].TenantID()); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg   Config
		field string
	}{
		{Config{EmulatorHost: "127.0.0.1:9099"}, "ProjectID"},
		{Config{ProjectID: "p", EmulatorHost: "http://127.0.0.1:9099"}, "EmulatorHost"},
		{Config{ProjectID: "p", EmulatorHost: "localhost"}, "EmulatorHost"},
		{Config{ProjectID: "Bad Project"}, "ProjectID"},
		{Config{ProjectID: "p", TenantID: "a/b"}, "TenantID"},
		{Config{ProjectID: "p", CredentialsFile: "/no/such/file.json"}, "CredentialsFile"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate(%+v): got %v, want ErrInvalid naming %s", tc.cfg, err, tc.field)
		}
		if _, err := New(context.Background(), tc.cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%+v): got %v, want ErrInvalid", tc.cfg, err)
		}
	}
	if err := (Config{ProjectID: "demo-x", EmulatorHost: "127.0.0.1:9099", TenantID: "t-1"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if s := (Config{ProjectID: "p", APIKey: "AIzaSECRET"}).String(); strings.Contains(s, "SECRET") {
		t.Errorf("Config.String shows the API key: %s", s)
	}
}
