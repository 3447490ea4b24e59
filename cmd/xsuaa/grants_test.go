package main

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const planBrokerID = "8d2e3f4a-5b6c-4d7e-9f80-a12b3c4d5e6f"

// provisionPlan is provision with a plan and a space.
func (s *testServer) provisionPlan(id, name, planID, space, desc string) (int, map[string]any) {
	s.t.Helper()
	return s.broker("PUT", "/v2/service_instances/"+id, map[string]any{
		"service_id": serviceID, "plan_id": planID, "organization_guid": "org-1", "space_guid": space,
		"context": map[string]any{"instance_name": name}, "parameters": json.RawMessage(desc),
	})
}

func (s *testServer) update(id, desc string) {
	s.t.Helper()
	if code, body := s.broker("PATCH", "/v2/service_instances/"+id, map[string]any{"service_id": serviceID, "parameters": json.RawMessage(desc)}); code != 200 {
		s.t.Fatalf("update %s: %d %v", id, code, body)
	}
}

// scopesOf fetches a token for c and returns its verified scope and aud claims.
func (s *testServer) scopesOf(c credentials) (scope, aud []string) {
	s.t.Helper()
	_, claims := s.verify(s.secretToken(c))
	for _, v := range claims["scope"].([]any) {
		scope = append(scope, v.(string))
	}
	for _, v := range claims["aud"].([]any) {
		aud = append(aud, v.(string))
	}
	return scope, aud
}

func (s *testServer) wantScopes(c credentials, want ...string) {
	s.t.Helper()
	if got, _ := s.scopesOf(c); !reflect.DeepEqual(got, want) {
		s.t.Fatalf("%s has scopes %q, want %q", c.ClientID, got, want)
	}
}

// TestGrants runs the grant scenarios end to end: the Job Scheduler case,
// consumers created before and after the owner, explicit and blanket
// acceptance, no acceptance, updates adding and removing grants, the owner
// deleted, and the scope parameter.
func TestGrants(t *testing.T) {
	s := startServer(t, "")

	// A consumer that exists before the owner and accepts everything.
	if code, body := s.provisionPlan("early", "early-consumer", planAppID, "space-1", `{"xsappname":"early","authorities":["$ACCEPT_GRANTED_AUTHORITIES"]}`); code != 201 {
		t.Fatal(code, body)
	}
	_, early := s.bind("early", "early-b", nil)
	s.wantScopes(early, "uaa.resource")

	// The Job Scheduler: a reuse service on the broker plan that accepts what apps grant it.
	if code, body := s.provisionPlan("js", "my-jobscheduler", planBrokerID, "space-1", `{"xsappname":"jobscheduler","authorities":["$ACCEPT_GRANTED_AUTHORITIES"]}`); code != 201 {
		t.Fatal(code, body)
	}
	rawJS, js := s.bind("js", "js-b", nil)
	if js.ClientID != "sb-jobscheduler!b1" {
		t.Fatalf("broker plan client id %q", js.ClientID)
	}
	var jsCreds map[string]any
	json.Unmarshal(rawJS, &jsCreds)
	if jsCreds["trustedclientidsuffix"] != "|jobscheduler!b1" {
		t.Errorf("trustedclientidsuffix %v", jsCreds["trustedclientidsuffix"])
	}

	// $XSSERVICENAME of an instance that does not exist in the space: 400 naming it.
	code, body := s.provisionPlan("bad", "bad-app", planAppID, "space-1", `{"xsappname":"bad","scopes":[{"name":"$XSAPPNAME.X","grant-as-authority-to-apps":["$XSSERVICENAME(no-such-instance)"]}]}`)
	if code != 400 || !contains(body["description"], "no-such-instance") {
		t.Fatalf("unknown $XSSERVICENAME: %d %v", code, body)
	}
	// ... and of one in another space.
	if code, body := s.provisionPlan("bad2", "bad-app2", planAppID, "space-2", `{"xsappname":"bad2","scopes":[{"name":"$XSAPPNAME.X","grant-as-authority-to-apps":["$XSSERVICENAME(my-jobscheduler)"]}]}`); code != 400 {
		t.Fatalf("$XSSERVICENAME across spaces: %d %v", code, body)
	}

	// The owner app grants JOBSCHEDULER to the job scheduler, Read to two
	// consumers (one accepts explicitly, one not at all) and to early.
	ownerDesc := `{"xsappname":"app","scopes":[
		{"name":"$XSAPPNAME.JOBSCHEDULER","grant-as-authority-to-apps":["$XSSERVICENAME(my-jobscheduler)"]},
		{"name":"$XSAPPNAME.Read","grant-as-authority-to-apps":["$XSAPPNAME(application,explicit)","$XSAPPNAME(application,refuser)","$XSAPPNAME(application,early)"]},
		{"name":"$XSAPPNAME.Write","grant-as-authority-to-apps":["$XSAPPNAME(application,explicit)"]}]}`
	if code, body := s.provisionPlan("app", "my-app", planAppID, "space-1", ownerDesc); code != 201 {
		t.Fatal(code, body)
	}
	rawOwner, _ := s.bind("app", "app-b", nil)

	// Consumers created after the owner.
	s.provisionPlan("explicit", "explicit", planAppID, "space-1", `{"xsappname":"explicit","authorities":["$XSAPPNAME(application,app).Read"]}`)
	_, explicit := s.bind("explicit", "explicit-b", nil)
	s.provisionPlan("refuser", "refuser", planAppID, "space-1", `{"xsappname":"refuser"}`)
	_, refuser := s.bind("refuser", "refuser-b", nil)

	s.wantScopes(js, "app!t1.JOBSCHEDULER", "uaa.resource")
	if _, aud := s.scopesOf(js); !reflect.DeepEqual(aud, []string{"app!t1", "uaa", "sb-jobscheduler!b1"}) {
		t.Errorf("job scheduler aud %q", aud)
	}
	s.wantScopes(early, "app!t1.Read", "uaa.resource")    // created before the owner, blanket acceptance
	s.wantScopes(explicit, "app!t1.Read", "uaa.resource") // Write is granted but not accepted
	s.wantScopes(refuser, "uaa.resource")                 // granted, not accepted

	// The scope parameter may ask for a granted scope, not for an ungranted one.
	form := func(c credentials, scope string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {scope}}
	}
	if code, resp, _ := s.token(s.httpURL, form(explicit, "app!t1.Read"), nil); code != 200 || resp["scope"] != "app!t1.Read" {
		t.Errorf("granted scope requested: %d %v", code, resp)
	}
	if code, resp, _ := s.token(s.httpURL, form(explicit, "app!t1.Write"), nil); code != 400 || resp["error"] != "invalid_scope" {
		t.Errorf("ungranted scope requested: %d %v", code, resp)
	}

	// @sap/xssec with the owner's credentials: the job scheduler's token passes
	// checkLocalScope('JOBSCHEDULER'); the refuser's token is not for the owner.
	runGrantsScript(t, s, rawOwner, "JOBSCHEDULER", s.secretToken(js), s.secretToken(refuser))

	// Updates are live: the explicit consumer now accepts Write too, and
	// the owner stops granting Read to early.
	s.update("explicit", `{"xsappname":"explicit","authorities":["$XSAPPNAME(application,app).Read","$XSAPPNAME(application,app).Write"]}`)
	s.wantScopes(explicit, "app!t1.Read", "app!t1.Write", "uaa.resource")
	s.update("app", `{"xsappname":"app","scopes":[
		{"name":"$XSAPPNAME.JOBSCHEDULER","grant-as-authority-to-apps":["$XSSERVICENAME(my-jobscheduler)"]},
		{"name":"$XSAPPNAME.Read","grant-as-authority-to-apps":["$XSAPPNAME(application,explicit)"]},
		{"name":"$XSAPPNAME.Write","grant-as-authority-to-apps":["$XSAPPNAME(application,explicit)"]},
		{"name":"$XSAPPNAME.Admin","grant-as-authority-to-apps":["$XSAPPNAME(application,early)"]}]}`)
	s.wantScopes(early, "app!t1.Admin", "uaa.resource")
	s.wantScopes(explicit, "app!t1.Read", "app!t1.Write", "uaa.resource")

	// Deleting the owner removes everything it granted.
	if code, _ := s.broker("DELETE", "/v2/service_instances/app?service_id="+serviceID+"&plan_id="+planAppID, nil); code != 200 {
		t.Fatal("deprovision owner:", code)
	}
	s.wantScopes(js, "uaa.resource")
	s.wantScopes(early, "uaa.resource")
	s.wantScopes(explicit, "uaa.resource")
	if code, resp, _ := s.token(s.httpURL, form(explicit, "app!t1.Read"), nil); code != 400 || resp["error"] != "invalid_scope" {
		t.Errorf("scope of a deleted owner: %d %v", code, resp)
	}

	// The grants survive a restart of the server.
	s.provisionPlan("app", "my-app", planAppID, "space-1", ownerDesc)
	s.stop()
	s2 := startServer(t, s.dataDir)
	s2.wantScopes(js, "app!t1.JOBSCHEDULER", "uaa.resource")
	s2.wantScopes(explicit, "app!t1.Read", "app!t1.Write", "uaa.resource")
}

func contains(v any, sub string) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, sub)
}

// runGrantsScript runs testdata/xssec/grants.js; it skips like
// TestXssecConformance when node is missing and not required.
func runGrantsScript(t *testing.T, s *testServer, owner json.RawMessage, scope, accepting, nonAccepting string) {
	t.Helper()
	node, modules, ok := needNode(t)
	if !ok {
		t.Log("skipping the @sap/xssec grants check")
		return
	}
	cfg := map[string]any{"owner": owner, "scope": scope, "accepting": accepting, "nonAccepting": nonAccepting}
	runNodeScript(t, s, node, modules, "xssec/grants.js", writeJSONFile(t, cfg))
}
