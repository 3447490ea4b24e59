package storagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

// base is a fixed instant with a sub-microsecond part and a non-UTC zone,
// so that the suite sees how a store truncates and normalises times.
var base = time.Date(2025, time.March, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// mustBeErrNotFound fails t unless err is, or wraps, storage.ErrNotFound.
func mustBeErrNotFound(t *testing.T, what string, err error) {
	t.Helper()
	mustBeErr(t, what, err, storage.ErrNotFound)
}

// mustBeErrAlreadyExists fails t unless err is, or wraps, storage.ErrAlreadyExists.
func mustBeErrAlreadyExists(t *testing.T, what string, err error) {
	t.Helper()
	mustBeErr(t, what, err, storage.ErrAlreadyExists)
}

// mustBeErr fails t unless errors.Is(err, target).
func mustBeErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got no error, want %v", what, target)
	case !errors.Is(err, target):
		t.Errorf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// mustNot fails t now when err is not nil.
func mustNot(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// sameInstant reports whether a and b are equal at microsecond precision:
// a store may truncate or round what lies below a microsecond.
func sameInstant(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Microsecond && d < time.Microsecond
}

// ensureZone creates the zone a test's instances live in.
func ensureZone(t *testing.T, s storage.Store, id string, index int) storage.Zone {
	t.Helper()
	z := storage.Zone{ID: id, Subdomain: "sub-" + id, Index: index}
	mustNot(t, "CreateZone", createZone(s, z))
	return z
}

// newInstance returns a valid instance of zone z with every field set.
func newInstance(id, zoneID, runtimeName string) storage.Instance {
	return storage.Instance{
		ID:          id,
		ZoneID:      zoneID,
		Name:        "name-" + id,
		ServiceID:   "service-" + id,
		PlanID:      "plan-" + id,
		OrgGUID:     "org-" + id,
		SpaceGUID:   "space-" + id,
		Parameters:  json.RawMessage(`{"xsappname":"` + strings.Split(runtimeName, "!")[0] + `"}`),
		Context:     json.RawMessage(`{"platform":"cloudfoundry"}`),
		RuntimeName: runtimeName,
		App:         json.RawMessage(`{"runtime_name":"` + runtimeName + `"}`),
		CreatedAt:   base,
		UpdatedAt:   base,
	}
}

// newBinding returns a valid binding of instance instanceID with every field set.
func newBinding(id, instanceID string) storage.Binding {
	return storage.Binding{
		ID:             id,
		InstanceID:     instanceID,
		CredentialType: "binding-secret",
		SecretID:       "secret-" + id,
		SecretHash:     []byte("hash of " + id),
		Parameters:     json.RawMessage(`{"credential-type":"binding-secret"}`),
		AppGUID:        "app-" + id,
		CreatedAt:      base,
	}
}

// createInstance stores an instance (and its zone) or fails t now.
func createInstance(t *testing.T, s storage.Store, in storage.Instance) {
	t.Helper()
	mustNot(t, "CreateInstance "+in.ID, createInstanceErr(s, in))
}

// instanceDiff describes how got differs from want, or returns "".
func instanceDiff(got, want storage.Instance) string {
	var d []string
	str := func(field, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", field, g, w))
		}
	}
	raw := func(field string, g, w []byte) {
		if !bytes.Equal(g, w) {
			d = append(d, fmt.Sprintf("%s = %s, want %s", field, g, w))
		}
	}
	tm := func(field string, g, w time.Time) {
		if !sameInstant(g, w) {
			d = append(d, fmt.Sprintf("%s = %s, want %s", field, g.Format(time.RFC3339Nano), w.Format(time.RFC3339Nano)))
		}
	}
	str("ID", got.ID, want.ID)
	str("ZoneID", got.ZoneID, want.ZoneID)
	str("Name", got.Name, want.Name)
	if !bytes.Equal(got.SealedSecret, want.SealedSecret) {
		d = append(d, fmt.Sprintf("SealedSecret = %x, want %x", got.SealedSecret, want.SealedSecret))
	}
	str("ServiceID", got.ServiceID, want.ServiceID)
	str("PlanID", got.PlanID, want.PlanID)
	str("OrgGUID", got.OrgGUID, want.OrgGUID)
	str("SpaceGUID", got.SpaceGUID, want.SpaceGUID)
	raw("Parameters", got.Parameters, want.Parameters)
	raw("Context", got.Context, want.Context)
	str("RuntimeName", got.RuntimeName, want.RuntimeName)
	raw("App", got.App, want.App)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	raw("SealedSecret", got.SealedSecret, want.SealedSecret)
	return strings.Join(d, "; ")
}

// bindingDiff describes how got differs from want, or returns "".
func bindingDiff(got, want storage.Binding) string {
	var d []string
	str := func(field, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", field, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("InstanceID", got.InstanceID, want.InstanceID)
	str("CredentialType", got.CredentialType, want.CredentialType)
	str("SecretID", got.SecretID, want.SecretID)
	if !bytes.Equal(got.SecretHash, want.SecretHash) {
		d = append(d, fmt.Sprintf("SecretHash = %x, want %x", got.SecretHash, want.SecretHash))
	}
	if !bytes.Equal(got.Parameters, want.Parameters) {
		d = append(d, fmt.Sprintf("Parameters = %s, want %s", got.Parameters, want.Parameters))
	}
	str("AppGUID", got.AppGUID, want.AppGUID)
	if !sameInstant(got.CreatedAt, want.CreatedAt) {
		d = append(d, fmt.Sprintf("CreatedAt = %s, want %s", got.CreatedAt.Format(time.RFC3339Nano), want.CreatedAt.Format(time.RFC3339Nano)))
	}
	if !bytes.Equal(got.CertFingerprint, want.CertFingerprint) {
		d = append(d, fmt.Sprintf("CertFingerprint = %x, want %x", got.CertFingerprint, want.CertFingerprint))
	}
	str("CertSubject", got.CertSubject, want.CertSubject)
	str("CertIssuer", got.CertIssuer, want.CertIssuer)
	// The zero time means "no certificate" and must stay zero.
	if got.CertNotBefore.IsZero() != want.CertNotBefore.IsZero() || !sameInstant(got.CertNotBefore, want.CertNotBefore) {
		d = append(d, fmt.Sprintf("CertNotBefore = %s, want %s", got.CertNotBefore.Format(time.RFC3339Nano), want.CertNotBefore.Format(time.RFC3339Nano)))
	}
	str("CertPEM", got.CertPEM, want.CertPEM)
	if got.CertPinned != want.CertPinned {
		d = append(d, fmt.Sprintf("CertPinned = %v, want %v", got.CertPinned, want.CertPinned))
	}
	str("Name", got.Name, want.Name)
	if !bytes.Equal(got.SealedSecret, want.SealedSecret) {
		d = append(d, fmt.Sprintf("SealedSecret = %x, want %x", got.SealedSecret, want.SealedSecret))
	}
	if !bytes.Equal(got.Context, want.Context) {
		d = append(d, fmt.Sprintf("Context = %s, want %s", got.Context, want.Context))
	}
	return strings.Join(d, "; ")
}

// ids returns the sorted ids of xs.
func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, id(x))
	}
	slices.Sort(out)
	return out
}

func instanceID(in storage.Instance) string { return in.ID }
func bindingID(b storage.Binding) string    { return b.ID }

func testZones(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z1 := storage.Zone{ID: "zone-1", Subdomain: "one", Index: 1}
	mustNot(t, "CreateZone", createZone(s, z1))
	got, err := s.GetZone(ctx, z1.ID)
	mustNot(t, "GetZone", err)
	if got != z1 {
		t.Errorf("GetZone = %+v, want %+v", got, z1)
	}
	_, err = s.GetZone(ctx, "zone-9")
	mustBeErrNotFound(t, "GetZone of an unknown id", err)

	z2 := storage.Zone{ID: "zone-2", Subdomain: "two", Index: 2}
	mustNot(t, "CreateZone", createZone(s, z2))
	mustBeErrAlreadyExists(t, "CreateZone with a taken id", createZone(s, storage.Zone{ID: "zone-1", Subdomain: "changed", Index: 7}))
	mustBeErrAlreadyExists(t, "CreateZone with a taken index", createZone(s, storage.Zone{ID: "zone-3", Subdomain: "three", Index: 2}))

	zones, err := s.ListZones(ctx)
	mustNot(t, "ListZones", err)
	if want := []storage.Zone{z1, z2}; !slices.Equal(zones, want) {
		t.Errorf("ListZones = %+v, want %+v", zones, want)
	}
	mustNot(t, "RenameZone", write(s, func(ctx context.Context, tx storage.Tx) error { return tx.RenameZone(ctx, "zone-1", "uno") }))
	if got, err := s.GetZone(ctx, "zone-1"); err != nil || got != (storage.Zone{ID: "zone-1", Subdomain: "uno", Index: 1}) {
		t.Errorf("GetZone after RenameZone = %+v, %v", got, err)
	}
	mustBeErrNotFound(t, "RenameZone of an unknown id", write(s, func(ctx context.Context, tx storage.Tx) error { return tx.RenameZone(ctx, "zone-9", "nine") }))
	mustNot(t, "DeleteZone", write(s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteZone(ctx, "zone-2") }))
	if _, err := s.GetZone(ctx, "zone-2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetZone of a deleted zone = %v", err)
	}
	if err := write(s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteZone(ctx, "zone-2") }); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteZone again = %v, want ErrNotFound", err)
	}
}

func testInstanceCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)

	if list, err := s.ListInstances(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListInstances of an empty store = %v, %v; want none", list, err)
	}

	a := newInstance("inst-a", z.ID, "a!t1")
	b := newInstance("inst-b", z.ID, "b!t1")
	b.CreatedAt = base.Add(time.Second)
	createInstance(t, s, a)
	createInstance(t, s, b)

	got, err := s.GetInstance(ctx, a.ID)
	mustNot(t, "GetInstance", err)
	if d := instanceDiff(got, a); d != "" {
		t.Errorf("GetInstance: %s", d)
	}

	list, err := s.ListInstances(ctx)
	mustNot(t, "ListInstances", err)
	if got, want := ids(list, instanceID), []string{"inst-a", "inst-b"}; !slices.Equal(got, want) {
		t.Errorf("ListInstances ids = %q, want %q", got, want)
	}

	_, err = s.GetInstance(ctx, "missing")
	mustBeErrNotFound(t, "GetInstance of an unknown id", err)
	err = updateInstance(s, "missing", func(in storage.Instance) (storage.Instance, error) {
		t.Error("updater called for an unknown instance")
		return in, nil
	})
	mustBeErrNotFound(t, "UpdateInstance of an unknown id", err)
	mustBeErrNotFound(t, "DeleteInstance of an unknown id", deleteInstance(s, "missing"))

	mustNot(t, "DeleteInstance", deleteInstance(s, a.ID))
	_, err = s.GetInstance(ctx, a.ID)
	mustBeErrNotFound(t, "GetInstance after DeleteInstance", err)
	mustBeErrNotFound(t, "second DeleteInstance", deleteInstance(s, a.ID))
	list, err = s.ListInstances(ctx)
	mustNot(t, "ListInstances", err)
	if got, want := ids(list, instanceID), []string{"inst-b"}; !slices.Equal(got, want) {
		t.Errorf("ListInstances after delete = %q, want %q", got, want)
	}

	// The runtime name of a deleted instance is free again.
	a2 := newInstance("inst-a2", z.ID, "a!t1")
	createInstance(t, s, a2)
}

func testInstanceUniqueness(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z1 := ensureZone(t, s, "zone-1", 1)
	z2 := ensureZone(t, s, "zone-2", 2)
	createInstance(t, s, newInstance("inst-a", z1.ID, "a!t1"))

	tests := []struct {
		name string
		in   storage.Instance
		want error
	}{
		{"duplicate id", newInstance("inst-a", z1.ID, "other!t1"), storage.ErrAlreadyExists},
		{"duplicate id in another zone", newInstance("inst-a", z2.ID, "other!t2"), storage.ErrAlreadyExists},
		{"duplicate runtime name in the zone", newInstance("inst-b", z1.ID, "a!t1"), storage.ErrAlreadyExists},
		{"unknown zone", newInstance("inst-c", "no-such-zone", "c!t9"), storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustBeErr(t, "CreateInstance", createInstanceErr(s, tc.in), tc.want)
		})
	}

	// The same runtime name is fine in another zone.
	createInstance(t, s, newInstance("inst-d", z2.ID, "a!t1"))

	// Failed creations left nothing behind.
	list, err := s.ListInstances(ctx)
	mustNot(t, "ListInstances", err)
	if got, want := ids(list, instanceID), []string{"inst-a", "inst-d"}; !slices.Equal(got, want) {
		t.Errorf("ListInstances ids = %q, want %q", got, want)
	}
	got, err := s.GetInstance(ctx, "inst-a")
	mustNot(t, "GetInstance", err)
	if d := instanceDiff(got, newInstance("inst-a", z1.ID, "a!t1")); d != "" {
		t.Errorf("inst-a changed by a failed CreateInstance: %s", d)
	}
}

func testInstanceUpdate(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	orig := newInstance("inst-a", z.ID, "a!t1")
	createInstance(t, s, orig)
	createInstance(t, s, newInstance("inst-b", z.ID, "b!t1"))

	// An updater that fails aborts the update, even after changing old.
	errBoom := errors.New("boom")
	err := updateInstance(s, orig.ID, func(in storage.Instance) (storage.Instance, error) {
		in.Name = "should not be stored"
		in.Parameters = json.RawMessage(`{"lost":true}`)
		return in, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateInstance with a failing updater = %v, want the updater's error", err)
	}
	got, err := s.GetInstance(ctx, orig.ID)
	mustNot(t, "GetInstance", err)
	if d := instanceDiff(got, orig); d != "" {
		t.Errorf("failed update changed the instance: %s", d)
	}

	// A successful update changes the fields and keeps the id.
	want := orig
	want.Name = "renamed"
	want.Parameters = json.RawMessage(`{"xsappname":"a","scopes":[]}`)
	want.Context = json.RawMessage(`{"instance_name":"renamed"}`)
	want.App = json.RawMessage(`{"runtime_name":"a!t1","scopes":["a!t1.Read"]}`)
	want.UpdatedAt = base.Add(time.Hour)
	calls := 0
	err = updateInstance(s, orig.ID, func(in storage.Instance) (storage.Instance, error) {
		calls++
		if d := instanceDiff(in, orig); d != "" {
			t.Errorf("updater got %s", d)
		}
		in.ID = "an-attempt-to-change-the-id"
		in.Name, in.Parameters, in.Context, in.App, in.UpdatedAt = want.Name, want.Parameters, want.Context, want.App, want.UpdatedAt
		return in, nil
	})
	mustNot(t, "UpdateInstance", err)
	if calls == 0 {
		t.Error("updater never called")
	}
	got, err = s.GetInstance(ctx, orig.ID)
	mustNot(t, "GetInstance after update", err)
	if d := instanceDiff(got, want); d != "" {
		t.Errorf("after update: %s", d)
	}
	_, err = s.GetInstance(ctx, "an-attempt-to-change-the-id")
	mustBeErrNotFound(t, "GetInstance of the id an updater tried to set", err)

	// An update may not take another instance's runtime name.
	err = updateInstance(s, orig.ID, func(in storage.Instance) (storage.Instance, error) {
		in.RuntimeName = "b!t1"
		return in, nil
	})
	mustBeErrAlreadyExists(t, "UpdateInstance to a taken runtime name", err)
	got, err = s.GetInstance(ctx, orig.ID)
	mustNot(t, "GetInstance", err)
	if got.RuntimeName != "a!t1" {
		t.Errorf("RuntimeName after a rejected update = %q, want a!t1", got.RuntimeName)
	}
}

func testInstanceUpdateDeletingBindings(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	orig := newInstance("inst-a", z.ID, "a!t1")
	createInstance(t, s, orig)
	createInstance(t, s, newInstance("inst-b", z.ID, "b!t1"))
	typed := func(id, instanceID, ctype string) storage.Binding {
		b := newBinding(id, instanceID)
		b.CredentialType = ctype
		return b
	}
	all := []storage.Binding{
		typed("secret-1", "inst-a", "binding-secret"),
		typed("secret-2", "inst-a", "binding-secret"),
		typed("shared-1", "inst-a", "instance-secret"),
		typed("cert-1", "inst-a", "x509"),
		typed("other-secret", "inst-b", "binding-secret"),
		typed("other-shared", "inst-b", "instance-secret"),
	}
	for _, b := range all {
		mustNot(t, "CreateBinding "+b.ID, createBinding(s, b, 10))
	}
	remaining := func(instanceID string) []string {
		t.Helper()
		list, err := s.ListBindings(ctx, instanceID)
		mustNot(t, "ListBindings", err)
		return ids(list, bindingID)
	}

	// A failing updater deletes nothing and changes nothing.
	errBoom := errors.New("boom")
	deleted, err := updateInstanceDeletingBindings(s, orig.ID, func(in storage.Instance) (storage.Instance, []string, error) {
		in.Name = "should not be stored"
		return in, []string{"binding-secret", "instance-secret", "x509"}, errBoom
	})
	if !errors.Is(err, errBoom) || len(deleted) != 0 {
		t.Errorf("UpdateInstanceDeletingBindings with a failing updater = %d deleted, %v; want none and the updater's error", len(deleted), err)
	}
	if got, want := remaining("inst-a"), []string{"cert-1", "secret-1", "secret-2", "shared-1"}; !slices.Equal(got, want) {
		t.Errorf("bindings after a failed update = %q, want %q", got, want)
	}
	if got, err := s.GetInstance(ctx, orig.ID); err != nil || instanceDiff(got, orig) != "" {
		t.Errorf("failed update changed the instance: %s %v", instanceDiff(got, orig), err)
	}

	// An update that would take another instance's runtime name deletes nothing either.
	_, err = updateInstanceDeletingBindings(s, orig.ID, func(in storage.Instance) (storage.Instance, []string, error) {
		in.RuntimeName = "b!t1"
		return in, []string{"binding-secret"}, nil
	})
	mustBeErrAlreadyExists(t, "UpdateInstanceDeletingBindings to a taken runtime name", err)
	if got, want := remaining("inst-a"), []string{"cert-1", "secret-1", "secret-2", "shared-1"}; !slices.Equal(got, want) {
		t.Errorf("bindings after a rejected update = %q, want %q", got, want)
	}

	_, err = updateInstanceDeletingBindings(s, "missing", func(in storage.Instance) (storage.Instance, []string, error) {
		t.Error("updater called for an unknown instance")
		return in, nil, nil
	})
	mustBeErrNotFound(t, "UpdateInstanceDeletingBindings of an unknown id", err)

	// No types: an ordinary update.
	deleted, err = updateInstanceDeletingBindings(s, orig.ID, func(in storage.Instance) (storage.Instance, []string, error) {
		in.Name = "renamed"
		return in, nil, nil
	})
	mustNot(t, "UpdateInstanceDeletingBindings without types", err)
	if len(deleted) != 0 {
		t.Errorf("update without types deleted %q", ids(deleted, bindingID))
	}

	// Two types: their bindings of this instance go, in the same
	// transaction as the update; other types and other instances stay.
	want := orig
	want.Name = "renamed again"
	want.SealedSecret = nil
	want.UpdatedAt = base.Add(time.Hour)
	deleted, err = updateInstanceDeletingBindings(s, orig.ID, func(in storage.Instance) (storage.Instance, []string, error) {
		in.Name, in.SealedSecret, in.UpdatedAt = want.Name, nil, want.UpdatedAt
		return in, []string{"binding-secret", "instance-secret", "no-such-type"}, nil
	})
	mustNot(t, "UpdateInstanceDeletingBindings", err)
	if got, want := ids(deleted, bindingID), []string{"secret-1", "secret-2", "shared-1"}; !slices.Equal(got, want) {
		t.Errorf("deleted bindings = %q, want %q", got, want)
	}
	for _, d := range deleted {
		for _, b := range all {
			if b.ID == d.ID {
				if diff := bindingDiff(d, b); diff != "" {
					t.Errorf("deleted binding %s as returned: %s", d.ID, diff)
				}
			}
		}
	}
	if got, want := remaining("inst-a"), []string{"cert-1"}; !slices.Equal(got, want) {
		t.Errorf("bindings of the updated instance = %q, want %q", got, want)
	}
	if got, want := remaining("inst-b"), []string{"other-secret", "other-shared"}; !slices.Equal(got, want) {
		t.Errorf("bindings of another instance = %q, want %q", got, want)
	}
	for _, id := range []string{"secret-1", "shared-1"} {
		_, err := s.GetBinding(ctx, id)
		mustBeErrNotFound(t, "GetBinding "+id+" after it was deleted by an update", err)
	}
	got, err := s.GetInstance(ctx, orig.ID)
	mustNot(t, "GetInstance", err)
	if d := instanceDiff(got, want); d != "" {
		t.Errorf("instance after UpdateInstanceDeletingBindings: %s", d)
	}
	// The deleted bindings' ids and secret ids are free again.
	mustNot(t, "CreateBinding with a recycled id", createBinding(s, typed("secret-1", "inst-a", "binding-secret"), 10))
}

func testInstanceRoundTrip(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	in := storage.Instance{
		ID:        "0b6c7a7e-5d59-4b11-9b8f-d3f0a7d54a11",
		ZoneID:    z.ID,
		Name:      "my-xsuaa ünïcødé",
		ServiceID: "xsuaa-service-id",
		PlanID:    "application-plan-id",
		OrgGUID:   "org-guid",
		SpaceGUID: "space-guid",
		// Kept exactly as the platform sent it: whitespace, key order,
		// escapes and all.
		Parameters:  json.RawMessage("{ \"xsappname\" : \"orders\",\n\t\"scopes\": [{\"name\":\"$XSAPPNAME.Read\",\"description\":\"\\u00e9 \\\"q\\\"\"}] }"),
		Context:     json.RawMessage(`{"platform":"cloudfoundry","instance_name":"my-xsuaa","z":1,"a":[true,null]}`),
		RuntimeName: "orders!t1",
		App:         json.RawMessage(`{"xsappname":"orders","runtime_name":"orders!t1","plan":"application"}`),
		CreatedAt:   base,
		UpdatedAt:   base.Add(90*time.Minute + 123456789),
		// Sealed bytes: not UTF-8, with zeros.
		SealedSecret: []byte{0x00, 0xff, 0xfe, 0x80, 0x00, 0x41},
	}
	createInstance(t, s, in)
	got, err := s.GetInstance(ctx, in.ID)
	mustNot(t, "GetInstance", err)
	if d := instanceDiff(got, in); d != "" {
		t.Errorf("GetInstance: %s", d)
	}
	list, err := s.ListInstances(ctx)
	mustNot(t, "ListInstances", err)
	if len(list) != 1 {
		t.Fatalf("ListInstances returned %d instances, want 1", len(list))
	}
	if d := instanceDiff(list[0], in); d != "" {
		t.Errorf("ListInstances: %s", d)
	}

	// Values returned do not alias the store's or each other's memory.
	got.Parameters[0] = 'X'
	again, err := s.GetInstance(ctx, in.ID)
	mustNot(t, "GetInstance", err)
	if d := instanceDiff(again, in); d != "" {
		t.Errorf("GetInstance after changing a returned value: %s", d)
	}
}

func testBindingCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	createInstance(t, s, newInstance("inst-b", z.ID, "b!t1"))

	if list, err := s.ListBindings(ctx, "inst-a"); err != nil || len(list) != 0 {
		t.Errorf("ListBindings of an instance without bindings = %v, %v; want none", list, err)
	}

	b1 := newBinding("bind-1", "inst-a")
	b2 := newBinding("bind-2", "inst-a")
	b2.CreatedAt = base.Add(time.Second)
	b3 := newBinding("bind-3", "inst-b")
	for _, b := range []storage.Binding{b1, b2, b3} {
		mustNot(t, "CreateBinding "+b.ID, createBinding(s, b, 10))
	}

	got, err := s.GetBinding(ctx, b1.ID)
	mustNot(t, "GetBinding", err)
	if d := bindingDiff(got, b1); d != "" {
		t.Errorf("GetBinding: %s", d)
	}

	tests := []struct {
		instanceID string
		want       []string
	}{
		{"inst-a", []string{"bind-1", "bind-2"}},
		{"inst-b", []string{"bind-3"}},
		{"", []string{"bind-1", "bind-2", "bind-3"}},
	}
	for _, tc := range tests {
		list, err := s.ListBindings(ctx, tc.instanceID)
		mustNot(t, "ListBindings", err)
		if got := ids(list, bindingID); !slices.Equal(got, tc.want) {
			t.Errorf("ListBindings(%q) = %q, want %q", tc.instanceID, got, tc.want)
		}
	}

	_, err = s.GetBinding(ctx, "missing")
	mustBeErrNotFound(t, "GetBinding of an unknown id", err)
	mustBeErrNotFound(t, "DeleteBinding of an unknown id", deleteBinding(s, "missing"))
	mustBeErrNotFound(t, "CreateBinding for an unknown instance", createBinding(s, newBinding("bind-x", "no-such-instance"), 10))
	_, err = s.GetBinding(ctx, "bind-x")
	mustBeErrNotFound(t, "GetBinding of a binding whose creation failed", err)

	mustNot(t, "DeleteBinding", deleteBinding(s, b1.ID))
	_, err = s.GetBinding(ctx, b1.ID)
	mustBeErrNotFound(t, "GetBinding after DeleteBinding", err)
	mustBeErrNotFound(t, "second DeleteBinding", deleteBinding(s, b1.ID))
	list, err := s.ListBindings(ctx, "inst-a")
	mustNot(t, "ListBindings", err)
	if got, want := ids(list, bindingID), []string{"bind-2"}; !slices.Equal(got, want) {
		t.Errorf("ListBindings after delete = %q, want %q", got, want)
	}
	if _, err := s.GetInstance(ctx, "inst-a"); err != nil {
		t.Errorf("DeleteBinding removed its instance: %v", err)
	}
}

func testBindingUniqueness(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	createInstance(t, s, newInstance("inst-b", z.ID, "b!t1"))
	mustNot(t, "CreateBinding", createBinding(s, newBinding("bind-1", "inst-a"), 10))

	dupID := newBinding("bind-1", "inst-a")
	dupID.SecretID = "another-secret-id"
	dupIDOther := newBinding("bind-1", "inst-b")
	dupIDOther.SecretID = "yet-another-secret-id"
	dupSecret := newBinding("bind-2", "inst-b")
	dupSecret.SecretID = newBinding("bind-1", "inst-a").SecretID

	tests := []struct {
		name string
		b    storage.Binding
	}{
		{"duplicate id", dupID},
		{"duplicate id in another instance", dupIDOther},
		{"duplicate secret id", dupSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustBeErrAlreadyExists(t, "CreateBinding", createBinding(s, tc.b, 10))
		})
	}
	list, err := s.ListBindings(ctx, "")
	mustNot(t, "ListBindings", err)
	if len(list) != 1 {
		t.Fatalf("ListBindings after rejected creations has %d bindings, want 1", len(list))
	}
	if d := bindingDiff(list[0], newBinding("bind-1", "inst-a")); d != "" {
		t.Errorf("bind-1 changed by a rejected creation: %s", d)
	}
}

func testBindingLimit(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	createInstance(t, s, newInstance("inst-b", z.ID, "b!t1"))
	const limit = 3
	for i := range limit {
		mustNot(t, fmt.Sprintf("CreateBinding %d of %d", i+1, limit), createBinding(s, newBinding(fmt.Sprintf("bind-%d", i), "inst-a"), limit))
	}
	mustBeErr(t, "CreateBinding beyond the limit", createBinding(s, newBinding("bind-over", "inst-a"), limit), storage.ErrLimit)
	if _, err := s.GetBinding(ctx, "bind-over"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("binding beyond the limit was stored (GetBinding: %v)", err)
	}

	// The limit counts per instance.
	mustNot(t, "CreateBinding for another instance", createBinding(s, newBinding("bind-b", "inst-b"), limit))

	// Deleting one frees a place.
	mustNot(t, "DeleteBinding", deleteBinding(s, "bind-0"))
	mustNot(t, "CreateBinding after a delete", createBinding(s, newBinding("bind-again", "inst-a"), limit))
	mustBeErr(t, "CreateBinding beyond the limit again", createBinding(s, newBinding("bind-over", "inst-a"), limit), storage.ErrLimit)

	list, err := s.ListBindings(ctx, "inst-a")
	mustNot(t, "ListBindings", err)
	if len(list) != limit {
		t.Errorf("instance has %d bindings, want %d", len(list), limit)
	}
}

func testBindingRoundTrip(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(255 - i*7) // includes 0x00 and bytes that are not UTF-8
	}
	b := storage.Binding{
		ID:             "5f0d0a1e-2c55-4c1f-8d39-6f3c1d2a9b77",
		InstanceID:     "inst-a",
		CredentialType: "binding-secret",
		SecretID:       "a3c2a1f0-1111-4222-8333-944445555666",
		SecretHash:     hash,
		Parameters:     json.RawMessage("{ \"credential-type\" : \"binding-secret\",\n \"x\":[1, 2.50, \"\\u00fc\"] }"),
		AppGUID:        "app-guid",
		CreatedAt:      base.Add(42*time.Second + 999),
		Name:           "my-key ünïcødé",
		SealedSecret:   []byte{0x00, 0x9f, 0xff, 0x00},
		Context:        json.RawMessage("{ \"platform\" : \"xsuaa-cli\", \"binding_name\":\"my-key\" }"),
	}
	mustNot(t, "CreateBinding", createBinding(s, b, 10))
	got, err := s.GetBinding(ctx, b.ID)
	mustNot(t, "GetBinding", err)
	if d := bindingDiff(got, b); d != "" {
		t.Errorf("GetBinding: %s", d)
	}
	for _, instanceID := range []string{"inst-a", ""} {
		list, err := s.ListBindings(ctx, instanceID)
		mustNot(t, "ListBindings", err)
		if len(list) != 1 {
			t.Fatalf("ListBindings(%q) returned %d bindings, want 1", instanceID, len(list))
		}
		if d := bindingDiff(list[0], b); d != "" {
			t.Errorf("ListBindings(%q): %s", instanceID, d)
		}
	}
}

func testX509BindingRoundTrip(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	fp := make([]byte, 32)
	for i := range fp {
		fp[i] = byte(i * 9)
	}
	pinned := storage.Binding{
		ID:              "bind-x509-pinned",
		InstanceID:      "inst-a",
		CredentialType:  "x509",
		SecretID:        "random-id-no-secret-carries",
		SecretHash:      nil, // an x509 binding has no secret
		Parameters:      json.RawMessage(`{"credential-type":"x509","x509":{"key-length":2048,"validity":7,"validity-type":"DAYS"}}`),
		AppGUID:         "app-guid",
		CreatedAt:       base,
		CertFingerprint: fp,
		CertSubject:     "CN=bind-x509-pinned,OU=inst-a,O=xsuaa",
		CertIssuer:      `CN=xsuaa local CA 1a2b3c4d,O=xsuaa\, Inc.`,
		CertNotBefore:   base.Add(-5*time.Minute + 321),
		CertPEM:         "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n",
		CertPinned:      true,
	}
	unpinned := pinned
	unpinned.ID, unpinned.SecretID = "bind-x509-dn", "another-random-id"
	unpinned.CertFingerprint, unpinned.CertPEM, unpinned.CertPinned = nil, "", false
	for _, b := range []storage.Binding{pinned, unpinned} {
		mustNot(t, "CreateBinding "+b.ID, createBinding(s, b, 10))
		got, err := s.GetBinding(ctx, b.ID)
		mustNot(t, "GetBinding", err)
		if d := bindingDiff(got, b); d != "" {
			t.Errorf("GetBinding %s: %s", b.ID, d)
		}
		if len(got.SecretHash) != 0 {
			t.Errorf("GetBinding %s: SecretHash = %x, want empty", b.ID, got.SecretHash)
		}
	}
	list, err := s.ListBindings(ctx, "inst-a")
	mustNot(t, "ListBindings", err)
	for _, got := range list {
		want := pinned
		if got.ID == unpinned.ID {
			want = unpinned
		}
		if d := bindingDiff(got, want); d != "" {
			t.Errorf("ListBindings %s: %s", got.ID, d)
		}
	}

	// A secret binding has no certificate: all certificate fields stay zero.
	plain := newBinding("bind-secret", "inst-a")
	mustNot(t, "CreateBinding", createBinding(s, plain, 10))
	got, err := s.GetBinding(ctx, plain.ID)
	mustNot(t, "GetBinding", err)
	if d := bindingDiff(got, plain); d != "" {
		t.Errorf("GetBinding of a secret binding: %s", d)
	}
}

func testAdvanceCertNotBefore(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	b := newBinding("bind-1", "inst-a")
	b.CredentialType, b.SecretHash = "x509", nil
	b.CertSubject, b.CertIssuer, b.CertNotBefore = "CN=b1", "CN=ca", base
	mustNot(t, "CreateBinding", createBinding(s, b, 10))
	other := newBinding("bind-2", "inst-a")
	other.CertSubject, other.CertIssuer, other.CertNotBefore = "CN=b2", "CN=ca", base
	mustNot(t, "CreateBinding", createBinding(s, other, 10))

	notBefore := func(id string) time.Time {
		t.Helper()
		got, err := s.GetBinding(ctx, id)
		mustNot(t, "GetBinding", err)
		return got.CertNotBefore
	}
	steps := []struct {
		name string
		to   time.Time
		want time.Time
	}{
		{"earlier is ignored", base.Add(-time.Hour), base},
		{"equal is a no-op", base, base},
		{"later moves forward", base.Add(time.Hour), base.Add(time.Hour)},
		{"back again is ignored", base.Add(30 * time.Minute), base.Add(time.Hour)},
	}
	for _, st := range steps {
		mustNot(t, "AdvanceCertNotBefore", advanceCertNotBefore(s, b.ID, st.to))
		if got := notBefore(b.ID); !sameInstant(got, st.want) {
			t.Errorf("%s: CertNotBefore = %s, want %s", st.name, got, st.want)
		}
	}
	if got := notBefore(other.ID); !sameInstant(got, base) {
		t.Errorf("AdvanceCertNotBefore changed another binding: %s", got)
	}
	if err := advanceCertNotBefore(s, "missing", base); err != nil {
		t.Errorf("AdvanceCertNotBefore of a missing binding = %v, want nil", err)
	}
}

func testDeleteInstanceCascades(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	createInstance(t, s, newInstance("inst-b", z.ID, "b!t1"))
	for _, b := range []storage.Binding{newBinding("bind-1", "inst-a"), newBinding("bind-2", "inst-a"), newBinding("bind-3", "inst-b")} {
		mustNot(t, "CreateBinding", createBinding(s, b, 10))
	}
	mustNot(t, "DeleteInstance", deleteInstance(s, "inst-a"))
	for _, id := range []string{"bind-1", "bind-2"} {
		_, err := s.GetBinding(ctx, id)
		mustBeErrNotFound(t, "GetBinding "+id+" of a deleted instance", err)
	}
	list, err := s.ListBindings(ctx, "")
	mustNot(t, "ListBindings", err)
	if got, want := ids(list, bindingID), []string{"bind-3"}; !slices.Equal(got, want) {
		t.Errorf("ListBindings after DeleteInstance = %q, want %q", got, want)
	}
	if list, err := s.ListBindings(ctx, "inst-a"); err != nil || len(list) != 0 {
		t.Errorf("ListBindings of the deleted instance = %v, %v; want none", list, err)
	}
	// The secret ids of the deleted bindings are free again.
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	mustNot(t, "CreateBinding with a recycled secret id", createBinding(s, newBinding("bind-1", "inst-a"), 10))
}

// newKey returns a key record of one use created at base+offset.
func newKey(id, use string, offset time.Duration) keys.Record {
	return keys.Record{
		ID:            id,
		Use:           use,
		Public:        []byte("public of " + id),
		SealedPrivate: []byte("sealed private of " + id),
		CreatedAt:     base.Add(offset),
		ActiveFrom:    base.Add(offset + time.Hour),
	}
}

// recordDiff describes how got differs from want, or returns "".
func recordDiff(got, want keys.Record) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID = %q, want %q", got.ID, want.ID))
	}
	if got.Use != want.Use {
		d = append(d, fmt.Sprintf("Use = %q, want %q", got.Use, want.Use))
	}
	if !bytes.Equal(got.Public, want.Public) {
		d = append(d, fmt.Sprintf("Public = %x, want %x", got.Public, want.Public))
	}
	if !bytes.Equal(got.SealedPrivate, want.SealedPrivate) {
		d = append(d, fmt.Sprintf("SealedPrivate = %x, want %x", got.SealedPrivate, want.SealedPrivate))
	}
	if !sameInstant(got.CreatedAt, want.CreatedAt) {
		d = append(d, fmt.Sprintf("CreatedAt = %s, want %s", got.CreatedAt, want.CreatedAt))
	}
	if !sameInstant(got.ActiveFrom, want.ActiveFrom) {
		d = append(d, fmt.Sprintf("ActiveFrom = %s, want %s", got.ActiveFrom, want.ActiveFrom))
	}
	return strings.Join(d, "; ")
}

func testKeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if list, err := s.ListKeys(ctx, keys.UseSigning); err != nil || len(list) != 0 {
		t.Errorf("ListKeys of an empty store = %v, %v; want none", list, err)
	}
	// Created out of order: ListKeys sorts oldest first.
	middle := newKey("sig-b", keys.UseSigning, time.Hour)
	newest := newKey("sig-c", keys.UseSigning, 2*time.Hour)
	oldest := newKey("sig-a", keys.UseSigning, 0)
	ca := newKey("ca-1", keys.UseCA, -time.Hour)
	for _, r := range []keys.Record{middle, newest, ca, oldest} {
		mustNot(t, "CreateKey "+r.ID, createKey(s, r))
	}

	tests := []struct {
		use  string
		want []keys.Record
	}{
		{keys.UseSigning, []keys.Record{oldest, middle, newest}},
		{keys.UseCA, []keys.Record{ca}},
		{"unknown-use", nil},
	}
	for _, tc := range tests {
		got, err := s.ListKeys(ctx, tc.use)
		mustNot(t, "ListKeys", err)
		if len(got) != len(tc.want) {
			t.Errorf("ListKeys(%q) returned %d records, want %d", tc.use, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if d := recordDiff(got[i], tc.want[i]); d != "" {
				t.Errorf("ListKeys(%q)[%d]: %s", tc.use, i, d)
			}
		}
	}

	dup := newKey("sig-a", keys.UseSigning, 3*time.Hour)
	dup.Public = []byte("other")
	err := createKey(s, dup)
	if !errors.Is(err, keys.ErrAlreadyExists) {
		t.Errorf("CreateKey of a duplicate id = %v, want keys.ErrAlreadyExists", err)
	}
	got, err := s.ListKeys(ctx, keys.UseSigning)
	mustNot(t, "ListKeys", err)
	if len(got) != 3 || recordDiff(got[0], oldest) != "" {
		t.Errorf("a rejected CreateKey changed the records: %+v", got)
	}
}

func testKeyRoundTrip(t *testing.T, s storage.Store) {
	ctx := context.Background()
	r := keys.Record{
		ID:            "default-jwt-key-0123456789",
		Use:           keys.UseSigning,
		Public:        []byte{0x30, 0x82, 0x01, 0x22, 0x00, 0xff, 0x80},
		SealedPrivate: []byte{0x00, 0x01, 0xfe, 0xff, 0x00},
		CreatedAt:     base,
		ActiveFrom:    base.Add(24*time.Hour + 1),
	}
	mustNot(t, "CreateKey", createKey(s, r))
	got, err := s.ListKeys(ctx, keys.UseSigning)
	mustNot(t, "ListKeys", err)
	if len(got) != 1 {
		t.Fatalf("ListKeys returned %d records, want 1", len(got))
	}
	if d := recordDiff(got[0], r); d != "" {
		t.Errorf("ListKeys: %s", d)
	}
}

func testDeleteKey(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a, b := newKey("key-a", keys.UseSigning, 0), newKey("key-b", keys.UseSigning, time.Hour)
	mustNot(t, "CreateKey a", createKey(s, a))
	mustNot(t, "CreateKey b", createKey(s, b))
	mustNot(t, "DeleteKey a", deleteKey(s, a.ID))
	got, err := s.ListKeys(ctx, keys.UseSigning)
	mustNot(t, "ListKeys", err)
	if len(got) != 1 || got[0].ID != b.ID {
		t.Errorf("after DeleteKey(a), ListKeys = %v, want only %s", ids(got, func(r keys.Record) string { return r.ID }), b.ID)
	}
	if err := deleteKey(s, a.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("DeleteKey of a deleted key = %v, want keys.ErrNotFound", err)
	}
	// The id is free again.
	mustNot(t, "CreateKey a again", createKey(s, a))
}
