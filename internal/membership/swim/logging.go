package swim

import (
	"context"
	"log/slog"
	"strings"
)

// logWriter turns memberlist's "[LEVEL] memberlist: message" lines into
// slog records at the matching level, so one handler filters both.
type logWriter struct {
	log *slog.Logger
}

func (w logWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	if tag, rest, ok := strings.Cut(msg, " "); ok {
		known := true
		switch tag {
		case "[DEBUG]":
			level = slog.LevelDebug
		case "[INFO]":
			level = slog.LevelInfo
		case "[WARN]":
			level = slog.LevelWarn
		case "[ERR]":
			level = slog.LevelError
		default:
			known = false
		}
		if known {
			msg = rest
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	w.log.Log(context.Background(), level, msg)
	return len(p), nil
}
