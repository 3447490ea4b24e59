package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestZones: identity zones through the CLI and the admin API: the
// provider zone exists from the start; a zone is created with a
// subdomain and an id (given or new), its key set answers at once
// (/token_keys?zid=), mistakes are one line naming them, and a deleted
// zone is unknown at once; the provider zone cannot be deleted.
func TestZones(t *testing.T) {
	s := startServer(t, "")
	var zones []struct {
		ID, Subdomain    string
		Provider         bool
		Instances, Users int
	}
	s.okJSON(&zones, "zones")
	if len(zones) != 1 || !zones[0].Provider || zones[0].Subdomain != "localhost" {
		t.Fatalf("zones at the start: %+v", zones)
	}
	provider := zones[0]
	keys := func(zid string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.httpURL+"/token_keys?zid="+zid, nil)
		code, _, _ := s.do(req)
		return code
	}
	const id = "6b9a7b2c-1f0e-4e1c-9d3a-2b5e8f7c4a10"
	if out := s.ok("create-zone", "tenant-one", "--id", id); !strings.Contains(out, "Created zone tenant-one (id "+id+")") {
		t.Errorf("create-zone: %q", out)
	}
	var created struct{ ID, Subdomain string }
	s.okJSON(&created, "create-zone", "tenant-two")
	if len(created.ID) != 36 || created.Subdomain != "tenant-two" {
		t.Errorf("create-zone without --id: %+v", created)
	}
	if out := s.ok("zones"); !strings.Contains(out, "tenant-one") || !strings.Contains(out, id) || !strings.Contains(out, "provider") {
		t.Errorf("zones:\n%s", out)
	}
	if code := keys(id); code != 200 {
		t.Errorf("/token_keys?zid= of a new zone: %d", code)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create-zone", "Tenant_1"}, "must be a DNS label"},
		{[]string{"create-zone", "x-"}, "must be a DNS label"},
		{[]string{"create-zone", "tenant-one"}, `a zone with the subdomain "tenant-one" exists`},
		{[]string{"create-zone", "tenant-three", "--id", id}, "a zone with the id " + id + " exists"},
		{[]string{"create-zone", "tenant-three", "--id", "not-a-guid"}, "must be a GUID"},
		{[]string{"delete-zone", provider.Subdomain}, "is the provider zone, which cannot be deleted"},
		{[]string{"delete-zone", "nosuch"}, `no zone has the subdomain "nosuch"`},
	} {
		s.fails(1, []string{tc.want}, tc.args...)
	}
	if out := s.ok("delete-zone", "tenant-one"); !strings.Contains(out, "Deleted zone tenant-one.") {
		t.Errorf("delete-zone: %q", out)
	}
	if code := keys(id); code != 400 {
		t.Errorf("/token_keys?zid= of a deleted zone: %d, want 400", code)
	}
	raw := s.ok("zones", "--json")
	if strings.Contains(raw, "tenant-one") || !json.Valid([]byte(raw)) {
		t.Errorf("zones after the delete: %s", raw)
	}
}
