package mcp

func (s *Server) addAuthTools() {}
func (s *Server) addResources() {}
func (s *Server) addPrompts()   {}
