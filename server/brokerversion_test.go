package server

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestCatalogFollowsTheAPIVersion: the catalog carries a field only to a
// platform whose X-Broker-API-Version has it (bindings_retrievable and
// instances_retrievable 2.14, plan_updateable on plans 2.15,
// binding_rotatable 2.17), so a platform validating against its
// version's schema accepts it.
func TestCatalogFollowsTheAPIVersion(t *testing.T) {
	f := newFixture(t)
	retrievable := []string{"bindings_retrievable", "instances_retrievable"}
	for _, tc := range []struct {
		version                string
		serviceHas, serviceNot []string
		planHas, planNot       []string
	}{
		{"2.11", nil, retrievable, nil, []string{"plan_updateable", "binding_rotatable"}},
		{"2.13", nil, retrievable, nil, []string{"plan_updateable", "binding_rotatable"}},
		{"2.14", retrievable, nil, nil, []string{"plan_updateable", "binding_rotatable"}},
		{"2.15", retrievable, nil, []string{"plan_updateable"}, []string{"binding_rotatable"}},
		{"2.17", retrievable, nil, []string{"plan_updateable", "binding_rotatable"}, nil},
	} {
		rec := f.do(request{method: "GET", path: "/v2/catalog", hdr: map[string]string{"Authorization": basic("b", "p"), "X-Broker-API-Version": tc.version}})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.version, rec.Code, rec.Body)
		}
		var cat struct {
			Services []map[string]json.RawMessage `json:"services"`
		}
		json.Unmarshal(rec.Body.Bytes(), &cat)
		svc := cat.Services[0]
		var plans []map[string]json.RawMessage
		json.Unmarshal(svc["plans"], &plans)
		check := func(what string, obj map[string]json.RawMessage, has, not []string) {
			for _, k := range has {
				if _, ok := obj[k]; !ok {
					t.Errorf("%s: %s lacks %s", tc.version, what, k)
				}
			}
			for _, k := range not {
				if _, ok := obj[k]; ok {
					t.Errorf("%s: %s has %s, which came with a later version", tc.version, what, k)
				}
			}
		}
		check("the service", svc, tc.serviceHas, tc.serviceNot)
		for _, p := range plans {
			check("plan "+string(p["name"]), p, tc.planHas, tc.planNot)
		}
	}
}
