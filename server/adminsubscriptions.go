package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
)

// The admin API's subscriptions (the CLI's subscribe, unsubscribe and
// subscriptions), as SAP's SaaS provisioning service subscribes a
// subaccount to a SaaS application (see registry.Subscribe).
//
//	GET    /admin/subscriptions[?instance_id=ID]
//	POST   /admin/subscriptions   {instance_id, zone, app_urls}  (app_urls: the appUrls callbacks, optional)
//	DELETE /admin/subscriptions?instance_id=ID&zone=SUBDOMAIN

func (s *Server) handleListSubscriptions(w http.ResponseWriter, r *http.Request) {
	subs, err := s.registry.ListSubscriptions(r.Context(), r.URL.Query().Get("instance_id"))
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": subs})
}

func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	var body struct {
		InstanceID string          `json:"instance_id"`
		Zone       string          `json:"zone"`
		AppURLs    json.RawMessage `json:"app_urls"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	req := registry.SubscribeRequest{InstanceID: body.InstanceID, Zone: body.Zone}
	if len(body.AppURLs) > 0 && string(body.AppURLs) != "null" {
		cb, err := registry.ParseCallbacks(body.AppURLs)
		if err != nil {
			s.writeOpError(w, r, err, false)
			return
		}
		req.Callbacks = cb
	}
	sub, err := s.registry.Subscribe(r.Context(), req, s.provisioningToken)
	if err != nil {
		s.audit(r, EventSubscriptionCreated, "instance", body.InstanceID, "subdomain", body.Zone, "outcome", outcomeFailure, "reason", err.Error())
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventSubscriptionCreated, "instance", sub.InstanceID, "zone", sub.ZoneID, "subdomain", sub.Zone, "app_url", sub.AppURL, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusCreated, sub)
}

func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, sub := q.Get("instance_id"), q.Get("zone")
	if err := s.registry.Unsubscribe(r.Context(), id, sub, s.provisioningToken); err != nil {
		s.audit(r, EventSubscriptionDeleted, "instance", id, "subdomain", sub, "outcome", outcomeFailure, "reason", err.Error())
		s.writeOpError(w, r, err, false)
		return
	}
	s.audit(r, EventSubscriptionDeleted, "instance", id, "subdomain", sub, "outcome", outcomeSuccess)
	writeJSON(w, http.StatusOK, map[string]string{})
}

// provisioningToken returns a client_credentials token of the built-in
// provisioning client (clients.ProvisioningApp in its zone), for the
// subscription callbacks: it carries what applications granted to
// $XSAPPNAME(application,sap-provisioning,tenant-onboarding).
func (s *Server) provisioningToken(ctx context.Context) (string, error) {
	if err := s.index.Sync(ctx); err != nil {
		return "", err
	}
	cl, ok := s.index.ProvisioningClient()
	if !ok {
		return "", errors.New("the SaaS provisioning service's zone does not exist")
	}
	token, _, err := s.signClientToken(&clients.Credential{Client: cl}, time.Now().UTC().Add(cl.App.Lifetime()), cl.Authorities, "")
	return token, err
}
