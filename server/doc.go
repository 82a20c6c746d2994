// Package server is `fbadmin serve`: the backend that apps and admin tools
// call, over one Firestore database, behind Firebase ID tokens and access
// rules.
//
// # Surfaces
//
//   - REST under /v1: documents (get, list with cursor pages, create, set,
//     patch, delete, with ETags), queries, and aggregations (count, sum,
//     average).
//   - GraphQL at /graphql (gqlgen): the same operations as queries and
//     mutations, and change streams as subscriptions over the
//     graphql-transport-ws and graphql-ws protocols.
//   - WebSocket change streams at /v1/watch: subscribe to a query, get its
//     documents and then every change, resume after a disconnect from the
//     last position received.
//   - /healthz, /readyz and Prometheus /metrics.
//
// # Pieces
//
// [Config] is the YAML file (defaults and validation in config.go);
// [Rules] decide who may read and write which paths (owner fields, custom
// claims); [Store] is the rule-checked Firestore access both transports
// share; [Hub] runs one listener per distinct live query on the shared
// change-stream core (internal/stream: backoff, watchdog, verified
// snapshots) and fans its events out to subscriptions, with per-socket,
// per-user and per-server budgets (limits.go). Every client-controlled
// resource has a budget; docs/serve.md ("Limits and abuse") lists them.
//
// # Wiring
//
//	srv, err := server.New(cfg, server.Options{Client: fs, Verifier: authClient})
//	if err != nil { ... }
//	defer srv.Close()
//	ln, _ := net.Listen("tcp", "127.0.0.1:8088")
//	err = srv.Serve(ctx, ln) // until ctx is done, then a graceful shutdown
//
// Tokens are verified by the Verifier; unsigned emulator tokens are
// accepted only when Options.Emulator is set (`fbadmin serve --emulator`).
package server
