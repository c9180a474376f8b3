package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/store"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

var tableSeq atomic.Int64

// newStore returns a Store on a fresh table of the package's DynamoDB Local.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	ddb := testenv.DynamoDB(t)
	ctx := testenv.Context(t, 2*time.Minute)
	client, err := store.NewClient(ctx, store.ClientOptions{Region: "us-east-1", Endpoint: ddb.Endpoint})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	name := fmt.Sprintf("t%d-%s", tableSeq.Add(1), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))
	if len(name) > 200 {
		name = name[:200]
	}
	s := store.New(client, name)
	created, err := s.CreateTable(ctx)
	if err != nil || !created {
		t.Fatalf("CreateTable = %v, %v; want true, nil", created, err)
	}
	t.Cleanup(func() { _ = s.DeleteTable(context.Background()) })
	return s
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
