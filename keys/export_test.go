package keys

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
)

// MemStore is an in-memory Store for the tests, internal and external
// (exported from a _test.go file, it exists only in test builds). ListKeys
// sorts like the SQLite store and returns copies.
type MemStore struct {
	wmu  sync.Mutex // held by UpdateKeys
	mu   sync.Mutex
	recs []Record
}

func (s *MemStore) ListKeys(_ context.Context, use string) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.recs {
		if r.Use == use {
			out = append(out, cloneRecord(r))
		}
	}
	slices.SortStableFunc(out, func(a, b Record) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateKeys runs fn under the store's write lock (memTx).
func (s *MemStore) UpdateKeys(ctx context.Context, fn func(KeyTx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	saved := slices.Clone(s.recs)
	s.mu.Unlock()
	if err := fn(s); err != nil {
		s.mu.Lock()
		s.recs = saved
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *MemStore) DeleteKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.recs {
		if r.ID == id {
			s.recs = append(s.recs[:i], s.recs[i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}

func (s *MemStore) CreateKey(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.recs {
		if old.ID == r.ID {
			return ErrAlreadyExists
		}
	}
	s.recs = append(s.recs, cloneRecord(r))
	return nil
}

func cloneRecord(r Record) Record {
	r.Public = bytes.Clone(r.Public)
	r.SealedPrivate = bytes.Clone(r.SealedPrivate)
	return r
}
