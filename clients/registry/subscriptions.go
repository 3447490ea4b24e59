package registry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// Subscriptions: a zone subscribes to a "tenant-mode": "shared" instance
// as SAP's SaaS provisioning service subscribes a subaccount to a SaaS
// application. The instance's client then authenticates in the zone too
// (with the same credentials; its tokens name the zone), and the
// descriptor's role collections are copied into the zone, unassigned.
// When the application registered callbacks (Callbacks, the provisioning
// service's appUrls), subscribing calls getDependencies and then PUT
// onSubscription/{tenantId}, unsubscribing DELETE onSubscription/{tenantId},
// each with a client_credentials token of the built-in provisioning
// client (clients.ProvisioningApp), which carries what the application
// granted to $XSAPPNAME(application,sap-provisioning,tenant-onboarding).
// A failing callback fails the operation and nothing is written; when
// the write fails after a successful PUT, the subscription is undone
// with DELETE.

// Callbacks are an application's subscription callbacks, as the appUrls
// of the SaaS provisioning service's parameters.
type Callbacks struct {
	// GetDependencies is called (GET) before a subscription; it answers
	// the reuse services the application depends on, [{"xsappname": …}].
	GetDependencies string `json:"getDependencies,omitempty"`
	// OnSubscription is called with PUT to subscribe a tenant and DELETE
	// to unsubscribe it; "{tenantId}" in it becomes the zone id (without
	// it, "/<zone id>" is appended).
	OnSubscription string `json:"onSubscription"`
	// CallbackTimeoutMillis bounds each call; default 30 s, at most 5 min.
	CallbackTimeoutMillis int `json:"callbackTimeoutMillis,omitempty"`
}

// ParseCallbacks reads the SaaS provisioning service's parameters
// ({"appUrls": {...}, ...}) or the appUrls object alone.
func ParseCallbacks(data []byte) (*Callbacks, error) {
	var doc struct {
		AppURLs *Callbacks `json:"appUrls"`
		Callbacks
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, opErr(ErrInvalid, "app URLs: %v", err)
	}
	cb := &doc.Callbacks
	if doc.AppURLs != nil {
		cb = doc.AppURLs
	}
	if err := cb.validate(); err != nil {
		return nil, err
	}
	return cb, nil
}

func (cb *Callbacks) validate() error {
	if cb.OnSubscription == "" {
		return opErr(ErrInvalid, "app URLs: onSubscription is required")
	}
	for _, u := range []struct{ name, v string }{{"getDependencies", cb.GetDependencies}, {"onSubscription", cb.OnSubscription}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(strings.ReplaceAll(u.v, "{tenantId}", "t"))
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
			return opErr(ErrInvalid, "app URLs: %s %q must be an absolute http or https URL", u.name, clip(u.v))
		}
	}
	if cb.CallbackTimeoutMillis < 0 || cb.CallbackTimeoutMillis > 300000 {
		return opErr(ErrInvalid, "app URLs: callbackTimeoutMillis must be between 0 and 300000")
	}
	return nil
}

// SubscriptionSummary is a subscription as the admin API shows it.
type SubscriptionSummary struct {
	Instance   string `json:"instance"` // the instance's name
	InstanceID string `json:"instance_id"`
	XSAppName  string `json:"xsappname"` // the runtime name
	Zone       string `json:"zone"`      // the zone's subdomain
	ZoneID     string `json:"zone_id"`
	// AppURL is the tenant's application URL, as onSubscription answered.
	AppURL string `json:"app_url,omitempty"`
	// Dependencies are the xsappnames getDependencies answered.
	Dependencies []string  `json:"dependencies,omitempty"`
	Callbacks    bool      `json:"callbacks"`
	CreatedAt    time.Time `json:"created_at"`
}

// TokenSource returns a client_credentials token of the provisioning
// client for the callbacks.
type TokenSource func(ctx context.Context) (string, error)

// SubscribeRequest subscribes the zone with subdomain Zone to an instance.
type SubscribeRequest struct {
	InstanceID string
	Zone       string
	Callbacks  *Callbacks // nil: the application registered none
}

// subscriptionTarget checks what a subscription needs and returns the
// instance, its app and the zone.
func subscriptionTarget(ctx context.Context, rd storage.Reader, instanceID, subdomain string) (storage.Instance, *scopes.App, storage.Zone, error) {
	in, app, err := instance(ctx, rd, instanceID)
	if err != nil {
		return in, nil, storage.Zone{}, err
	}
	z, found, err := zoneBySubdomain(ctx, rd, subdomain)
	switch {
	case err != nil:
		return in, nil, z, err
	case !found:
		return in, nil, z, opErr(ErrNotFound, "no zone has the subdomain %q", clip(subdomain))
	}
	return in, app, z, nil
}

// Subscribe subscribes a zone to a shared instance (see above).
func (r *Registry) Subscribe(ctx context.Context, req SubscribeRequest, token TokenSource) (SubscriptionSummary, error) {
	if req.Callbacks != nil {
		if err := req.Callbacks.validate(); err != nil {
			return SubscriptionSummary{}, err
		}
	}
	in, app, zone, err := subscriptionTarget(ctx, r.store, req.InstanceID, req.Zone)
	if err != nil {
		return SubscriptionSummary{}, err
	}
	check := func(rd storage.Reader) error {
		switch {
		case app.TenantMode != "shared":
			return opErr(ErrInvalid, "service instance %s is tenant-mode %s: only a tenant-mode shared instance can be subscribed to", in.Name, app.TenantMode)
		case zone.ID == in.ZoneID:
			return opErr(ErrInvalid, "zone %q is the service instance's own zone", zone.Subdomain)
		case zone.ID == clients.ProvisioningZoneID:
			return opErr(ErrInvalid, "zone %q is the SaaS provisioning service's", zone.Subdomain)
		}
		if _, err := rd.GetSubscription(ctx, in.ID, zone.ID); err == nil {
			return opErr(ErrConflict, "zone %q is already subscribed to service instance %s", zone.Subdomain, in.Name)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		// The role collections are copied under their names: none may
		// be taken by another in the zone.
		rcs, err := rd.ListRoleCollections(ctx, zone.ID)
		if err != nil {
			return err
		}
		for _, rc := range rcs {
			for _, d := range app.RoleCollections {
				if rc.Name == d.Name && rc.Owner != in.ID {
					return opErr(ErrConflict, "role-collections: a role collection named %q already exists in zone %q", d.Name, zone.Subdomain)
				}
			}
		}
		return nil
	}
	if err := check(r.store); err != nil {
		return SubscriptionSummary{}, err
	}
	sub := storage.Subscription{InstanceID: in.ID, ZoneID: zone.ID, CreatedAt: r.cfg.Now().UTC()}
	out := SubscriptionSummary{Instance: in.Name, InstanceID: in.ID, XSAppName: app.RuntimeName, Zone: zone.Subdomain, ZoneID: zone.ID}
	var cb *callbackCall
	if req.Callbacks != nil {
		cb = &callbackCall{r: r, cb: req.Callbacks, app: app, zone: zone, token: token}
		if out.Dependencies, err = cb.dependencies(ctx); err != nil {
			return SubscriptionSummary{}, err
		}
		if out.AppURL, err = cb.subscription(ctx, http.MethodPut); err != nil {
			return SubscriptionSummary{}, err
		}
		sub.AppURL = out.AppURL
		if sub.Callbacks, err = json.Marshal(req.Callbacks); err != nil {
			return SubscriptionSummary{}, err
		}
		out.Callbacks = true
	}
	err = r.update(ctx, func(tx storage.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		if err := tx.CreateSubscription(ctx, sub); err != nil {
			return invalidText(err)
		}
		return syncRoleCollections(ctx, tx, zone.ID, in.ID, app.RoleCollections)
	})
	if err != nil {
		// The application took the tenant on: take it back, unless a
		// subscribe of the same zone that ran at the same time won (its
		// PUT was the same; a DELETE would end the tenant it keeps).
		_, won := r.store.GetSubscription(context.WithoutCancel(ctx), in.ID, zone.ID)
		if cb != nil && won != nil {
			if _, undoErr := cb.subscription(context.WithoutCancel(ctx), http.MethodDelete); undoErr != nil {
				r.cfg.Log.Error("subscription failed after the application's onSubscription; undoing it failed too", "instance", in.ID, "zone", zone.ID, "error", undoErr)
			}
		}
		return SubscriptionSummary{}, err
	}
	out.CreatedAt = sub.CreatedAt
	r.cfg.Log.Info("zone subscribed", "instance", in.ID, "zone", zone.ID, "subdomain", zone.Subdomain)
	return out, nil
}

// Unsubscribe ends a zone's subscription to an instance: with callbacks,
// DELETE onSubscription/{tenantId} first (its failure fails the
// unsubscription; a write failing after it is undone with PUT); then the
// client no longer authenticates in the zone and the copied role
// collections are deleted, with their assignments.
func (r *Registry) Unsubscribe(ctx context.Context, instanceID, subdomain string, token TokenSource) (err error) {
	in, app, zone, err := subscriptionTarget(ctx, r.store, instanceID, subdomain)
	if err != nil {
		return err
	}
	sub, err := r.store.GetSubscription(ctx, in.ID, zone.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return opErr(ErrNotFound, "zone %q is not subscribed to service instance %s", zone.Subdomain, in.Name)
	}
	if err != nil {
		return err
	}
	var letGo *callbackCall // the application let the tenant go
	if sub.Callbacks != nil {
		var cbs Callbacks
		if err := json.Unmarshal(sub.Callbacks, &cbs); err != nil {
			return fmt.Errorf("subscription of zone %s: stored callbacks: %w", zone.ID, err)
		}
		cb := &callbackCall{r: r, cb: &cbs, app: app, zone: zone, token: token}
		if _, err := cb.subscription(ctx, http.MethodDelete); err != nil {
			return err
		}
		letGo = cb
	}
	defer func() {
		// The application let the tenant go but the subscription stays
		// (the write failed): take the tenant on again, unless another
		// unsubscribe ended it meanwhile.
		if cb := letGo; err != nil && cb != nil && !errors.Is(err, ErrNotFound) {
			if _, redoErr := cb.subscription(context.WithoutCancel(ctx), http.MethodPut); redoErr != nil {
				r.cfg.Log.Error("unsubscription failed after the application's DELETE; subscribing it again failed too", "instance", in.ID, "zone", zone.ID, "error", redoErr)
			}
		}
	}()
	err = r.update(ctx, func(tx storage.Tx) error {
		if err := tx.DeleteSubscription(ctx, in.ID, zone.ID); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return opErr(ErrNotFound, "zone %q is not subscribed to service instance %s", zone.Subdomain, in.Name)
			}
			return err
		}
		return syncRoleCollections(ctx, tx, zone.ID, in.ID, nil)
	})
	if err != nil {
		return err
	}
	r.cfg.Log.Info("zone unsubscribed", "instance", in.ID, "zone", zone.ID, "subdomain", zone.Subdomain)
	return nil
}

// ListSubscriptions lists the subscriptions to an instance, or to all
// when instanceID is "", by instance name and zone subdomain.
func (r *Registry) ListSubscriptions(ctx context.Context, instanceID string) ([]SubscriptionSummary, error) {
	subs, err := r.store.ListSubscriptions(ctx, instanceID, "")
	if err != nil {
		return nil, err
	}
	zones, err := r.store.ListZones(ctx)
	if err != nil {
		return nil, err
	}
	subdomains := map[string]string{}
	for _, z := range zones {
		subdomains[z.ID] = z.Subdomain
	}
	out := make([]SubscriptionSummary, 0, len(subs))
	insts := map[string]storage.Instance{}
	for _, s := range subs {
		in, ok := insts[s.InstanceID]
		if !ok {
			if in, err = r.store.GetInstance(ctx, s.InstanceID); err != nil {
				return nil, err
			}
			insts[s.InstanceID] = in
		}
		out = append(out, SubscriptionSummary{Instance: in.Name, InstanceID: in.ID, XSAppName: in.RuntimeName,
			Zone: subdomains[s.ZoneID], ZoneID: s.ZoneID, AppURL: s.AppURL, Callbacks: s.Callbacks != nil, CreatedAt: s.CreatedAt})
	}
	slices.SortFunc(out, func(a, b SubscriptionSummary) int {
		return cmp.Or(cmp.Compare(a.Instance, b.Instance), cmp.Compare(a.InstanceID, b.InstanceID), cmp.Compare(a.Zone, b.Zone))
	})
	return out, nil
}

// syncSubscribedRoleCollections makes the role collections an instance's
// descriptor defines in every zone subscribed to it (defs nil: deletes
// them), as syncRoleCollections does in the instance's own zone.
func syncSubscribedRoleCollections(ctx context.Context, tx storage.Tx, instanceID string, defs []scopes.RoleCollectionDef) error {
	subs, err := tx.ListSubscriptions(ctx, instanceID, "")
	if err != nil {
		return err
	}
	for _, s := range subs {
		if err := syncRoleCollections(ctx, tx, s.ZoneID, instanceID, defs); err != nil {
			return err
		}
	}
	return nil
}

// callbackCall calls one application's callbacks for one zone.
type callbackCall struct {
	r     *Registry
	cb    *Callbacks
	app   *scopes.App
	zone  storage.Zone
	token TokenSource
}

// maxCallbackBody bounds what is read of a callback's answer.
const maxCallbackBody = 64 << 10

func (c *callbackCall) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	timeout := 30 * time.Second
	if c.cb.CallbackTimeoutMillis > 0 {
		timeout = time.Duration(c.cb.CallbackTimeoutMillis) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.token == nil {
		return nil, errors.New("no token source for the subscription callbacks")
	}
	tok, err := c.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("the provisioning client's token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, opErr(ErrInvalid, "app URLs: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json, text/plain")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.r.callbackClient().Do(req)
	if err != nil {
		return nil, unanswered{&OpError{Kind: ErrCallback, Msg: fmt.Sprintf("the application's %s %s failed: %v", method, clip(u), err)}}
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxCallbackBody))
	if err != nil {
		return nil, opErr(ErrCallback, "the application's %s %s: reading the answer: %v", method, clip(u), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, opErr(ErrCallback, "the application's %s %s answered %d: %s", method, clip(u), resp.StatusCode, clip(strings.TrimSpace(string(got))))
	}
	return got, nil
}

// dependencies calls getDependencies (if registered) and returns the
// xsappnames it answers.
func (c *callbackCall) dependencies(ctx context.Context) ([]string, error) {
	if c.cb.GetDependencies == "" {
		return nil, nil
	}
	body, err := c.do(ctx, http.MethodGet, c.cb.GetDependencies, nil)
	if err != nil {
		return nil, err
	}
	return parseDependencies(body)
}

// parseDependencies reads getDependencies' answer, [{"xsappname": …}]
// (empty: none).
func parseDependencies(body []byte) ([]string, error) {
	var deps []struct {
		XSAppName string `json:"xsappname"`
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(body, &deps); err != nil {
		return nil, opErr(ErrCallback, "the application's getDependencies answered no list of dependencies ([{\"xsappname\": …}]): %v", err)
	}
	var out []string
	for _, d := range deps {
		if d.XSAppName == "" || storage.CheckText("", d.XSAppName) != nil {
			return nil, opErr(ErrCallback, "the application's getDependencies answered a dependency without an xsappname")
		}
		out = append(out, d.XSAppName)
	}
	return out, nil
}

// parseAppURL reads onSubscription's answer to a PUT: the tenant's
// application URL, as text or a JSON string, an absolute http or https URL
// (empty: none).
func parseAppURL(body []byte) (string, error) {
	appURL := strings.TrimSpace(string(body))
	var s string
	if json.Unmarshal([]byte(appURL), &s) == nil {
		appURL = s // a JSON string
	}
	if appURL == "" {
		return "", nil
	}
	if p, err := url.Parse(appURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || storage.CheckText("", appURL) != nil {
		return "", opErr(ErrCallback, "the application's onSubscription answered %q, not the tenant's application URL", clip(appURL))
	}
	return appURL, nil
}

// payloadFor returns the body of an onSubscription call, as SAP's SaaS
// provisioning service sends it; event is "CREATE" or "DELETE".
func payloadFor(c *callbackCall, event string) []byte {
	payload, _ := json.Marshal(map[string]string{ // strings only: cannot fail
		"subscriptionAppId":      c.app.RuntimeName,
		"subscriptionAppName":    c.app.XSAppName,
		"subscribedTenantId":     c.zone.ID,
		"subscribedZoneId":       c.zone.ID,
		"subscribedSubaccountId": c.zone.ID,
		"subscribedSubdomain":    c.zone.Subdomain,
		"globalAccountGUID":      c.r.index.ProviderZone().ID,
		"subscribedLicenseType":  "DEFAULT",
		"eventType":              event,
	})
	return payload
}

// errNoAnswer marks a callback that got no answer (unanswered).
var errNoAnswer = errors.New("no answer")

// unanswered is the ErrCallback of a call that got no answer.
type unanswered struct{ *OpError }

func (u unanswered) Unwrap() []error { return []error{u.OpError, errNoAnswer} }

// subscription calls onSubscription with PUT (subscribe; returns the
// tenant's application URL) or DELETE (unsubscribe).
func (c *callbackCall) subscription(ctx context.Context, method string) (string, error) {
	u := c.cb.OnSubscription
	if strings.Contains(u, "{tenantId}") {
		u = strings.ReplaceAll(u, "{tenantId}", url.PathEscape(c.zone.ID))
	} else {
		u = strings.TrimSuffix(u, "/") + "/" + url.PathEscape(c.zone.ID)
	}
	event := "CREATE"
	if method == http.MethodDelete {
		event = "DELETE"
	}
	payload := payloadFor(c, event)
	body, err := c.do(ctx, method, u, payload)
	if err != nil && method == http.MethodPut && errors.Is(err, errNoAnswer) {
		// Unanswered (unreachable, too slow): the application may have
		// taken the tenant on all the same; ask it to let go.
		if _, undoErr := c.do(context.WithoutCancel(ctx), http.MethodDelete, u, payloadFor(c, "DELETE")); undoErr != nil {
			c.r.cfg.Log.Warn("undoing an unanswered onSubscription failed", "zone", c.zone.ID, "error", undoErr)
		}
	}
	if err != nil || method == http.MethodDelete {
		return "", err
	}
	appURL, err := parseAppURL(body)
	if err != nil {
		undo := context.WithoutCancel(ctx)
		if _, undoErr := c.subscription(undo, http.MethodDelete); undoErr != nil {
			c.r.cfg.Log.Error("undoing a subscription whose onSubscription answered no URL failed", "zone", c.zone.ID, "error", undoErr)
		}
		return "", err
	}
	return appURL, nil
}
