package storagetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

func testFindInstances(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	a := newInstance("inst-a", z.ID, "a!t1")
	a.SpaceGUID, a.Name = "space-1", "jobs"
	b := newInstance("inst-b", z.ID, "b!t1")
	b.SpaceGUID, b.Name = "space-2", "jobs"
	c := newInstance("clone:c1", z.ID, "c1!b1|a!t1")
	c.SpaceGUID, c.Name = "space-1", "c1"
	for _, in := range []storage.Instance{a, b, c} {
		createInstance(t, s, in)
	}
	tests := []struct {
		space, name string
		want        []string
	}{
		{"space-1", "jobs", []string{"inst-a"}},
		{"space-2", "jobs", []string{"inst-b"}},
		{"space-3", "jobs", nil},
		{"space-1", "JOBS", nil},
		{"space-1", "c1", []string{"clone:c1"}},
	}
	for _, tc := range tests {
		got, err := s.FindInstances(ctx, tc.space, tc.name)
		mustNot(t, "FindInstances", err)
		if ids := ids(got, instanceID); !slices.Equal(ids, tc.want) && len(ids)+len(tc.want) > 0 {
			t.Errorf("FindInstances(%q, %q) = %q, want %q", tc.space, tc.name, ids, tc.want)
		}
	}
	clones, err := s.ListClones(ctx)
	mustNot(t, "ListClones", err)
	if got := ids(clones, instanceID); !slices.Equal(got, []string{"clone:c1"}) {
		t.Errorf("ListClones = %q, want [clone:c1]", got)
	}
}

func testFindCertBindings(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	createInstance(t, s, newInstance("inst-b", z.ID, "b!t1"))
	cert := func(id, instanceID string, fp byte, subject string, pinned bool) storage.Binding {
		b := newBinding(id, instanceID)
		b.CredentialType, b.SecretHash, b.CertPinned = "x509", nil, pinned
		b.CertSubject, b.CertIssuer, b.CertNotBefore = subject, "CN=ca", base
		if pinned {
			b.CertFingerprint = slices.Repeat([]byte{fp}, 32)
		}
		return b
	}
	for _, b := range []storage.Binding{
		cert("p-a", "inst-a", 1, "CN=x", true),
		cert("p-b", "inst-b", 1, "CN=x", true),
		cert("u-a", "inst-a", 0, "CN=x", false),
		cert("u-b", "inst-b", 0, "CN=y", false),
		newBinding("secret", "inst-a"),
	} {
		mustNot(t, "CreateBinding "+b.ID, createBinding(s, b, 10))
	}
	tests := []struct {
		instance string
		fp       []byte
		subject  string
		want     []string
	}{
		{"", slices.Repeat([]byte{1}, 32), "", []string{"p-a", "p-b"}},
		{"inst-b", slices.Repeat([]byte{1}, 32), "", []string{"p-b"}},
		{"", slices.Repeat([]byte{2}, 32), "", nil},
		{"", nil, "CN=x", []string{"u-a"}},
		{"inst-b", nil, "CN=x", nil},
		{"", nil, "CN=y", []string{"u-b"}},
	}
	for _, tc := range tests {
		got, err := s.FindCertBindings(ctx, tc.instance, tc.fp, tc.subject, "CN=ca")
		mustNot(t, "FindCertBindings", err)
		if ids := ids(got, bindingID); !slices.Equal(ids, tc.want) && len(ids)+len(tc.want) > 0 {
			t.Errorf("FindCertBindings(%q, %x, %q) = %q, want %q", tc.instance, tc.fp, tc.subject, ids, tc.want)
		}
	}
}

// testInvalidText: text no backend can keep byte for byte is refused
// alike by every backend, and nothing is written.
func testInvalidText(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	bad := []string{"nul\x00inside", "latin1 \xe9", "\xff\xfe"}
	for _, v := range bad {
		in := newInstance("inst-x", z.ID, "x!t1")
		in.Name = v
		mustBeErr(t, "CreateInstance with name "+strings.ToValidUTF8(v, "?"), createInstanceErr(s, in), storage.ErrInvalidText)
		b := newBinding("bind-x", "inst-a")
		b.Name = v
		mustBeErr(t, "CreateBinding with name", createBinding(s, b, 10), storage.ErrInvalidText)
		b = newBinding("bind-y", "inst-a")
		b.CertSubject = v
		mustBeErr(t, "CreateBinding with a certificate subject", createBinding(s, b, 10), storage.ErrInvalidText)
	}
	if list, _ := s.ListInstances(ctx); len(list) != 1 {
		t.Errorf("%d instances after refused creations, want 1", len(list))
	}
	// Looking up by such text finds nothing, alike on every backend.
	for _, v := range bad {
		if _, err := s.GetInstance(ctx, v); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetInstance(%q) = %v, want ErrNotFound", v, err)
		}
		if _, err := s.GetBinding(ctx, v); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetBinding(%q) = %v, want ErrNotFound", v, err)
		}
		if _, err := s.GetZone(ctx, v); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetZone(%q) = %v, want ErrNotFound", v, err)
		}
		if l, err := s.FindInstances(ctx, v, v); len(l) != 0 || err != nil {
			t.Errorf("FindInstances(%q) = %d, %v; want none", v, len(l), err)
		}
		if l, err := s.ListBindings(ctx, v); len(l) != 0 || err != nil {
			t.Errorf("ListBindings(%q) = %d, %v; want none", v, len(l), err)
		}
		if l, err := s.FindCertBindings(ctx, "", nil, v, v); len(l) != 0 || err != nil {
			t.Errorf("FindCertBindings(%q) = %d, %v; want none", v, len(l), err)
		}
		mustBeErrNotFound(t, "DeleteBinding", deleteBinding(s, v))
		mustBeErrNotFound(t, "DeleteInstance", deleteInstance(s, v))
	}
	if list, _ := s.ListBindings(ctx, ""); len(list) != 0 {
		t.Errorf("%d bindings after refused creations, want 0", len(list))
	}
}

// testUpdateRollsBack: an error from the function given to Update undoes
// every write it made, and no revision is used.
func testUpdateRollsBack(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	before, err := s.Revision(ctx)
	mustNot(t, "Revision", err)
	_, err = s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.CreateInstance(ctx, newInstance("inst-a", z.ID, "a!t1")); err != nil {
			return err
		}
		if err := tx.CreateBinding(ctx, newBinding("bind-1", "inst-a"), 10); err != nil {
			return err
		}
		if err := tx.CreateKey(ctx, newKey("k", keys.UseSigning, 0)); err != nil {
			return err
		}
		// The transaction reads its own writes.
		if _, err := tx.GetBinding(ctx, "bind-1"); err != nil {
			t.Errorf("GetBinding inside the transaction that created it: %v", err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	if _, err := s.GetInstance(ctx, "inst-a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("instance of a rolled-back Update exists: %v", err)
	}
	if _, err := s.GetBinding(ctx, "bind-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("binding of a rolled-back Update exists: %v", err)
	}
	if ks, _ := s.ListKeys(ctx, keys.UseSigning); len(ks) != 0 {
		t.Errorf("key of a rolled-back Update exists")
	}
	after, err := s.Revision(ctx)
	mustNot(t, "Revision", err)
	if after != before {
		t.Errorf("Revision after a rolled-back Update = %d, want %d", after, before)
	}
}

// testRevisions: every Update that changes something gets the next
// revision, one that changes nothing gets none, and the change feed names
// what each changed.
func testRevisions(t *testing.T, s storage.Store) {
	ctx := context.Background()
	r0, err := s.Revision(ctx)
	mustNot(t, "Revision", err)
	z := ensureZone(t, s, "zone-1", 1)
	steps := []struct {
		name string
		fn   func(ctx context.Context, tx storage.Tx) error
		want []storage.Change // Rev filled in below
	}{
		{"create two instances", func(ctx context.Context, tx storage.Tx) error {
			if err := tx.CreateInstance(ctx, newInstance("inst-a", z.ID, "a!t1")); err != nil {
				return err
			}
			return tx.CreateInstance(ctx, newInstance("inst-b", z.ID, "b!t1"))
		}, []storage.Change{{Kind: storage.ChangeInstance, Ref: "inst-a"}, {Kind: storage.ChangeInstance, Ref: "inst-b"}}},
		{"bind", func(ctx context.Context, tx storage.Tx) error {
			return tx.CreateBinding(ctx, newBinding("bind-1", "inst-a"), 10)
		}, []storage.Change{{Kind: storage.ChangeInstance, Ref: "inst-a"}}},
		{"read only", func(ctx context.Context, tx storage.Tx) error {
			_, err := tx.ListInstances(ctx)
			return err
		}, nil},
		{"failed write", func(ctx context.Context, tx storage.Tx) error {
			err := tx.DeleteBinding(ctx, "no-such-binding")
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("DeleteBinding of an unknown id = %v", err)
			}
			return nil
		}, nil},
		{"unbind", func(ctx context.Context, tx storage.Tx) error {
			return tx.DeleteBinding(ctx, "bind-1")
		}, []storage.Change{{Kind: storage.ChangeInstance, Ref: "inst-a"}}},
		{"key", func(ctx context.Context, tx storage.Tx) error {
			return tx.CreateKey(ctx, newKey("k1", keys.UseSigning, 0))
		}, []storage.Change{{Kind: storage.ChangeKeys, Ref: keys.UseSigning}}},
		{"delete instance", func(ctx context.Context, tx storage.Tx) error {
			return tx.DeleteInstance(ctx, "inst-b")
		}, []storage.Change{{Kind: storage.ChangeInstance, Ref: "inst-b"}}},
	}
	r1, err := s.Revision(ctx)
	mustNot(t, "Revision", err)
	if r1 != r0+1 {
		t.Errorf("Revision after CreateZone = %d, want %d", r1, r0+1)
	}
	rev := r1
	var all []storage.Change
	for _, st := range steps {
		got, err := s.Update(ctx, func(tx storage.Tx) error { return st.fn(ctx, tx) })
		mustNot(t, st.name, err)
		if len(st.want) > 0 {
			rev++
		}
		if got != rev {
			t.Errorf("%s: Update returned revision %d, want %d", st.name, got, rev)
		}
		if cur, _ := s.Revision(ctx); cur != rev {
			t.Errorf("%s: Revision = %d, want %d", st.name, cur, rev)
		}
		for _, c := range st.want {
			c.Rev = rev
			all = append(all, c)
		}
	}
	var changes []storage.Change
	var complete bool
	head, err := s.Snapshot(ctx, func(sn storage.Snap) error {
		var err error
		changes, complete, err = sn.Changes(ctx, r1)
		return err
	})
	mustNot(t, "Snapshot", err)
	if head != rev {
		t.Errorf("Snapshot revision = %d, want %d", head, rev)
	}
	if !complete || !slices.Equal(changes, all) {
		t.Errorf("Changes(%d) = %+v (complete %v), want %+v (complete)", r1, changes, complete, all)
	}
	_, err = s.Snapshot(ctx, func(sn storage.Snap) error {
		c, complete, err := sn.Changes(ctx, rev)
		if len(c) != 0 || !complete || err != nil {
			t.Errorf("Changes(head) = %+v, %v, %v; want none, complete", c, complete, err)
		}
		return nil
	})
	mustNot(t, "Snapshot", err)
}

// testSnapshot: a snapshot reads one committed state, whatever commits
// while it is open.
func testSnapshot(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	createInstance(t, s, newInstance("inst-a", z.ID, "a!t1"))
	mustNot(t, "CreateBinding", createBinding(s, newBinding("bind-1", "inst-a"), 10))
	want, _ := s.Revision(ctx)
	rev, err := s.Snapshot(ctx, func(sn storage.Snap) error {
		first, err := sn.ListBindings(ctx, "")
		if err != nil {
			return err
		}
		// Another writer commits in the middle of the snapshot.
		if err := deleteBinding(s, "bind-1"); err != nil {
			return err
		}
		if err := createInstanceErr(s, newInstance("inst-b", z.ID, "b!t1")); err != nil {
			return err
		}
		second, err := sn.ListBindings(ctx, "")
		if err != nil {
			return err
		}
		if len(first) != 1 || len(second) != 1 {
			t.Errorf("bindings seen in one snapshot: %d, then %d; want 1 both times", len(first), len(second))
		}
		if _, err := sn.GetInstance(ctx, "inst-b"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("an instance created after the snapshot began is visible in it: %v", err)
		}
		if r, _ := sn.Revision(ctx); r != want {
			t.Errorf("Revision inside the snapshot = %d, want %d", r, want)
		}
		return nil
	})
	mustNot(t, "Snapshot", err)
	if rev != want {
		t.Errorf("Snapshot returned revision %d, want %d", rev, want)
	}
	if _, err := s.GetBinding(ctx, "bind-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after the snapshot, GetBinding of the binding deleted meanwhile = %v", err)
	}
}

func testCancelledContext(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Revision(ctx); err == nil {
		t.Error("Revision with a cancelled context succeeded")
	}
	called := false
	if _, err := s.Update(ctx, func(storage.Tx) error { called = true; return nil }); err == nil || called {
		t.Errorf("Update with a cancelled context = %v (function called: %v), want an error before the function", err, called)
	}
	// The store still works afterwards.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := s.Revision(ctx2); err != nil {
		t.Errorf("Revision after a cancelled call: %v", err)
	}
}
