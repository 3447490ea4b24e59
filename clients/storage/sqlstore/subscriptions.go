package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// Subscriptions of zones to shared instances (migration 8).

const subscriptionCols = `instance_id, zone_id, app_url, callbacks, created_at`

func scanSubscription(s interface{ Scan(...any) error }) (storage.Subscription, error) {
	var sub storage.Subscription
	var callbacks []byte
	var created int64
	if err := s.Scan(&sub.InstanceID, &sub.ZoneID, &sub.AppURL, &callbacks, &created); err != nil {
		return sub, err
	}
	if len(callbacks) > 0 {
		sub.Callbacks = callbacks
	}
	sub.CreatedAt = fromMicros(created)
	return sub, nil
}

func (r reader) GetSubscription(ctx context.Context, instanceID, zoneID string) (storage.Subscription, error) {
	if !storable(instanceID, zoneID) {
		return storage.Subscription{}, fmt.Errorf("subscription: %w", storage.ErrNotFound)
	}
	sub, err := scanSubscription(r.q.queryRow(ctx, `SELECT `+subscriptionCols+` FROM subscriptions WHERE instance_id = $1 AND zone_id = $2`, instanceID, zoneID))
	if errors.Is(err, errNoRows) {
		return sub, fmt.Errorf("subscription of zone %s to instance %s: %w", zoneID, instanceID, storage.ErrNotFound)
	}
	return sub, err
}

func (r reader) ListSubscriptions(ctx context.Context, instanceID, zoneID string) ([]storage.Subscription, error) {
	if !storable(instanceID, zoneID) {
		return nil, nil
	}
	scan := func(rs rows) (storage.Subscription, error) { return scanSubscription(rs) }
	q := `SELECT ` + subscriptionCols + ` FROM subscriptions WHERE ($1 = '' OR instance_id = $1) AND ($2 = '' OR zone_id = $2) ORDER BY instance_id, zone_id`
	return list(ctx, r.q, scan, q, instanceID, zoneID)
}

func (w *writeTx) CreateSubscription(ctx context.Context, s storage.Subscription) error {
	if err := checkTexts("instance id", s.InstanceID, "zone id", s.ZoneID, "application URL", s.AppURL); err != nil {
		return err
	}
	for _, ref := range []struct{ what, q, id string }{
		{"instance", `SELECT 1 FROM instances WHERE id = $1`, s.InstanceID},
		{"zone", `SELECT 1 FROM zones WHERE id = $1`, s.ZoneID},
	} {
		ok, err := w.exists(ctx, ref.q, ref.id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s %s: %w", ref.what, ref.id, storage.ErrNotFound)
		}
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM subscriptions WHERE instance_id = $1 AND zone_id = $2`, s.InstanceID, s.ZoneID)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("subscription of zone %s to instance %s: %w", s.ZoneID, s.InstanceID, storage.ErrAlreadyExists)
	}
	if _, err := w.q.exec(ctx, `INSERT INTO subscriptions (`+subscriptionCols+`) VALUES ($1, $2, $3, $4, $5)`,
		s.InstanceID, s.ZoneID, s.AppURL, nonNil(s.Callbacks), s.CreatedAt.UnixMicro()); err != nil {
		return err
	}
	w.touch(storage.ChangeSubscription, storage.SubscriptionRef(s.InstanceID, s.ZoneID))
	return nil
}

func (w *writeTx) DeleteSubscription(ctx context.Context, instanceID, zoneID string) error {
	if !storable(instanceID, zoneID) {
		return fmt.Errorf("subscription: %w", storage.ErrNotFound)
	}
	n, err := w.q.exec(ctx, `DELETE FROM subscriptions WHERE instance_id = $1 AND zone_id = $2`, instanceID, zoneID)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("subscription of zone %s to instance %s: %w", zoneID, instanceID, storage.ErrNotFound)
	}
	w.touch(storage.ChangeSubscription, storage.SubscriptionRef(instanceID, zoneID))
	return nil
}
