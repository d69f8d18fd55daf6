package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/access"
)

// ErrConflict means a compare-and-swap write lost to a concurrent writer:
// read again and re-apply.
var ErrConflict = errors.New("concurrent update")

// AccessStore keeps one access.Doc per customer in the access bucket. Writes
// are compare-and-swap on the revision read, so concurrent workers handling
// events of the same customer never lose each other's updates.
type AccessStore struct {
	kv jetstream.KeyValue
}

// NewAccessStore binds to the access bucket.
func NewAccessStore(ctx context.Context, js jetstream.JetStream) (*AccessStore, error) {
	kv, err := js.KeyValue(ctx, AccessBucket)
	if err != nil {
		return nil, fmt.Errorf("access bucket: %w", err)
	}
	return &AccessStore{kv: kv}, nil
}

// Get returns the customer's doc and its revision; an unknown customer gets
// an empty doc and revision 0.
func (s *AccessStore) Get(ctx context.Context, customerID string) (access.Doc, uint64, error) {
	entry, err := s.kv.Get(ctx, Token(customerID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return access.NewDoc(customerID), 0, nil
	}
	if err != nil {
		return access.Doc{}, 0, fmt.Errorf("read access of %s: %w", customerID, err)
	}
	doc := access.NewDoc(customerID)
	if err := json.Unmarshal(entry.Value(), &doc); err != nil {
		return access.Doc{}, 0, fmt.Errorf("decode access of %s: %w", customerID, err)
	}
	if doc.Sources == nil {
		doc.Sources = map[string]access.Source{}
	}
	return doc, entry.Revision(), nil
}

// Put writes doc if the stored revision is still rev (0: if none is stored)
// and returns the new revision, or ErrConflict.
func (s *AccessStore) Put(ctx context.Context, doc access.Doc, rev uint64) (uint64, error) {
	val, err := json.Marshal(doc)
	if err != nil {
		return 0, fmt.Errorf("encode access of %s: %w", doc.CustomerID, err)
	}
	key := Token(doc.CustomerID)
	var next uint64
	if rev == 0 {
		next, err = s.kv.Create(ctx, key, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrConflict
		}
	} else {
		next, err = s.kv.Update(ctx, key, val, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, ErrConflict
		}
	}
	if err != nil {
		return 0, fmt.Errorf("write access of %s: %w", doc.CustomerID, err)
	}
	return next, nil
}
