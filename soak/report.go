package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/testenv"
)

// report is what a soak run found; written as JSON and Markdown.
type report struct {
	Verdict string `json:"verdict"` // PASS or FAIL: the promise (nothing lost, nothing misdelivered) and a complete run
	// Problems fail the run: an accepted event lost, a delivery to the wrong endpoint, a run
	// that could not complete.
	Problems []string `json:"problems"`
	// Findings are discrepancies that do not break the promise, e.g. the status API
	// disagreeing with what the receivers saw.
	Findings   []string           `json:"findings"`
	Command    string             `json:"command"`
	StartedAt  time.Time          `json:"started_at"`
	FinishedAt time.Time          `json:"finished_at"`
	Durations  map[string]float64 `json:"durations_seconds"`
	Machine    machine            `json:"machine"`
	Config     runConfig          `json:"config"`
	Notify     notifyFigures      `json:"notify"`
	Delivery   deliveryFigures    `json:"delivery"`
	StatusAPI  statusFigures      `json:"status_api"`
	Faults     []faultRecord      `json:"faults"`
	Timeline   []timelineEntry    `json:"timeline"`
	WorkDir    string             `json:"work_dir"`
}

type machine struct {
	Cores           int    `json:"cores"`
	OS              string `json:"os"`
	Kernel          string `json:"kernel"`
	MemTotal        string `json:"mem_total"`
	LoadAvgStart    string `json:"loadavg_start"`
	LoadAvgEnd      string `json:"loadavg_end"`
	Go              string `json:"go"`
	Temporal        string `json:"temporal"`
	Java            string `json:"java"`
	DynamoDBLocal   string `json:"dynamodb_local"`
	ServicesVersion string `json:"services_version"`
}

type runConfig struct {
	Events        int               `json:"events"`
	Rate          float64           `json:"rate_per_second"`
	Endpoints     int               `json:"endpoints"`
	Fanout        string            `json:"fanout"`
	KillInFlight  int               `json:"kill_when_in_flight"`
	DynamoHang    string            `json:"dynamodb_hang"`
	Quick         bool              `json:"quick"`
	NotifyRetries int               `json:"notify_retries"`
	ReceiverDown  string            `json:"receiver_down"`
	WaitAtMost    string            `json:"wait_at_most"`
	Settings      map[string]string `json:"service_settings"`
}

// latency is the notify round trips in milliseconds.
type latency = harness.Dist

type notifyFigures struct {
	Events             int                `json:"events"`
	Requests           int                `json:"requests"`
	ByStatus           map[string]int     `json:"requests_by_status"`
	Accepted           int                `json:"accepted"`
	AcceptedAfterRetry int                `json:"accepted_after_retry"`
	Rejected           int                `json:"rejected"`
	FinalByStatus      map[string]int     `json:"rejected_by_final_status"`
	Latency            latency            `json:"latency"`
	LatencyByFault     map[string]latency `json:"latency_by_fault"`
	Windows            []window           `json:"per_10s"`
}

// window is the notify traffic of 10 seconds of the run.
type window struct {
	From     float64 `json:"from_s"`
	Requests int     `json:"requests"`
	Accepted int     `json:"accepted"`
	Got503   int     `json:"got_503"`
	P50      float64 `json:"p50_ms"`
	Max      float64 `json:"max_ms"`
	Fault    string  `json:"fault,omitempty"`
}

type deliveryFigures struct {
	Endpoints             int            `json:"endpoints"`
	Expected              int            `json:"expected_pairs"`
	Delivered             int            `json:"delivered_pairs"`
	Lost                  int            `json:"lost"`
	Duplicated            int            `json:"duplicated"`
	DuplicatedPairs       int            `json:"duplicated_pairs"`
	RequestsSeen          int            `json:"requests_seen"`
	PairsSeenMoreThanOnce int            `json:"pairs_seen_more_than_once"`
	ReceiverAnswers       map[string]int `json:"receiver_answers"`
	UnknownEvents         int            `json:"unknown_events_delivered"`
	CanaryRequests        int            `json:"canary_requests"`
	BadSignatures         int            `json:"bad_signatures"`
	UnknownPaths          int            `json:"unknown_paths"`
	WrongEndpoint         int            `json:"wrong_endpoint"`
	EventsByOrg           map[string]int `json:"accepted_events_by_org"`
	EndpointsByOrg        map[string]int `json:"endpoints_by_org"`
	CutRequests           int            `json:"requests_cut"` // the connection closed before the answer
	OpenAtKill            int            `json:"requests_open_at_kill"`
	CutAtKill             int            `json:"requests_cut_at_kill"`
	// The duplicates' causes, by the rule DuplicateRule; Duplicates lists the first 500.
	DuplicateRule     string            `json:"duplicate_rule"`
	DuplicateCauses   map[string]int    `json:"duplicate_causes"`
	ResendsOfRecorded int               `json:"resends_of_recorded_deliveries"`
	Unattributed      int               `json:"unattributed_duplicates"`
	Duplicates        []duplicateRecord `json:"duplicates"`
}

// duplicateRecord is one duplicate: the earlier request whose outcome was lost, the resend, when
// DynamoDB recorded the pair delivered, and what its record says. Times in seconds since the
// run's start.
type duplicateRecord struct {
	EventID        string      `json:"event_id"`
	Endpoint       string      `json:"endpoint"`
	Cause          string      `json:"cause"`
	Allowed        bool        `json:"allowed"`
	Earlier        requestView `json:"earlier_request"`
	Resend         requestView `json:"resend"`
	RecordedAt     *float64    `json:"recorded_delivered_at_s"` // null: no write recording it delivered was seen
	RecordAttempts int         `json:"record_attempts"`         // -1: no record
	Record2xxAt    []float64   `json:"record_2xx_attempts_at_s"`
}

type requestView struct {
	Start  float64 `json:"start_s"`
	End    float64 `json:"end_s"`
	Status int     `json:"status"`
	Cut    bool    `json:"cut"`
}

type statusFigures struct {
	RunningWorkflowsAtCheck    int            `json:"running_workflows_at_check"`
	EventsChecked              int            `json:"events_checked"`
	AllDelivered               bool           `json:"all_delivered"`
	ByStatus                   map[string]int `json:"deliveries_by_status"`
	Errors                     int            `json:"errors"`
	WrongDeliveryCount         int            `json:"events_with_wrong_delivery_count"`
	AttemptsTotal              int            `json:"attempts_total"`
	ReceiverRequestsTotal      int            `json:"receiver_requests_total"`
	PairsAttemptsBelowRequests int            `json:"pairs_attempts_below_requests_seen"`
	PairsAttemptsAboveRequests int            `json:"pairs_attempts_above_requests_seen"`
	// PairsAttemptsBelowExplained: fewer attempts than requests, by no more than the requests
	// whose attempts died unrecorded with the worker or the store (a duplicate's earlier request).
	PairsAttemptsBelowExplained int      `json:"pairs_attempts_below_requests_by_unrecorded_attempts"`
	DeliveredButNotReceived     int      `json:"delivered_but_not_received"`
	Examples                    []string `json:"examples,omitempty"`
}

type faultRecord struct {
	Name     string  `json:"name"`
	Start    float64 `json:"start_s"`
	Duration float64 `json:"duration_s"`
	// NotifyRecovered is how long after the fault ended the next notify was accepted (202
	// answered), -1 if none was.
	NotifyRecovered float64 `json:"notify_202_after_end_s"`
	// Rejected503 counts the notify requests answered 503 between the fault's start and the
	// first 202 after its end.
	Rejected503 int `json:"notify_503s"`
}

type timelineEntry struct {
	At     float64 `json:"at_s"`
	What   string  `json:"what"`
	Detail string  `json:"detail"`
}

func secs(d time.Duration) float64 {
	return float64(d.Round(10*time.Millisecond)) / float64(time.Second)
}

func newReport(o options) *report {
	cmd := "go run ./soak"
	if len(os.Args) > 1 {
		cmd += " " + strings.Join(os.Args[1:], " ")
	}
	if m := os.Getenv("PCXSOAK_MAKE_COMMAND"); m != "" {
		cmd = strings.TrimSuffix(strings.TrimSpace(m), " SOAK_FLAGS=") + "  (runs: " + cmd + ")"
	}
	return &report{
		Command: cmd, StartedAt: time.Now().UTC(), Durations: map[string]float64{},
		Machine: machineFacts(),
		Config: runConfig{Events: o.events, Rate: o.rate, Endpoints: o.endpoints, Quick: o.quick, NotifyRetries: o.retries,
			Fanout:       fmt.Sprintf("1 event in %d to %d endpoints, 1 in %d to %d; those answer in %s", o.fanoutEvery, o.fanout, o.wideEvery, o.wide, o.slowAnswer),
			KillInFlight: o.killInFlight, DynamoHang: o.dynamoHang.String(),
			ReceiverDown: o.receiverDown.String(), WaitAtMost: o.wait.String()},
		Problems: []string{}, Findings: []string{},
	}
}

func (rep *report) finding(f string) {
	rep.Findings = append(rep.Findings, f)
	fmt.Println("FINDING:", f)
}

func (rep *report) problem(p string) {
	rep.Problems = append(rep.Problems, p)
	fmt.Println("PROBLEM:", p)
}

func (rep *report) finish(start time.Time) {
	rep.FinishedAt = time.Now().UTC()
	rep.Durations["total"] = secs(time.Since(start))
	rep.Machine.LoadAvgEnd = testenv.LoadAvg()
	rep.Verdict = "PASS"
	if len(rep.Problems) > 0 || rep.Delivery.Lost > 0 {
		rep.Verdict = "FAIL"
	}
}

func (rep *report) summaryLine() string {
	return fmt.Sprintf("soak %s: accepted %d of %d events, delivered %d of %d pairs, lost %d, duplicated %d (resends of recorded deliveries %d, unattributed %d), wrong endpoint %d; %d problem(s), %d finding(s)",
		rep.Verdict, rep.Notify.Accepted, rep.Notify.Events, rep.Delivery.Delivered, rep.Delivery.Expected, rep.Delivery.Lost,
		rep.Delivery.Duplicated, rep.Delivery.ResendsOfRecorded, rep.Delivery.Unattributed, rep.Delivery.WrongEndpoint, len(rep.Problems), len(rep.Findings))
}

func machineFacts() machine {
	m := machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), LoadAvgStart: testenv.LoadAvg(), ServicesVersion: "soak"}
	m.Kernel, m.MemTotal, m.Java = harness.Kernel(), harness.MemTotal(), harness.JavaVersion()
	m.Temporal, _ = harness.TemporalVersion()
	if dir, err := testenv.DynamoDBLocalDir(); err == nil {
		m.DynamoDBLocal = filepath.Base(dir)
	}
	return m
}

func latencyOf(ds []time.Duration) latency { return harness.DistOf(ds) }

// write saves latest.json and latest.md under dir (relative to the repository root), and a
// timestamped copy of each.
func (rep *report) write(dir string) error {
	if !filepath.IsAbs(dir) {
		root, err := testenv.RepoRoot()
		if err != nil {
			return err
		}
		dir = filepath.Join(root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	md := rep.markdown()
	stamp := rep.StartedAt.Format("20060102-150405")
	for name, data := range map[string][]byte{
		"latest.json": js, "latest.md": []byte(md),
		"soak-" + stamp + ".json": js, "soak-" + stamp + ".md": []byte(md),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("report: %s/latest.md (and latest.json, soak-%s.*)\n", dir, stamp)
	return nil
}

func (rep *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	n, d, s := rep.Notify, rep.Delivery, rep.StatusAPI
	w("# Soak run — %s", rep.Verdict)
	w("")
	w("Promise under test: **no accepted event lost, none delivered to the wrong endpoint, no delivery sent again once")
	w("it was recorded delivered**, while the worker is SIGKILLed with sends in flight and restarted, the receivers go")
	w("down, DynamoDB hangs (calls held unanswered) and DynamoDB Local is restarted, all mid-traffic; some events fan out")
	w("to 100 endpoints (a DeliverBatch of 100) and some to 250 (child workflows).")
	w("")
	w("- started %s, finished %s (total %.0fs)", rep.StartedAt.Format(time.RFC3339), rep.FinishedAt.Format(time.RFC3339), rep.Durations["total"])
	w("- command: `%s`", rep.Command)
	if len(rep.Problems) > 0 {
		w("- **problems (the run fails):**")
		for _, p := range rep.Problems {
			w("  - %s", p)
		}
	}
	if len(rep.Findings) > 0 {
		w("- **findings (the promise holds, but):**")
		for _, f := range rep.Findings {
			w("  - %s", f)
		}
	}
	w("")
	w("## Result")
	w("")
	w("| figure | value |")
	w("|---|---|")
	w("| events sent | %d at %.1f/s; accepted by organisation %s; endpoints %s |", n.Events, rep.Config.Rate, fmtMap(d.EventsByOrg), fmtMap(d.EndpointsByOrg))
	w("| accepted (202) | %d (%d of them after a retry with the same Idempotency-Key) |", n.Accepted, n.AcceptedAfterRetry)
	w("| rejected (never 202) | %d %s |", n.Rejected, fmtMap(n.FinalByStatus))
	w("| notify requests by status | %s (%d requests) |", fmtMap(n.ByStatus), n.Requests)
	w("| expected deliveries (accepted × endpoints) | %d |", d.Expected)
	w("| delivered (distinct event × endpoint answered 2xx) | %d |", d.Delivered)
	w("| **lost** (expected − delivered) | **%d** |", d.Lost)
	w("| duplicates (a verified request meant for a 2xx, beyond the first of its event × endpoint) | %d (on %d pairs) |", d.Duplicated, d.DuplicatedPairs)
	w("| **resends of a recorded delivery** (see the rule below) | **%d** |", d.ResendsOfRecorded)
	w("| requests seen by the receivers | %d (answers %s; %d pairs seen more than once, retries after 503s included) |", d.RequestsSeen, fmtMap(d.ReceiverAnswers), d.PairsSeenMoreThanOnce)
	w("| requests cut (the connection closed before the answer) | %d; open at the worker SIGKILL: %d, of them cut: %d |", d.CutRequests, d.OpenAtKill, d.CutAtKill)
	w("| wrong endpoint (canary of another org + bad signatures + unknown paths) | %d (%d + %d + %d) |", d.WrongEndpoint, d.CanaryRequests, d.BadSignatures, d.UnknownPaths)
	w("| deliveries of events never accepted | %d |", d.UnknownEvents)
	w("")
	w("## Duplicates and their causes")
	w("")
	w("%s", d.DuplicateRule)
	w("")
	w("| cause | duplicates |")
	w("|---|---|")
	for _, k := range slices.Sorted(maps.Keys(d.DuplicateCauses)) {
		w("| %s | %d |", k, d.DuplicateCauses[k])
	}
	if len(d.Duplicates) > 0 {
		w("")
		w("Examples, up to 5 of each cause (all of them, up to 500, in the JSON); times in seconds since the start:")
		w("")
		w("| event | endpoint | earlier request | resend | recorded delivered at | record: attempts, 2xx attempts began at | cause |")
		w("|---|---|---|---|---|---|---|")
		shown := map[string]int{}
		for _, x := range d.Duplicates {
			if shown[x.Cause]++; shown[x.Cause] > 5 {
				continue
			}
			recAt := "never seen"
			if x.RecordedAt != nil {
				recAt = fmt.Sprintf("%.2f", *x.RecordedAt)
			}
			w("| %s | %s | %s | %s | %s | %d, %v | %s |", x.EventID, x.Endpoint, x.Earlier, x.Resend, recAt, x.RecordAttempts, x.Record2xxAt, x.Cause)
		}
	}
	w("")
	w("## The event status API's view")
	w("")
	w("| figure | value |")
	w("|---|---|")
	w("| workflows still running when checked | %d (-1: unknown) |", s.RunningWorkflowsAtCheck)
	w("| events checked | %d (%d errors) |", s.EventsChecked, s.Errors)
	w("| all delivered? | %v — deliveries by status %s; %d events list a wrong number of deliveries |", s.AllDelivered, fmtMap(s.ByStatus), s.WrongDeliveryCount)
	w("| attempts recorded (total) | %d |", s.AttemptsTotal)
	w("| requests the receivers saw (total) | %d (attempts refused at connect are recorded but never seen) |", s.ReceiverRequestsTotal)
	w("| pairs with fewer attempts than requests seen | %d, beyond %d whose missing attempts died unrecorded with the worker SIGKILL or the DynamoDB faults (a duplicate's earlier request) |", s.PairsAttemptsBelowRequests, s.PairsAttemptsBelowExplained)
	w("| pairs with more attempts than requests seen | %d |", s.PairsAttemptsAboveRequests)
	w("| recorded delivered but no 2xx seen | %d |", s.DeliveredButNotReceived)
	for _, ex := range s.Examples {
		w("")
		w("- %s", ex)
	}
	w("")
	w("## Faults")
	w("")
	w("| fault | at | lasted | notify 503s meanwhile | next 202 after its end |")
	w("|---|---|---|---|---|")
	for _, f := range rep.Faults {
		rec := "none"
		if f.NotifyRecovered >= 0 {
			rec = fmt.Sprintf("%.1fs", f.NotifyRecovered)
		}
		w("| %s | %.1fs | %.1fs | %d | %s |", f.Name, f.Start, f.Duration, f.Rejected503, rec)
	}
	w("")
	w("### Timeline")
	w("")
	for _, t := range rep.Timeline {
		w("- %7.1fs %s — %s", t.At, t.What, t.Detail)
	}
	w("")
	w("## Notify latency (ms)")
	w("")
	w("| during | n | p50 | p95 | p99 | max |")
	w("|---|---|---|---|---|---|")
	w("| all | %d | %.0f | %.0f | %.0f | %.0f |", n.Latency.N, n.Latency.P50, n.Latency.P95, n.Latency.P99, n.Latency.Max)
	keys := slices.Sorted(maps.Keys(n.LatencyByFault))
	for _, k := range keys {
		l := n.LatencyByFault[k]
		w("| %s | %d | %.0f | %.0f | %.0f | %.0f |", k, l.N, l.P50, l.P95, l.P99, l.Max)
	}
	w("")
	w("### Notify traffic per 10 s (requests answered in the window they were sent in)")
	w("")
	w("| from | requests | 202 | 503 | p50 ms | max ms | fault |")
	w("|---|---|---|---|---|---|---|")
	for _, x := range n.Windows {
		w("| %.0fs | %d | %d | %d | %.0f | %.0f | %s |", x.From, x.Requests, x.Accepted, x.Got503, x.P50, x.Max, x.Fault)
	}
	w("")
	w("## Durations (s)")
	w("")
	dk := slices.Sorted(maps.Keys(rep.Durations))
	for _, k := range dk {
		w("- %s: %.1f", k, rep.Durations[k])
	}
	w("")
	w("## Machine")
	w("")
	m := rep.Machine
	w("- %d cores, %s, kernel %s, memory %s; load average %s at start, %s at the end", m.Cores, m.OS, m.Kernel, m.MemTotal, m.LoadAvgStart, m.LoadAvgEnd)
	w("- Go %s; Temporal CLI `%s`; %s; DynamoDB Local %s", m.Go, m.Temporal, m.Java, m.DynamoDBLocal)
	w("")
	w("## Configuration")
	w("")
	w("events %d, rate %.1f/s, endpoints %d; fan-out: %s; quick %v, notify retries %d, receivers down %s, worker killed at %d requests in flight, DynamoDB hung %s, wait at most %s",
		rep.Config.Events, rep.Config.Rate, rep.Config.Endpoints, rep.Config.Fanout, rep.Config.Quick, rep.Config.NotifyRetries, rep.Config.ReceiverDown, rep.Config.KillInFlight, rep.Config.DynamoHang, rep.Config.WaitAtMost)
	w("")
	sk := slices.Sorted(maps.Keys(rep.Config.Settings))
	for _, k := range sk {
		w("- `%s=%s`", k, rep.Config.Settings[k])
	}
	w("")
	w("Work directory: %s", rep.WorkDir)
	return b.String()
}

func (q requestView) String() string {
	s := fmt.Sprintf("%.2f–%.2f %d", q.Start, q.End, q.Status)
	if q.Cut {
		s += " cut"
	}
	return s
}

func fmtMap(m map[string]int) string {
	if len(m) == 0 {
		return "—"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
