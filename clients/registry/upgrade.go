package registry

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// errNothingToUpgrade ends an upgrade transaction that has nothing to
// write (so that it takes no revision).
var errNothingToUpgrade = errors.New("nothing to upgrade")

// UpgradeApps gives instances that an older version created what this
// version resolves from their stored descriptors:
//   - for user login: the attributes, role templates, role collections
//     (which it creates), redirect URIs, refresh-token-validity,
//     grant-types, system-attributes and allowedproviders. An older
//     version resolved none of these, so a stored app without any of them
//     whose descriptor declares some gets them, once;
//   - grants to the SaaS provisioning service's client,
//     $XSAPPNAME(application,sap-provisioning,tenant-onboarding), which
//     resolved to nothing before its zone existed.
//
// Nothing else of a stored app changes (what an instance may do is what
// its create or update resolved). Several replicas may run it at once:
// each instance is checked again in its transaction. It returns how many
// instances it upgraded.
func (r *Registry) UpgradeApps(ctx context.Context) (int, error) {
	ins, err := r.store.ListInstances(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range ins {
		if strings.HasPrefix(in.ID, "clone:") {
			continue
		}
		desc, err := scopes.Parse(in.Parameters)
		if err != nil {
			continue // resolved by an older version's rules; leave it
		}
		err = r.update(ctx, func(tx storage.Tx) error {
			old, oldApp, err := instance(ctx, tx, in.ID)
			if err != nil {
				return err
			}
			needLogin, needGrants := !hasLoginFields(oldApp), hasDormantProvisioningGrant(oldApp)
			if !needLogin && !needGrants {
				return errNothingToUpgrade
			}
			zone, err := tx.GetZone(ctx, old.ZoneID)
			if err != nil {
				return err
			}
			env, lookupErr := r.env(ctx, tx, oldApp.Plan, zone, old.SpaceGUID)
			fresh, err := scopes.Resolve(desc, env)
			if err != nil || *lookupErr != nil || fresh.RuntimeName != oldApp.RuntimeName {
				return errNothingToUpgrade
			}
			changed := false
			if needLogin && hasLoginFields(fresh) {
				oldApp.Attributes, oldApp.RoleTemplates, oldApp.RoleCollections = fresh.Attributes, fresh.RoleTemplates, fresh.RoleCollections
				oldApp.RedirectURIs, oldApp.RefreshTokenValidity, oldApp.GrantTypes = fresh.RedirectURIs, fresh.RefreshTokenValidity, fresh.GrantTypes
				oldApp.SystemAttributes, oldApp.AllowedProviders = fresh.SystemAttributes, fresh.AllowedProviders
				changed = true
			}
			if needGrants && !hasDormantProvisioningGrant(fresh) {
				oldApp.Grants = fresh.Grants
				changed = true
			}
			if !changed {
				return errNothingToUpgrade
			}
			if old.App, err = json.Marshal(oldApp); err != nil {
				return err
			}
			if err := tx.UpdateInstance(ctx, old); err != nil {
				return err
			}
			return syncRoleCollections(ctx, tx, old.ZoneID, old.ID, oldApp.RoleCollections)
		})
		switch {
		case errors.Is(err, errNothingToUpgrade):
		case err != nil:
			return n, err
		default:
			n++
			r.cfg.Log.Info("service instance upgraded: settings resolved from its xs-security.json that an older version did not resolve", "instance", in.ID, "xsappname", desc.XSAppName)
		}
	}
	return n, nil
}

// hasDormantProvisioningGrant reports whether the app grants a scope to
// the provisioning client as resolved while its zone did not exist.
func hasDormantProvisioningGrant(a *scopes.App) bool {
	dormant := scopes.RuntimeName(clients.ProvisioningApp, scopes.PlanApplication, 0) + "@" + clients.ProvisioningZoneID
	for _, g := range a.Grants {
		if g.To == dormant {
			return true
		}
	}
	return false
}

// hasLoginFields reports whether an app holds any of the user login
// settings.
func hasLoginFields(a *scopes.App) bool {
	return a.Attributes != nil || a.RoleTemplates != nil || a.RoleCollections != nil || a.RedirectURIs != nil ||
		a.RefreshTokenValidity != 0 || a.GrantTypes != nil || a.SystemAttributes != nil || a.AllowedProviders != nil
}
