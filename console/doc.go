// Package console is `fbadmin console`: a local web application to browse,
// query, edit, import, export and delete Firestore data and to manage
// Firebase Auth users, served by the fbadmin binary itself.
//
// # Approach
//
// Pages are rendered on the server with html/template; one small hand-written
// script (assets/console.js) adds what needs a browser: the live mode (Server-
// Sent Events), the asynchronous count, adding rows to forms, keyboard
// shortcuts and job progress. Every asset is embedded with go:embed, so there
// is no Node build step and nothing to download at install time; every page
// works without the script, only less conveniently.
//
// # Data
//
// The console adds no data layer of its own: reads, queries with page tokens,
// counts and writes with update-time preconditions go through [server.Store]
// (with rules that allow everything: the console is an administrator's tool),
// live mode through the repository's verified watch of the page's query
// (the change-stream core of [server.Hub], which refuses limited queries),
// the collection tree through
// [transfer.DB.CollectionIDs], recursive deletes, exports and imports through
// internal/transfer, and users through the auth package. Document data is
// shown and edited in the lossless value format of internal/value.
//
// # Security
//
// Every request but the login and the assets needs a session: the login
// exchanges the access token (random, printed at start like a notebook
// server's) or, with [Config.IDTokens], a Firebase ID token whose custom
// claim admin is true, for an HttpOnly, SameSite=Strict cookie. Every
// state-changing request needs the session's CSRF token and a same-origin
// request; a strict Content-Security-Policy forbids inline scripts and
// styles. Request logs carry route patterns, never URLs, data or tokens.
//
// TESTING.md is the contract tests rely on: routes, parameters and the
// data-testid attributes of the pages.
package console
