package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pcx/publicservice/harness"
)

// The rule the duplicates are judged by (the report and soak/README.md say it too). A duplicate
// is a request the receiver had whole, verified and meant to answer 2xx, for a pair (event,
// endpoint) that had such a request before — whether that earlier answer got through or the
// connection was cut under it. For each one:
//
//   - recorded: when DynamoDB first answered a write that records the pair delivered, as the
//     proxy in front of the api's and worker's DynamoDB saw it (the delivery record itself holds
//     the attempts' times, not when it was written). Such a write before the resend began means
//     the worker knew the delivery was done and sent it again: a bug, and the run fails.
//   - otherwise the earlier request's outcome was lost before it was recorded, and the fault that
//     lost it is the one in effect between the earlier request's start and the resend's: a
//     worker SIGKILL (the request in flight and cut, or answered and not yet recorded), the
//     DynamoDB hang or restart (the record write held or failed), the receivers' close (the
//     request cut). These are at-least-once doing its job, and allowed.
//   - a duplicate with neither is unattributed: a finding; so is one whose record lists the
//     earlier request's 2xx while no write recording it was seen answered (the client gave up
//     before DynamoDB answered): recorded, but whether before the resend is unknown.
//
// The delivery records (read through the store) are shown beside each duplicate: how many
// attempts they count and when the 2xx ones began, which says which request was recorded.
const duplicateRule = "A duplicate is a request the receiver had whole and verified and meant to answer 2xx, for a pair (event, endpoint) that had such a request before (answered, or cut by a closed connection). " +
	"It is a **resend of a recorded delivery (a bug: the run fails)** when DynamoDB had answered a write recording the pair delivered before the resend began — the time of that write is taken from the DynamoDB proxy in front of the api and the worker, since the delivery record holds the attempts' times but not when it was written. " +
	"Otherwise the earlier request's outcome was lost unrecorded, and its cause is the fault in effect between the earlier request's start and the resend's: the worker SIGKILL (the request in flight and cut, or answered but not yet recorded), the DynamoDB hang or restart (the record write held or failed), or the receivers' close (the request cut). Those are allowed (at-least-once); a duplicate with no such fault is a finding, and so is one whose delivery record lists a 2xx attempt begun by the end of the earlier request (so the earlier request was recorded) while the proxy saw no write recording it answered (recorded, but whether before the resend began is unknown)."

const (
	causeResend       = "resend of a delivery recorded delivered before the resend began (bug)"
	causeKillCut      = "worker SIGKILL: the earlier request in flight, cut before its 2xx reached the worker"
	causeKillAnswered = "worker SIGKILL: the earlier request answered 2xx, not yet recorded when the worker died"
	causeHang         = "DynamoDB hang: the earlier request answered 2xx, its record held unanswered"
	causeRestart      = "DynamoDB restart: the earlier request answered 2xx, its record not written"
	causeReceivers    = "receivers closed: the earlier request cut by the closing listener"
	causeUnattributed = "unattributed: no fault between the two requests"
	causeRecordedWhen = "the earlier request recorded, when unknown: its write's answer never came back through the proxy"
)

// observeWrite notes when DynamoDB first answered a write that records a delivery delivered: a
// first attempt's PutItem or a later attempt's UpdateItem with status delivered, answered 200 (a
// write whose condition failed is answered 400 and changed nothing).
func (r *run) observeWrite(c harness.DynamoCall) {
	if c.Status != http.StatusOK || (c.Op != "PutItem" && c.Op != "UpdateItem") {
		return
	}
	type av map[string]any
	var in struct {
		Item   map[string]av
		Key    map[string]av
		Values map[string]av `json:"ExpressionAttributeValues"`
	}
	if json.Unmarshal(c.Body, &in) != nil {
		return
	}
	str := func(v av) string { s, _ := v["S"].(string); return s }
	key, status := in.Key, str(in.Values[":status"])
	if c.Op == "PutItem" {
		key, status = in.Item, str(in.Item["status"])
	}
	pk, sk := str(key["PK"]), str(key["SK"])
	if status != "delivered" || !strings.HasPrefix(pk, "EVT#") || !strings.HasPrefix(sk, "DLV#") {
		return
	}
	k := pk[len("EVT#"):] + "|" + sk[len("DLV#"):]
	r.recMu.Lock()
	defer r.recMu.Unlock()
	if _, ok := r.recorded[k]; !ok {
		r.recorded[k] = c.End
	}
}

// classifyDuplicates finds every duplicate in the receivers' request log and its cause by the
// rule above; a resend of a recorded delivery is a problem, an unattributed duplicate a finding.
func (r *run) classifyDuplicates() {
	d := &r.rep.Delivery
	d.DuplicateRule = duplicateRule
	d.DuplicateCauses = map[string]int{}
	log := r.rc.requests()
	slices.SortFunc(log, func(a, b request) int { return a.Start.Compare(b.Start) })
	r.mu.Lock()
	windows := append([]faultWindow(nil), r.windows...)
	r.mu.Unlock()
	r.recMu.Lock()
	recorded := make(map[string]time.Time, len(r.recorded))
	for k, v := range r.recorded {
		recorded[k] = v
	}
	r.recMu.Unlock()

	for _, w := range windows {
		if w.kind != "kill" {
			continue
		}
		for _, q := range log {
			if !q.Start.After(w.from) && !q.End.Before(w.from) {
				d.OpenAtKill++
				if q.Cut {
					d.CutAtKill++
				}
			}
		}
	}
	byPair := map[string][]request{}
	var pairs []string
	for _, q := range log {
		if q.Cut {
			d.CutRequests++
		}
		if !q.accepted() {
			continue
		}
		k := q.ID + "|" + q.Path
		if len(byPair[k]) == 0 {
			pairs = append(pairs, k)
		}
		byPair[k] = append(byPair[k], q)
	}
	for _, k := range pairs {
		qs := byPair[k]
		if len(qs) < 2 {
			continue
		}
		d.DuplicatedPairs++
		first := qs[0]
		hook := r.hooks[first.Path]
		rec := r.recordEvidence(first.ID, hook)
		recAt, seenRecorded := recorded[first.ID+"|"+hook]
		for i := 1; i < len(qs); i++ {
			earlier, resend := qs[i-1], qs[i]
			d.Duplicated++
			cause := causeUnattributed
			earlierRecorded := slices.ContainsFunc(rec.ok, func(at time.Time) bool { return !at.After(earlier.End) })
			if seenRecorded && recAt.Before(resend.Start) {
				cause = causeResend
			} else if earlierRecorded && !seenRecorded {
				cause = causeRecordedWhen
			} else if w, ok := nearestWindow(windows, earlier, resend); ok {
				switch w.kind {
				case "kill":
					cause = causeKillAnswered
					if earlier.Cut {
						cause = causeKillCut
					}
				case "hang":
					cause = causeHang
				case "restart":
					cause = causeRestart
				case "receivers":
					cause = causeReceivers
				}
			}
			d.DuplicateCauses[cause]++
			if cause != causeResend && cause != causeReceivers && cause != causeUnattributed && cause != causeRecordedWhen {
				r.unrecorded[k]++ // the earlier request's attempt died unrecorded
			}
			dup := duplicateRecord{
				EventID: first.ID, Endpoint: first.Path, Cause: cause, Allowed: cause != causeResend && cause != causeUnattributed,
				Earlier: r.view(earlier), Resend: r.view(resend), RecordAttempts: rec.attempts, Record2xxAt: rec.okAt,
			}
			if seenRecorded {
				at := secs(recAt.Sub(r.start))
				dup.RecordedAt = &at
			}
			if len(d.Duplicates) < 500 {
				d.Duplicates = append(d.Duplicates, dup)
			}
			switch cause {
			case causeResend:
				d.ResendsOfRecorded++
			case causeUnattributed, causeRecordedWhen:
				d.Unattributed++
			}
		}
	}
	if d.ResendsOfRecorded > 0 {
		r.rep.problem(fmt.Sprintf("%d deliveries were sent again after DynamoDB had recorded them delivered (see the duplicates' causes)", d.ResendsOfRecorded))
	}
	if d.Unattributed > 0 {
		r.rep.finding(fmt.Sprintf("%d duplicates unattributed: no fault between the earlier request and the resend, or the earlier request recorded at an unknown time (see the duplicates' causes)", d.Unattributed))
	}
	r.logf("duplicates: %d on %d pairs; causes %s", d.Duplicated, d.DuplicatedPairs, fmtMap(d.DuplicateCauses))
}

// nearestWindow is the fault in effect between the earlier request's start and the resend's start
// that began nearest the earlier request's end.
func nearestWindow(windows []faultWindow, earlier, resend request) (faultWindow, bool) {
	var best faultWindow
	found := false
	dist := math.MaxFloat64
	for _, w := range windows {
		if w.from.After(resend.Start) || w.to.Before(earlier.Start) {
			continue
		}
		if x := math.Abs(w.from.Sub(earlier.End).Seconds()); x < dist {
			best, dist, found = w, x, true
		}
	}
	return best, found
}

type recordView struct {
	attempts int
	ok       []time.Time // when its 2xx attempts began
	okAt     []float64   // the same, in seconds since the run's start
}

// recordEvidence reads the pair's delivery record straight from DynamoDB: its attempt count and
// when its 2xx attempts began (seconds since the run's start).
func (r *run) recordEvidence(eventID, hook string) recordView {
	var v recordView
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := r.s.env.Store.DeliveriesOf(ctx, eventID, []string{hook})
	if err != nil || recs[hook] == nil {
		v.attempts = -1
		return v
	}
	v.attempts = recs[hook].Attempts
	for _, a := range recs[hook].Log {
		if a.StatusCode/100 == 2 {
			v.ok = append(v.ok, a.At)
			v.okAt = append(v.okAt, secs(a.At.Sub(r.start)))
		}
	}
	return v
}

func (r *run) view(q request) requestView {
	return requestView{Start: secs(q.Start.Sub(r.start)), End: secs(q.End.Sub(r.start)), Status: q.Status, Cut: q.Cut}
}
