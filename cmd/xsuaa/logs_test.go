package main

import (
	"fmt"
	"net"
	"net/http"
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
// method, path, status and duration, names a known client or the broker
// user, and shows anything else a request puts where a name goes — a
// secret among them — only as a fingerprint. Each case sends one request
// with its own marker path, so that its line can be told apart.
func TestAccessLog(t *testing.T) {
	s := startServer(t, "", "--access-log", "stderr")
	s.provision("acc-1", "acc", `{"xsappname":"acc"}`)
	_, c := s.bind("acc-1", "acc-b1", nil)
	tokenForm := func(id, secret string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	}
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		client string // the client field: a name, "unknown:" for a fingerprint, "" for none
	}{
		{"the right secret", func() *http.Request {
			return formRequest(s.httpURL+"/oauth/token", tokenForm(c.ClientID, c.ClientSecret), nil)
		}, 200, c.ClientID},
		{"the secret as client_id", func() *http.Request {
			return formRequest(s.httpURL+"/oauth/token", tokenForm(c.ClientSecret, c.ClientSecret), nil)
		}, 401, "unknown:"},
		{"the secret as Basic user", func() *http.Request {
			return formRequest(s.httpURL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}, []string{c.ClientSecret, c.ClientID})
		}, 401, "unknown:"},
		{"a mistyped client id", func() *http.Request {
			return formRequest(s.httpURL+"/oauth/token", tokenForm("sb-acz!t1", c.ClientSecret), nil)
		}, 401, "unknown:"},
		{"the secret in the query string", func() *http.Request {
			return formRequest(s.httpURL+"/oauth/token?client_secret="+url.QueryEscape(c.ClientSecret), url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}}, nil)
		}, 400, ""}, // refused (RFC 6749 §2.3.1), and the query is not logged
		{"no credentials", func() *http.Request {
			return formRequest(s.httpURL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}, nil)
		}, 401, ""},
		{"the broker, wrong password", func() *http.Request {
			r, _ := http.NewRequest("GET", s.httpURL+"/v2/catalog", nil)
			r.SetBasicAuth(brokerUser, c.ClientSecret)
			return r
		}, 401, brokerUser},
		{"the broker password as user", func() *http.Request {
			r, _ := http.NewRequest("GET", s.httpURL+"/v2/catalog", nil)
			r.SetBasicAuth(brokerPass, brokerUser)
			return r
		}, 401, "unknown:"},
	}
	// The bind's own line is written after its response: wait for it, so
	// that every case below counts only its own line.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(linesWith(s.logs.String(), `"msg":"request"`, `"path":"/v2/service_instances/acc-1/service_bindings/acc-b1"`)) > 0 {
			break
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(linesWith(s.logs.String(), `"msg":"request"`))
			req := tc.req()
			code, body, _ := s.do(req)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			// A line is written once its response has gone out: wait for it.
			var lines []string
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if lines = linesWith(s.logs.String(), `"msg":"request"`); len(lines) > before {
					break
				}
			}
			if len(lines) != before+1 {
				t.Fatalf("%d access log lines for one request", len(lines)-before)
			}
			line := lines[before]
			for _, want := range []string{`"method":"` + req.Method + `"`, `"path":"` + req.URL.Path + `"`, fmt.Sprintf(`"status":%d`, tc.status), `"duration_ms":`, `"source":"127.0.0.1"`} {
				if !strings.Contains(line, want) {
					t.Errorf("access log line lacks %s: %s", want, line)
				}
			}
			switch {
			case tc.client == "" && strings.Contains(line, `"client":`):
				t.Errorf("a request that named no one has a client: %s", line)
			case tc.client != "" && !strings.Contains(line, `"client":"`+tc.client):
				t.Errorf("client is not %s…: %s", tc.client, line)
			}
		})
	}
	logs := s.logs.String()
	for name, secret := range map[string]string{"client secret": c.ClientSecret, "broker password": brokerPass} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s is in the logs", name)
		}
	}
}

// formRequest is a form POST to u, with Basic credentials when basic is set.
func formRequest(u string, form url.Values, basic []string) *http.Request {
	r, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		r.SetBasicAuth(basic[0], basic[1])
	}
	return r
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
