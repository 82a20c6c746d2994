package server

import "net/http"

// graphqlHandler serves /graphql. (Placeholder until the GraphQL layer lands.)
func (s *Server) graphqlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "GraphQL is not built yet", http.StatusNotImplemented)
	})
}
