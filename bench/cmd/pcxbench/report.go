package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Report is everything one run measured; latest.json is this, latest.md its rendering.
type Report struct {
	Schema          int               `json:"schema"`
	Date            string            `json:"date"`
	Quick           bool              `json:"quick"`
	Interrupted     bool              `json:"interrupted,omitempty"`
	DurationSeconds float64           `json:"duration_s"`
	Command         string            `json:"command"`
	MakeCommand     string            `json:"make_command,omitempty"`
	Flags           map[string]string `json:"flags"`
	Machine         Machine           `json:"machine"`
	Versions        Versions          `json:"versions"`
	Git             Git               `json:"git"`
	Processes       []*proc           `json:"processes"`
	Pcxctl          []string          `json:"pcxctl_commands"`
	InheritedConfig []string          `json:"inherited_config,omitempty"`
	Setup           Setup             `json:"setup"`
	PhaseSeconds    []PhaseTime       `json:"phase_seconds"`

	Figures    []Figure             `json:"figures"`
	Auth       *AuthSection         `json:"auth,omitempty"`
	Throughput []*ThroughputSection `json:"throughput,omitempty"`
	Notify     *NotifySection       `json:"notify,omitempty"`
	Latency    *LatencySection      `json:"latency,omitempty"`
	Fanout     []*FanoutSection     `json:"fanout,omitempty"`
	Memory     MemorySection        `json:"memory"`
	Neighbour  *NeighbourSection    `json:"noisy_neighbour,omitempty"`
	Errors     []PhaseError         `json:"errors"`
	Notes      []string             `json:"notes"`
}

type Machine struct {
	CPUs         int    `json:"cpus"`
	CPUModel     string `json:"cpu_model"`
	MemTotal     string `json:"mem_total"`
	Kernel       string `json:"kernel"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
}

type Versions struct {
	Go            string `json:"go"`
	TemporalCLI   string `json:"temporal_cli"`
	Temporal      string `json:"temporal_version_output"`
	DynamoDBLocal string `json:"dynamodb_local"`
	Java          string `json:"java"`
	Service       string `json:"service_version"`
}

type Git struct {
	Commit   string   `json:"commit"`
	Describe string   `json:"describe"`
	Dirty    bool     `json:"dirty"`
	Changed  []string `json:"changed_files,omitempty"`
}

type Setup struct {
	DepsStartSeconds     float64    `json:"deps_start_s"`
	ServicesStartSeconds float64    `json:"services_start_s"`
	KeysSeconds          float64    `json:"keys_s"`
	Table                string     `json:"table"`
	TaskQueue            string     `json:"task_queue"`
	Receivers            []string   `json:"receivers"`
	Orgs                 []OrgSetup `json:"orgs"`
}

type OrgSetup struct {
	Org       string  `json:"org"`
	Endpoints int     `json:"endpoints"`
	Method    string  `json:"method"` // "api" (POST /public/webhooks) or "store" (store.CreateWebhook)
	Seconds   float64 `json:"seconds"`
}

type PhaseError struct {
	Phase string `json:"phase"`
	Error string `json:"error"`
}

type PhaseTime struct {
	Phase        string  `json:"phase"`
	Seconds      float64 `json:"seconds"`
	LoadAvgStart string  `json:"loadavg_start"`
}

// Figure is one row of the summary: a figure, its baseline, the ratio and the aim.
type Figure struct {
	Section  string   `json:"section"`
	Name     string   `json:"name"`
	Value    *float64 `json:"value"`
	Unit     string   `json:"unit"`
	Baseline *float64 `json:"baseline,omitempty"`
	BaseName string   `json:"baseline_name,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`
	Aim      string   `json:"aim,omitempty"`
	Met      *bool    `json:"met,omitempty"` // nil: no aim, or not measured
}

type AuthSection struct {
	Concurrency      int      `json:"concurrency"`
	LightConcurrency int      `json:"light_concurrency"`
	WindowSeconds    float64  `json:"window_s_per_endpoint"`
	Cached           AuthPair `json:"cached"`
	Uncached         AuthPair `json:"uncached"`
}

type AuthPair struct {
	Server       string     `json:"server"`
	AuthCacheTTL string     `json:"auth_cache_ttl"`
	Healthz      RateResult `json:"healthz"`
	Me           RateResult `json:"me"`
	Ratio        float64    `json:"ratio_me_to_healthz"`
	AddedP50     float64    `json:"added_p50_ms"`
	AddedP99     float64    `json:"added_p99_ms"`
	// The same at light load (-auth-light-conns clients): the latency authentication adds.
	HealthzLight  RateResult `json:"healthz_light"`
	MeLight       RateResult `json:"me_light"`
	AddedP50Light float64    `json:"added_p50_light_ms"`
	AddedP99Light float64    `json:"added_p99_light_ms"`
}

type ThroughputSection struct {
	Fanout                int          `json:"fanout"`
	Slots                 int          `json:"events_in_flight"`
	Service               LoopResult   `json:"service"`
	CeilingA              LoopResult   `json:"ceiling_a"`
	CeilingAActivities    []string     `json:"ceiling_a_activities"`
	CeilingAActivityCalls int64        `json:"ceiling_a_activity_calls"`
	CeilingAShapeWarning  string       `json:"ceiling_a_shape_warning,omitempty"`
	CeilingB              DirectResult `json:"ceiling_b"`
	RatioA                float64      `json:"ratio_to_ceiling_a"`
	RatioB                float64      `json:"ratio_to_ceiling_b"`
}

type NotifySection struct {
	Concurrency    int        `json:"concurrency"`
	Endpoints      int        `json:"endpoints"`
	WindowSeconds  float64    `json:"window_s"`
	Notify         RateResult `json:"notify"`
	BareStarts     RateResult `json:"bare_starts"`
	Ratio          float64    `json:"ratio"`
	Accepted       int64      `json:"accepted_total"`
	BacklogSeconds float64    `json:"backlog_s"`
}

type LatencySection struct {
	Rate            float64    `json:"rate_per_s"`
	Seconds         float64    `json:"duration_s"`
	Endpoints       int        `json:"endpoints"`
	Service         OpenResult `json:"service"`
	NotifyRoundTrip Dist       `json:"notify_round_trip"`
	Floor           OpenResult `json:"floor"`
}

// NeighbourSection is the noisy neighbour phase: organisation A notifies to endpoints that never
// answer while organisation B runs the latency phase's load; B's figures are compared with the
// latency phase's (quiet) ones of the same run.
type NeighbourSection struct {
	NoisyEndpoints      int     `json:"noisy_endpoints"`
	NoisyHosts          int     `json:"noisy_hosts"`
	NoisyRate           float64 `json:"noisy_rate_per_s"`
	WarmupSeconds       float64 `json:"warmup_s"`
	QuietRate           float64 `json:"quiet_rate_per_s"`
	QuietSeconds        float64 `json:"quiet_duration_s"`
	WorkerConcurrency   int     `json:"worker_concurrency"`
	WebhookTimeout      string  `json:"webhook_timeout"`
	EndpointConcurrency int     `json:"webhook_endpoint_concurrency"`
	HostConcurrency     int     `json:"webhook_host_concurrency"`
	Seconds             float64 `json:"seconds"`

	Noisy            OpenResult `json:"noisy_notifies"`
	NoisyRequests    int64      `json:"noisy_requests_received"`
	NoisyMaxHeld     int64      `json:"noisy_max_held"`
	HeldAtQuietStart int64      `json:"noisy_held_at_quiet_start"`
	NoisyTerminated  int        `json:"noisy_workflows_terminated"`
	CleanupSeconds   float64    `json:"cleanup_s"`

	Quiet                OpenResult `json:"quiet"`
	QuietNotifyRoundTrip Dist       `json:"quiet_notify_round_trip"`
	QuietFailed          int        `json:"quiet_failed"`
	QuietStatusChecked   int        `json:"quiet_events_checked"`
	RatioP99             float64    `json:"ratio_p99_to_quiet_latency_phase"`

	WorkerRSSStartMiB float64 `json:"worker_rss_start_mib"`
	WorkerRSSEndMiB   float64 `json:"worker_rss_end_mib"`
	// WorkerRSSQuietStartMiB is the worker's RSS when B's load started (A busy for the warm-up).
	WorkerRSSQuietStartMiB float64 `json:"worker_rss_quiet_start_mib"`
	WorkerRSSMaxMiB        float64 `json:"worker_rss_max_mib"`
}

type FanoutSection struct {
	Endpoints      int     `json:"endpoints"`
	Registered     string  `json:"registered"`
	EndpointCount  int     `json:"endpoint_count"`
	NotifyMs       float64 `json:"notify_ms"`
	Delivered      int     `json:"delivered"`
	Duplicates     int     `json:"duplicates"`
	Complete       bool    `json:"complete"`
	FirstReceiptMs float64 `json:"first_receipt_ms"`
	Seconds        float64 `json:"seconds_to_last"`
	PerEndpointMs  float64 `json:"per_endpoint_ms"`
	CeilingSeconds float64 `json:"ceiling_a_seconds"`
	RatioToCeiling float64 `json:"ratio_to_ceiling_a"`
}

type MemorySection struct {
	Points []MemSample  `json:"points"`
	Soak   *SoakSection `json:"soak,omitempty"`
}

type MemSample struct {
	Label     string             `json:"label,omitempty"`
	AtSeconds float64            `json:"at_s"`
	RSSMiB    map[string]float64 `json:"rss_mib"`
	Delivered int64              `json:"delivered,omitempty"`
}

type SoakSection struct {
	Rate             float64           `json:"rate_events_per_s"`
	RateFrom         string            `json:"rate_from"`
	Fanout           int               `json:"fanout"`
	Seconds          float64           `json:"duration_s"`
	SampleSeconds    float64           `json:"sample_s"`
	WarmAfterSeconds float64           `json:"warm_after_s"`
	Load             OpenResult        `json:"load"`
	Samples          []MemSample       `json:"samples"`
	Growth           map[string]Growth `json:"growth"`
}

type Growth struct {
	WarmMiB      float64 `json:"warm_mib"`
	EndMiB       float64 `json:"end_mib"`
	MinMiB       float64 `json:"min_mib"`
	MaxMiB       float64 `json:"max_mib"`
	GrowthPct    float64 `json:"growth_pct"`
	MaxGrowthPct float64 `json:"max_growth_pct"`
}

// analyse computes each process's growth from the first sample at or after warm to the last.
func (s *SoakSection) analyse(warm time.Duration) {
	s.WarmAfterSeconds = warm.Seconds()
	s.Growth = map[string]Growth{}
	if len(s.Samples) == 0 {
		return
	}
	wi := len(s.Samples) - 1
	for i, x := range s.Samples {
		if x.AtSeconds >= warm.Seconds() {
			wi = i
			break
		}
	}
	for name := range s.Samples[0].RSSMiB {
		g := Growth{MinMiB: math.Inf(1)}
		g.WarmMiB = s.Samples[wi].RSSMiB[name]
		for _, x := range s.Samples {
			v, ok := x.RSSMiB[name]
			if !ok {
				continue
			}
			g.MinMiB, g.MaxMiB = math.Min(g.MinMiB, v), math.Max(g.MaxMiB, v)
		}
		g.EndMiB = s.Samples[len(s.Samples)-1].RSSMiB[name]
		var maxAfter float64
		for _, x := range s.Samples[wi:] {
			maxAfter = math.Max(maxAfter, x.RSSMiB[name])
		}
		if g.WarmMiB > 0 {
			g.GrowthPct = round((g.EndMiB/g.WarmMiB-1)*100, 1)
			g.MaxGrowthPct = round((maxAfter/g.WarmMiB-1)*100, 1)
		}
		s.Growth[name] = g
	}
}

func mergeRates(a, b RateResult) RateResult {
	r := RateResult{Concurrency: a.Concurrency}
	r.WindowSeconds = a.WindowSeconds + b.WindowSeconds
	r.Requests = a.Requests + b.Requests
	r.Errors = a.Errors + b.Errors
	r.LastError = a.LastError + b.LastError
	if r.WindowSeconds > 0 {
		r.PerSecond = float64(r.Requests) / r.WindowSeconds
	}
	r.raw = append(append([]time.Duration{}, a.raw...), b.raw...)
	r.Latency = dist(r.raw)
	if a.CPU != nil && b.CPU != nil && r.WindowSeconds > 0 {
		r.CPU = map[string]float64{}
		for k, va := range a.CPU {
			r.CPU[k] = round((va*a.WindowSeconds+b.CPU[k]*b.WindowSeconds)/r.WindowSeconds, 1)
		}
	}
	return r
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func newReport(o *options, fs *flag.FlagSet) *Report {
	r := &Report{Schema: 1, Date: time.Now().UTC().Format(time.RFC3339), Quick: o.quick, Flags: map[string]string{},
		Command: strings.Join(os.Args, " "), MakeCommand: os.Getenv("PCXBENCH_MAKE_COMMAND"), Errors: []PhaseError{}}
	fs.VisitAll(func(f *flag.Flag) { r.Flags[f.Name] = f.Value.String() })
	// The effective values (-quick changes defaults).
	r.Flags["warmup"], r.Flags["window"] = o.warmup.String(), o.window.String()
	r.Flags["auth-warmup"], r.Flags["auth-window"] = o.authWarmup.String(), o.authWindow.String()
	r.Flags["notify-warmup"], r.Flags["notify-window"] = o.notifyWarmup.String(), o.notifyWindow.String()
	r.Flags["neighbour-warmup"] = o.neighbourWarmup.String()
	r.Flags["latency-duration"], r.Flags["soak"], r.Flags["soak-sample"] = o.latencyDur.String(), o.soak.String(), o.soakSample.String()
	r.Flags["drain"], r.Flags["stall"] = o.drain.String(), o.stall.String()
	r.Flags["fanout-sizes"] = (*intList)(&o.fanoutSizes).String()
	r.Machine, r.Versions, r.Git = machineInfo(), versionInfo(), gitInfo()
	return r
}

func f64(x float64) *float64 { return &x }
func bptr(x bool) *bool      { return &x }

// computeFigures fills the summary from the sections.
func (r *Report) computeFigures() {
	var fs []Figure
	add := func(f Figure) { fs = append(fs, f) }
	ratioFig := func(section, name string, v, base float64, unit, baseName, aim string, min float64) Figure {
		f := Figure{Section: section, Name: name, Value: f64(round(v, 2)), Unit: unit, Baseline: f64(round(base, 2)), BaseName: baseName, Aim: aim}
		if base > 0 {
			f.Ratio = f64(round(v/base, 3))
			if min > 0 {
				f.Met = bptr(v/base >= min)
			}
		}
		return f
	}
	// gate blanks what was not measured (a failed or interrupted phase): no zero passes for a
	// figure, and no ratio to a missing baseline.
	gate := func(f Figure, value, base bool) Figure {
		if !base {
			f.Baseline, f.Ratio = nil, nil
			if f.Aim != "" && strings.Contains(f.Aim, "×") {
				f.Met = nil
			}
		}
		if !value {
			f.Value, f.Ratio, f.Met = nil, nil, nil
			f.Name += " — not measured (see Errors)"
		}
		return f
	}
	if a := r.Auth; a != nil {
		ok := func(x RateResult) bool { return x.Requests > 0 }
		add(gate(ratioFig("1 auth", "GET /public/me throughput, key cache on", a.Cached.Me.PerSecond, a.Cached.Healthz.PerSecond, "req/s", "GET /healthz, same server", "≥ 0.85× /healthz", 0.85), ok(a.Cached.Me), ok(a.Cached.Healthz)))
		add(gate(Figure{Section: "1 auth", Name: fmt.Sprintf("added p99 of /public/me, key cache on, %d client(s)", a.LightConcurrency), Value: f64(a.Cached.AddedP99Light), Unit: "ms",
			Baseline: f64(a.Cached.HealthzLight.Latency.P99), BaseName: "/healthz p99, same load", Aim: "< 1 ms", Met: bptr(a.Cached.AddedP99Light < 1)}, ok(a.Cached.MeLight) && ok(a.Cached.HealthzLight), true))
		add(gate(Figure{Section: "1 auth", Name: fmt.Sprintf("added p99 of /public/me, key cache on, %d clients (saturated)", a.Concurrency), Value: f64(a.Cached.AddedP99), Unit: "ms",
			Baseline: f64(a.Cached.Healthz.Latency.P99), BaseName: "/healthz p99, same load"}, ok(a.Cached.Me) && ok(a.Cached.Healthz), true))
		add(gate(ratioFig("1 auth", "GET /public/me throughput, AUTH_CACHE_TTL=0", a.Uncached.Me.PerSecond, a.Uncached.Healthz.PerSecond, "req/s", "GET /healthz, same server", "", 0), ok(a.Uncached.Me), ok(a.Uncached.Healthz)))
		add(gate(Figure{Section: "1 auth", Name: fmt.Sprintf("added p99 of /public/me, AUTH_CACHE_TTL=0, %d client(s)", a.LightConcurrency), Value: f64(a.Uncached.AddedP99Light), Unit: "ms",
			Baseline: f64(a.Uncached.HealthzLight.Latency.P99), BaseName: "/healthz p99, same load"}, ok(a.Uncached.MeLight) && ok(a.Uncached.HealthzLight), true))
	}
	for _, t := range r.Throughput {
		sec := fmt.Sprintf("2 throughput (%d/event)", t.Fanout)
		svc, ca, cb := t.Service.WindowSeconds > 0, t.CeilingA.WindowSeconds > 0 && t.CeilingAShapeWarning == "", t.CeilingB.PerSecond > 0
		add(gate(ratioFig(sec, fmt.Sprintf("deliveries/s at %d endpoints per event vs ceiling (a)", t.Fanout), t.Service.PerSecond, t.CeilingA.PerSecond, "deliveries/s", "ceiling (a): same workflows, no-op activities", "≥ 0.7× ceiling (a)", 0.7), svc, ca))
		add(gate(ratioFig(sec, fmt.Sprintf("deliveries/s at %d endpoints per event vs ceiling (b)", t.Fanout), t.Service.PerSecond, t.CeilingB.PerSecond, "deliveries/s", "ceiling (b): direct POSTs from one Go process", "", 0), svc, cb))
		if t.Fanout == 100 {
			add(gate(Figure{Section: sec, Name: "deliveries/s at 100 endpoints per event (absolute)", Value: f64(round(t.Service.PerSecond, 1)), Unit: "deliveries/s", Aim: "≥ 1,000/s", Met: bptr(t.Service.PerSecond >= 1000)}, svc, true))
		}
	}
	if n := r.Notify; n != nil {
		add(gate(ratioFig("3 notify", fmt.Sprintf("accepted notifies/s (202), %d clients, %d endpoint(s)", n.Concurrency, n.Endpoints), n.Notify.PerSecond, n.BareStarts.PerSecond, "req/s", "bare workflow starts/s, same server", "≥ 0.8× bare starts", 0.8), n.Notify.WindowSeconds > 0, n.BareStarts.Requests > 0))
	}
	if l := r.Latency; l != nil && l.Service.Latency.N > 0 {
		add(gate(Figure{Section: "4 latency", Name: "notify 202 → receipt p50", Value: f64(l.Service.Latency.P50), Unit: "ms", Baseline: f64(l.Floor.Latency.P50), BaseName: "floor: start → no-op delivery activity", Ratio: ratioOf(l.Service.Latency.P50, l.Floor.Latency.P50), Aim: "≤ 50 ms", Met: bptr(l.Service.Latency.P50 <= 50)}, true, l.Floor.Latency.N > 0))
		add(gate(Figure{Section: "4 latency", Name: "notify 202 → receipt p95", Value: f64(l.Service.Latency.P95), Unit: "ms", Baseline: f64(l.Floor.Latency.P95), BaseName: "floor p95", Ratio: ratioOf(l.Service.Latency.P95, l.Floor.Latency.P95)}, true, l.Floor.Latency.N > 0))
		add(gate(Figure{Section: "4 latency", Name: "notify 202 → receipt p99", Value: f64(l.Service.Latency.P99), Unit: "ms", Baseline: f64(l.Floor.Latency.P99), BaseName: "floor p99", Ratio: ratioOf(l.Service.Latency.P99, l.Floor.Latency.P99), Aim: "≤ 250 ms", Met: bptr(l.Service.Latency.P99 <= 250)}, true, l.Floor.Latency.N > 0))
	}
	var t1k, t10k *FanoutSection
	for _, f := range r.Fanout {
		name := fmt.Sprintf("one event to %d endpoints: time to last receipt", f.Endpoints)
		if !f.Complete {
			name += fmt.Sprintf(" (INCOMPLETE: %d reached)", f.Delivered)
		}
		add(gate(Figure{Section: "5 fan-out", Name: name, Value: f64(f.Seconds), Unit: "s",
			Baseline: f64(f.CeilingSeconds), BaseName: "ceiling (a), same fan-out", Ratio: ratioOf(f.Seconds, f.CeilingSeconds)}, f.Delivered > 0, f.CeilingSeconds > 0))
		switch f.Endpoints {
		case 1000:
			t1k = f
		case 10000:
			t10k = f
			add(Figure{Section: "5 fan-out", Name: "all 10,000 endpoints delivered", Value: f64(float64(f.Delivered)), Unit: "endpoints", Aim: "all", Met: bptr(f.Complete)})
		}
	}
	if t1k != nil && t10k != nil {
		f := Figure{Section: "5 fan-out", Name: "time of 10,000 vs 1,000 endpoints", Value: f64(t10k.Seconds), Unit: "s", Baseline: f64(t1k.Seconds), BaseName: "1,000 endpoints", Aim: "≤ 12×"}
		if t1k.Seconds > 0 && t10k.Complete {
			f.Ratio = f64(round(t10k.Seconds/t1k.Seconds, 2))
			f.Met = bptr(*f.Ratio <= 12)
		} else {
			f.Met = bptr(false)
		}
		add(f)
	}
	if s := r.Memory.Soak; s != nil {
		for _, name := range []string{"api", "worker"} {
			g, ok := s.Growth[name]
			if !ok {
				continue
			}
			add(Figure{Section: "6 memory", Name: fmt.Sprintf("%s RSS growth over the soak, once warm", name), Value: f64(g.EndMiB), Unit: "MiB",
				Baseline: f64(g.WarmMiB), BaseName: fmt.Sprintf("first warm sample (%.0fs in)", s.WarmAfterSeconds), Ratio: ratioOf(g.EndMiB, g.WarmMiB), Aim: "≤ +10%", Met: bptr(g.GrowthPct <= 10)})
		}
	}
	if nb := r.Neighbour; nb != nil {
		sec := "7 noisy neighbour"
		var quiet *Dist
		if l := r.Latency; l != nil && l.Service.Latency.N > 0 {
			quiet = &l.Service.Latency
		}
		measured := nb.Quiet.Latency.N > 0
		for _, q := range []struct {
			name     string
			v        func(Dist) float64
			aim      string
			maxRatio float64
		}{
			{"p50", func(d Dist) float64 { return d.P50 }, "", 0},
			{"p99", func(d Dist) float64 { return d.P99 }, "≤ 1.5× quiet p99", 1.5},
		} {
			f := Figure{Section: sec, Name: "B's notify 202 → receipt " + q.name + " while A's endpoints hang", Value: f64(q.v(nb.Quiet.Latency)), Unit: "ms",
				BaseName: "latency phase (quiet) " + q.name + ", same run", Aim: q.aim}
			if quiet != nil {
				f.Baseline = f64(q.v(*quiet))
				f.Ratio = ratioOf(q.v(nb.Quiet.Latency), q.v(*quiet))
				if q.maxRatio > 0 && f.Ratio != nil {
					f.Met = bptr(*f.Ratio <= q.maxRatio)
				}
			}
			add(gate(f, measured, quiet != nil))
		}
		add(gate(Figure{Section: sec, Name: fmt.Sprintf("B's deliveries failed or not received (of %d events)", nb.Quiet.Sent), Value: f64(float64(nb.QuietFailed)), Unit: "deliveries", Aim: "0", Met: bptr(nb.QuietFailed == 0)}, nb.Quiet.Sent > 0, true))
		// Flat is judged once A is warm (its held sends are its working set, not growth), as the
		// soak's growth is; the RSS before A is in the figure's name.
		rss := nb.WorkerRSSQuietStartMiB > 0 && nb.WorkerRSSEndMiB > 0
		f := Figure{Section: sec, Name: fmt.Sprintf("worker RSS at the end of the phase (%.1f MiB before A)", nb.WorkerRSSStartMiB), Value: f64(nb.WorkerRSSEndMiB), Unit: "MiB",
			Baseline: f64(nb.WorkerRSSQuietStartMiB), BaseName: "when B started (A warm)", Ratio: ratioOf(nb.WorkerRSSEndMiB, nb.WorkerRSSQuietStartMiB), Aim: "flat (≤ +10%)"}
		if f.Ratio != nil {
			f.Met = bptr(*f.Ratio <= 1.1)
		}
		add(gate(f, rss, rss))
	}
	r.Figures = fs
	r.Notes = append(r.Notes, notes(r)...)
}

func ratioOf(v, base float64) *float64 {
	if base <= 0 {
		return nil
	}
	return f64(round(v/base, 3))
}

func notes(r *Report) []string {
	n := []string{
		"Everything (DynamoDB Local, the Temporal dev server, api, worker, and this bench process with its receivers and load drivers) shares the same CPUs: figures are comparable within a run, as ratios; absolute numbers move with the machine.",
		"Phases run one after another; each waits until no workflow of its task queue is running before the next starts. Warm-ups are discarded.",
		"Deliveries are counted where they land: requests received by the bench's HTTPS receivers (HTTP 200 at once, one path per endpoint, spread over several listeners).",
		"Ceiling (a) runs the production workflows (workflows.Register) on the same server with every activity replaced by a no-op under the same name (bench/cmd/pcxbench/ceiling.go, registerCeiling); its deliveries are counted as completed events × fan-out. Ceiling (b) sends the same number of POSTs (at least 20,000) of the same body and headers with the worker's own delivery client (worker.DeliveryClient), WORKER_CONCURRENCY at a time; best of 3 rounds.",
		"The notify phase notifies an organisation with few endpoints (see the figure) so delivery load stays light; its deliveries finish after the window (backlog time in section 3).",
	}
	if avg, mx, k := r.othersCPU(); k > 0 {
		n = append(n, fmt.Sprintf("Noise: during the %d measured windows with a CPU breakdown, work outside this run used on average %.0f%% of one core (at most %.0f%%) of the machine's %d cores; load average %s at the start, %s at the end.", k, avg, mx, r.Machine.CPUs, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd))
	}
	if r.Quick {
		n = append(n, "QUICK run (-quick): short windows, smaller fan-outs and soak; a smoke test, not figures to quote.")
	}
	if len(r.InheritedConfig) > 0 {
		n = append(n, "Configuration inherited from the bench's environment: "+strings.Join(r.InheritedConfig, ", "))
	}
	return n
}

// ---- rendering -------------------------------------------------------------------------------

func fmtNum(p *float64, unit string) string {
	if p == nil {
		return "–"
	}
	v := *p
	s := ""
	switch {
	case math.Abs(v) >= 100:
		s = fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

func metStr(m *bool) string {
	switch {
	case m == nil:
		return "–"
	case *m:
		return "**met**"
	default:
		return "**missed**"
	}
}

func (r *Report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	title := "PCX webhook service — benchmark report"
	if r.Quick {
		title += " (QUICK smoke run)"
	}
	w("# %s\n\n", title)
	w("- **Date:** %s (took %.0f s)%s\n", r.Date, r.DurationSeconds, map[bool]string{true: " — **interrupted**", false: ""}[r.Interrupted])
	dirty := ""
	if r.Git.Dirty {
		dirty = fmt.Sprintf(" — **uncommitted changes** in %s", strings.Join(r.Git.Changed, ", "))
	}
	w("- **Code:** %s (`%s`)%s\n", r.Git.Commit, r.Git.Describe, dirty)
	w("- **Machine:** %d CPUs (%s), %s RAM, %s; load average at start %s, at end %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemTotal, r.Machine.Kernel, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	w("- **Versions:** %s; Temporal CLI %s (`temporal --version`: %s); DynamoDB Local %s; %s; service %s\n", r.Versions.Go, r.Versions.TemporalCLI, r.Versions.Temporal, r.Versions.DynamoDBLocal, r.Versions.Java, r.Versions.Service)
	if r.MakeCommand != "" {
		w("- **Command:** `%s` → `%s`\n", r.MakeCommand, r.Command)
	} else {
		w("- **Command:** `%s`\n", r.Command)
	}
	if len(r.Errors) > 0 {
		w("- **Phase errors:** %d (see [Errors](#errors)); the exit status is non-zero\n", len(r.Errors))
	}
	w("\n## Summary\n\nEach figure is measured in this run next to its baseline; the ratio is value ÷ baseline.\n\n")
	w("| section | figure | value | baseline | ratio | aim | result |\n|---|---|---:|---|---:|---|---|\n")
	for _, f := range r.Figures {
		base := "–"
		if f.Baseline != nil {
			base = fmtNum(f.Baseline, f.Unit) + " (" + f.BaseName + ")"
		}
		ratio := "–"
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%.3g×", *f.Ratio)
		}
		aim := f.Aim
		if aim == "" {
			aim = "–"
		}
		w("| %s | %s | %s | %s | %s | %s | %s |\n", f.Section, f.Name, fmtNum(f.Value, f.Unit), base, ratio, aim, metStr(f.Met))
	}

	if a := r.Auth; a != nil {
		w("\n## 1. Auth overhead\n\nKeep-alive clients back to back: %d at once (saturating: throughput), then %d (light load: the latency authentication adds without queueing). Each endpoint measured for %.0f s at full load (half that at light load) in two halves in ABBA order (healthz, me, me, healthz), after a warm-up each. Same client, same server; `/public/me` with a valid key. CPU: percent of one core over the window.\n\n", a.Concurrency, a.LightConcurrency, a.WindowSeconds)
		w("| server | AUTH_CACHE_TTL | clients | endpoint | req/s | p50 ms | p99 ms | max ms | errors | CPU api / dynamodb / bench / irq / others |\n|---|---|---:|---|---:|---:|---:|---:|---:|---|\n")
		for _, p := range []AuthPair{a.Cached, a.Uncached} {
			for _, load := range []struct {
				c      int
				hz, me RateResult
				ratio  float64
				p50    float64
				p99    float64
			}{{a.Concurrency, p.Healthz, p.Me, p.Ratio, p.AddedP50, p.AddedP99}, {a.LightConcurrency, p.HealthzLight, p.MeLight, 0, p.AddedP50Light, p.AddedP99Light}} {
				for _, x := range []struct {
					n string
					r RateResult
				}{{"GET /healthz", load.hz}, {"GET /public/me", load.me}} {
					w("| %s | %s | %d | %s | %.0f | %.3f | %.3f | %.2f | %d | %s |\n", p.Server, p.AuthCacheTTL, load.c, x.n, x.r.PerSecond, x.r.Latency.P50, x.r.Latency.P99, x.r.Latency.Max, x.r.Errors, cpuCell(x.r.CPU, p.Server, "dynamodb-local", "pcxbench", "irq", "others"))
				}
				ratio := "–"
				if load.ratio > 0 {
					ratio = fmt.Sprintf("**%.3f×**", load.ratio)
				}
				w("| | | | **me − healthz** | %s | %+.3f | %+.3f | | | |\n", ratio, load.p50, load.p99)
			}
		}
	}
	if len(r.Throughput) > 0 {
		w("\n## 2. Delivery throughput\n\nClosed loop: a fixed number of events in flight (an event is complete when every one of its endpoints has received it); a new notify as each completes. Measured over a fixed window after a warm-up; deliveries counted at the receivers.\n\n")
		w("| endpoints/event | what | events in flight | window s | deliveries in window | deliveries/s | events/s | event time p50 / p99 ms | incomplete | ratio |\n|---:|---|---:|---:|---:|---:|---:|---|---:|---:|\n")
		for _, t := range r.Throughput {
			w("| %d | service (notify → HTTPS receivers) | %d | %.1f | %d | **%.1f** | %.2f | %.0f / %.0f | %d | |\n", t.Fanout, t.Slots, t.Service.WindowSeconds, t.Service.WindowDeliveries, t.Service.PerSecond, t.Service.EventsPerSecond, t.Service.EventTime.P50, t.Service.EventTime.P99, t.Service.EventsIncomplete)
			w("| %d | ceiling (a): same workflows, no-op activities | %d | %.1f | %d | %.1f | %.2f | %.0f / %.0f | %d | %.3f× |\n", t.Fanout, t.Slots, t.CeilingA.WindowSeconds, t.CeilingA.WindowDeliveries, t.CeilingA.PerSecond, t.CeilingA.EventsPerSecond, t.CeilingA.EventTime.P50, t.CeilingA.EventTime.P99, t.CeilingA.EventsIncomplete, t.RatioA)
			w("| %d | ceiling (b): %d direct POSTs, %d at a time, best of %d | – | %.2f | %d | %.0f | – | %.1f / %.1f (per POST) | – | %.4f× |\n", t.Fanout, t.CeilingB.POSTs, t.CeilingB.Concurrency, len(t.CeilingB.Rounds), t.CeilingB.Seconds, t.CeilingB.POSTs, t.CeilingB.PerSecond, t.CeilingB.Latency.P50, t.CeilingB.Latency.P99, t.RatioB)
		}
		w("\nWhere the CPU went during each window (percent of one core; the machine has %d; \"irq\": interrupt time charged to no process (loopback networking), \"others\": work outside this run, \"machine-idle\": what was left):\n\n", r.Machine.CPUs)
		w("| endpoints/event | what | %s |\n|---:|---|%s\n", strings.Join(cpuColumns, " | "), strings.Repeat("---:|", len(cpuColumns)))
		for _, t := range r.Throughput {
			for _, x := range []struct {
				n string
				c map[string]float64
			}{{"service", t.Service.CPU}, {"ceiling (a)", t.CeilingA.CPU}, {"ceiling (b)", t.CeilingB.CPU}} {
				w("| %d | %s | %s |\n", t.Fanout, x.n, strings.ReplaceAll(cpuCell(x.c, cpuColumns...), " / ", " | "))
			}
		}
		w("\n")
		for _, t := range r.Throughput {
			if top := busiest(t.Service.CPU, 3); top != "" {
				w("- %d/event, service window: busiest %s.\n", t.Fanout, top)
			}
			if t.Service.Duplicates > 0 {
				w("- %d/event: the receivers saw %d duplicate deliveries (same event, same endpoint).\n", t.Fanout, t.Service.Duplicates)
			}
			w("- %d/event: ceiling (a) registered %s (%d no-op calls). Service: %d notify errors%s.\n", t.Fanout, strings.Join(t.CeilingAActivities, ", "), t.CeilingAActivityCalls, t.Service.StartErrors, lastErr(t.Service.LastStartError))
			if t.CeilingAShapeWarning != "" {
				w("- **%s**\n", t.CeilingAShapeWarning)
			}
		}
	}
	if n := r.Notify; n != nil {
		w("\n## 3. Notify rate\n\n%d concurrent clients for %.0f s after a warm-up. Service: `POST /public/webhooks/notify` for an organisation with %d endpoint(s) (so delivery load stays light; the worker delivers them meanwhile). Baseline: bare `client.ExecuteWorkflow` of a workflow that returns at once (same start options as the API: ID policies, search attributes), from as many goroutines, on the same server, served by the bench's own worker.\n\n", n.Concurrency, n.WindowSeconds, n.Endpoints)
		cols := []string{"temporal", "api", "worker", "dynamodb-local", "pcxbench", "irq", "others", "machine-idle"}
		w("| what | per s | p50 ms | p99 ms | max ms | errors | CPU %% of one core: %s |\n|---|---:|---:|---:|---:|---:|---|\n", strings.Join(cols, " / "))
		w("| notify → 202 | **%.1f** | %.1f | %.1f | %.1f | %d | %s |\n", n.Notify.PerSecond, n.Notify.Latency.P50, n.Notify.Latency.P99, n.Notify.Latency.Max, n.Notify.Errors, cpuCell(n.Notify.CPU, cols...))
		w("| bare workflow start | %.1f | %.1f | %.1f | %.1f | %d | %s |\n", n.BareStarts.PerSecond, n.BareStarts.Latency.P50, n.BareStarts.Latency.P99, n.BareStarts.Latency.Max, n.BareStarts.Errors, cpuCell(n.BareStarts.CPU, cols...))
		w("| **ratio** | **%.3f×** | | | | | |\n\n", n.Ratio)
		w("%d events accepted in all (warm-up included); their deliveries were all in %.1f s after the window.\n", n.Accepted, n.BacklogSeconds)
	}
	if l := r.Latency; l != nil {
		w("\n## 4. Latency\n\nOpen loop: %.1f events/s for %.0f s, %d endpoint each. Service: from the 202 of notify to the receiver's receipt (both clocks in the bench process). Floor: same rate, the real workflow with no-op activities on the same server, from the return of the workflow start to the no-op delivery activity running.\n\n", l.Rate, l.Seconds, l.Endpoints)
		w("| what | events | p50 ms | p95 ms | p99 ms | max ms | mean ms | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		w("| service: 202 → receipt | %d | **%.1f** | %.1f | **%.1f** | %.1f | %.1f | %d |\n", l.Service.Latency.N, l.Service.Latency.P50, l.Service.Latency.P95, l.Service.Latency.P99, l.Service.Latency.Max, l.Service.Latency.Mean, l.Service.Errors)
		w("| service: notify round trip | %d | %.1f | %.1f | %.1f | %.1f | %.1f | |\n", l.NotifyRoundTrip.N, l.NotifyRoundTrip.P50, l.NotifyRoundTrip.P95, l.NotifyRoundTrip.P99, l.NotifyRoundTrip.Max, l.NotifyRoundTrip.Mean)
		w("| floor: start → no-op activity | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n", l.Floor.Latency.N, l.Floor.Latency.P50, l.Floor.Latency.P95, l.Floor.Latency.P99, l.Floor.Latency.Max, l.Floor.Latency.Mean, l.Floor.Errors)
	}
	if len(r.Fanout) > 0 {
		w("\n## 5. Fan-out scale\n\nOne event to N distinct endpoints (distinct paths on the loopback receivers). Time from the 202 to the last receipt; ceiling (a): the same workflows with no-op activities, from start to workflow completion.\n\n")
		w("| endpoints | registered via | endpoint_count | reached | duplicates | first receipt ms | to last receipt s | per endpoint ms | ceiling (a) s | ratio to (a) |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, f := range r.Fanout {
			w("| %d | %s | %d | %d | %d | %.0f | **%.2f** | %.2f | %.2f | %.2f× |\n", f.Endpoints, f.Registered, f.EndpointCount, f.Delivered, f.Duplicates, f.FirstReceiptMs, f.Seconds, f.PerEndpointMs, f.CeilingSeconds, f.RatioToCeiling)
		}
	}
	w("\n## 6. Memory\n\nVmRSS from /proc/<pid>/status.\n\n")
	names := procNames(r.Memory.Points)
	if len(r.Memory.Points) > 0 {
		w("| when | at s | %s |\n|---|---:|%s\n", strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
		for _, p := range r.Memory.Points {
			w("| %s | %.0f |%s\n", p.Label, p.AtSeconds, rssCells(p, names))
		}
	}
	if s := r.Memory.Soak; s != nil {
		w("\nSoak: %.1f events/s to %d endpoints each (%s) for %.0f s, sampled every %.0f s; \"warm\" is the first sample at or after %.0f s. %d notifies sent, %d failed.\n\n", s.Rate, s.Fanout, s.RateFrom, s.Seconds, s.SampleSeconds, s.WarmAfterSeconds, s.Load.Sent, s.Load.Errors)
		w("| process | warm MiB | end MiB | min MiB | max MiB | growth warm → end | max growth |\n|---|---:|---:|---:|---:|---:|---:|\n")
		gn := slices.Sorted(maps.Keys(s.Growth))
		for _, n := range gn {
			g := s.Growth[n]
			w("| %s | %.1f | %.1f | %.1f | %.1f | %+.1f%% | %+.1f%% |\n", n, g.WarmMiB, g.EndMiB, g.MinMiB, g.MaxMiB, g.GrowthPct, g.MaxGrowthPct)
		}
		sn := procNames(s.Samples)
		w("\n<details><summary>soak samples</summary>\n\n| at s | delivered | %s |\n|---:|---:|%s\n", strings.Join(sn, " | "), strings.Repeat("---:|", len(sn)))
		for _, p := range s.Samples {
			w("| %.0f | %d |%s\n", p.AtSeconds, p.Delivered, rssCells(p, sn))
		}
		w("\n</details>\n")
	}

	if nb := r.Neighbour; nb != nil {
		w("\n## 7. Noisy neighbour\n\nOrganisation A notifies %.2f events/s (open loop) to %d endpoints spread over %d loopback hosts (127.0.0.2, …) whose listeners complete TLS, read the request and never answer, so each send holds its slot until the worker gives up (WEBHOOK_TIMEOUT=%s). After a %.0f s warm-up, organisation B runs the latency phase's load (%.1f events/s to one endpoint for %.0f s) meanwhile. The worker: WORKER_CONCURRENCY=%d, WEBHOOK_ENDPOINT_CONCURRENCY=%d, WEBHOOK_HOST_CONCURRENCY=%d. Aim: B's p99 ≤ 1.5× the quiet latency phase's p99, no B delivery failed, worker RSS flat.\n\n",
			nb.NoisyRate, nb.NoisyEndpoints, nb.NoisyHosts, nb.WebhookTimeout, nb.WarmupSeconds, nb.QuietRate, nb.QuietSeconds, nb.WorkerConcurrency, nb.EndpointConcurrency, nb.HostConcurrency)
		w("| what | events | p50 ms | p95 ms | p99 ms | max ms | mean ms | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		if l := r.Latency; l != nil {
			w("| quiet (latency phase): 202 → receipt | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n", l.Service.Latency.N, l.Service.Latency.P50, l.Service.Latency.P95, l.Service.Latency.P99, l.Service.Latency.Max, l.Service.Latency.Mean, l.Service.Errors)
		}
		q := nb.Quiet.Latency
		w("| B, A busy: 202 → receipt | %d | **%.1f** | %.1f | **%.1f** | %.1f | %.1f | %d |\n", q.N, q.P50, q.P95, q.P99, q.Max, q.Mean, nb.Quiet.Errors)
		t := nb.QuietNotifyRoundTrip
		w("| B, A busy: notify round trip | %d | %.1f | %.1f | %.1f | %.1f | %.1f | |\n", t.N, t.P50, t.P95, t.P99, t.Max, t.Mean)
		ratio := "–"
		if nb.RatioP99 > 0 {
			ratio = fmt.Sprintf("%.2f×", nb.RatioP99)
		}
		w("\n- B p99 / quiet p99: **%s**; B deliveries failed or not received: **%d** (%d events' statuses read).\n", ratio, nb.QuietFailed, nb.QuietStatusChecked)
		w("- A: %d notifies accepted (%d failed), %d sends reached the hanging listeners, at most %d held at once (%d when B started).\n", nb.Noisy.Completed, nb.Noisy.Errors, nb.NoisyRequests, nb.NoisyMaxHeld, nb.HeldAtQuietStart)
		w("- Worker RSS: %.1f MiB at the start (before A), %.1f MiB when B started, %.1f MiB at the end (max %.1f MiB).\n", nb.WorkerRSSStartMiB, nb.WorkerRSSQuietStartMiB, nb.WorkerRSSEndMiB, nb.WorkerRSSMaxMiB)
		w("- CPU while B sent (%% of one core): %s.\n", busiest(nb.Quiet.CPU, 5))
		w("- Afterwards A's backlog (it would retry for days) was cut short: %d workflows terminated, the listeners closed, A's endpoints deleted (%.0f s). The phase runs last.\n", nb.NoisyTerminated, nb.CleanupSeconds)
	}

	w("\n## Setup\n\n- Table `%s`, task queue `%s` (ceiling (a) and baselines: `%s-ceiling`), receivers %s.\n", r.Setup.Table, r.Setup.TaskQueue, r.Setup.TaskQueue, strings.Join(r.Setup.Receivers, " "))
	w("- Dependencies started in %.1f s, api and worker in %.1f s, keys (pcxctl) in %.1f s.\n", r.Setup.DepsStartSeconds, r.Setup.ServicesStartSeconds, r.Setup.KeysSeconds)
	w("- Endpoints: ")
	var parts []string
	for _, o := range r.Setup.Orgs {
		how := "POST /public/webhooks"
		if o.Method == "store" {
			how = "store.CreateWebhook straight into the table"
		}
		parts = append(parts, fmt.Sprintf("%s %d via %s (%.1f s)", o.Org, o.Endpoints, how, o.Seconds))
	}
	w("%s.\n", strings.Join(parts, "; "))
	w("- Phase times: ")
	parts = parts[:0]
	for _, p := range r.PhaseSeconds {
		parts = append(parts, fmt.Sprintf("%s %.0f s (load average at its start %s)", p.Phase, p.Seconds, p.LoadAvgStart))
	}
	w("%s.\n", strings.Join(parts, ", "))

	w("\n## Commands\n\nBench flags (effective): ")
	keys := slices.Sorted(maps.Keys(r.Flags))
	parts = parts[:0]
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("`-%s=%s`", k, r.Flags[k]))
	}
	w("%s\n\n", strings.Join(parts, " "))
	w("Subprocesses (environment: variable names; values only for settings that are not secret):\n\n")
	for _, p := range r.Processes {
		note := ""
		if p.Note != "" {
			note = " (" + p.Note + ")"
		}
		w("- **%s**%s, pid %d: `%s`\n", p.Name, note, p.PID, strings.Join(p.Argv, " "))
		if len(p.Env) > 0 {
			w("  - env: `%s`\n", strings.Join(p.Env, " "))
		}
	}
	for _, c := range r.Pcxctl {
		w("- `%s` (same environment as the api)\n", c)
	}

	w("\n## Errors\n\n")
	if len(r.Errors) == 0 {
		w("None.\n")
	}
	for _, e := range r.Errors {
		w("- **%s**: %s\n", e.Phase, strings.ReplaceAll(e.Error, "\n", " "))
	}
	w("\n## Notes\n\n")
	for _, n := range r.Notes {
		w("- %s\n", n)
	}
	return b.String()
}

func lastErr(s string) string {
	if s == "" {
		return ""
	}
	return " (last: " + truncate(s, 160) + ")"
}

func procNames(ps []MemSample) []string {
	seen := map[string]bool{}
	var out []string
	for _, order := range []string{"api", "worker", "temporal", "dynamodb-local", "pcxbench"} {
		for _, p := range ps {
			if _, ok := p.RSSMiB[order]; ok && !seen[order] {
				seen[order] = true
				out = append(out, order)
			}
		}
	}
	for _, p := range ps {
		for n := range p.RSSMiB {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

func rssCells(p MemSample, names []string) string {
	var b strings.Builder
	for _, n := range names {
		if v, ok := p.RSSMiB[n]; ok {
			fmt.Fprintf(&b, " %.1f |", v)
		} else {
			b.WriteString(" – |")
		}
	}
	return b.String()
}

// summaryText is the short summary printed at the end.
func (r *Report) summaryText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "== pcxbench summary (%s) ==\n", map[bool]string{true: "quick", false: "full"}[r.Quick])
	for _, f := range r.Figures {
		ratio := ""
		if f.Ratio != nil {
			ratio = fmt.Sprintf("  ratio %.3g× vs %s", *f.Ratio, f.BaseName)
		}
		aim := ""
		if f.Aim != "" {
			aim = fmt.Sprintf("  [aim %s: %s]", f.Aim, strings.Trim(metStr(f.Met), "*"))
		}
		fmt.Fprintf(&b, "%-18s %-62s %14s%s%s\n", f.Section, f.Name, fmtNum(f.Value, f.Unit), ratio, aim)
	}
	if avg, mx, k := r.othersCPU(); k > 0 {
		fmt.Fprintf(&b, "noise: work outside this run used %.0f%% of one core on average (max %.0f%%) during the measured windows; load average %s → %s\n", avg, mx, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "ERROR %s: %s\n", e.Phase, truncate(strings.ReplaceAll(e.Error, "\n", " "), 400))
	}
	return b.String()
}

// write writes latest.md/.json and a timestamped copy; quick runs get a -quick suffix.
func (r *Report) write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	md := []byte(r.markdown())
	suffix := ""
	if r.Quick {
		suffix = "-quick"
	}
	t, _ := time.Parse(time.RFC3339, r.Date)
	commit := r.Git.Commit
	if len(commit) > 7 {
		commit = commit[:7]
	}
	if r.Git.Dirty {
		commit += "-dirty"
	}
	stamp := fmt.Sprintf("%s-%s%s", t.Format("20060102-150405"), commit, suffix)
	var files []string
	for _, name := range []string{"latest" + suffix, stamp} {
		for ext, data := range map[string][]byte{".json": append(js, '\n'), ".md": md} {
			p := filepath.Join(dir, name+ext)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return files, err
			}
			files = append(files, p)
		}
	}
	sort.Strings(files)
	return files, nil
}

// cpuCell renders the CPU of some processes: "83 / 12 / 40".
func cpuCell(cpu map[string]float64, names ...string) string {
	if cpu == nil {
		return "–"
	}
	parts := make([]string, len(names))
	for i, n := range names {
		if v, ok := cpu[n]; ok {
			parts[i] = fmt.Sprintf("%.0f", v)
		} else {
			parts[i] = "–"
		}
	}
	return strings.Join(parts, " / ")
}

// cpuColumns are the processes of a CPU breakdown, in a fixed order.
var cpuColumns = []string{"temporal", "worker", "api", "dynamodb-local", "pcxbench", "irq", "others", "machine-idle"}

// othersCPU summarises the CPU used outside this run during the measured windows.
func (r *Report) othersCPU() (avg, maxv float64, n int) {
	var maps []map[string]float64
	if a := r.Auth; a != nil {
		for _, p := range []AuthPair{a.Cached, a.Uncached} {
			maps = append(maps, p.Healthz.CPU, p.Me.CPU, p.HealthzLight.CPU, p.MeLight.CPU)
		}
	}
	for _, t := range r.Throughput {
		maps = append(maps, t.Service.CPU, t.CeilingA.CPU, t.CeilingB.CPU)
	}
	if x := r.Notify; x != nil {
		maps = append(maps, x.Notify.CPU, x.BareStarts.CPU)
	}
	if l := r.Latency; l != nil {
		maps = append(maps, l.Service.CPU, l.Floor.CPU)
	}
	if s := r.Memory.Soak; s != nil {
		maps = append(maps, s.Load.CPU)
	}
	if nb := r.Neighbour; nb != nil {
		maps = append(maps, nb.Quiet.CPU)
	}
	var sum float64
	for _, m := range maps {
		if v, ok := m["others"]; ok {
			sum += v
			maxv = math.Max(maxv, v)
			n++
		}
	}
	if n > 0 {
		avg = sum / float64(n)
	}
	return avg, maxv, n
}

// busiest names the n processes of this run that used the most CPU, and the machine's idle share.
func busiest(cpu map[string]float64, n int) string {
	if cpu == nil {
		return ""
	}
	var names []string
	for k := range cpu {
		switch k {
		case "others", "machine-idle", "machine-busy", "total-of-these", "irq":
		default:
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return cpu[names[i]] > cpu[names[j]] })
	var parts []string
	for _, k := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", k, cpu[k]))
	}
	s := strings.Join(parts, ", ") + " of one core"
	if idle, ok := cpu["machine-idle"]; ok {
		s += fmt.Sprintf("; machine idle %.0f%%, other work %.0f%%", idle, cpu["others"])
	}
	return s
}

// rerender rewrites the Markdown of a saved JSON report with the current renderer (the data,
// figures included, are taken as they were saved).
func rerender(jsonPath string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	md := strings.TrimSuffix(jsonPath, ".json") + ".md"
	return os.WriteFile(md, []byte(r.markdown()), 0o644)
}
