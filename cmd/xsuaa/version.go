package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/openxsuaa/xsuaa/keys"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; builds from a checkout report the
// module version Go records, usually "(devel)".
var version = ""

// buildInfo describes the binary.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	// Signer is what signs tokens: "openssl" or "go" (crypto/rsa).
	Signer string `json:"signer"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: "unknown", Go: runtime.Version(), Signer: keys.SignerBackend()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = bi.Main.Version
		}
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			b.Commit = rev
			if modified == "true" {
				b.Commit += "+modified"
			}
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("xsuaa %s (commit %s, %s, signer %s)", b.Version, b.Commit, b.Go, b.Signer)
}

// printVersion is "xsuaa version [--json]" (the client commands' other
// global flags are accepted and ignored).
func printVersion(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("xsuaa version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.String("server", "", "ignored")
	fs.String("data-dir", "", "ignored")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: xsuaa version [--json]\n\nPrints the version, the commit it was built from, the Go version and the token signer (openssl or go).\n")
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("version takes no arguments, got %q", fs.Args())}
	}
	b := readBuildInfo()
	if *asJSON {
		out, _ := json.Marshal(b)
		fmt.Fprintf(stdout, "%s\n", out)
		return nil
	}
	fmt.Fprintln(stdout, b)
	return nil
}
