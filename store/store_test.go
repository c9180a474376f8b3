package store_test

import (
	"encoding/base64"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/keyring"
	"github.com/pcx/publicservice/internal/secretbox"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/store"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

var tableSeq atomic.Int64

// newStore returns a Store on a fresh table of the package's DynamoDB Local.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, _ := newTableStore(t)
	return s
}

// allPages follows a paginated listing from the start until it returns no cursor, checking every
// page holds at most limit items and that it ends within 50 pages, and returns the items in order
// with the number of pages.
func allPages[T any](t *testing.T, limit int, list func(after string) ([]T, string, error)) (all []T, pages int) {
	t.Helper()
	after := ""
	for {
		page, next, err := list(after)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if len(page) > limit {
			t.Fatalf("page %d has %d items, over the limit %d", pages, len(page), limit)
		}
		all = append(all, page...)
		if next == "" {
			return all, pages
		}
		if pages >= 50 {
			t.Fatal("no last page after 50 pages")
		}
		after = next
	}
}

func TestCreateTableIsIdempotent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	created, err := s.CreateTable(ctx)
	if err != nil || created {
		t.Fatalf("second CreateTable = %v, %v; want false, nil", created, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testBox(t *testing.T) *secretbox.Box { return boxUnder(t, "store test secrets key, 32 bytes") }

// boxUnder is a secret box under the 32-byte key, as version 1.
func boxUnder(t *testing.T, key string) *secretbox.Box { return boxOf(t, "1:"+b64(key)) }

// boxOf is a secret box over a WEBHOOK_SECRETS_KEYS value.
func boxOf(t *testing.T, keys string) *secretbox.Box {
	t.Helper()
	ring, err := keyring.Parse(keys, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(ring)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
