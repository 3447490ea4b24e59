package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// refreshInserts writes refresh tokens by group commit: a token exchange
// issues a refresh token with every answer, and one commit per token
// (a disk flush on SQLite) would cost more than the rest of the request.
// Every caller still waits until its row is committed, so a refresh token
// works on every replica as soon as its client has it; callers that
// arrive while a commit is under way go into the next one, as one
// multi-row INSERT (one statement, so all of it or none, on both
// dialects). A failed batch is retried row by row, so that one bad row
// fails only its own caller.
type refreshInserts struct {
	exec func(ctx context.Context, sql string, args ...any) error

	mu      sync.Mutex
	pending []pendingInsert
	running bool
}

type pendingInsert struct {
	row  storage.RefreshToken
	done chan error
}

// maxBatch bounds the rows of one INSERT (7 parameters each).
const maxBatch = 128

func (b *refreshInserts) add(ctx context.Context, t storage.RefreshToken) error {
	done := make(chan error, 1)
	b.mu.Lock()
	b.pending = append(b.pending, pendingInsert{row: t, done: done})
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run commits batches until none is pending.
func (b *refreshInserts) run() {
	for {
		b.mu.Lock()
		batch := b.pending
		if len(batch) > maxBatch {
			batch = batch[:maxBatch]
		}
		b.pending = b.pending[len(batch):]
		if len(batch) == 0 {
			b.pending = nil
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		// The batch is written for all its callers, whichever of them
		// gave up waiting.
		ctx := context.Background()
		err := b.insert(ctx, batch)
		if err != nil && len(batch) > 1 {
			for _, p := range batch {
				p.done <- b.insert(ctx, []pendingInsert{p})
			}
			continue
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

func (b *refreshInserts) insert(ctx context.Context, batch []pendingInsert) error {
	var sql strings.Builder
	sql.WriteString(`INSERT INTO refresh_tokens (signature, zone_id, client_id, user_id, request, created_at, expires_at) VALUES `)
	args := make([]any, 0, 7*len(batch))
	for i, p := range batch {
		if i > 0 {
			sql.WriteString(", ")
		}
		n := 7 * i
		fmt.Fprintf(&sql, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
		t := p.row
		args = append(args, t.Signature, t.ZoneID, t.ClientID, t.UserID, nonNil(t.Request), t.CreatedAt.UnixMicro(), t.ExpiresAt.UnixMicro())
	}
	return b.exec(ctx, sql.String(), args...)
}
