package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/openxsuaa/xsuaa/cmd/xsuaa/internal/api"
)

// The commands for users and role collections, in the provider zone or
// with --zone in another, through the admin API (server/adminusers.go).

var userCommands = []command{
	{"create-user", "NAME --password PW [--email E] [--given-name G] [--family-name F] [--origin O] [--attribute KEY=VALUE …] [--zone SUBDOMAIN]", "create a user who logs in with a password", [2]int{1, 1}, inZone(createUser)},
	{"users", "[--zone SUBDOMAIN]", "list users with their role collections", [2]int{0, 0}, inZone(listUsers)},
	{"delete-user", "NAME [--origin O] [--zone SUBDOMAIN]", "delete a user", [2]int{1, 1}, inZone(deleteUser)},
	{"set-password", "NAME --password PW [--origin O] [--zone SUBDOMAIN]", "replace a user's password", [2]int{1, 1}, inZone(setPassword)},
	{"role-collections", "[--zone SUBDOMAIN]", "list role collections with their roles", [2]int{0, 0}, inZone(listRoleCollections)},
	{"create-role-collection", "NAME --role APP.TEMPLATE … [--description D] [--zone SUBDOMAIN]", "create a role collection of role templates' default roles (APP: runtime name or xsappname)", [2]int{1, 1}, inZone(createRoleCollection)},
	{"delete-role-collection", "NAME [--zone SUBDOMAIN]", "delete a role collection made with create-role-collection", [2]int{1, 1}, inZone(deleteRoleCollection)},
	{"assign-role-collection", "COLLECTION USER [--origin O] [--zone SUBDOMAIN]", "give a user a role collection", [2]int{2, 2}, inZone(assignRoleCollection(true))},
	{"unassign-role-collection", "COLLECTION USER [--origin O] [--zone SUBDOMAIN]", "take a role collection from a user", [2]int{2, 2}, inZone(assignRoleCollection(false))},
}

func init() { commands = append(commands, userCommands...) }

// inZone adds --zone SUBDOMAIN to a user or role-collection command: the
// identity zone whose users and role collections it works on.
func inZone(flags func(*flag.FlagSet) func(*cliEnv, []string) error) func(*flag.FlagSet) func(*cliEnv, []string) error {
	return func(fs *flag.FlagSet) func(*cliEnv, []string) error {
		zone := fs.String("zone", "", "the `subdomain` of the identity zone (default: the provider zone)")
		run := flags(fs)
		return func(e *cliEnv, args []string) error {
			e.zone = *zone
			return run(e, args)
		}
	}
}

func originFlag(fs *flag.FlagSet) *string {
	return fs.String("origin", "", "the user's identity provider origin (default sap.default)")
}

func createUser(fs *flag.FlagSet) func(*cliEnv, []string) error {
	var u api.NewUser
	var attrs stringList
	fs.StringVar(&u.Password, "password", "", "the password (8 to 72 bytes)")
	fs.StringVar(&u.Email, "email", "", "e-mail address")
	fs.StringVar(&u.GivenName, "given-name", "", "given name")
	fs.StringVar(&u.FamilyName, "family-name", "", "family name")
	fs.StringVar(&u.Origin, "origin", "", "identity provider origin (default sap.default)")
	fs.Var(&attrs, "attribute", "an attribute value as an identity provider asserts it, KEY=VALUE (repeatable; repeat a key for several values)")
	return func(e *cliEnv, args []string) error {
		if u.Password == "" {
			return usageError{"create-user needs --password"}
		}
		for _, a := range attrs {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return usageError{fmt.Sprintf("--attribute takes KEY=VALUE, not %q", a)}
			}
			if u.Attributes == nil {
				u.Attributes = map[string][]string{}
			}
			u.Attributes[k] = append(u.Attributes[k], v)
		}
		u.Name = args[0]
		c, err := e.client()
		if err != nil {
			return err
		}
		created, err := c.CreateUser(e.ctx, u)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(created)
		}
		fmt.Fprintf(e.stdout, "Created user %s (origin %s, id %s).\n", created.Name, created.Origin, created.ID)
		return nil
	}
}

func listUsers(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		users, err := c.Users(e.ctx)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(users)
		}
		if len(users) == 0 {
			fmt.Fprintln(e.stdout, "No users.")
			return nil
		}
		var rows [][]string
		for _, u := range users {
			rows = append(rows, []string{u.Name, u.Origin, u.Email, strings.Join(u.RoleCollections, ", ")})
		}
		e.table([]string{"NAME", "ORIGIN", "EMAIL", "ROLE COLLECTIONS"}, rows)
		return nil
	}
}

func deleteUser(fs *flag.FlagSet) func(*cliEnv, []string) error {
	origin := originFlag(fs)
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		if err := c.DeleteUser(e.ctx, args[0], *origin); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted user %s.\n", args[0])
		return nil
	}
}

func setPassword(fs *flag.FlagSet) func(*cliEnv, []string) error {
	origin := originFlag(fs)
	password := fs.String("password", "", "the new password (8 to 72 bytes)")
	return func(e *cliEnv, args []string) error {
		if *password == "" {
			return usageError{"set-password needs --password"}
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		if err := c.SetPassword(e.ctx, args[0], *origin, *password); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Set the password of user %s.\n", args[0])
		return nil
	}
}

func listRoleCollections(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		list, err := c.RoleCollections(e.ctx)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(e.stdout, "No role collections.")
			return nil
		}
		var rows [][]string
		for _, rc := range list {
			from := "create-role-collection"
			if rc.Instance != "" {
				from = "xs-security.json of " + rc.Instance
			}
			rows = append(rows, []string{rc.Name, strings.Join(rc.Roles, ", "), from})
		}
		e.table([]string{"NAME", "ROLES", "DEFINED BY"}, rows)
		return nil
	}
}

func createRoleCollection(fs *flag.FlagSet) func(*cliEnv, []string) error {
	var roles stringList
	fs.Var(&roles, "role", "a role: APP.TEMPLATE, the default role of role template TEMPLATE of application APP (repeatable)")
	description := fs.String("description", "", "description")
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		rc, err := c.CreateRoleCollection(e.ctx, api.RoleCollection{Name: args[0], Description: *description, Roles: roles})
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(rc)
		}
		fmt.Fprintf(e.stdout, "Created role collection %s with roles %s.\n", rc.Name, strings.Join(rc.Roles, ", "))
		return nil
	}
}

func deleteRoleCollection(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(e *cliEnv, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		if err := c.DeleteRoleCollection(e.ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted role collection %s.\n", args[0])
		return nil
	}
}

func assignRoleCollection(assign bool) func(fs *flag.FlagSet) func(*cliEnv, []string) error {
	return func(fs *flag.FlagSet) func(*cliEnv, []string) error {
		origin := originFlag(fs)
		return func(e *cliEnv, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := c.AssignRoleCollection(e.ctx, args[0], args[1], *origin, assign); err != nil {
				return err
			}
			if assign {
				fmt.Fprintf(e.stdout, "Assigned role collection %s to user %s.\n", args[0], args[1])
			} else {
				fmt.Fprintf(e.stdout, "Unassigned role collection %s from user %s.\n", args[0], args[1])
			}
			return nil
		}
	}
}
