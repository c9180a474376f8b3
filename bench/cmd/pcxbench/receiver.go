package main

import (
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcx/publicservice/harness"
)

// receivers are the HTTPS webhook receivers: several listeners on 127.0.0.1 (one accept loop
// and one HTTP/2 connection per listener would otherwise be a bottleneck of their own), all
// sharing one tracker. They answer 200 at once.
type receivers struct {
	servers []*http.Server
	urls    []string // https://127.0.0.1:port
	caFile  string
	tr      *tracker
}

func startReceivers(n int, dir string, tr *tracker) (*receivers, error) {
	cert, err := harness.NewReceiverCert(dir, "pcx bench receiver")
	if err != nil {
		return nil, err
	}
	rc := &receivers{tr: tr, caFile: cert.CAFile}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			rc.close()
			return nil, err
		}
		rc.servers = append(rc.servers, cert.Serve(ln, http.HandlerFunc(rc.serve), harness.ServeOptions{IdleTimeout: 2 * time.Minute}))
		rc.urls = append(rc.urls, "https://"+ln.Addr().String())
	}
	return rc, nil
}

func (rc *receivers) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	rc.tr.record(r.Header.Get("webhook-id"), r.URL.Path, time.Now())
	w.WriteHeader(http.StatusOK)
}

// url is the endpoint URL of endpoint i of org: distinct paths, spread over the listeners.
func (rc *receivers) url(org string, i int) string {
	return fmt.Sprintf("%s/%s/%d", rc.urls[i%len(rc.urls)], org, i)
}

func (rc *receivers) close() {
	for _, s := range rc.servers {
		_ = s.Close()
	}
}

// tracker counts what the receivers got: per event (the webhook-id header) the distinct paths
// reached, with the first and last receipt times, and per organisation (the first path
// segment) the number of requests.
type tracker struct {
	shards [64]trackShard
	total  atomic.Int64
	dups   atomic.Int64
	orgs   map[string]*atomic.Int64 // fixed before the receivers start: read without a lock
	other  atomic.Int64             // requests to a path of no known organisation
}

type trackShard struct {
	mu     sync.Mutex
	events map[string]*evState
}

type evState struct {
	paths    map[string]uint32
	unique   int
	receipts int
	expected int
	first    time.Time
	last     time.Time
	done     chan struct{}
	closed   bool
}

func newTracker(orgs []string) *tracker {
	t := &tracker{orgs: map[string]*atomic.Int64{}}
	for i := range t.shards {
		t.shards[i].events = map[string]*evState{}
	}
	for _, o := range orgs {
		t.orgs[o] = new(atomic.Int64)
	}
	return t
}

func (t *tracker) shard(id string) *trackShard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return &t.shards[h.Sum32()%uint32(len(t.shards))]
}

func (s *trackShard) get(id string) *evState {
	st := s.events[id]
	if st == nil {
		st = &evState{paths: map[string]uint32{}, done: make(chan struct{})}
		s.events[id] = st
	}
	return st
}

func (t *tracker) record(id, path string, at time.Time) {
	t.total.Add(1)
	org, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if c := t.orgs[org]; c != nil {
		c.Add(1)
	} else {
		t.other.Add(1)
	}
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(id)
	st.paths[path]++
	st.receipts++
	if st.paths[path] == 1 {
		st.unique++
	} else {
		t.dups.Add(1)
	}
	if st.first.IsZero() {
		st.first = at
	}
	if at.After(st.last) {
		st.last = at
	}
	if st.expected > 0 && st.unique >= st.expected && !st.closed {
		st.closed = true
		close(st.done)
	}
}

// expect says event id goes to n distinct paths; the channel closes once all are reached
// (perhaps already).
func (t *tracker) expect(id string, n int) <-chan struct{} {
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(id)
	st.expected = n
	if st.unique >= n && !st.closed {
		st.closed = true
		close(st.done)
	}
	return st.done
}

// evInfo is what the receivers saw of one event.
type evInfo struct {
	unique   int // distinct paths reached
	receipts int // requests, duplicates included
	first    time.Time
	last     time.Time
}

func (t *tracker) event(id string) evInfo {
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.events[id]
	if st == nil {
		return evInfo{}
	}
	return evInfo{unique: st.unique, receipts: st.receipts, first: st.first, last: st.last}
}

// orgCount is how many requests the endpoints of org received.
func (t *tracker) orgCount(org string) int64 {
	if c := t.orgs[org]; c != nil {
		return c.Load()
	}
	return 0
}
