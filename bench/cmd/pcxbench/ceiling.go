package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/app/worker"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

// Ceiling (a): the real workflow code on the same Temporal server, on a task queue of its own,
// served by a worker inside the bench process whose activities do nothing. Because the workflows
// are the production ones, registered by workflows.Register itself, the ceiling follows the shape
// of the delivery path when it changes (local activities, batches, ...).

const (
	// noopWorkflowName is the trivial workflow of the notify-rate baseline: it returns at once.
	noopWorkflowName = "BenchNoop"
	// ceilingOrgPrefix: the fake planner reads the fan-out from the organisation ID.
	ceilingOrgPrefix = "ceiling-"
)

// registerCeiling registers on w exactly what workflows.Register registers — the production
// workflows under their production names, and every activity under its production name and
// signature — except that each activity is replaced by a no-op returning a canned result (see
// fakes.result), plus the bench's trivial workflow. If the delivery path gains activities,
// they are mirrored automatically; if their inputs or results change type, teach fakes.result
// the new canned answer (the report flags a ceiling whose workflows do not report every
// delivery delivered).
func registerCeiling(w sdkworker.Worker, fk *fakes) {
	workflows.Register(mirror{Registry: w, fk: fk}, nil)
	w.RegisterWorkflowWithOptions(noopWorkflow, workflow.RegisterOptions{Name: noopWorkflowName})
}

func noopWorkflow(workflow.Context, workflows.EventInput) error { return nil }

// mirror passes workflow registrations on and swaps every activity registration for fakes with
// the same names and signatures.
type mirror struct {
	sdkworker.Registry
	fk *fakes
}

func (m mirror) RegisterActivity(a any) { m.RegisterActivityWithOptions(a, activity.RegisterOptions{}) }

func (m mirror) RegisterActivityWithOptions(a any, opts activity.RegisterOptions) {
	t := reflect.TypeOf(a)
	if t.Kind() == reflect.Func {
		name := opts.Name
		if name == "" {
			name = funcName(a)
		}
		m.Registry.RegisterActivityWithOptions(m.fk.fake(name, t), activity.RegisterOptions{Name: name})
		m.fk.addName(name)
		return
	}
	// A struct (pointer): every exported method is an activity named prefix + method name.
	for i := range t.NumMethod() {
		meth := t.Method(i)
		ft := meth.Type // the receiver is the first input
		if ft.NumOut() == 0 || ft.Out(ft.NumOut()-1) != reflect.TypeFor[error]() {
			continue // not an activity: the SDK would refuse it too
		}
		ins := make([]reflect.Type, 0, ft.NumIn()-1)
		for j := 1; j < ft.NumIn(); j++ {
			ins = append(ins, ft.In(j))
		}
		outs := make([]reflect.Type, ft.NumOut())
		for j := range outs {
			outs[j] = ft.Out(j)
		}
		name := opts.Name + meth.Name
		m.Registry.RegisterActivityWithOptions(m.fk.fake(name, reflect.FuncOf(ins, outs, ft.IsVariadic())), activity.RegisterOptions{Name: name})
		m.fk.addName(name)
	}
}

func funcName(f any) string {
	n := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	n = strings.TrimSuffix(n, "-fm")
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

// fakes are the no-op activities: they count their calls and note, per event, when the last one
// ran (the latency floor's "receipt").
type fakes struct {
	calls    atomic.Int64
	mu       sync.Mutex
	names    []string
	lastCall sync.Map // event ID → time.Time of its latest activity call
}

func (f *fakes) addName(n string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names = append(f.names, n)
}

// fake returns a function of type ft that returns canned results.
func (f *fakes) fake(name string, ft reflect.Type) any {
	return reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		f.calls.Add(1)
		var in any
		for _, a := range args {
			if a.Type() != reflect.TypeFor[context.Context]() {
				in = a.Interface()
				break
			}
		}
		if id := eventIDOf(in); id != "" {
			f.lastCall.Store(id, time.Now())
		}
		outs := make([]reflect.Value, ft.NumOut())
		for i := range outs {
			outs[i] = reflect.Zero(ft.Out(i)) // a nil error last
		}
		if ft.NumOut() == 2 {
			outs[0] = f.result(name, in, ft.Out(0))
		}
		return outs
	}).Interface()
}

// result is the canned result of activity name called with in. THE place to update when the
// activities' types change.
func (f *fakes) result(_ string, in any, out reflect.Type) reflect.Value {
	switch v := in.(type) {
	case activities.PlanInput:
		if out == reflect.TypeFor[activities.Plan]() {
			return reflect.ValueOf(fakePlan(v))
		}
	case activities.DeliverInput:
		if out == reflect.TypeFor[activities.DeliverResult]() {
			return reflect.ValueOf(activities.DeliverResult{Status: pcx.DeliveryDelivered})
		}
	}
	// Unknown shape (e.g. a batch of deliveries): the smallest result that says "all
	// delivered": the first slice of status-bearing elements gets one element per webhook ID of
	// the input (WebhookID set, status delivered); other slices (unrecorded, failed, ...) stay
	// empty and flags false.
	v := reflect.New(out).Elem()
	fill(v, webhookIDsOf(reflect.ValueOf(in), 0), "", 0)
	return v
}

// fakePlan lists the fan-out encoded in the organisation ID ("ceiling-<n>"), page by page.
func fakePlan(in activities.PlanInput) activities.Plan {
	if len(in.WebhookIDs) > 0 {
		return activities.Plan{WebhookIDs: in.WebhookIDs}
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(in.OrgID, ceilingOrgPrefix))
	start, _ := strconv.Atoi(in.After)
	limit := in.Limit
	if limit <= 0 {
		limit = n
	}
	end := min(start+limit, n)
	p := activities.Plan{WebhookIDs: make([]string, 0, max(end-start, 0))}
	for i := start; i < end; i++ {
		p.WebhookIDs = append(p.WebhookIDs, fmt.Sprintf("wh_%06d", i))
	}
	if end < n {
		p.Next = strconv.Itoa(end)
	}
	return p
}

var deliveryStatusType = reflect.TypeFor[pcx.DeliveryStatus]()

// fill sets every delivery status in v to delivered and every WebhookID field to id, and fills
// the first slice whose elements carry a status with one element per id.
func fill(v reflect.Value, ids []string, id string, depth int) {
	if depth > 6 {
		return
	}
	switch {
	case v.Type() == deliveryStatusType:
		v.SetString(string(pcx.DeliveryDelivered))
	case v.Kind() == reflect.Struct:
		filled := false
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			switch {
			case f.Name == "WebhookID" && fv.Kind() == reflect.String:
				fv.SetString(id)
			case fv.Kind() == reflect.Slice:
				if !filled && carriesStatus(fv.Type().Elem(), 0) {
					filled = true
					s := reflect.MakeSlice(fv.Type(), len(ids), len(ids))
					for j := range ids {
						fill(s.Index(j), ids, ids[j], depth+1)
					}
					fv.Set(s)
				}
			default:
				fill(fv, ids, id, depth+1)
			}
		}
	}
}

// carriesStatus reports whether t is, or directly holds, a delivery status.
func carriesStatus(t reflect.Type, depth int) bool {
	if t == deliveryStatusType {
		return true
	}
	if t.Kind() != reflect.Struct || depth > 2 {
		return false
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && f.Type.Kind() != reflect.Slice && carriesStatus(f.Type, depth+1) {
			return true
		}
	}
	return false
}

// webhookIDsOf returns the WebhookIDs ([]string) of an activity input, searched in nested
// structs too.
func webhookIDsOf(v reflect.Value, depth int) []string {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() || v.Kind() != reflect.Struct || depth > 4 {
		return nil
	}
	if f := v.FieldByName("WebhookIDs"); f.IsValid() && f.Type() == reflect.TypeFor[[]string]() {
		return f.Interface().([]string)
	}
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() {
			if ids := webhookIDsOf(v.Field(i), depth+1); ids != nil {
				return ids
			}
		}
	}
	return nil
}

// eventIDOf returns the EventID field of an activity input (or of its first embedded struct).
func eventIDOf(in any) string {
	v := reflect.ValueOf(in)
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return ""
	}
	if f := v.FieldByName("EventID"); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}

// ceilingWorker is the bench's in-process worker on the ceiling task queue.
type ceilingWorker struct {
	w     sdkworker.Worker
	fk    *fakes
	queue string
}

// quietLogger keeps the SDK's warnings and errors only.
func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(stderrLog, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// startCeilingWorker starts a worker with the service's own tuning (worker.SDKOptions with the
// same WORKER_CONCURRENCY) on queue.
func startCeilingWorker(tc client.Client, queue string, concurrency int) (*ceilingWorker, error) {
	fk := &fakes{}
	w := sdkworker.New(tc, queue, worker.SDKOptions(worker.Options{MaxConcurrentActivities: concurrency, StopTimeout: 5 * time.Second}))
	registerCeiling(w, fk)
	if err := w.Start(); err != nil {
		return nil, err
	}
	return &ceilingWorker{w: w, fk: fk, queue: queue}, nil
}

func (c *ceilingWorker) stop() { c.w.Stop() }
