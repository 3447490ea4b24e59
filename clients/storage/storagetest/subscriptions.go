package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// testSubscriptions: subscriptions round-trip, are unique per instance and
// zone, need both to exist, list by instance and by zone, enter the change
// feed, and go with their instance.
func testSubscriptions(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z1 := ensureZone(t, s, "zone-1", 1)
	z2 := ensureZone(t, s, "zone-2", 2)
	z3 := ensureZone(t, s, "zone-3", 3)
	createInstance(t, s, newInstance("shop", z1.ID, "shop!t1"))
	createInstance(t, s, newInstance("other", z1.ID, "other!t1"))
	now := time.UnixMicro(time.Now().UnixMicro()).UTC()
	sub2 := storage.Subscription{InstanceID: "shop", ZoneID: z2.ID, AppURL: "https://two.shop.example",
		Callbacks: json.RawMessage(`{"onSubscription":"https://shop.example/cb/{tenantId}"}`), CreatedAt: now}
	sub3 := storage.Subscription{InstanceID: "shop", ZoneID: z3.ID, CreatedAt: now}
	other2 := storage.Subscription{InstanceID: "other", ZoneID: z2.ID, CreatedAt: now}
	before, err := s.Revision(ctx)
	mustNot(t, "Revision", err)
	for _, sub := range []storage.Subscription{sub2, sub3, other2} {
		mustNot(t, "CreateSubscription", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateSubscription(ctx, sub) }))
	}
	got, err := s.GetSubscription(ctx, "shop", z2.ID)
	mustNot(t, "GetSubscription", err)
	if !reflect.DeepEqual(got, sub2) {
		t.Errorf("GetSubscription = %+v, want %+v", got, sub2)
	}
	if got, err := s.GetSubscription(ctx, "shop", z3.ID); err != nil || got.Callbacks != nil || got.AppURL != "" {
		t.Errorf("a subscription without callbacks = %+v, %v; want nil callbacks", got, err)
	}
	_, err = s.GetSubscription(ctx, "shop", z1.ID)
	mustBeErrNotFound(t, "GetSubscription of a zone not subscribed", err)

	for _, tc := range []struct {
		name string
		sub  storage.Subscription
		want error
	}{
		{"the same instance and zone", storage.Subscription{InstanceID: "shop", ZoneID: z2.ID, CreatedAt: now}, storage.ErrAlreadyExists},
		{"an unknown instance", storage.Subscription{InstanceID: "no-such-instance", ZoneID: z2.ID, CreatedAt: now}, storage.ErrNotFound},
		{"an unknown zone", storage.Subscription{InstanceID: "shop", ZoneID: "no-such-zone", CreatedAt: now}, storage.ErrNotFound},
	} {
		err := update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateSubscription(ctx, tc.sub) })
		if !errors.Is(err, tc.want) {
			t.Errorf("CreateSubscription with %s = %v, want %v", tc.name, err, tc.want)
		}
	}

	keys := func(subs []storage.Subscription) []string {
		var out []string
		for _, sub := range subs {
			out = append(out, storage.SubscriptionRef(sub.InstanceID, sub.ZoneID))
		}
		return out
	}
	for _, tc := range []struct {
		instance, zone string
		want           []string
	}{
		{"", "", []string{"other/zone-2", "shop/zone-2", "shop/zone-3"}},
		{"shop", "", []string{"shop/zone-2", "shop/zone-3"}},
		{"", z2.ID, []string{"other/zone-2", "shop/zone-2"}},
		{"other", z3.ID, nil},
	} {
		subs, err := s.ListSubscriptions(ctx, tc.instance, tc.zone)
		mustNot(t, "ListSubscriptions", err)
		if got := keys(subs); !slices.Equal(got, tc.want) {
			t.Errorf("ListSubscriptions(%q, %q) = %q, want %q", tc.instance, tc.zone, got, tc.want)
		}
	}

	// The change feed names each subscription made.
	var changes []storage.Change
	_, err = s.Snapshot(ctx, func(r storage.Snap) error {
		var err error
		changes, _, err = r.Changes(ctx, before)
		return err
	})
	mustNot(t, "Changes", err)
	var refs []string
	for _, c := range changes {
		if c.Kind == storage.ChangeSubscription {
			refs = append(refs, c.Ref)
		}
	}
	slices.Sort(refs)
	if want := []string{"other/zone-2", "shop/zone-2", "shop/zone-3"}; !slices.Equal(refs, want) {
		t.Errorf("subscription changes %q, want %q", refs, want)
	}
	if in, z := storage.ParseSubscriptionRef(storage.SubscriptionRef("clone:a/b", z2.ID)); in != "clone:a/b" || z != z2.ID {
		t.Errorf("ParseSubscriptionRef = %q, %q", in, z)
	}

	// Delete one; deleting it again is ErrNotFound.
	mustNot(t, "DeleteSubscription", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteSubscription(ctx, "shop", z3.ID) }))
	mustBeErrNotFound(t, "DeleteSubscription again", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteSubscription(ctx, "shop", z3.ID) }))
	_, err = s.GetSubscription(ctx, "shop", z3.ID)
	mustBeErrNotFound(t, "GetSubscription after DeleteSubscription", err)

	// Deleting the instance deletes its subscriptions (and says so in the
	// feed); the other instance's stay.
	before, err = s.Revision(ctx)
	mustNot(t, "Revision", err)
	mustNot(t, "DeleteInstance", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteInstance(ctx, "shop") }))
	subs, err := s.ListSubscriptions(ctx, "", "")
	mustNot(t, "ListSubscriptions", err)
	if got := keys(subs); !slices.Equal(got, []string{"other/zone-2"}) {
		t.Errorf("after deleting the instance: %q", got)
	}
	_, err = s.Snapshot(ctx, func(r storage.Snap) error {
		var err error
		changes, _, err = r.Changes(ctx, before)
		return err
	})
	mustNot(t, "Changes", err)
	if !slices.Contains(changes, storage.Change{Rev: before + 1, Kind: storage.ChangeSubscription, Ref: "shop/zone-2"}) {
		t.Errorf("deleting the instance: changes %+v lack its subscription", changes)
	}

	// A zone with a subscription is deleted once the subscription is.
	mustNot(t, "DeleteSubscription", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteSubscription(ctx, "other", z2.ID) }))
	mustNot(t, "DeleteZone after its subscription", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteZone(ctx, z2.ID) }))
}
