package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/cmd/xsuaa/internal/api"
	"github.com/openxsuaa/xsuaa/keys"
)

// The cf-like client commands. Each parses its flags (anywhere among its
// arguments, as cf allows), then calls package api.

// cliEnv is what every client command gets.
type cliEnv struct {
	ctx    context.Context
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	// set by the common flags
	server  string
	dataDir string
	json    bool
	// zone is --zone of the user and role-collection commands.
	zone string
}

// command is one client command.
type command struct {
	name    string
	args    string // usage of the positional arguments
	summary string
	nargs   [2]int // min, max positional arguments
	flags   func(fs *flag.FlagSet) func(e *cliEnv, args []string) error
}

var commands = []command{
	{"create-service", "NAME -c FILE|JSON [-p application|broker] [--zone SUBDOMAIN]", "create a service instance from an xs-security.json (cf form: create-service xsuaa PLAN NAME -c …)", [2]int{1, 3}, createService},
	{"update-service", "NAME -c FILE|JSON", "update a service instance's xs-security.json", [2]int{1, 1}, updateService},
	{"delete-service", "NAME [-f]", "delete a service instance (refused while it has keys or bindings, unless -f)", [2]int{1, 1}, deleteService},
	{"services", "", "list service instances", [2]int{0, 0}, listServices},
	{"service", "NAME", "show a service instance: plan, xsappname, scopes, authorities, bindings", [2]int{1, 1}, showService},
	{"create-service-key", "NAME KEY [-c PARAMS]", "create a service key and print its credentials", [2]int{2, 2}, createServiceKey},
	{"service-key", "NAME KEY", "print a service key's credentials", [2]int{2, 2}, showServiceKey},
	{"service-keys", "NAME", "list a service instance's keys", [2]int{1, 1}, listServiceKeys},
	{"delete-service-key", "NAME KEY", "delete a service key; its credential stops working at once", [2]int{2, 2}, deleteServiceKey},
	{"bind-service", "NAME [--app APP] [-c PARAMS] (--vcap FILE | --binding-root DIR)", "create a binding and write it where @sap/xsenv finds it", [2]int{1, 1}, bindService},
	{"unbind-service", "NAME [--app APP] [--vcap FILE | --binding-root DIR]", "delete a binding and remove it from the file or directory", [2]int{1, 1}, unbindService},
	{"token", "(-k CREDENTIALS_FILE | NAME KEY) [--decode]", "fetch a client_credentials token with a key's credentials", [2]int{0, 2}, fetchToken},
	{"keys", "list | rotate [--activate-after 30m]", "list or rotate the token signing keys", [2]int{1, 1}, keysCommand},
	{"create-clone", "-k BROKER_CREDENTIALS NAME [--org ORG] [--space SPACE] [-c PARAMS]", "act as a reuse service's broker: create the clone for its consumer instance NAME and print the clone's credentials", [2]int{1, 1}, createClone},
	{"delete-clone", "-k BROKER_CREDENTIALS NAME [--org ORG] [--space SPACE]", "delete the clone of consumer instance NAME; its credential stops working at once", [2]int{1, 1}, deleteClone},
}

func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// runClient runs a client command.
func runClient(ctx context.Context, cmd command, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := &cliEnv{ctx: ctx, getenv: getenv, stdout: terminalSafe(stdout), stderr: terminalSafe(stderr)}
	fs := flag.NewFlagSet("xsuaa "+cmd.name, flag.ContinueOnError)
	defServer := getenv("XSUAA_SERVER")
	if defServer == "" {
		defServer = "http://127.0.0.1:8080"
	}
	fs.StringVar(&e.server, "server", defServer, "the xsuaa server's URL (env XSUAA_SERVER)")
	fs.StringVar(&e.dataDir, "data-dir", "./xsuaa-data", "the server's data directory, read for broker-credentials.json and ca.pem when XSUAA_BROKER_USER/XSUAA_BROKER_PASSWORD are unset")
	fs.BoolVar(&e.json, "json", false, "print JSON instead of text")
	run := cmd.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: xsuaa %s %s\n\n%s.\n\nFlags:\n", cmd.name, cmd.args, upperFirst(cmd.summary))
		fs.PrintDefaults()
	}
	if wantsHelp(args) {
		return parseFlags(fs, args, stdout)
	}
	fs.SetOutput(io.Discard)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < cmd.nargs[0] || len(pos) > cmd.nargs[1] {
		return usageError{fmt.Sprintf("%s takes %s, got %d; usage: xsuaa %s %s", cmd.name, argCount(cmd.nargs), len(pos), cmd.name, cmd.args)}
	}
	return run(e, pos)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func argCount(n [2]int) string {
	switch {
	case n[0] == n[1] && n[0] == 0:
		return "no arguments"
	case n[0] == n[1] && n[0] == 1:
		return "1 argument"
	case n[0] == n[1]:
		return fmt.Sprintf("%d arguments", n[0])
	}
	return fmt.Sprintf("%d to %d arguments", n[0], n[1])
}

// parseInterleaved parses flags wherever they appear among the arguments
// and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{fmt.Sprintf("%v (%s --help lists the flags)", err, fs.Name())}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// client returns the API client with the broker's and the admin's
// credentials, each from the environment or from the data directory.
func (e *cliEnv) client() (*api.Client, error) {
	broker := e.credentials(brokerAPI)
	if broker.Err != nil {
		return nil, broker.Err
	}
	return &api.Client{BaseURL: e.server, Broker: broker, Admin: e.credentials(adminAPI), Zone: e.zone, HTTP: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// credentials reads one API's credentials from its environment variables
// or from its file in the data directory.
func (e *cliEnv) credentials(a apiCredentials) api.BasicAuth {
	user, pass := e.getenv(a.userEnv), e.getenv(a.passwordEnv)
	if user != "" || pass != "" {
		return api.BasicAuth{User: user, Password: pass}
	}
	path := filepath.Join(e.dataDir, a.file)
	b, err := os.ReadFile(path)
	if err != nil {
		return api.BasicAuth{Err: fmt.Errorf("no %s credentials: set %s and %s, or run in the directory of the server's data dir (--data-dir, default ./xsuaa-data): %w", strings.TrimPrefix(a.api, "service "), a.userEnv, a.passwordEnv, err)}
	}
	var c struct{ User, Password string }
	if err := json.Unmarshal(b, &c); err != nil || c.User == "" {
		return api.BasicAuth{Err: fmt.Errorf("%s: expected {\"user\":…,\"password\":…}", path)}
	}
	return api.BasicAuth{User: c.User, Password: c.Password}
}

// instance finds the instance called name.
func (e *cliEnv) instance(c *api.Client, name string) (registry.InstanceSummary, error) {
	return c.FindInstance(e.ctx, name)
}

// service returns the API client and the instance called name.
func (e *cliEnv) service(name string) (*api.Client, registry.InstanceSummary, error) {
	c, err := e.client()
	if err != nil {
		return nil, registry.InstanceSummary{}, err
	}
	in, err := e.instance(c, name)
	return c, in, err
}

// printJSON writes v as indented JSON.
func (e *cliEnv) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// table writes rows under a header, aligned.
func (e *cliEnv) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// jsonParam reads a -c value: a file if one exists at that path, else
// inline JSON, which must be an object.
func jsonParam(flagName, v string) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	b := []byte(v)
	trimmed := strings.TrimSpace(v)
	if !strings.HasPrefix(trimmed, "{") {
		fb, err := os.ReadFile(v)
		if err != nil {
			return nil, usageError{fmt.Sprintf("%s %q is neither a readable file nor a JSON object: %v", flagName, v, err)}
		}
		b = fb
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, usageError{fmt.Sprintf("%s: not a JSON object: %v", flagName, err)}
	}
	return json.RawMessage(b), nil
}

func createService(fs *flag.FlagSet) func(*cliEnv, []string) error {
	params := fs.String("c", "", "xs-security.json `file`, or the descriptor as inline JSON")
	plan := fs.String("p", "application", "service plan: application or broker")
	zone := fs.String("zone", "", "the `subdomain` of the identity zone to create it in (default: the provider zone)")
	return func(e *cliEnv, args []string) error {
		name := args[0]
		switch len(args) {
		case 2:
			return usageError{"create-service takes NAME, or the cf form xsuaa PLAN NAME"}
		case 3: // cf create-service xsuaa PLAN NAME
			if args[0] != "xsuaa" {
				return usageError{fmt.Sprintf("this server offers the service xsuaa, not %q", args[0])}
			}
			*plan, name = args[1], args[2]
		}
		if _, ok := api.PlanIDs[*plan]; !ok {
			return usageError{fmt.Sprintf("unknown plan %q; plans are application and broker", *plan)}
		}
		desc, err := jsonParam("-c", *params)
		if err != nil {
			return err
		}
		if desc == nil {
			return usageError{"-c is required: the xs-security.json file or inline JSON"}
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		if _, err := e.instance(c, name); err == nil {
			return fmt.Errorf("service %q already exists", name)
		} else if !errors.Is(err, api.ErrNoSuchService) {
			return err
		}
		id, err := c.CreateInstance(e.ctx, name, *plan, *zone, desc)
		if err != nil {
			return err
		}
		d, err := c.Instance(e.ctx, id)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(d)
		}
		fmt.Fprintf(e.stdout, "Created service %s (plan %s).\nxsappname: %s\nclientid:  %s\nid:        %s\n", name, d.Plan, d.XSAppName, d.ClientID, d.ID)
		return nil
	}
}

func updateService(fs *flag.FlagSet) func(*cliEnv, []string) error {
	params := fs.String("c", "", "xs-security.json `file`, or the descriptor as inline JSON")
	return func(e *cliEnv, args []string) error {
		desc, err := jsonParam("-c", *params)
		if err != nil {
			return err
		}
		if desc == nil {
			return usageError{"-c is required: the new xs-security.json file or inline JSON"}
		}
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		if err := c.UpdateInstance(e.ctx, in.ID, desc); err != nil {
			return err
		}
		d, err := c.Instance(e.ctx, in.ID)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(d)
		}
		fmt.Fprintf(e.stdout, "Updated service %s.\nscopes:      %s\nauthorities: %s\n", args[0], strings.Join(d.Scopes, " "), strings.Join(d.Authorities, " "))
		return nil
	}
}

func deleteService(fs *flag.FlagSet) func(*cliEnv, []string) error {
	force := fs.Bool("f", false, "delete even if the service has keys or bindings (they stop working at once)")
	return func(e *cliEnv, args []string) error {
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		if in.Bindings > 0 && !*force {
			return fmt.Errorf("service %q has %d key(s) or binding(s); delete them first or use -f", args[0], in.Bindings)
		}
		if err := c.DeleteInstance(e.ctx, in); err != nil {
			return err
		}
		if e.json {
			return e.printJSON(map[string]any{"deleted": in.Name, "id": in.ID, "bindings_deleted": in.Bindings})
		}
		fmt.Fprintf(e.stdout, "Deleted service %s (%d key(s) and binding(s) with it).\n", in.Name, in.Bindings)
		return nil
	}
}

func listServices(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, _ []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		list, err := c.Instances(e.ctx)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(e.stdout, "No services.")
			return nil
		}
		var rows [][]string
		for _, in := range list {
			name := in.Name
			if name == "" {
				name = in.ID
			}
			rows = append(rows, []string{name, in.Plan, in.XSAppName, in.ClientID, fmt.Sprint(in.Bindings), in.CreatedAt.Local().Format(time.DateTime)})
		}
		e.table([]string{"NAME", "PLAN", "XSAPPNAME", "CLIENTID", "BINDINGS", "CREATED"}, rows)
		return nil
	}
}

func showService(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		d, err := c.Instance(e.ctx, in.ID)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(d)
		}
		w := e.stdout
		fmt.Fprintf(w, "name:             %s\nid:               %s\nplan:             %s\nxsappname:        %s\nclientid:         %s\n", in.Name, d.ID, d.Plan, d.XSAppName, d.ClientID)
		fmt.Fprintf(w, "tenant mode:      %s\ntoken validity:   %ds\ncredential types: %s\n", d.TenantMode, d.TokenValidity, strings.Join(d.CredentialTypes, ", "))
		fmt.Fprintf(w, "scopes:           %s\nauthorities:      %s\n", orNone(d.Scopes), orNone(d.Authorities))
		for _, g := range d.Grants {
			fmt.Fprintf(w, "grants:           %s to %s\n", g.Scope, g.To)
		}
		if len(d.BindingList) == 0 {
			fmt.Fprintln(w, "\nNo keys or bindings.")
			return nil
		}
		fmt.Fprintln(w)
		e.table([]string{"BINDING", "KIND", "CREDENTIAL TYPE", "APP", "CREATED"}, bindingRows(d.BindingList))
		return nil
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}

func bindingRows(bs []registry.BindingSummary) [][]string {
	var rows [][]string
	for _, b := range bs {
		kind, name := "binding", b.Name
		if b.AppGUID == "" {
			kind = "key"
		}
		if name == "" {
			name = b.ID
		}
		rows = append(rows, []string{name, kind, b.CredentialType, b.AppGUID, b.CreatedAt.Local().Format(time.DateTime)})
	}
	return rows
}

// findBinding returns the binding of in called name; keysOnly restricts the
// search to service keys (bindings without an app).
func (e *cliEnv) findBinding(c *api.Client, in registry.InstanceSummary, name string, keysOnly bool) (registry.BindingSummary, error) {
	d, err := c.Instance(e.ctx, in.ID)
	if err != nil {
		return registry.BindingSummary{}, err
	}
	for _, b := range d.BindingList {
		if (b.Name == name || b.ID == name) && (!keysOnly || b.AppGUID == "") {
			return b, nil
		}
	}
	what := "binding"
	if keysOnly {
		what = "service key"
	}
	return registry.BindingSummary{}, fmt.Errorf("service %q has no %s %q", in.Name, what, name)
}

func createServiceKey(fs *flag.FlagSet) func(*cliEnv, []string) error {
	params := fs.String("c", "", "binding parameters as a JSON `file` or inline JSON, e.g. {\"credential-type\":\"x509\"}")
	return func(e *cliEnv, args []string) error {
		p, err := jsonParam("-c", *params)
		if err != nil {
			return err
		}
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		if _, err := e.findBinding(c, in, args[1], true); err == nil {
			return fmt.Errorf("service %q already has a key %q", in.Name, args[1])
		}
		_, creds, err := c.Bind(e.ctx, in, args[1], "", p)
		if err != nil {
			return err
		}
		return e.printJSON(creds)
	}
}

func showServiceKey(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		b, err := e.findBinding(c, in, args[1], true)
		if err != nil {
			return err
		}
		creds, err := c.Binding(e.ctx, in.ID, b.ID)
		if err != nil {
			return err
		}
		return e.printJSON(creds)
	}
}

func listServiceKeys(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		d, err := c.Instance(e.ctx, in.ID)
		if err != nil {
			return err
		}
		ks := []registry.BindingSummary{}
		for _, b := range d.BindingList {
			if b.AppGUID == "" {
				ks = append(ks, b)
			}
		}
		if e.json {
			return e.printJSON(ks)
		}
		if len(ks) == 0 {
			fmt.Fprintf(e.stdout, "Service %s has no keys.\n", in.Name)
			return nil
		}
		var rows [][]string
		for _, b := range ks {
			name := b.Name
			if name == "" {
				name = b.ID
			}
			rows = append(rows, []string{name, b.CredentialType, b.CreatedAt.Local().Format(time.DateTime)})
		}
		e.table([]string{"KEY", "CREDENTIAL TYPE", "CREATED"}, rows)
		return nil
	}
}

func deleteServiceKey(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		b, err := e.findBinding(c, in, args[1], true)
		if err != nil {
			return err
		}
		if err := c.Unbind(e.ctx, in, b.ID); err != nil {
			return err
		}
		if e.json {
			return e.printJSON(map[string]string{"deleted": args[1], "id": b.ID})
		}
		fmt.Fprintf(e.stdout, "Deleted key %s of service %s.\n", args[1], in.Name)
		return nil
	}
}

func fetchToken(fs *flag.FlagSet) func(*cliEnv, []string) error {
	credsFile := fs.String("k", "", "`file` with the credentials JSON (create-service-key's output, a VCAP_SERVICES entry or a default-env.json)")
	decode := fs.Bool("decode", false, "print the token's header and claims instead of the token response")
	cacert := fs.String("cacert", "", "PEM `file` of CAs that verify the server (default: $XSUAA_CACERT, else <data-dir>/ca.pem if present; and the system's)")
	insecure := fs.Bool("insecure", false, "do not verify the server's certificate")
	return func(e *cliEnv, args []string) error {
		var creds api.Credentials
		switch {
		case *credsFile != "" && len(args) > 0:
			return usageError{"give either -k FILE or NAME KEY, not both"}
		case *credsFile != "":
			b, err := os.ReadFile(*credsFile)
			if err != nil {
				return err
			}
			if creds, err = api.ParseCredentials(b); err != nil {
				return fmt.Errorf("%s: %w", *credsFile, err)
			}
		case len(args) == 2:
			c, in, err := e.service(args[0])
			if err != nil {
				return err
			}
			b, err := e.findBinding(c, in, args[1], false)
			if err != nil {
				return err
			}
			if creds, err = c.Binding(e.ctx, in.ID, b.ID); err != nil {
				return err
			}
		default:
			return usageError{"token needs -k CREDENTIALS_FILE or NAME KEY"}
		}
		roots, err := e.roots(*cacert)
		if err != nil {
			return err
		}
		resp, err := api.TokenClient{RootCAs: roots, Insecure: *insecure}.Token(e.ctx, creds)
		if err != nil {
			return e.trustHint(err)
		}
		if !*decode {
			var v any
			json.Unmarshal(resp, &v)
			return e.printJSON(v)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal(resp, &tr)
		parts := strings.Split(tr.AccessToken, ".")
		if len(parts) != 3 {
			return errors.New("the server's answer holds no JWT access_token")
		}
		var header, claims any
		for i, dst := range []*any{&header, &claims} {
			raw, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil {
				return fmt.Errorf("token segment %d: %w", i+1, err)
			}
			if err := json.Unmarshal(raw, dst); err != nil {
				return fmt.Errorf("token segment %d: %w", i+1, err)
			}
		}
		return e.printJSON(map[string]any{"header": header, "claims": claims})
	}
}

// cloneFlags are the flags create-clone and delete-clone share: the
// broker credentials and where the consumer instance lives.
type cloneFlags struct {
	creds, org, space, cacert *string
	insecure                  *bool
}

func newCloneFlags(fs *flag.FlagSet) cloneFlags {
	return cloneFlags{
		creds:    fs.String("k", "", "`file` with the credentials of the reuse service's broker-plan binding (create-service-key's output, a VCAP_SERVICES entry or a default-env.json); a secret or a certificate with its key"),
		org:      fs.String("org", api.OrgGUID, "organization `guid` of the consumer instance"),
		space:    fs.String("space", api.SpaceGUID, "space `guid` of the consumer instance ($XSSERVICENAME(NAME) resolves in this space)"),
		cacert:   fs.String("cacert", "", "PEM `file` of CAs that verify the server (default: $XSUAA_CACERT, else <data-dir>/ca.pem if present; and the system's)"),
		insecure: fs.Bool("insecure", false, "do not verify the server's certificate"),
	}
}

// load reads the broker credentials and derives the clone id of the
// consumer instance name: the same name, org and space always give the
// same id (a name-based UUID, as a reuse broker would use its consumer
// instance's id), so that delete-clone finds what create-clone made.
func (f cloneFlags) load(e *cliEnv, name string) (api.Credentials, string, api.CloneClient, error) {
	if *f.creds == "" {
		return nil, "", api.CloneClient{}, usageError{"-k BROKER_CREDENTIALS is required: the credentials of the reuse service's broker-plan binding"}
	}
	b, err := os.ReadFile(*f.creds)
	if err != nil {
		return nil, "", api.CloneClient{}, err
	}
	creds, err := api.ParseCredentials(b)
	if err != nil {
		return nil, "", api.CloneClient{}, fmt.Errorf("%s: %w", *f.creds, err)
	}
	roots, err := e.roots(*f.cacert)
	if err != nil {
		return nil, "", api.CloneClient{}, err
	}
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("xsuaa-clone:"+creds.String("clientid")+"/"+*f.org+"/"+*f.space+"/"+name)).String()
	return creds, id, api.CloneClient{RootCAs: roots, Insecure: *f.insecure}, nil
}

func createClone(fs *flag.FlagSet) func(*cliEnv, []string) error {
	f := newCloneFlags(fs)
	params := fs.String("c", "", "clone parameters as a JSON `file` or inline JSON: {\"authorities\":[\"JOBSCHEDULER\"]} (scopes of the reuse service; default: the ones it lists in its authorities), {\"credential-type\":\"x509\"}")
	return func(e *cliEnv, args []string) error {
		p, err := jsonParam("-c", *params)
		if err != nil {
			return err
		}
		body := map[string]json.RawMessage{}
		if p != nil {
			if err := json.Unmarshal(p, &body); err != nil || body == nil {
				return usageError{"-c must be a JSON object"}
			}
		}
		if _, ok := body["context"]; ok {
			return usageError{"-c: the context comes from NAME, --org and --space; leave it out"}
		}
		broker, id, cc, err := f.load(e, args[0])
		if err != nil {
			return err
		}
		body["context"], _ = json.Marshal(map[string]string{"platform": "xsuaa-cli", "instance_name": args[0], "organization_guid": *f.org, "space_guid": *f.space})
		raw, _ := json.Marshal(body)
		creds, _, err := cc.CreateClone(e.ctx, broker, id, raw)
		if err != nil {
			return e.trustHint(err)
		}
		return e.printJSON(creds)
	}
}

func deleteClone(fs *flag.FlagSet) func(*cliEnv, []string) error {
	f := newCloneFlags(fs)
	return func(e *cliEnv, args []string) error {
		broker, id, cc, err := f.load(e, args[0])
		if err != nil {
			return err
		}
		if err := cc.DeleteClone(e.ctx, broker, id); err != nil {
			return e.trustHint(err)
		}
		if !e.json {
			fmt.Fprintf(e.stdout, "Deleted clone %s of %s\n", args[0], broker.String("clientid"))
			return nil
		}
		return e.printJSON(map[string]string{"deleted": args[0], "clone_id": id})
	}
}

// roots returns the pool that verifies the server: the system's plus
// cacert, or plus <data-dir>/ca.pem when it exists.
func (e *cliEnv) roots(cacert string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	file, required := cacert, true
	if file == "" {
		file = e.getenv("XSUAA_CACERT")
	}
	if file == "" {
		file, required = filepath.Join(e.dataDir, caFile), false
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if required {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		return pool, nil
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// trustHint explains an HTTPS failure to verify the server: how to give
// the CLI the server's CA.
func (e *cliEnv) trustHint(err error) error {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%w; the server's certificate is issued by a CA this command does not trust: pass --cacert <the server's data dir>/ca.pem, run in the directory that holds the server's data dir (or point --data-dir at it), or set XSUAA_CACERT", err)
	case errors.As(err, &hn):
		return fmt.Errorf("%w; the credentials' url names a host the server's certificate is not issued for (see xsuaa serve --public-url)", err)
	}
	return err
}

func keysCommand(fs *flag.FlagSet) func(*cliEnv, []string) error {
	after := fs.Duration("activate-after", keys.DefaultActivateAfter, "rotate: how long the new key is published before it signs (clients cache key sets for up to 30 minutes)")
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		switch args[0] {
		case "list":
		case "rotate":
			st, err := c.RotateKey(e.ctx, *after)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(st)
			}
			fmt.Fprintf(e.stdout, "New signing key %s is published now and signs from %s.\n", st.KID, st.ActiveFrom.Local().Format(time.DateTime))
			return nil
		default:
			return usageError{fmt.Sprintf("keys takes list or rotate, not %q", args[0])}
		}
		list, err := c.Keys(e.ctx)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(list)
		}
		var rows [][]string
		for _, k := range list {
			until := ""
			if !k.PublishedUntil.IsZero() {
				until = k.PublishedUntil.Local().Format(time.DateTime)
			}
			rows = append(rows, []string{k.KID, k.State, k.ActiveFrom.Local().Format(time.DateTime), until})
		}
		e.table([]string{"KID", "STATE", "ACTIVE FROM", "PUBLISHED UNTIL"}, rows)
		return nil
	}
}
