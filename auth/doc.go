// Package auth is fbadmin's Firebase Authentication layer: it verifies and
// mints tokens, lives the token lifecycle of a client app, manages users and
// tenants, and imports and exports users in the Firebase CLI's file format.
// It wraps the Admin SDK (firebase.google.com/go/v4/auth) rather than
// replacing it: verification, user management and password-hash imports are
// the SDK's; this package adds typed errors, the emulator rule, the end-user
// REST calls, streaming import/export and HTTP glue.
//
// # Clients and modes
//
// [New] builds a [Client] from a [Config]. Emulator mode is explicit: it is
// on exactly when [Config.EmulatorHost] is set, whatever the environment
// says. In emulator mode the client talks to the Auth emulator and accepts
// its unsigned (alg "none") tokens; with emulator mode off an unsigned token
// is rejected with [ErrTokenSignature] before the SDK sees it, and the SDK
// client itself is created in production mode. Every user and token
// operation can target a tenant: [Config.TenantID] or [Client.ForTenant].
//
// # Tokens
//
// [Client.VerifyIDToken] and [Client.VerifySessionCookie] return the
// verified [Token]; with [VerifyOptions].CheckRevoked they also reject
// revoked sessions and disabled users. A failure is a *[TokenError] whose
// Reason is one of [ErrTokenExpired], [ErrTokenNotYetValid],
// [ErrTokenAudience], [ErrTokenIssuer], [ErrTokenSignature],
// [ErrTokenMalformed], [ErrTokenRevoked], [ErrTokenTenant],
// [ErrTokenUnknownUser] or [ErrUserDisabled], testable with errors.Is; the
// message never contains the token. [Client.SessionCookie] makes session
// cookies. [Client.CustomToken] mints custom tokens after checking the
// developer claims ([ValidateClaims]: reserved names, 1,000-byte limit).
// [Inspect] decodes a token without verifying it, for diagnostics.
//
// # Client side: sign-in, refresh, token source
//
// [SignInClient] is the end-user REST API (Identity Toolkit and Secure
// Token), against production with an API key or against the emulator:
// [SignInClient.SignInWithCustomToken], [SignInClient.SignInWithPassword],
// [SignInClient.Refresh]. [TokenSource] keeps an ID token valid, refreshing
// it shortly before expiry with one call for many concurrent callers, and
// [Transport] is an http.RoundTripper that sends it as a bearer token and,
// on a 401, refreshes once and retries.
//
// # HTTP middleware
//
// [Middleware] verifies the bearer token of each request, puts the verified
// token in the request context ([TokenFromContext]) and checks
// requirements ([Requirement]) such as [RequireClaim]: 401 for a missing or bad token, 403
// for a valid token without the required claims.
//
// # Users
//
// Create, get (by UID, email, phone), update, disable/enable, delete, batch
// get and delete, list with page tokens ([Client.ListUsers],
// [Client.AllUsers]), search ([Client.QueryUsers]), revoke refresh tokens,
// custom claims (replace with [Client.SetCustomClaims], merge with
// [Client.MergeCustomClaims]) and email action links. Errors unwrap to the
// fbadmin kinds ([ErrNotFound], [ErrAlreadyExists], [ErrInvalid], ...) and
// to the SDK's error, which [SDKError] returns for the SDK's predicates;
// [IsEmailAlreadyExists] and friends apply them directly.
//
// # Import and export
//
// [Client.ExportUsers] and [Client.ImportUsers] use the JSON format of
// `firebase auth:export` and `firebase auth:import` ([FileUser]), so users
// move between fbadmin and the Firebase CLI either way. Both stream: export
// writes page by page, import reads with a token decoder and keeps at most a
// few batches of 1,000 users in memory. Password hashes are imported with
// the algorithms the SDK supports ([HashConfig], named like the CLI's
// flags). Import reports every user it could not import ([ImportReport])
// and never stops at the first.
//
// # The Auth emulator
//
// The emulator issues unsigned tokens, ignores signatures on custom tokens,
// counts revocation in whole seconds, and does not implement password hash
// algorithms: it stores an imported hash as given and checks passwords
// against its own scheme, so a user imported with a real hash cannot sign
// in with the password there (production can).
package auth
