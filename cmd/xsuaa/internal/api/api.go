// Package api is the client side of a running xsuaa server: its Open
// Service Broker API, its admin API and its token endpoint. The xsuaa CLI
// commands are thin layers over it.
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/server"
)

// Platform is the OSB context "platform" of what the CLI creates, and
// SpaceGUID/OrgGUID its organization and space: $XSSERVICENAME(name)
// references resolve among instances of one space.
const (
	Platform  = "xsuaa-cli"
	OrgGUID   = "xsuaa-cli-org"
	SpaceGUID = "xsuaa-cli-space"
)

// PlanIDs maps plan names to the broker's plan ids.
var PlanIDs = map[string]string{"application": server.PlanApplicationID, "broker": server.PlanBrokerID}

// Error is an error answer of the server: an OSB {"error","description"}
// or an OAuth {"error","error_description"} body.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("%d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("%s (%d %s)", e.Description, e.Status, e.Code)
}

// IsNotFound reports whether err is a 404 or 410 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
}

// Client talks to one server's broker and admin APIs.
type Client struct {
	// BaseURL is the server, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Broker and Admin are the Basic credentials of the broker API (/v2)
	// and the admin API (/admin).
	Broker, Admin BasicAuth
	// Zone, if set, is the subdomain of the identity zone whose users and
	// role collections the admin API calls address (?zone=).
	Zone string
	HTTP *http.Client
}

// BasicAuth is one API's Basic credentials, or why there are none.
type BasicAuth struct {
	User, Password string
	Err            error
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	if c.Zone != "" && (strings.HasPrefix(path, "/admin/users") || strings.HasPrefix(path, "/admin/role-collections")) {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "zone=" + url.QueryEscape(c.Zone)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	auth := c.Broker
	if strings.HasPrefix(path, "/admin/") {
		auth = c.Admin
	}
	if auth.Err != nil {
		return auth.Err
	}
	req.SetBasicAuth(auth.User, auth.Password)
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the xsuaa server at %s: %w", c.BaseURL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, b)
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func decodeError(status int, b []byte) error {
	var e struct {
		Error            string `json:"error"`
		Description      string `json:"description"`
		ErrorDescription string `json:"error_description"`
	}
	json.Unmarshal(b, &e)
	desc := e.Description
	if desc == "" {
		desc = e.ErrorDescription
	}
	if e.Error == "" {
		e.Error = http.StatusText(status)
	}
	if desc == "" && e.Error == http.StatusText(status) {
		desc = strings.TrimSpace(string(b))
	}
	if status == http.StatusUnauthorized && strings.Contains(desc, "broker") {
		desc += "; set XSUAA_BROKER_USER and XSUAA_BROKER_PASSWORD to the server's broker credentials (or point --data-dir at its data directory)"
	}
	return &Error{Status: status, Code: e.Error, Description: desc}
}

// Instances lists every instance.
func (c *Client) Instances(ctx context.Context) ([]registry.InstanceSummary, error) {
	var out struct {
		Instances []registry.InstanceSummary `json:"instances"`
	}
	err := c.do(ctx, http.MethodGet, "/admin/instances", nil, &out)
	return out.Instances, err
}

// Instance describes one instance by id.
func (c *Client) Instance(ctx context.Context, id string) (registry.InstanceDetail, error) {
	var out registry.InstanceDetail
	err := c.do(ctx, http.MethodGet, "/admin/instances/"+url.PathEscape(id), nil, &out)
	return out, err
}

// ErrNoSuchService is returned (wrapped) by FindInstance for an unknown
// name.
var ErrNoSuchService = errors.New("no such service")

// noSuchService says which service was not found; it is ErrNoSuchService.
type noSuchService struct{ name string }

func (e noSuchService) Error() string        { return fmt.Sprintf("service %q not found", e.name) }
func (e noSuchService) Is(target error) bool { return target == ErrNoSuchService }

// FindInstance returns the service instance called name (clones, which
// carry their consumer instance's name, are not service instances of this
// server's), preferring the CLI's space when several spaces use the name.
func (c *Client) FindInstance(ctx context.Context, name string) (registry.InstanceSummary, error) {
	list, err := c.Instances(ctx)
	if err != nil {
		return registry.InstanceSummary{}, err
	}
	var found []registry.InstanceSummary
	for _, in := range list {
		if in.Name == name && in.CloneOf == "" {
			if in.SpaceGUID == SpaceGUID {
				return in, nil
			}
			found = append(found, in)
		}
	}
	switch len(found) {
	case 0:
		return registry.InstanceSummary{}, noSuchService{name}
	case 1:
		return found[0], nil
	}
	return registry.InstanceSummary{}, fmt.Errorf("%d services are called %q (in different spaces); use the instance id", len(found), name)
}

// CreateInstance provisions an instance called name from a descriptor
// and returns its id.
func (c *Client) CreateInstance(ctx context.Context, name, plan, zoneSubdomain string, descriptor json.RawMessage) (string, error) {
	planID, ok := PlanIDs[plan]
	if !ok {
		return "", fmt.Errorf("unknown plan %q; plans are application and broker", plan)
	}
	id := uuid.NewString()
	osbContext := map[string]any{
		"platform": Platform, "instance_name": name,
		"organization_guid": OrgGUID, "space_guid": SpaceGUID,
	}
	if zoneSubdomain != "" {
		osbContext["subdomain"] = zoneSubdomain
	}
	err := c.do(ctx, http.MethodPut, "/v2/service_instances/"+id, map[string]any{
		"service_id": server.ServiceID, "plan_id": planID,
		"organization_guid": OrgGUID, "space_guid": SpaceGUID,
		"context":    osbContext,
		"parameters": descriptor,
	}, nil)
	return id, err
}

// UpdateInstance replaces an instance's descriptor.
func (c *Client) UpdateInstance(ctx context.Context, id string, descriptor json.RawMessage) error {
	return c.do(ctx, http.MethodPatch, "/v2/service_instances/"+url.PathEscape(id), map[string]any{
		"service_id": server.ServiceID, "parameters": descriptor,
	}, nil)
}

// DeleteInstance deprovisions an instance (its bindings go with it).
func (c *Client) DeleteInstance(ctx context.Context, in registry.InstanceSummary) error {
	q := url.Values{"service_id": {server.ServiceID}, "plan_id": {PlanIDs[in.Plan]}}
	return c.do(ctx, http.MethodDelete, "/v2/service_instances/"+url.PathEscape(in.ID)+"?"+q.Encode(), nil, nil)
}

// Bind creates a binding (app != "") or service key (app == "") called
// name and returns its id and credentials.
func (c *Client) Bind(ctx context.Context, in registry.InstanceSummary, name, app string, params json.RawMessage) (string, Credentials, error) {
	id := uuid.NewString()
	body := map[string]any{
		"service_id": server.ServiceID, "plan_id": PlanIDs[in.Plan],
		"context": map[string]any{
			"platform": Platform, "binding_name": name, "instance_name": in.Name,
			"organization_guid": OrgGUID, "space_guid": SpaceGUID,
		},
	}
	if app != "" {
		body["bind_resource"] = map[string]string{"app_guid": app}
	}
	if len(params) > 0 {
		body["parameters"] = params
	}
	var out struct {
		Credentials Credentials `json:"credentials"`
	}
	err := c.do(ctx, http.MethodPut, "/v2/service_instances/"+url.PathEscape(in.ID)+"/service_bindings/"+id, body, &out)
	return id, out.Credentials, err
}

// Binding fetches a binding's credentials.
func (c *Client) Binding(ctx context.Context, instanceID, bindingID string) (Credentials, error) {
	var out struct {
		Credentials Credentials `json:"credentials"`
	}
	err := c.do(ctx, http.MethodGet, "/v2/service_instances/"+url.PathEscape(instanceID)+"/service_bindings/"+url.PathEscape(bindingID), nil, &out)
	return out.Credentials, err
}

// Unbind deletes a binding; its credential stops working at once.
func (c *Client) Unbind(ctx context.Context, in registry.InstanceSummary, bindingID string) error {
	q := url.Values{"service_id": {server.ServiceID}, "plan_id": {PlanIDs[in.Plan]}}
	return c.do(ctx, http.MethodDelete, "/v2/service_instances/"+url.PathEscape(in.ID)+"/service_bindings/"+url.PathEscape(bindingID)+"?"+q.Encode(), nil, nil)
}

// Keys lists the signing keys.
func (c *Client) Keys(ctx context.Context) ([]keys.KeyStatus, error) {
	var out struct {
		Keys []keys.KeyStatus `json:"keys"`
	}
	err := c.do(ctx, http.MethodGet, "/admin/keys", nil, &out)
	return out.Keys, err
}

// RotateKey creates a signing key that signs after activateAfter.
func (c *Client) RotateKey(ctx context.Context, activateAfter time.Duration) (keys.KeyStatus, error) {
	var out keys.KeyStatus
	err := c.do(ctx, http.MethodPost, "/admin/keys/rotate", map[string]string{"activate_after": activateAfter.String()}, &out)
	return out, err
}

// Credentials is a binding's credentials object. Fields are kept as raw
// JSON so that what is written to files is exactly what the server sent.
type Credentials map[string]json.RawMessage

// String returns field k as a string ("" if absent or not a string).
func (c Credentials) String(k string) string {
	var s string
	json.Unmarshal(c[k], &s)
	return s
}

// TokenClient fetches client_credentials tokens with a binding's
// credentials, as SAP's libraries do: Basic authentication at
// url/oauth/token, or mutual TLS at certurl/oauth/token for x509.
type TokenClient struct {
	// RootCAs verify the server; nil means the system's.
	RootCAs *x509.CertPool
	// Insecure skips server certificate verification.
	Insecure bool
}

// Token requests a token and returns the raw JSON answer.
func (tc TokenClient) Token(ctx context.Context, creds Credentials) (json.RawMessage, error) {
	clientID := creds.String("clientid")
	if clientID == "" {
		return nil, errors.New("the credentials have no clientid")
	}
	tlsCfg := &tls.Config{RootCAs: tc.RootCAs, InsecureSkipVerify: tc.Insecure}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}
	var endpoint string
	secret := creds.String("clientsecret")
	switch {
	case secret != "":
		endpoint = creds.String("url")
	default:
		endpoint = creds.String("certurl")
		cert, err := credentialsCertificate(creds)
		if err != nil {
			return nil, err
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	if endpoint == "" {
		return nil, errors.New("the credentials have no url/certurl")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token request to %s: %w", endpoint, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, decodeError(resp.StatusCode, b)
	}
	return b, nil
}

// CloneClient calls the clone API as a reuse service's broker does, with
// the credentials of its broker-plan binding: Basic authentication at url,
// or mutual TLS at certurl with ?client_id= for x509 credentials.
type CloneClient struct {
	// RootCAs verify the server; nil means the system's.
	RootCAs *x509.CertPool
	// Insecure skips server certificate verification.
	Insecure bool
}

// CreateClone creates (or, repeated identically, returns) the clone with
// the given id and body and returns its credentials and whether it was
// created now.
func (cc CloneClient) CreateClone(ctx context.Context, broker Credentials, cloneID string, body json.RawMessage) (Credentials, bool, error) {
	var out struct {
		Credentials Credentials `json:"credentials"`
	}
	status, err := cc.call(ctx, broker, http.MethodPut, cloneID, body, &out)
	return out.Credentials, status == http.StatusCreated, err
}

// DeleteClone deletes the clone with the given id.
func (cc CloneClient) DeleteClone(ctx context.Context, broker Credentials, cloneID string) error {
	_, err := cc.call(ctx, broker, http.MethodDelete, cloneID, nil, nil)
	return err
}

func (cc CloneClient) call(ctx context.Context, broker Credentials, method, cloneID string, body json.RawMessage, out any) (int, error) {
	clientID := broker.String("clientid")
	if clientID == "" {
		return 0, errors.New("the broker credentials have no clientid")
	}
	tlsCfg := &tls.Config{RootCAs: cc.RootCAs, InsecureSkipVerify: cc.Insecure}
	base, secret := broker.String("url"), broker.String("clientsecret")
	query := ""
	if secret == "" {
		cert, err := credentialsCertificate(broker)
		if err != nil {
			return 0, err
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
		base, query = broker.String("certurl"), "?client_id="+url.QueryEscape(clientID)
	}
	if base == "" {
		return 0, errors.New("the broker credentials have no url/certurl")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+"/sap/rest/broker/clones/"+url.PathEscape(cloneID)+query, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	hc := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("clone request to %s: %w", base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, decodeError(resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("the server's answer is not the expected JSON: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// credentialsCertificate returns the certificate and key of x509
// credentials.
func credentialsCertificate(creds Credentials) (tls.Certificate, error) {
	if creds.String("certificate") == "" || creds.String("key") == "" {
		if creds.String("credential-type") == "x509" {
			return tls.Certificate{}, errors.New("these x509 credentials have no private key: a self-managed certificate's key is yours (put it into the credentials file, as \"key\", and use -k FILE)")
		}
		return tls.Certificate{}, errors.New("the credentials have neither a clientsecret nor a certificate and key (hide-secret?)")
	}
	// PEM values may arrive with literal \n (SAP's docs mention it).
	pemFix := func(s string) []byte { return []byte(strings.ReplaceAll(s, `\n`, "\n")) }
	cert, err := tls.X509KeyPair(pemFix(creds.String("certificate")), pemFix(creds.String("key")))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the credentials' certificate and key: %w", err)
	}
	return cert, nil
}

// ParseCredentials reads credentials from a bare credentials object, a
// VCAP_SERVICES entry or object, or a default-env.json, holding exactly one
// xsuaa binding.
func ParseCredentials(b []byte) (Credentials, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, ok := top["clientid"]; ok {
		var c Credentials
		err := json.Unmarshal(b, &c)
		return c, err
	}
	if raw, ok := top["credentials"]; ok {
		return ParseCredentials(raw)
	}
	if raw, ok := top["VCAP_SERVICES"]; ok {
		return ParseCredentials(raw)
	}
	if raw, ok := top["xsuaa"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil || len(list) != 1 {
			return nil, errors.New(`"xsuaa" must hold exactly one binding; use a file with one`)
		}
		return ParseCredentials(list[0])
	}
	return nil, errors.New("no credentials found: expected a credentials object (with clientid), a VCAP_SERVICES entry or a default-env.json")
}

// ParseEnv reads a default-env.json: a JSON object of environment
// variables, and its VCAP_SERVICES (an object, or a JSON string holding
// one) mapping labels to arrays of services.
func ParseEnv(b []byte) (env map[string]json.RawMessage, vcap map[string][]json.RawMessage, err error) {
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if env == nil {
		env = map[string]json.RawMessage{}
	}
	vcap = map[string][]json.RawMessage{}
	raw, ok := env["VCAP_SERVICES"]
	if !ok {
		return env, vcap, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	if err := json.Unmarshal(raw, &vcap); err != nil {
		return nil, nil, fmt.Errorf("VCAP_SERVICES must map labels to arrays of services: %w", err)
	}
	if vcap == nil {
		vcap = map[string][]json.RawMessage{}
	}
	return env, vcap, nil
}

// User is a user as the admin API shows it.
type User struct {
	ID              string              `json:"id"`
	Name            string              `json:"name"`
	Origin          string              `json:"origin"`
	Email           string              `json:"email,omitempty"`
	GivenName       string              `json:"given_name,omitempty"`
	FamilyName      string              `json:"family_name,omitempty"`
	Attributes      map[string][]string `json:"attributes,omitempty"`
	RoleCollections []string            `json:"role_collections"`
}

// NewUser is the body that creates a user.
type NewUser struct {
	Name       string              `json:"name"`
	Password   string              `json:"password"`
	Email      string              `json:"email,omitempty"`
	GivenName  string              `json:"given_name,omitempty"`
	FamilyName string              `json:"family_name,omitempty"`
	Origin     string              `json:"origin,omitempty"`
	Attributes map[string][]string `json:"attributes,omitempty"`
}

// RoleCollection is a role collection as the admin API shows it.
type RoleCollection struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Roles       []string `json:"roles"`
	Instance    string   `json:"instance,omitempty"`
}

// userPath is the admin path of a user, with its origin when one is given.
func userPath(prefix, name, origin, suffix string) string {
	p := prefix + url.PathEscape(name) + suffix
	if origin != "" {
		p += "?origin=" + url.QueryEscape(origin)
	}
	return p
}

// Users lists the users.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out struct {
		Users []User `json:"users"`
	}
	err := c.do(ctx, http.MethodGet, "/admin/users", nil, &out)
	return out.Users, err
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, "/admin/users", u, &out)
	return out, err
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, name, origin string) error {
	return c.do(ctx, http.MethodDelete, userPath("/admin/users/", name, origin, ""), nil, nil)
}

// SetPassword replaces a user's password.
func (c *Client) SetPassword(ctx context.Context, name, origin, password string) error {
	return c.do(ctx, http.MethodPut, userPath("/admin/users/", name, origin, "/password"), map[string]string{"password": password}, nil)
}

// RoleCollections lists the role collections.
func (c *Client) RoleCollections(ctx context.Context) ([]RoleCollection, error) {
	var out struct {
		RoleCollections []RoleCollection `json:"role_collections"`
	}
	err := c.do(ctx, http.MethodGet, "/admin/role-collections", nil, &out)
	return out.RoleCollections, err
}

// CreateRoleCollection creates a role collection of roles "<app>.<template>".
func (c *Client) CreateRoleCollection(ctx context.Context, rc RoleCollection) (RoleCollection, error) {
	var out RoleCollection
	err := c.do(ctx, http.MethodPost, "/admin/role-collections", rc, &out)
	return out, err
}

// DeleteRoleCollection deletes a role collection.
func (c *Client) DeleteRoleCollection(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/admin/role-collections/"+url.PathEscape(name), nil, nil)
}

// AssignRoleCollection assigns (or, with assign false, unassigns) a role
// collection to a user.
func (c *Client) AssignRoleCollection(ctx context.Context, collection, user, origin string, assign bool) error {
	method := http.MethodPut
	if !assign {
		method = http.MethodDelete
	}
	return c.do(ctx, method, userPath("/admin/role-collections/"+url.PathEscape(collection)+"/users/", user, origin, ""), nil, nil)
}

// Zones lists the identity zones.
func (c *Client) Zones(ctx context.Context) ([]registry.ZoneSummary, error) {
	var out struct {
		Zones []registry.ZoneSummary `json:"zones"`
	}
	err := c.do(ctx, http.MethodGet, "/admin/zones", nil, &out)
	return out.Zones, err
}

// CreateZone creates an identity zone (id "": a new GUID).
func (c *Client) CreateZone(ctx context.Context, subdomain, id string) (registry.ZoneSummary, error) {
	var z registry.ZoneSummary
	err := c.do(ctx, http.MethodPost, "/admin/zones", map[string]string{"subdomain": subdomain, "id": id}, &z)
	return z, err
}

// DeleteZone deletes an identity zone; force also deletes what it holds.
func (c *Client) DeleteZone(ctx context.Context, subdomain string, force bool) error {
	path := "/admin/zones/" + url.PathEscape(subdomain)
	if force {
		path += "?force=true"
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil)
}

// Subscriptions lists the subscriptions to an instance (instanceID "":
// to all).
func (c *Client) Subscriptions(ctx context.Context, instanceID string) ([]registry.SubscriptionSummary, error) {
	var out struct {
		Subscriptions []registry.SubscriptionSummary `json:"subscriptions"`
	}
	path := "/admin/subscriptions"
	if instanceID != "" {
		path += "?instance_id=" + url.QueryEscape(instanceID)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Subscriptions, err
}

// Subscribe subscribes the zone with a subdomain to a shared instance;
// appURLs, if not nil, are the application's callbacks (the SaaS
// provisioning service's parameters or their appUrls).
func (c *Client) Subscribe(ctx context.Context, instanceID, zone string, appURLs json.RawMessage) (registry.SubscriptionSummary, error) {
	var s registry.SubscriptionSummary
	body := map[string]any{"instance_id": instanceID, "zone": zone}
	if appURLs != nil {
		body["app_urls"] = appURLs
	}
	err := c.do(ctx, http.MethodPost, "/admin/subscriptions", body, &s)
	return s, err
}

// Unsubscribe ends a zone's subscription to an instance.
func (c *Client) Unsubscribe(ctx context.Context, instanceID, zone string) error {
	return c.do(ctx, http.MethodDelete, "/admin/subscriptions?instance_id="+url.QueryEscape(instanceID)+"&zone="+url.QueryEscape(zone), nil, nil)
}
