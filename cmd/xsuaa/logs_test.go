package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitLines waits up to 5 s for the log lines that contain every one of
// subs (lines about a request may be written after its response went out).
func waitLines(s *testServer, subs ...string) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := linesWith(s.logs.String(), subs...)
		if len(lines) > 0 || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// linesWith returns the log lines that contain every one of subs.
func linesWith(logs string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		all := l != ""
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// TestLogsOneEventOneLine: a broker event is one line, in the format
// --log-format asks for (audit lines too), and a failed authentication is
// one line; with --log-level debug the token path says what it did.
func TestLogsOneEventOneLine(t *testing.T) {
	s := startServer(t, "", "--log-format", "text")
	s.provision("logs-1", "logs-one", `{"xsappname":"logsone"}`)
	_, c := s.bind("logs-1", "logs-b1", nil)
	s.token(s.httpURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {"wrong"}}, nil)
	waitLines(s, "event=auth.failed")
	logs := s.logs.String()
	for _, tc := range []struct {
		what string
		subs []string
		not  string
	}{
		{"instance created", []string{"logs-1"}, "logs-b1"},
		{"binding created", []string{"logs-b1"}, ""},
		{"failed authentication", []string{c.ClientID, "fail"}, ""},
	} {
		var lines []string
		for _, l := range linesWith(logs, tc.subs...) {
			if tc.not == "" || !strings.Contains(l, tc.not) {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 {
			t.Errorf("%s: %d log lines, want 1:\n%s", tc.what, len(lines), strings.Join(lines, "\n"))
			continue
		}
		if !strings.HasPrefix(lines[0], "time=") || strings.HasPrefix(lines[0], "{") {
			t.Errorf("%s: not in the text format: %s", tc.what, lines[0])
		}
	}

	d := startServer(t, "", "--log-level", "debug")
	d.provision("logs-2", "logs-two", `{"xsappname":"logstwo"}`)
	_, c2 := d.bind("logs-2", "logs-b2", nil)
	d.secretToken(c2)
	if lines := waitLines(d, `"msg":"token issued"`, c2.ClientID); len(lines) != 1 || !strings.Contains(lines[0], `"method":"client_secret_post"`) {
		t.Errorf("--log-level debug: token path lines %q", lines)
	}
}

// TestAccessLog: --access-log stderr writes one line per request with
// method, path, status and duration, names a known client, and shows
// anything else a request puts into client_id — a secret among them —
// only as a fingerprint.
func TestAccessLog(t *testing.T) {
	s := startServer(t, "", "--access-log", "stderr")
	s.provision("acc-1", "acc", `{"xsappname":"acc"}`)
	_, c := s.bind("acc-1", "acc-b1", nil)
	s.secretToken(c)
	s.token(s.httpURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientSecret}, "client_secret": {c.ClientSecret}}, nil)
	// A line is written once its response has gone out: wait for the last.
	deadline := time.Now().Add(5 * time.Second)
	for len(linesWith(s.logs.String(), `"msg":"request"`, `"status":401`)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	logs := s.logs.String()
	ok := linesWith(logs, `"msg":"request"`, `"path":"/oauth/token"`, `"status":200`, `"client":"`+c.ClientID+`"`, `"duration_ms":`)
	if len(ok) != 1 {
		t.Errorf("access log lines of the token request: %q", ok)
	}
	if lines := linesWith(logs, `"msg":"request"`, `"path":"/oauth/token"`, `"status":401`, `"client":"unknown:`); len(lines) != 1 {
		t.Errorf("access log line of the request with the secret as client_id: %q\n%s", lines, strings.Join(linesWith(logs, `"msg":"request"`), "\n"))
	}
	if lines := linesWith(logs, `"msg":"request"`, `"path":"/v2/service_instances/acc-1"`, `"client":"broker"`); len(lines) != 1 {
		t.Errorf("access log line of the broker request: %q", lines)
	}
	if strings.Contains(logs, c.ClientSecret) {
		t.Error("a secret is in the logs")
	}
}

// TestPortTakenCreatesNothing: when a listen address is taken the server
// fails before it creates anything in its data directory.
func TestPortTakenCreatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	out, err := runBinary(t, "serve", "--data-dir", dir, "--http", ln.Addr().String(), "--https", "")
	if err == nil || !strings.Contains(out, "--http: listen tcp") {
		t.Fatalf("serve on a taken port: %v, %q", err, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the data directory got %d entries before the start failed", len(entries))
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("the data directory was created before the start failed")
	}
}
