package store_test

import (
	"encoding/base64"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/keyring"
	"github.com/pcx/publicservice/internal/secretbox"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
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

// A database that accepts connections and never answers (a blackhole, not a refusal) fails each
// call within store.CallTimeout, whatever the caller's own deadline: an activity that sent
// webhooks must keep the time to return its outcomes. Before the bound, the call waited for the
// caller's deadline (the attempt's 90s).
func TestCallsToABlackholeEndWithinCallTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() }) // held open, never answered
		}
	}()
	ctx := testenv.Context(t, time.Minute)
	client, err := store.NewClient(ctx, store.ClientOptions{Region: "us-east-1", Endpoint: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(client, "blackhole", nil)
	start := time.Now()
	_, err = s.Event(ctx, "evt_blackhole")
	took := time.Since(start)
	if pcx.ErrorCode(err) != pcx.EUnavailable {
		t.Fatalf("Event from a blackhole: %v, want an EUnavailable error", err)
	}
	if took > store.CallTimeout+time.Second {
		t.Fatalf("the call took %s, want at most CallTimeout (%s)", took, store.CallTimeout)
	}
	t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
}
