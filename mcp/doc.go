// Package mcp is `fbadmin mcp`: a Model Context Protocol server that gives AI
// agents Firestore and Firebase Auth through fbadmin's cores (repository,
// internal/transfer, auth) with fbadmin's lossless value format.
//
// # Tools
//
// [New] registers one tool per operation. Each tool's input and output
// schemas are generated from the Go types of this package; inputs are
// decoded strictly (an unknown or mistyped argument is an error naming its
// JSON path) and document data in and out is in the value format of
// docs/value-format.md, so an int64 above 2^53, bytes, a reference or a
// timestamp survive both ways.
//
// # Safety
//
// The server is read-only unless [Options.AllowWrites]. Deletes (and user
// deletions) also need [Options.AllowDestructive] and two calls: the first
// returns a dry-run summary and a confirmation token bound to the exact
// request, the second passes the token. Every call is capped in documents
// and bytes ([Options.MaxDocs], [Options.MaxBytes]); collections can be
// allowed or denied by pattern ([Options.Allow], [Options.Deny], with the
// pattern syntax of `fbadmin serve`'s rules). Over HTTP, callers present
// Firebase ID tokens and the access rules of a serve config apply to every
// Firestore tool ([Options.Rules]). Every call is logged with its tool,
// target, duration and outcome, never with values or tokens.
//
// # Transports
//
// [Server.RunStdio] serves one client over stdin and stdout;
// [Server.HTTPHandler] serves the Streamable HTTP transport.
package mcp
