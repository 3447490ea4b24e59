package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/openxsuaa/xsuaa/clients/registry"
)

// The commands for identity zones, through the admin API
// (server/adminzones.go).

var zoneCommands = []command{
	{"zones", "", "list the identity zones (subaccount tenants)", [2]int{0, 0}, listZones},
	{"create-zone", "SUBDOMAIN [--id GUID]", "create an identity zone with a subdomain (a DNS label) and an id (default a new GUID)", [2]int{1, 1}, createZone},
	{"hosts", "[--address IP]", "print the /etc/hosts lines that make every zone's tenant host resolve to the server (default 127.0.0.1), for resolvers that do not map *.localhost to loopback themselves", [2]int{0, 0}, printHosts},
	{"delete-zone", "SUBDOMAIN [-f]", "delete an identity zone; one that holds service instances, subscriptions or users only with -f, which deletes them too", [2]int{1, 1}, deleteZone},
}

func init() { commands = append(commands, zoneCommands...) }

// zones lists the zones through the admin API.
func (e *cliEnv) zones() ([]registry.ZoneSummary, error) {
	c, err := e.client()
	if err != nil {
		return nil, err
	}
	return c.Zones(e.ctx)
}

func listZones(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		zones, err := e.zones()
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(zones)
		}
		var rows [][]string
		for _, z := range zones {
			kind := ""
			switch {
			case z.Provider:
				kind = "provider"
			case z.Builtin:
				kind = "built-in"
			}
			rows = append(rows, []string{z.Subdomain, z.ID, kind, strconv.Itoa(z.Instances), strconv.Itoa(z.Subscriptions), strconv.Itoa(z.Users), z.URL})
		}
		e.table([]string{"SUBDOMAIN", "ID", "", "INSTANCES", "SUBSCRIPTIONS", "USERS", "URL"}, rows)
		return nil
	}
}

// printHosts prints one hosts(5) line per zone: the address, then the
// zone's tenant host name (the host of its URL; for the provider zone,
// whose URL is the bare host, <subdomain>.<host>, where clients that
// build https://<identityzone>.<uaadomain> go).
func printHosts(fs *flag.FlagSet) func(*cliEnv, []string) error {
	address := fs.String("address", "127.0.0.1", "the `IP` address the tenant host names resolve to")
	return func(e *cliEnv, args []string) error {
		if net.ParseIP(*address) == nil {
			return usageError{fmt.Sprintf("--address %q is not an IP address", *address)}
		}
		zones, err := e.zones()
		if err != nil {
			return err
		}
		for _, z := range zones {
			if z.Builtin {
				continue // no client addresses the provisioning zone by host
			}
			u, err := url.Parse(z.URL)
			if err != nil || u.Hostname() == "" {
				return fmt.Errorf("zone %s: the server gave no usable URL (%q)", z.Subdomain, z.URL)
			}
			if net.ParseIP(u.Hostname()) != nil {
				return fmt.Errorf("the server's public URL names an IP address; tenant hosts need a host name (serve --url https://localhost:8443, for example)")
			}
			host := u.Hostname()
			if z.Provider {
				host = z.Subdomain + "." + host
			}
			fmt.Fprintf(e.stdout, "%s\t%s\n", *address, host)
		}
		return nil
	}
}

func createZone(fs *flag.FlagSet) func(*cliEnv, []string) error {
	id := fs.String("id", "", "the zone's id, a GUID (default: a new one); also its tenant and subaccount id")
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		z, err := c.CreateZone(e.ctx, args[0], *id)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(z)
		}
		fmt.Fprintf(e.stdout, "Created zone %s (id %s).\n", z.Subdomain, z.ID)
		return nil
	}
}

func deleteZone(fs *flag.FlagSet) func(*cliEnv, []string) error {
	force := fs.Bool("f", false, "also delete the zone's service instances and users")
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		if err := c.DeleteZone(e.ctx, args[0], *force); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted zone %s.\n", args[0])
		return nil
	}
}
