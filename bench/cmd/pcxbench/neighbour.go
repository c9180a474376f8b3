package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/testenv"
)

// The noisy neighbour phase's organisations: A notifies to endpoints that never answer, B runs
// the latency phase's load meanwhile.
const (
	orgNoisy = "noisy"
	orgQuiet = "quiet"
)

// hangers are the noisy organisation's receivers: HTTPS listeners on 127.0.0.2, 127.0.0.3, …
// (one destination host each, so WEBHOOK_HOST_CONCURRENCY does not cap the organisation below
// its share of WORKER_CONCURRENCY) that complete the TLS handshake, read the request and never
// answer: the worker's send waits until WEBHOOK_TIMEOUT. Their certificate is self-signed for
// those addresses and trusted by the worker next to the receivers' (WEBHOOK_CA_FILE).
type hangers struct {
	servers []*http.Server
	urls    []string // https://127.0.0.N:port
	caFile  string   // the receivers' CA and this certificate
	release chan struct{}
	once    sync.Once

	requests atomic.Int64 // requests received
	inFlight atomic.Int64 // requests held now
	maxHeld  atomic.Int64 // most requests held at once
}

// startHangers starts n hanging listeners and writes the CA file the worker must trust:
// receiversCA followed by their certificate.
func startHangers(n int, dir, receiversCA string) (*hangers, error) {
	var ips []net.IP
	for i := range n {
		ips = append(ips, net.IPv4(127, 0, 0, byte(2+i)))
	}
	certPEM, _, cert, err := testenv.SelfSignedCertFor("pcx bench noisy neighbour", nil, ips)
	if err != nil {
		return nil, err
	}
	rca, err := os.ReadFile(receiversCA)
	if err != nil {
		return nil, err
	}
	h := &hangers{caFile: filepath.Join(dir, "receivers-and-hangers-ca.pem"), release: make(chan struct{})}
	if err := os.WriteFile(h.caFile, append(rca, certPEM...), 0o600); err != nil {
		return nil, err
	}
	rc := &harness.ReceiverCert{Cert: cert}
	for _, ip := range ips {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			h.close()
			return nil, fmt.Errorf("listening on %s (the noisy neighbour needs the loopback addresses 127.0.0.2-%d): %w", ip, 1+n, err)
		}
		h.servers = append(h.servers, rc.Serve(ln, http.HandlerFunc(h.serve), harness.ServeOptions{}))
		h.urls = append(h.urls, "https://"+ln.Addr().String())
	}
	return h, nil
}

func (h *hangers) serve(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	held := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for {
		m := h.maxHeld.Load()
		if held <= m || h.maxHeld.CompareAndSwap(m, held) {
			break
		}
	}
	_, _ = io.Copy(io.Discard, r.Body)
	select { // never answer: the sender gives up (WEBHOOK_TIMEOUT), or the phase ends
	case <-r.Context().Done():
	case <-h.release:
	}
}

// url is the noisy organisation's endpoint i: spread over the hosts, one path each.
func (h *hangers) url(org string, i int) string {
	return fmt.Sprintf("%s/%s/%d", h.urls[i%len(h.urls)], org, i)
}

// close releases every held request and closes the listeners and their connections.
func (h *hangers) close() {
	h.once.Do(func() { close(h.release) })
	for _, s := range h.servers {
		_ = s.Close()
	}
}

// ---- 7. noisy neighbour ----------------------------------------------------------------------

func (b *bench) phaseNeighbour(ctx context.Context) error {
	if b.hang == nil {
		return errors.New("the noisy neighbour's listeners were not started in setup")
	}
	sec := &NeighbourSection{
		NoisyEndpoints: b.o.neighbourEndpoints, NoisyHosts: b.o.neighbourHosts, NoisyRate: b.o.neighbourRate,
		WarmupSeconds: b.o.neighbourWarmup.Seconds(), QuietRate: b.o.latencyRate, QuietSeconds: b.o.latencyDur.Seconds(),
		WorkerConcurrency: b.o.workerConcurrency, WebhookTimeout: b.st.cfg.WebhookTimeout.String(),
		EndpointConcurrency: b.st.cfg.WebhookEndpointConcurrency, HostConcurrency: b.st.cfg.WebhookHostConcurrency,
	}
	b.rep.Neighbour = sec
	t0 := time.Now()
	workerRSS := func(label string) float64 {
		s := b.sampleMemory(label)
		return s.RSSMiB["worker"]
	}
	sec.WorkerRSSStartMiB = workerRSS("noisy neighbour: start")

	// Organisation A: an open loop of notifies to its hanging endpoints, through the warm-up and
	// B's load (bounded: it stops by itself).
	keyA, bodyA := b.keys[orgNoisy], notifyBody(orgNoisy, b.o.payloadBytes)
	noisyDone := make(chan struct{})
	go func() {
		defer close(noisyDone)
		sec.Noisy, _ = runOpen(ctx, b.o.neighbourRate, b.o.neighbourWarmup+b.o.latencyDur, 30*time.Second, func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			if _, _, err := b.cl.notify(ctx, keyA, bodyA); err != nil {
				return 0, err
			}
			return time.Since(t), nil
		})
	}()
	// The worker's RSS every few seconds while A is busy.
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(max(b.o.latencyDur/10, time.Second))
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				if v := workerRSS(""); v > sec.WorkerRSSMaxMiB {
					sec.WorkerRSSMaxMiB = v
				}
			}
		}
	}()

	var errs []error
	if sleepCtx(ctx, b.o.neighbourWarmup) {
		sec.HeldAtQuietStart = b.hang.inFlight.Load()
		sec.WorkerRSSQuietStartMiB = workerRSS("")
		b.say("    noisy: %d sends held by the hanging endpoints after the %s warm-up", sec.HeldAtQuietStart, b.o.neighbourWarmup)
		// Organisation B: the latency phase's load, meanwhile.
		svc, rtt, ids, err := b.latencyLoad(ctx, orgQuiet)
		sec.Quiet, sec.QuietNotifyRoundTrip = svc, rtt
		if err != nil {
			errs = append(errs, fmt.Errorf("quiet organisation: %w", err))
		}
		sec.QuietFailed, sec.QuietStatusChecked, err = b.failedDeliveries(ctx, orgQuiet, ids)
		if err != nil {
			errs = append(errs, err)
		}
		sec.QuietFailed += int(svc.Errors)
	}
	<-noisyDone
	close(stopSampling)
	<-sampled
	sec.WorkerRSSEndMiB = workerRSS("noisy neighbour: end")
	sec.WorkerRSSMaxMiB = max(sec.WorkerRSSMaxMiB, sec.WorkerRSSStartMiB, sec.WorkerRSSEndMiB)
	sec.NoisyRequests, sec.NoisyMaxHeld = b.hang.requests.Load(), b.hang.maxHeld.Load()
	sec.Seconds = round(time.Since(t0).Seconds(), 1)
	if l := b.rep.Latency; l != nil && l.Service.Latency.P99 > 0 && sec.Quiet.Latency.N > 0 {
		sec.RatioP99 = round(sec.Quiet.Latency.P99/l.Service.Latency.P99, 3)
	}
	b.say("    quiet (202 → receipt, A busy): p50 %.1fms p99 %.1fms max %.1fms; %d failed; A: %d notifies, %d sends received, at most %d held at once; worker RSS %.1f → %.1f MiB",
		sec.Quiet.Latency.P50, sec.Quiet.Latency.P99, sec.Quiet.Latency.Max, sec.QuietFailed, sec.Noisy.Completed, sec.NoisyRequests, sec.NoisyMaxHeld, sec.WorkerRSSStartMiB, sec.WorkerRSSEndMiB)

	// A's backlog is not drained (it would retry for days): its workflows are terminated, its
	// listeners closed and its endpoints deleted, so nothing of it runs on.
	c0 := time.Now()
	n, err := b.terminateOrg(ctx, orgNoisy, b.o.drain)
	sec.NoisyTerminated = n
	if err != nil {
		errs = append(errs, err)
	}
	b.hang.close()
	if err := b.deleteEndpoints(ctx, orgNoisy); err != nil {
		errs = append(errs, err)
	}
	if err := b.waitIdle(ctx, b.queue, b.o.drain); err != nil {
		errs = append(errs, err)
	}
	sec.CleanupSeconds = round(time.Since(c0).Seconds(), 1)
	if sec.Noisy.Errors > 0 {
		errs = append(errs, fmt.Errorf("%d of the noisy organisation's notifies failed (last: %s)", sec.Noisy.Errors, sec.Noisy.LastError))
	}
	if sec.QuietFailed > 0 {
		errs = append(errs, fmt.Errorf("%d of the quiet organisation's deliveries failed or were not received (last: %s)", sec.QuietFailed, sec.Quiet.LastError))
	}
	return errors.Join(errs...)
}

// failedDeliveries reads the status of each event of org (GET /public/webhooks/events/{id}) and
// counts the deliveries not "delivered"; it returns that count and how many events it read.
func (b *bench) failedDeliveries(ctx context.Context, org string, ids []string) (failed, checked int, err error) {
	for _, id := range ids {
		status, body, err := b.cl.do(ctx, "GET", "/public/webhooks/events/"+id, b.keys[org], nil)
		if err != nil || status != http.StatusOK {
			return failed, checked, fmt.Errorf("event %s: %d %v %s", id, status, err, truncate(string(body), 200))
		}
		var env struct {
			Data struct {
				Deliveries []struct {
					Status string `json:"status"`
				} `json:"deliveries"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return failed, checked, fmt.Errorf("event %s: %w", id, err)
		}
		checked++
		for _, d := range env.Data.Deliveries {
			if d.Status != "delivered" {
				failed++
			}
		}
	}
	return failed, checked, nil
}

// terminateOrg terminates the running workflows of org (PcxOrgId) until none is left, within.
func (b *bench) terminateOrg(ctx context.Context, org string, within time.Duration) (int, error) {
	q := fmt.Sprintf("PcxOrgId = '%s' AND ExecutionStatus = 'Running'", org)
	deadline := time.Now().Add(within)
	done := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := b.tc.ListWorkflow(cctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: b.st.tmp.Namespace, Query: q, PageSize: 1000})
		cancel()
		if err == nil && len(resp.GetExecutions()) == 0 {
			return done, nil
		}
		if err == nil {
			for _, ex := range resp.GetExecutions() {
				e := ex.GetExecution()
				terr := b.tc.TerminateWorkflow(ctx, e.GetWorkflowId(), e.GetRunId(), "pcxbench: noisy neighbour phase over")
				var nf *serviceerror.NotFound
				if terr == nil {
					done++
				} else if !errors.As(terr, &nf) {
					err = terr
				}
			}
		}
		if time.Now().After(deadline) {
			return done, fmt.Errorf("workflows of %s still running %s after the phase (last error: %v)", org, within, err)
		}
		if !sleepCtx(ctx, time.Second) { // visibility lags the terminations
			return done, ctx.Err()
		}
	}
}

// deleteEndpoints deletes every endpoint of org through the API.
func (b *bench) deleteEndpoints(ctx context.Context, org string) error {
	key := b.keys[org]
	var ids []string
	after := ""
	for {
		path := "/public/webhooks?limit=100"
		if after != "" {
			path += "&last_evaluated_key=" + url.QueryEscape(after)
		}
		status, body, err := b.cl.do(ctx, "GET", path, key, nil)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("listing the endpoints of %s: %d %v %s", org, status, err, truncate(string(body), 200))
		}
		var env struct {
			Data []struct {
				ID string `json:"webhook_id"`
			} `json:"data"`
			Meta struct {
				Next *string `json:"last_evaluated_key"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return fmt.Errorf("listing the endpoints of %s: %w", org, err)
		}
		for _, w := range env.Data {
			ids = append(ids, w.ID)
		}
		if env.Meta.Next == nil || *env.Meta.Next == "" {
			break
		}
		after = *env.Meta.Next
	}
	return parallel(ctx, len(ids), 8, func(i int) error {
		status, body, err := b.cl.do(ctx, "DELETE", "/public/webhooks/"+ids[i], key, nil)
		if err != nil || status != http.StatusOK && status != http.StatusNoContent {
			return fmt.Errorf("deleting endpoint %s of %s: %d %v %s", ids[i], org, status, err, truncate(string(body), 200))
		}
		return nil
	})
}
