package main

import (
	"bufio"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startProcs is this test process's GOMAXPROCS at start: the cores a
// process may use here, when GOMAXPROCS is not set.
var startProcs = runtime.GOMAXPROCS(0)

// TestSchedulerProcs checks the scheduler setting the server reports at
// start: twice the cores with the OpenSSL signer (signatures run in C,
// see schedulerProcs), the Go signer's default without it, and an
// explicit GOMAXPROCS as given.
func TestSchedulerProcs(t *testing.T) {
	started := func(s *testServer) (signer string, procs int) {
		// The line reaches s.logs just after the harness saw it.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
			for sc.Scan() {
				var line struct {
					Msg        string
					Signer     string
					Gomaxprocs int
				}
				if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "xsuaa started" {
					return line.Signer, line.Gomaxprocs
				}
			}
		}
		t.Fatalf("no start line in\n%s", s.logs)
		return "", 0
	}
	s := startServerEnv(t, "", append(apiCredentialsEnv(), "GOMAXPROCS="))
	signer, procs := started(s)
	s.stop()
	want := startProcs
	if signer == "openssl" {
		want = 2 * startProcs
	}
	if os.Getenv("GOMAXPROCS") != "" {
		t.Logf("GOMAXPROCS=%s here: the default is not known; the server says %d with the %s signer", os.Getenv("GOMAXPROCS"), procs, signer)
	} else if procs != want {
		t.Errorf("signer %s on %d cores: gomaxprocs %d, want %d", signer, startProcs, procs, want)
	}
	s = startServerEnv(t, "", append(apiCredentialsEnv(), "GOMAXPROCS=3"))
	if _, procs := started(s); procs != 3 {
		t.Errorf("GOMAXPROCS=3: gomaxprocs %d", procs)
	}
}
