package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// The client commands print what the server sent (names, descriptions,
// error messages); a name holding terminal escape sequences must not
// drive the user's terminal. Every client command writes through
// terminalSafe, which shows control characters other than newline and tab
// as U+FFFD. JSON output is not changed: its encoder escapes control
// characters itself.

// terminalSafe wraps w.
func terminalSafe(w io.Writer) io.Writer { return safeWriter{w} }

type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, stripControls(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// stripControls replaces C0 and C1 control characters (other than \n and
// \t), DEL and invalid UTF-8 with U+FFFD.
func stripControls(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError
}
