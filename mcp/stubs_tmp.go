package mcp

func (s *Server) addFirestoreWriteTools() {}
func (s *Server) addAuthTools()           {}
func (s *Server) addResources()           {}
func (s *Server) addPrompts()             {}
