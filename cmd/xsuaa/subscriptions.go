package main

import (
	"flag"
	"fmt"
)

// The commands for subscriptions of zones to shared instances, through
// the admin API (server/adminsubscriptions.go), as SAP's SaaS
// provisioning service subscribes subaccounts to a SaaS application.

var subscriptionCommands = []command{
	{"subscribe", "SERVICE_INSTANCE --zone SUBDOMAIN [--app-urls FILE]", "subscribe a zone to a tenant-mode shared instance: its credentials then work in the zone too; with --app-urls (the SaaS provisioning service's parameters, {\"appUrls\": {\"getDependencies\": …, \"onSubscription\": …/{tenantId}}}) the application's callbacks are called first", [2]int{1, 1}, subscribe},
	{"unsubscribe", "SERVICE_INSTANCE --zone SUBDOMAIN", "end a zone's subscription (calls the application's onSubscription with DELETE, if it registered callbacks)", [2]int{1, 1}, unsubscribe},
	{"subscriptions", "[SERVICE_INSTANCE]", "list the subscriptions of zones to shared instances", [2]int{0, 1}, listSubscriptions},
}

func init() { commands = append(commands, subscriptionCommands...) }

func subscribe(fs *flag.FlagSet) func(*cliEnv, []string) error {
	zone := fs.String("zone", "", "the `subdomain` of the zone to subscribe")
	appURLs := fs.String("app-urls", "", "a JSON `file` with the application's callbacks (or the JSON itself)")
	return func(e *cliEnv, args []string) error {
		if *zone == "" {
			return usageError{"subscribe needs --zone SUBDOMAIN"}
		}
		cb, err := jsonParam("--app-urls", *appURLs)
		if err != nil {
			return err
		}
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		s, err := c.Subscribe(e.ctx, in.ID, *zone, cb)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(s)
		}
		fmt.Fprintf(e.stdout, "Subscribed zone %s (id %s) to service instance %s (%s).\n", s.Zone, s.ZoneID, s.Instance, s.XSAppName)
		if s.AppURL != "" {
			fmt.Fprintf(e.stdout, "Application URL of the tenant: %s\n", s.AppURL)
		}
		return nil
	}
}

func unsubscribe(fs *flag.FlagSet) func(*cliEnv, []string) error {
	zone := fs.String("zone", "", "the `subdomain` of the subscribed zone")
	return func(e *cliEnv, args []string) error {
		if *zone == "" {
			return usageError{"unsubscribe needs --zone SUBDOMAIN"}
		}
		c, in, err := e.service(args[0])
		if err != nil {
			return err
		}
		if err := c.Unsubscribe(e.ctx, in.ID, *zone); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Unsubscribed zone %s from service instance %s.\n", *zone, in.Name)
		return nil
	}
}

func listSubscriptions(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		id := ""
		if len(args) == 1 {
			in, err := e.instance(c, args[0])
			if err != nil {
				return err
			}
			id = in.ID
		}
		subs, err := c.Subscriptions(e.ctx, id)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(subs)
		}
		var rows [][]string
		for _, s := range subs {
			appURL := s.AppURL
			if appURL == "" {
				appURL = "(none)"
			}
			rows = append(rows, []string{s.Instance, s.XSAppName, s.Zone, s.ZoneID, appURL})
		}
		e.table([]string{"SERVICE INSTANCE", "XSAPPNAME", "ZONE", "ZONE ID", "APPLICATION URL"}, rows)
		return nil
	}
}
