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
			fmt.Fprintln(os.Stderr, "xsuaa:", err)
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
  xsuaa help            show this text

Client commands (xsuaa <command> --help lists a command's flags):
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-20s %s\n", c.name, c.summary)
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
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c, ok := findCommand(args[1]); ok {
				return runClient(ctx, c, []string{"--help"}, getenv, stdout, stdout)
			}
		}
		fmt.Fprint(stdout, usage())
		return nil
	}
	if c, ok := findCommand(args[0]); ok {
		return runClient(ctx, c, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, usage())
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
