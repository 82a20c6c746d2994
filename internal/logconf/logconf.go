// Package logconf is the "log:" block shared by the config files of
// `fbadmin listen` and `fbadmin serve`, and the slog logger it selects.
package logconf

import (
	"io"
	"log/slog"
)

// Config selects the log format and level.
type Config struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// Formats and Levels are the accepted values ("" means the default).
var (
	Formats = []string{"", "text", "json"}
	Levels  = []string{"", "debug", "info", "warn", "error"}
)

// New returns the logger c asks for, writing to w.
func New(c Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch c.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
