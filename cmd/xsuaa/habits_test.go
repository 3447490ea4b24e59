package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIHabits: the command line behaves as people expect of one: a
// mistyped command is one line with a suggestion and exit 2; --version
// works; global flags may come before the command; --help goes to stdout
// with exit 0; any wrong command line exits 2 with its error printed
// once; messages say things once.
func TestCLIHabits(t *testing.T) {
	s := startServer(t, "")
	for _, tc := range []struct {
		args        []string
		code        int
		stdout      string // substring; "" for none
		stderr      string // substring; "" for empty
		stderrLines int    // lines on stderr, 0: any
	}{
		{[]string{"serv"}, 2, "", `unknown command "serv"; did you mean "serve"?`, 1},
		{[]string{"servics"}, 2, "", `did you mean "services"?`, 1},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate" (xsuaa help lists the commands)`, 1},
		{[]string{"--version"}, 0, "xsuaa ", "", 0},
		{[]string{"version"}, 0, "signer ", "", 0},
		{[]string{"version", "--json"}, 0, `"signer":`, "", 0},
		{[]string{"serve", "--htp", "x"}, 2, "", "flag provided but not defined: -htp (xsuaa serve --help lists the flags)", 1},
		{[]string{"services", "--bogus"}, 2, "", "flag provided but not defined: -bogus", 1},
		{[]string{"keys"}, 2, "", "keys takes 1 argument, got 0; usage: xsuaa keys list | rotate", 1},
		{[]string{"serve", "--help"}, 0, "Usage: xsuaa serve", "", 0},
		{[]string{"migrate", "--help"}, 0, "Usage: xsuaa migrate", "", 0},
		{[]string{"help", "token"}, 0, "Usage: xsuaa token", "", 0},
		{[]string{"service", "nosuch"}, 1, "", `xsuaa: service "nosuch" not found`, 1},
		{[]string{"--json", "services"}, 0, "[", "", 0},
		{[]string{"--server", s.httpURL, "services"}, 0, "No services", "", 0},
	} {
		r := s.cli(tc.args...)
		switch {
		case r.code != tc.code:
			t.Errorf("xsuaa %s: exit %d, want %d (stderr %q)", strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
		case tc.stdout != "" && !strings.Contains(r.stdout, tc.stdout):
			t.Errorf("xsuaa %s: stdout %q lacks %q", strings.Join(tc.args, " "), r.stdout, tc.stdout)
		case tc.stderr == "" && r.stderr != "":
			t.Errorf("xsuaa %s: stderr %q, want none", strings.Join(tc.args, " "), r.stderr)
		case tc.stderr != "" && !strings.Contains(r.stderr, tc.stderr):
			t.Errorf("xsuaa %s: stderr %q lacks %q", strings.Join(tc.args, " "), r.stderr, tc.stderr)
		case tc.stderrLines > 0 && strings.Count(strings.TrimSpace(r.stderr), "\n")+1 != tc.stderrLines:
			t.Errorf("xsuaa %s: %d lines on stderr, want %d: %q", strings.Join(tc.args, " "), strings.Count(strings.TrimSpace(r.stderr), "\n")+1, tc.stderrLines, r.stderr)
		}
		if strings.Contains(r.stderr, "not found: no such service") {
			t.Errorf("xsuaa %s: redundant message %q", strings.Join(tc.args, " "), r.stderr)
		}
	}
	// A global flag before the command is the command's flag.
	if r := s.cliEnv([]string{"XSUAA_BROKER_USER=", "XSUAA_BROKER_PASSWORD="}, "--data-dir", t.TempDir(), "services"); r.code != 1 || !strings.Contains(r.stderr, "broker-credentials.json") {
		t.Errorf("--data-dir before the command: exit %d, %q; want it used (no credentials there)", r.code, r.stderr)
	}
}

// TestTokenTrustHint: xsuaa token -k against the server's HTTPS url, run
// where the server's CA is not at hand, says how to trust it; with
// XSUAA_CACERT it works.
func TestTokenTrustHint(t *testing.T) {
	s := startServer(t, "")
	s.provision("trust", "trust", `{"xsappname":"trust"}`)
	raw, _ := s.bind("trust", "trust-1", nil)
	keyFile := filepath.Join(t.TempDir(), "key.json")
	os.WriteFile(keyFile, raw, 0o600)
	elsewhere := t.TempDir()
	r := s.cli("token", "-k", keyFile, "--data-dir", elsewhere)
	if r.code != 1 || !strings.Contains(r.stderr, "--cacert") || !strings.Contains(r.stderr, "XSUAA_CACERT") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("token with an untrusted server: exit %d, %q; want one line saying how to trust the CA", r.code, r.stderr)
	}
	r = s.cliEnv([]string{"XSUAA_CACERT=" + filepath.Join(s.dataDir, "ca.pem")}, "token", "-k", keyFile, "--data-dir", elsewhere)
	if r.code != 0 || !strings.Contains(r.stdout, "access_token") {
		t.Errorf("token with XSUAA_CACERT: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// FuzzCommandLine: moving global flags behind the command never loses,
// adds or reorders the command's own arguments, and a suggestion for a
// mistyped command is a command or nothing.
func FuzzCommandLine(f *testing.F) {
	for _, seed := range []string{
		"--data-dir\x00d\x00services",
		"--server=http://x\x00--json\x00token\x00-k\x00key.json",
		"serv",
		"--json",
		"--server",
		"-\x00--\x00services",
		"create-servce\x00a\x00-c\x00{}",
	} {
		f.Add(seed)
	}
	known := map[string]bool{"serve": true, "migrate": true, "version": true, "help": true}
	for _, c := range commands {
		known[c.name] = true
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		got := commandFirst(args)
		if len(got) != len(args) {
			t.Fatalf("commandFirst(%q) = %q: %d arguments, want %d", args, got, len(got), len(args))
		}
		count := map[string]int{}
		for _, a := range args {
			count[a]++
		}
		for _, a := range got {
			count[a]--
		}
		for a, n := range count {
			if n != 0 {
				t.Fatalf("commandFirst(%q) = %q: %q appears %d times more or less", args, got, a, n)
			}
		}
		if s := suggest(args[0]); s != "" && !known[s] {
			t.Fatalf("suggest(%q) = %q, not a command", args[0], s)
		}
	})
}
