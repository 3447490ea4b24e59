package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// clone calls the clone API with a broker-plan client's Basic credentials.
func (s *testServer) clone(method, id string, auth credentials, body string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.httpsURL+"/sap/rest/broker/clones/"+id, bytes.NewReader([]byte(body)))
	req.SetBasicAuth(auth.ClientID, auth.ClientSecret)
	code, b, _ := s.do(req)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("clone %s: %d, body not JSON: %q", id, code, b)
	}
	return code, m
}

// TestBrokerPlanClones covers the broker plan: a reuse service creates
// clones for its consumers with its broker-plan credentials; clones get
// the scopes they ask for, limited by authorities-inheritance, and the
// reuse service's @sap/xssec accepts their tokens by the "|" suffix.
func TestBrokerPlanClones(t *testing.T) {
	s := startServer(t, "")
	reuse := `{"xsappname":"workflow","scopes":[{"name":"$XSAPPNAME.TASK_GET"},{"name":"$XSAPPNAME.INTERNAL"}],"authorities":["$XSAPPNAME.TASK_GET"]}`
	if code, body := s.provisionPlan("wf", "workflow-uaa", planBrokerID, "space-1", reuse); code != 201 {
		t.Fatal(code, body)
	}
	rawBroker, broker := s.bind("wf", "wf-b", nil)
	s.provision("plain", "plain-app", `{"xsappname":"plain"}`)
	_, plain := s.bind("plain", "plain-b", nil)

	if code, body := s.clone("PUT", "c1", credentials{ClientID: broker.ClientID, ClientSecret: "wrong"}, ``); code != 401 {
		t.Errorf("wrong secret: %d %v", code, body)
	}
	if code, body := s.clone("PUT", "c1", plain, ``); code != 400 || !contains(body["description"], "broker-plan") {
		t.Errorf("application-plan credentials: %d %v", code, body)
	}
	code, body := s.clone("PUT", "c1", broker, `{"authorities":["TASK_GET","INTERNAL"]}`)
	if code != 201 {
		t.Fatalf("create clone: %d %v", code, body)
	}
	raw, _ := json.Marshal(body["credentials"])
	var c1 credentials
	json.Unmarshal(raw, &c1)
	if c1.ClientID != "sb-c1!b1|workflow!b1" || c1.XSAppName != "c1!b1|workflow!b1" || c1.ClientSecret == "" {
		t.Fatalf("clone credentials %s", raw)
	}
	if code, _ := s.clone("PUT", "c1", broker, `{"authorities":["TASK_GET","INTERNAL"]}`); code != 200 {
		t.Errorf("identical clone request: %d, want 200", code)
	}
	if code, _ := s.clone("PUT", "c1", broker, `{"authorities":["TASK_GET"]}`); code != 409 {
		t.Errorf("conflicting clone request: %d, want 409", code)
	}
	s.wantScopes(c1, "uaa.resource", "workflow!b1.INTERNAL", "workflow!b1.TASK_GET")
	if _, aud := s.scopesOf(c1); !contains(mustJSON(aud), `"workflow!b1"`) {
		t.Errorf("clone aud %q", aud)
	}
	// The reuse service validates its clone's token with its own credentials.
	runGrantsScript(t, s, rawBroker, "TASK_GET", s.secretToken(c1), s.secretToken(plain))

	// authorities-inheritance false: clones keep only the allow-listed scopes.
	s.update("wf", `{"xsappname":"workflow","authorities-inheritance":false,"scopes":[{"name":"$XSAPPNAME.TASK_GET"},{"name":"$XSAPPNAME.INTERNAL"}],"authorities":["$XSAPPNAME.TASK_GET"]}`)
	s.wantScopes(c1, "uaa.resource", "workflow!b1.TASK_GET")
	if code, body := s.clone("PUT", "c2", broker, `{"authorities":["INTERNAL"]}`); code != 400 || !contains(body["description"], "authorities-inheritance") {
		t.Errorf("internal scope without inheritance: %d %v", code, body)
	}
	if code, body := s.clone("PUT", "c3", broker, ``); code != 201 {
		t.Fatalf("clone with default authorities: %d %v", code, body)
	} else {
		raw, _ := json.Marshal(body["credentials"])
		var c3 credentials
		json.Unmarshal(raw, &c3)
		s.wantScopes(c3, "uaa.resource", "workflow!b1.TASK_GET")
		defer func() {
			// Deleting the reuse service's instance deletes its clones.
			if code, _ := s.broker("DELETE", "/v2/service_instances/wf?service_id="+serviceID+"&plan_id="+planBrokerID, nil); code != 200 {
				t.Fatal("deprovision:", code)
			}
			if code, _, _ := s.token(s.httpURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {c3.ClientID}, "client_secret": {c3.ClientSecret}}, nil); code != 401 {
				t.Errorf("clone of a deleted broker instance: %d", code)
			}
		}()
	}

	if code, _ := s.clone("DELETE", "c1", broker, ``); code != 200 {
		t.Fatalf("delete clone: %d", code)
	}
	if code, _, _ := s.token(s.httpURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {c1.ClientID}, "client_secret": {c1.ClientSecret}}, nil); code != 401 {
		t.Errorf("deleted clone's secret: %d", code)
	}
	if code, _ := s.clone("DELETE", "c1", broker, ``); code != 404 {
		t.Errorf("second delete: %d, want 404", code)
	}
}
