package registry

import (
	"context"
	"errors"
	"regexp"

	"github.com/google/uuid"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
)

// Zones (identity zones, XSUAA's subaccount tenants): the provider zone is
// created at the first start; operators add others, each with a subdomain
// (a DNS label, unique) and an id (a GUID, also its tenant, subaccount
// and identity zone id).

// ZoneSummary is a zone as the admin API shows it.
type ZoneSummary struct {
	ID        string `json:"id"`
	Subdomain string `json:"subdomain"`
	Provider  bool   `json:"provider,omitempty"`
	// URL is the zone's base URL, the url of its instances' credentials:
	// the server's for the provider zone, https://<subdomain>.<host> for
	// another.
	URL       string `json:"url"`
	Instances int    `json:"instances"`
	Users     int    `json:"users"`
	// Subscriptions counts the shared instances the zone subscribed to.
	Subscriptions int `json:"subscriptions"`
	// Builtin marks the SaaS provisioning service's zone.
	Builtin bool `json:"builtin,omitempty"`
}

// zoneBySubdomain finds the zone with a subdomain (found false if none).
func zoneBySubdomain(ctx context.Context, rd storage.Reader, subdomain string) (z storage.Zone, found bool, err error) {
	zones, err := rd.ListZones(ctx)
	if err != nil {
		return storage.Zone{}, false, err
	}
	for _, z := range zones {
		if z.Subdomain == subdomain {
			return z, true, nil
		}
	}
	return storage.Zone{}, false, nil
}

// clip shortens a value echoed in an error.
func clip(s string) string {
	if r := []rune(s); len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return s
}

// dnsLabel is what a subdomain may be: a lower-case DNS label.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CreateZone creates a zone with subdomain and, if id is "", a new GUID.
func (r *Registry) CreateZone(ctx context.Context, subdomain, id string) (ZoneSummary, error) {
	if !dnsLabel.MatchString(subdomain) {
		return ZoneSummary{}, opErr(ErrInvalid, "subdomain %q: must be a DNS label: 1 to 63 lower-case letters, digits and hyphens, not starting or ending with a hyphen", clip(subdomain))
	}
	if id == "" {
		id = uuid.NewString()
	} else if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return ZoneSummary{}, opErr(ErrInvalid, "id %q: must be a GUID such as %s", clip(id), uuid.NewString())
	}
	err := r.update(ctx, func(tx storage.Tx) error {
		zones, err := tx.ListZones(ctx)
		if err != nil {
			return err
		}
		index := 1
		for _, z := range zones {
			switch {
			case z.Subdomain == subdomain:
				return opErr(ErrConflict, "a zone with the subdomain %q exists", subdomain)
			case z.ID == id:
				return opErr(ErrConflict, "a zone with the id %s exists", id)
			}
			index = max(index, z.Index+1)
		}
		return tx.CreateZone(ctx, storage.Zone{ID: id, Subdomain: subdomain, Index: index})
	})
	if err != nil {
		return ZoneSummary{}, err
	}
	r.cfg.Log.Info("zone created", "zone", id, "subdomain", subdomain)
	return ZoneSummary{ID: id, Subdomain: subdomain, URL: r.cfg.Endpoints.inZone(subdomain).URL}, nil
}

// ListZones lists the zones, the provider's first, with what they hold.
func (r *Registry) ListZones(ctx context.Context) ([]ZoneSummary, error) {
	zones, err := r.store.ListZones(ctx)
	if err != nil {
		return nil, err
	}
	ins, err := r.store.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	provider := r.index.ProviderZone().ID
	out := make([]ZoneSummary, 0, len(zones))
	for _, z := range zones {
		s := ZoneSummary{ID: z.ID, Subdomain: z.Subdomain, Provider: z.ID == provider, URL: r.cfg.Endpoints.URL}
		if !s.Provider {
			s.URL = r.cfg.Endpoints.inZone(z.Subdomain).URL
		}
		for _, in := range ins {
			if in.ZoneID == z.ID {
				s.Instances++
			}
		}
		users, err := r.store.ListUsers(ctx, z.ID)
		if err != nil {
			return nil, err
		}
		s.Users = len(users)
		subs, err := r.store.ListSubscriptions(ctx, "", z.ID)
		if err != nil {
			return nil, err
		}
		s.Subscriptions, s.Builtin = len(subs), z.ID == clients.ProvisioningZoneID
		out = append(out, s)
	}
	return out, nil
}

// DeleteZone deletes the zone with subdomain. A zone that holds service
// instances or users is refused, unless force: then they go with it (the
// instances' credentials stop working at once). The provider zone is
// never deleted.
func (r *Registry) DeleteZone(ctx context.Context, subdomain string, force bool) error {
	zones, err := r.ListZones(ctx)
	if err != nil {
		return err
	}
	var z *ZoneSummary
	for i := range zones {
		if zones[i].Subdomain == subdomain {
			z = &zones[i]
		}
	}
	switch {
	case z == nil:
		return opErr(ErrNotFound, "no zone has the subdomain %q", clip(subdomain))
	case z.Provider:
		return opErr(ErrInvalid, "zone %q is the provider zone, which cannot be deleted", subdomain)
	case z.Builtin:
		return opErr(ErrInvalid, "zone %q is the SaaS provisioning service's, which cannot be deleted", subdomain)
	case (z.Instances > 0 || z.Users > 0 || z.Subscriptions > 0) && !force:
		return opErr(ErrConflict, "zone %q holds %d service instance(s), %d subscription(s) and %d user(s); delete them first, or force the deletion", subdomain, z.Instances, z.Subscriptions, z.Users)
	}
	if force {
		ins, err := r.store.ListInstances(ctx)
		if err != nil {
			return err
		}
		for _, in := range ins {
			if in.ZoneID == z.ID {
				if err := r.DeleteInstance(ctx, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
		}
		users, err := r.store.ListUsers(ctx, z.ID)
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := r.DeleteUser(ctx, z.ID, u.Origin, u.UserName); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	err = r.update(ctx, func(tx storage.Tx) error {
		// Forced: its subscriptions end without the applications'
		// callbacks.
		subs, err := tx.ListSubscriptions(ctx, "", z.ID)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if err := tx.DeleteSubscription(ctx, s.InstanceID, z.ID); err != nil {
				return err
			}
		}
		rcs, err := tx.ListRoleCollections(ctx, z.ID)
		if err != nil {
			return err
		}
		for _, rc := range rcs {
			if err := tx.DeleteRoleCollection(ctx, z.ID, rc.Name); err != nil {
				return err
			}
		}
		return tx.DeleteZone(ctx, z.ID)
	})
	if err != nil {
		return err
	}
	r.cfg.Log.Info("zone deleted", "zone", z.ID, "subdomain", subdomain)
	return nil
}
