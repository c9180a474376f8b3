package apikeys

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// A cache miss's store read is shared by every caller that misses at once, and is none of
// theirs: these tests hold the read open (the fake store blocks it) while callers join, leave
// and arrive late.

// testClock is a clock the test moves while requests read it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sharedRead is an authFixture whose store reads wait until release, and which says when a
// request has joined its store read.
type sharedRead struct {
	*authFixture
	clock  *testClock
	joined chan struct{}
	once   sync.Once
}

func newSharedRead(t *testing.T, ttl time.Duration) *sharedRead {
	t.Helper()
	f := &sharedRead{authFixture: newAuth(t, ttl), joined: make(chan struct{}, 16)}
	f.clock = &testClock{t: f.now}
	f.a.now = f.clock.now
	f.a.joined = func() { f.joined <- struct{}{} }
	f.st.block, f.st.reading = make(chan struct{}), make(chan struct{}, 16)
	t.Cleanup(f.release)
	return f
}

// release lets every store read, held and to come, answer.
func (f *sharedRead) release() { f.once.Do(func() { close(f.st.block) }) }

type authResult struct {
	p   pcx.Principal
	err error
}

// start authenticates the fixture's key on ctx in a goroutine and returns once the request has
// joined a store read.
func (f *sharedRead) start(t *testing.T, ctx context.Context) <-chan authResult {
	t.Helper()
	done := make(chan authResult, 1)
	go func() {
		p, err := f.a.Authenticate(ctx, f.key)
		done <- authResult{p, err}
	}()
	await(t, f.joined, "the request to join the store read")
	return done
}

// await returns the next value of ch, failing the test if none comes within 5 seconds.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("waited 5s for %s", what)
		panic("unreachable")
	}
}

// The first caller's client goes away: the read it started is not its own, and the caller who
// joined it still gets its principal.
func TestSharedReadOutlivesTheCallerWhoStartedIt(t *testing.T) {
	f := newSharedRead(t, time.Hour)
	ctx, cancel := context.WithCancel(opCtx)
	first := f.start(t, ctx)
	await(t, f.st.reading, "the store read to begin")
	joined := f.start(t, opCtx)

	cancel()
	if r := await(t, first, "the first caller to give up"); pcx.ErrorCode(r.err) != pcx.EUnavailable {
		t.Fatalf("first caller after its context ended: %+v, %v; want EUnavailable", r.p, r.err)
	}
	f.release()
	if r := await(t, joined, "the joined caller"); r.err != nil || !reflect.DeepEqual(r.p, f.prin) {
		t.Fatalf("joined caller after the first one left = %+v, %v; want %+v", r.p, r.err, f.prin)
	}
	if n := f.st.readCount(); n != 1 {
		t.Fatalf("two callers read the store %d times, want one shared read", n)
	}
}

// A caller whose own context ends stops waiting at once, with the error the service gives a
// store that did not answer in time (a 503); the read goes on for the others.
func TestWaiterLeavesWithItsOwnContext(t *testing.T) {
	f := newSharedRead(t, time.Hour)
	first := f.start(t, opCtx)
	await(t, f.st.reading, "the store read to begin")
	ctx, cancel := context.WithCancel(opCtx)
	waiter := f.start(t, ctx)

	cancel()
	select {
	case r := <-waiter:
		if pcx.ErrorCode(r.err) != pcx.EUnavailable || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("waiter after its context ended = %+v, %v; want EUnavailable wrapping context.Canceled", r.p, r.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a waiter whose context ended still waited 2s for the shared read")
	}
	select {
	case r := <-first:
		t.Fatalf("the shared read ended with the waiter who left: %+v, %v", r.p, r.err)
	default:
	}
	f.release()
	if r := await(t, first, "the first caller"); r.err != nil || !reflect.DeepEqual(r.p, f.prin) {
		t.Fatalf("first caller = %+v, %v; want %+v", r.p, r.err, f.prin)
	}
}

// A read that began more than AUTH_CACHE_TTL before a caller asked may predate a revoke by more
// than the TTL: it is not served to that caller, who reads again and sees the revoke.
func TestReadOlderThanTTLIsNotServed(t *testing.T) {
	const ttl = 2 * time.Second
	f := newSharedRead(t, ttl)
	first := f.start(t, opCtx)
	await(t, f.st.reading, "the store read to begin") // it has read the key as active
	f.st.mu.Lock()
	f.st.keys[f.prin.Prefix].Status = pcx.KeyRevoked // on another instance: nothing forgotten here
	f.st.mu.Unlock()
	f.clock.add(ttl + time.Millisecond)
	late := f.start(t, opCtx)

	f.release()
	if r := await(t, first, "the first caller"); r.err != nil || !reflect.DeepEqual(r.p, f.prin) {
		t.Fatalf("first caller, whose read began as it asked = %+v, %v; want %+v", r.p, r.err, f.prin)
	}
	if r := await(t, late, "the late caller"); !errors.Is(r.err, ErrUnauthenticated) {
		t.Fatalf("caller who asked %s after the read began, and after the revoke = %+v, %v; want ErrUnauthenticated", ttl+time.Millisecond, r.p, r.err)
	}
}
