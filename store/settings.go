package store

import (
	"context"
	"time"
)

// Settings keeps small facts about the deployment by key: state that every replica must see
// and that outlives a restart (for instance, that CDF's vision API was found retired). Values
// are opaque text; the store does not read them.
type Settings interface {
	// Setting returns the value stored under key, or ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// PutSetting stores value under key, replacing what was there.
	PutSetting(ctx context.Context, key, value string, at time.Time) error
}
