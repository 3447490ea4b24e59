// Command xsuaa is an XSUAA-compatible OAuth2 authorization server, and
// a cf-like client for it.
//
//	xsuaa serve [flags]       run the server (see xsuaa serve --help)
//	xsuaa create-service …    client commands (see xsuaa help)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "xsuaa:", stripControls(err.Error()))
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks errors in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode is 0 after --help, 2 for a usage error, 1 for any other error.
func exitCode(err error) int {
	var ue usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// usage lists the commands; the client commands are filled in from the
// commands table.
func usage() string {
	var b strings.Builder
	b.WriteString(`xsuaa: an XSUAA-compatible OAuth2 authorization server, and a cf-like client for it

Usage:
  xsuaa serve [flags]   run the server (xsuaa serve --help lists the flags)
  xsuaa migrate [flags] apply the database migrations and exit (xsuaa migrate --help)
  xsuaa version         print the version, commit, Go version and signer
  xsuaa help            show this text

Client commands (xsuaa <command> --help lists a command's flags):
`)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-*s %s\n", width, c.name, c.summary)
	}
	b.WriteString(`
They talk to the server at --server or $XSUAA_SERVER (default http://127.0.0.1:8080)
with the broker credentials from $XSUAA_BROKER_USER and $XSUAA_BROKER_PASSWORD,
or from <data-dir>/broker-credentials.json (--data-dir, default ./xsuaa-data).
Every command takes --json to print JSON for scripts.
`)
	return b.String()
}

// run is the whole program; main only adds the process's edges.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	args = commandFirst(args)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		return printVersion(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := findCommand(args[1]); ok {
				return runClient(ctx, c, []string{"--help"}, getenv, stdout, stderr)
			}
			if args[1] == "serve" || args[1] == "migrate" {
				return run(ctx, []string{args[1], "--help"}, getenv, stdout, stderr)
			}
		}
		fmt.Fprint(stdout, usage())
		return nil
	}
	if c, ok := findCommand(args[0]); ok {
		return runClient(ctx, c, args[1:], getenv, stdout, stderr)
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := suggest(args[0]); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return usageError{msg + " (xsuaa help lists the commands)"}
}

// globalFlags are the client commands' flags that may also come before
// the command, as in "xsuaa --data-dir d services"; true: takes a value.
var globalFlags = map[string]bool{"server": true, "data-dir": true, "json": false}

// commandFirst moves global flags given before the command behind it.
func commandFirst(args []string) []string {
	var flags []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		needsValue, ok := globalFlags[name]
		if !ok {
			break
		}
		if needsValue && !hasValue && len(args) > 1 {
			flags, args = append(flags, args[0], args[1]), args[2:]
			continue
		}
		flags, args = append(flags, args[0]), args[1:]
	}
	if len(args) == 0 {
		return flags
	}
	return append(append([]string{args[0]}, args[1:]...), flags...)
}

// suggest returns the command closest to a mistyped one, or "".
func suggest(typed string) string {
	names := []string{"serve", "migrate", "version", "help"}
	for _, c := range commands {
		names = append(names, c.name)
	}
	typed = strings.TrimLeft(typed, "-")
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(typed, n); d < bestDist || (strings.HasPrefix(n, typed) && len(typed) >= 3 && bestDist > 1) {
			best, bestDist = n, min(d, 1)
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// wantsHelp reports whether a command line asks for help (-h, -help,
// --help before a "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parseFlags parses a command's flags: help goes to stdout (exit 0), a
// wrong flag is one usage error (exit 2), printed once by main.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		fs.SetOutput(stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Sprintf("%v (%s --help lists the flags)", err, fs.Name())}
	}
	return nil
}
