package scopes

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics, that it fails only with a
// *ValidationError, and that a descriptor it accepts survives a round trip
// through encoding/json.
func FuzzParse(f *testing.F) {
	addDescriptorSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := Parse(data)
		runtime.ReadMemStats(&after)
		// Allocation proportional to the input, never more than the
		// documented bound of a worst allowed descriptor.
		if n := after.TotalAlloc - before.TotalAlloc; n > MaxParseAlloc+64*uint64(len(data)) {
			t.Fatalf("Parse of %d bytes allocated %d MB", len(data), n>>20)
		}
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse error %v is a %T, not a *ValidationError", err, err)
			}
			if d != nil {
				t.Fatal("Parse returned both a descriptor and an error")
			}
			return
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("re-marshalling the parsed descriptor: %v", err)
		}
		if len(again) > MaxDescriptorSize {
			return // escaping made it larger than Parse accepts
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("re-parsing the re-marshalled descriptor %s: %v", again, err)
		}
	})
}

// FuzzResolve resolves every descriptor Parse accepts, on both plans,
// with instances and zones that exist and ones that do not: Resolve never
// panics and fails only with a *ValidationError; an App it returns is
// named after the descriptor, survives a JSON round trip (it is stored so)
// and yields client_credentials authorities that include uaa.resource;
// and updating a descriptor to itself is always a compatible update.
func FuzzResolve(f *testing.F) {
	addDescriptorSeeds(f)
	for _, seed := range []string{
		`{"xsappname":"a","scopes":[{"name":"$XSAPPNAME.r","grant-as-authority-to-apps":["$XSSERVICENAME(svc)","$XSAPPNAME(broker,zone-1,b)","$XSAPPNAME(application,nozone,c)","plain"]}],"authorities":["$ACCEPT_GRANTED_AUTHORITIES","$XSAPPNAME(application,b).x"]}`,
		`{"xsappname":"a","foreign-scope-references":["$ACCEPT_GRANTED_SCOPES","$XSAPPNAME(application,other).Read"],"authorities-inheritance":false}`,
		`{"xsappname":"a","scopes":[{"name":"$XSAPPNAME(application,x,y,z).r"}]}`,
	} {
		f.Add([]byte(seed))
	}
	env := func(plan string) Env {
		return Env{Plan: plan, ZoneIndex: 3,
			LookupInstance: func(name string) []string {
				if name == "svc" {
					return []string{"svc!t3"}
				}
				return nil
			},
			LookupZone: func(zone string) (int, bool) { return 7, zone == "zone-1" },
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := Parse(data)
		runtime.ReadMemStats(&after)
		// Allocation proportional to the input, never more than the
		// documented bound of a worst allowed descriptor.
		if n := after.TotalAlloc - before.TotalAlloc; n > MaxParseAlloc+64*uint64(len(data)) {
			t.Fatalf("Parse of %d bytes allocated %d MB", len(data), n>>20)
		}
		if err != nil {
			return
		}
		if err := CheckUpdate(d, d); err != nil {
			t.Fatalf("updating a descriptor to itself: %v", err)
		}
		for _, plan := range []string{PlanApplication, PlanBroker} {
			app, err := Resolve(d, env(plan))
			if err != nil {
				var verr *ValidationError
				if !errors.As(err, &verr) || app != nil {
					t.Fatalf("Resolve: %v (%T), app %v", err, err, app)
				}
				continue
			}
			if app.XSAppName != d.XSAppName || app.RuntimeName != RuntimeName(d.XSAppName, plan, 3) || len(app.CredentialTypes) == 0 {
				t.Fatalf("app %+v for xsappname %q", app, d.XSAppName)
			}
			b, err := json.Marshal(app)
			if err != nil {
				t.Fatal(err)
			}
			var back App
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(&back); !bytes.Equal(again, b) {
				t.Fatalf("App JSON round trip: %s became %s", b, again)
			}
			auth := Authorities(app, IndexGrants([]*App{app}))
			if !slices.Contains(auth, UAAResource) || !slices.IsSorted(auth) {
				t.Fatalf("authorities %q", auth)
			}
			Audiences(app.ClientID(), auth)
		}
	})
}

// addDescriptorSeeds adds testdata/descriptors and a few hand-made
// descriptors to a corpus.
func addDescriptorSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "descriptors", "*"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seed descriptors in testdata/descriptors")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		``,
		`null`,
		`[]`,
		`{`,
		`{"xsappname":"a",}`,
		`{"xsappname":"a"} {}`,
		`{"xsappname":"a","xsappname":"b"}`,
		`{"xsappname":"a","scopes":[{"name":"$XSAPPNAME(application,b).x","granted-apps":["$XSSERVICENAME(x"]}]}`,
		`{"xsappname":"a","role-templates":[{"name":"r","attribute-references":["x",{"name":"y"},3]}]}`,
		`{"xsappname":"a","oauth2-configuration":{"token-validity":1e3,"autoapprove":"true","credential-types":["x509","x509"]}}`,
		"\xef\xbb\xbf{\"xsappname\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
}
