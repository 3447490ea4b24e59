package clients

import (
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// Shared instances and subscriptions. A client is published in the index
// under (zone id, client id) for its instance's zone and, when its
// instance is "tenant-mode": "shared", for every zone subscribed to it:
// there as a copy whose Zone is the subscribed zone (so its tokens name
// that zone) and that shares everything else — the credentials too, so one
// secret or certificate authenticates in every subscribed zone. A
// subscription costs one map entry and one small copy.

// SaaS provisioning: SAP's SaaS provisioning service calls an
// application's subscription callbacks with a client_credentials token of
// its own client, "tenant-onboarding" in its own zone "sap-provisioning";
// an application lets it in by granting it a scope with
// "grant-as-authority-to-apps": ["$XSAPPNAME(application,sap-provisioning,tenant-onboarding)"].
// This server has that zone (made at start) and that client, built in:
// it has no credentials, so only the server itself gets its tokens, for
// the callbacks of xsuaa subscribe.
const (
	// ProvisioningZoneID is the id and subdomain of the provisioning zone.
	ProvisioningZoneID = "sap-provisioning"
	// ProvisioningApp is the provisioning client's xsappname.
	ProvisioningApp = "tenant-onboarding"
	// ProvisioningInstanceID is the provisioning client's InstanceID (no
	// stored instance has it: stored ids never start with "builtin:").
	ProvisioningInstanceID = "builtin:tenant-onboarding"
)

// provisioningClient returns the built-in provisioning client of zone z:
// it accepts every scope granted to it, has no credentials and may only
// get client_credentials tokens.
func provisioningClient(z storage.Zone) *Client {
	app := &scopes.App{
		XSAppName:                ProvisioningApp,
		RuntimeName:              scopes.RuntimeName(ProvisioningApp, scopes.PlanApplication, z.Index),
		Plan:                     scopes.PlanApplication,
		TenantMode:               "dedicated",
		AcceptGrantedAuthorities: true,
		TokenValidity:            int(scopes.DefaultTokenValidity.Seconds()),
		GrantTypes:               []string{"client_credentials"},
	}
	return &Client{ID: app.ClientID(), InstanceID: ProvisioningInstanceID, InstanceName: ProvisioningApp, Zone: z, App: app}
}

// ProvisioningClient returns the built-in provisioning client, if the
// provisioning zone exists.
func (x *Index) ProvisioningClient() (*Client, bool) { return x.LookupInstance(ProvisioningInstanceID) }

// subscribe records a subscription (x.mu held for writing); the caller
// publishes the client.
func (x *Index) subscribe(instanceID, zoneID string) {
	if x.subscribed[instanceID] == nil {
		x.subscribed[instanceID] = map[string]bool{}
	}
	x.subscribed[instanceID][zoneID] = true
}

// publish puts c into the client map for its zone and every zone
// subscribed to its instance (x.mu held for writing).
func (x *Index) publish(c *Client) {
	x.clients[clientKey{c.Zone.ID, c.ID}] = c
	for zoneID := range x.subscribed[c.InstanceID] {
		x.publishIn(c, zoneID)
	}
}

// publishIn puts c's copy for a subscribed zone into the client map.
func (x *Index) publishIn(c *Client, zoneID string) {
	z, ok := x.zones[zoneID]
	if !ok || zoneID == c.Zone.ID || c.App.TenantMode != "shared" {
		return // only a shared instance's client is found in other zones
	}
	cp := *c
	cp.Zone, cp.Subscribed = z, true
	x.clients[clientKey{zoneID, c.ID}] = &cp
}

// unpublish removes c from the client map, in every zone (x.mu held).
func (x *Index) unpublish(c *Client) {
	delete(x.clients, clientKey{c.Zone.ID, c.ID})
	for zoneID := range x.subscribed[c.InstanceID] {
		x.unpublishIn(c, zoneID)
	}
}

// unpublishIn removes c's copy for a subscribed zone from the client map.
func (x *Index) unpublishIn(c *Client, zoneID string) {
	if cp := x.clients[clientKey{zoneID, c.ID}]; cp != nil && cp.Subscribed {
		delete(x.clients, clientKey{zoneID, c.ID})
	}
}

// applySubscription applies the change of the subscription ref
// (storage.SubscriptionRef); present is whether it exists now (x.mu held
// for writing).
func (x *Index) applySubscription(ref string, present bool) {
	instanceID, zoneID := storage.ParseSubscriptionRef(ref)
	c := x.byInst[instanceID]
	if present {
		x.subscribe(instanceID, zoneID)
		if c != nil {
			x.publishIn(c, zoneID)
		}
		return
	}
	if c != nil {
		x.unpublishIn(c, zoneID)
	}
	delete(x.subscribed[instanceID], zoneID)
	if len(x.subscribed[instanceID]) == 0 {
		delete(x.subscribed, instanceID)
	}
}
